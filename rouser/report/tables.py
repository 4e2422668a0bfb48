"""The paper's tables (I and II), drawn from run records and `_config.yml` beside the
paper's values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rouser.config import profile_config
from rouser.report.plotting import last_epochs, require, seeds_text
from rouser.report.style import (
    DATASET_LABELS,
    METHOD_LABELS,
    architecture,
    dataset_label,
    load_paper_values,
    provenance,
)
from rouser.runs.experiments import experiment_runs, run_labels

# ---------------------------------------------------------------------------- tables


# Where Table I's runs of the paper's setup come from: every dataset at full size, on a GPU.
PAPER_TABLE1_COMMAND = (
    "snakemake data/results/paper/table1.ipynb --cores 1 "
    "--config profile=paper device=cuda data_root=<your data folder>"
)


def table1(records: pd.DataFrame, paper: dict | None = None) -> pd.DataFrame:
    """Table I: final top-1 test accuracy (%) per dataset and method, mean +- sd over seeds.

    One row per (dataset, method) of the paper's Table I, with the paper's accuracy and
    architecture beside ours: the paper's rows stay visible where we have no run (a profile
    that does not train that dataset says so and names the command that does; one that
    does but has no record yet says that). A method whose runs all fail to converge says
    so, as the paper does for SHD.
    """
    require(records, "Table I")
    reference = (paper or load_paper_values())["table1"]
    runs = last_epochs(records)
    profile = records["config.profile"].iloc[0]
    trained = {run.dataset for run in experiment_runs("table1", profile)}
    rows = []
    for dataset in [
        d for d in DATASET_LABELS if d in reference or d in set(runs["config.dataset"])
    ]:
        for method in METHOD_LABELS:
            group = runs[(runs["config.dataset"] == dataset) & (runs["config.method"] == method)]
            paper_value = reference.get(dataset, {}).get(method)
            row = {
                "dataset": dataset_label(dataset, records),
                "method": METHOD_LABELS[method],
                "ours (%)": "",
                "paper (%)": (
                    reference["notes"].get(f"{dataset}.{method}", "-")
                    if paper_value is None
                    else f"{paper_value:.2f}"
                ),
                "seeds": len(group),
                "architecture (ours)": "-",
                "architecture (paper)": reference.get(dataset, {}).get("architecture", "-"),
                "ours mean": np.nan,
                "ours sd": np.nan,
                "paper": paper_value,
                "non-convergent seeds": 0,
            }
            if group.empty:
                row["ours (%)"] = (
                    "no record yet" if dataset in trained else "not run here: needs the full data"
                )
                rows.append(row)
                continue
            rows.append(row | _our_accuracy(group))
    table = pd.DataFrame(rows)
    seeds = sorted(set(table.loc[table["seeds"] > 0, "seeds"]))
    spread = "mean ± sd over seeds" if seeds != [1] else "one seed"
    table.attrs["title"] = (
        f"Table I: top-1 test accuracy (%), {spread}, beside the paper's. Ours: "
        + provenance(records)
    )
    untrained = sorted(
        set(DATASET_LABELS) & set(reference) - trained, key=list(DATASET_LABELS).index
    )
    if untrained:
        names = " and ".join(DATASET_LABELS[d] for d in untrained)
        table.attrs["note"] = (
            f"{names} {'is' if len(untrained) == 1 else 'are'} not run in profile {profile}, "
            "which trains only on the recordings available here. With the full datasets, "
            f"`{PAPER_TABLE1_COMMAND}` trains every Table I run of the paper's setup and "
            "draws this table from them."
        )
    # numbers for code and CSV; the displayed table shows them once, as text
    table.attrs["hidden_columns"] = ["ours mean", "ours sd", "paper", "non-convergent seeds"]
    table.attrs["nowrap"] = ["architecture (ours)", "architecture (paper)"]
    return table


def _our_accuracy(group: pd.DataFrame) -> dict:
    """Table I's cells of ours for one (dataset, method): the text, mean, sd, architecture."""
    accuracy = group["summary.final_test_accuracy"] * 100
    sd = accuracy.std()  # NaN for one seed: no spread is known, none is shown
    non_convergent = int((group["status"] == "non-convergent").sum())
    # no-break spaces: a page never splits "92.33 ± 3.06" across lines
    ours = (
        f"{accuracy.mean():.2f}\u00a0±\u00a0{sd:.2f}"
        if len(group) > 1
        else f"{accuracy.mean():.2f}"
    )
    if non_convergent == len(group):
        ours = f"did not converge ({ours})"
    elif non_convergent:
        ours += f" ({non_convergent} of {len(group)} seeds did not converge)"
    return {
        "ours (%)": ours,
        "architecture (ours)": architecture(
            *group.iloc[0][["config.sensor_size", "config.hidden", "config.n_classes"]]
        ),
        "ours mean": accuracy.mean(),
        "ours sd": sd,
        "non-convergent seeds": non_convergent,
    }


def table2(
    profile: str = "paper", config: dict | None = None, paper: dict | None = None
) -> pd.DataFrame:
    """Table II: the paper's hyperparameters beside the values `_config.yml` gives `profile`.

    Values that are not settings (reset voltage, loss, optimizer, initialisation) name the code
    that fixes them, so a reader can check them there.
    """
    resolved = profile_config(profile, config)
    rows = []
    for row in (paper or load_paper_values())["table2"]["rows"]:
        if "config" in row:
            ours = resolved
            for key in row["config"].split("."):
                ours = ours[key]
            where = f"_config.yml: {row['config']}"
            matches = bool(np.isclose(float(ours), float(row["value"])))
        else:  # not a setting: the reader checks the named code, we claim no match
            ours, where, matches = "fixed in code", row["code"], pd.NA
        rows.append(
            {
                "symbol": row["symbol"],
                "meaning": row["meaning"],
                "paper": row["value"],
                "ours": ours,
                "where": where,
                "matches paper": matches,
            }
        )
    table = pd.DataFrame(rows).astype({"matches paper": "boolean"})
    table.attrs["title"] = f"Table II: hyperparameters, the paper's beside ours (profile {profile})"
    # values as written (0.001, 1.25), not at one precision for all ("0.00" for 0.001)
    table.attrs["formats"] = {"paper": "g", "ours": "g"}
    return table


def nir_check(check: dict) -> pd.DataFrame:
    """The NIR peer check (`records/nir_check.json`, written by workflow/scripts/nir_check.py)
    as a table: per peer, network and input, how many output values agree with rouser."""
    rows = [
        {
            "peer": item["peer"],
            "network": METHOD_LABELS.get(item["network"], item["network"]),
            "inputs": item["inputs"],
            "dt (s)": item["dt"],
            "samples": item["samples"],
            "output values": item["output_values"],
            "agreement (%)": 100 * item["agreement"],
            "differing values": item["differing_values"],
            "spikes (rouser / peer)": f"{item['rouser_spikes']} / {item['peer_spikes']}",
            "same prediction (%)": 100 * item["same_prediction"],
        }
        for item in check["checks"]
    ]
    table = pd.DataFrame(rows)
    versions = ", ".join(f"{name} {version}" for name, version in check["versions"].items())
    table.attrs["title"] = (
        f"NIR peer check of {check['data']['dataset'].upper()} networks trained "
        f"{check['runs']['rouser']['epochs']} epochs ({check['data']['profile']} profile), "
        f"{check['data']['test_recordings']} real test recordings and as many random inputs; "
        f"{versions}; {check['date'][:10]}, commit {check['git_commit'][:7]}"
    )
    return table


def fidelity(records: pd.DataFrame) -> pd.DataFrame:
    """The fidelity study: each lava-dl difference switched on alone, its measured effect.

    Rows: setting x condition of the ``fidelity`` experiment, means over its seeds of the
    dead fractions at epoch 0 and at the last epoch and of the test accuracy there (with
    its sd), and the accuracy's change against the "rouser defaults" row of the same
    condition; plus the spread of the default Rouser run over Table I's seeds at the same
    epoch, the yardstick for what counts as an effect.
    """
    require(records, "Fidelity study")
    profile = records["config.profile"].iloc[0]
    labels = run_labels("fidelity", profile)
    study = records[records["run_id"].isin(list(labels))]
    require(study, "Fidelity study")
    epoch = int(study["epoch"].max())
    accuracy = f"test accuracy, epoch {epoch} (%)"
    rows = []
    for run_id, run in study.groupby("run_id", sort=False):
        setting, condition = labels[run_id].split(", ", 1)
        first, last = run[run["epoch"] == 0].iloc[0], run[run["epoch"] == epoch].iloc[0]
        rows.append(
            {
                "setting": setting,
                "condition": condition,
                "dead L1, epoch 0 (%)": 100 * first["dead_neurons.layer1"],
                "dead L2, epoch 0 (%)": 100 * first["dead_neurons.layer2"],
                f"dead L1, epoch {epoch} (%)": 100 * last["dead_neurons.layer1"],
                f"dead L2, epoch {epoch} (%)": 100 * last["dead_neurons.layer2"],
                accuracy: 100 * last["test_accuracy"],
            }
        )
    declared = list(dict.fromkeys(tuple(label.split(", ", 1)) for label in labels.values()))
    per_run = pd.DataFrame(rows)
    pairs = zip(per_run["setting"], per_run["condition"], strict=True)
    per_run["order"] = [declared.index(pair) for pair in pairs]  # _config.yml's order
    per_run = per_run.sort_values("order", kind="stable").drop(columns="order")
    grouped = per_run.groupby(["setting", "condition"], sort=False)
    table = grouped.mean().reset_index()
    table.insert(2, "seeds", grouped.size().to_numpy())
    table["accuracy sd (pp)"] = grouped[accuracy].std().fillna(0.0).to_numpy()
    defaults = table[table["setting"] == "rouser defaults"].set_index("condition")[accuracy]
    table["Δ accuracy vs defaults (pp)"] = table[accuracy] - table["condition"].map(defaults)
    # the result first, so that a page of normal width shows it without scrolling sideways
    result = [accuracy, "accuracy sd (pp)", "Δ accuracy vs defaults (pp)"]
    dead = [column for column in table.columns if column.startswith("dead ")]
    table = table[["setting", "condition", *result, *dead, "seeds"]]
    table.attrs["precision"] = 1  # means over 2-3 seeds of 100 test recordings
    seeds = records[
        records["run_id"].isin([r.run_id for r in experiment_runs("table1", profile)])
        & (records["config.method"] == "rouser")
        & (records["config.dataset"] == "nmnist")
        & (records["epoch"] == epoch)
    ]
    if len(seeds) > 1:
        table.attrs["note"] = (
            f"Yardstick: the default Rouser run's test accuracy at epoch {epoch} over "
            f"{len(seeds)} seeds of Table I is {seeds_text(seeds['test_accuracy'] * 100)}; "
            "a change smaller than that spread is not an effect."
        )
    table.attrs["title"] = (
        f"Fidelity study: lava-dl's differences one at a time, {epoch} epoch"
        f"{'s' if epoch != 1 else ''}, mean over seeds "
        f"{', '.join(map(str, sorted(study['config.seed'].unique())))}. Ours: " + provenance(study)
    )
    return table
