"""Claim by claim: does the paper reproduce? And the fidelity study's table.

``claims`` turns the records of Table I, Fig. 2 and Fig. 6 into one row per claim of the
paper: the paper's value, ours (seeds, spread), a verdict and the page with the evidence.
Nothing is typed in: the paper's numbers come from ``paper_values.yml``, ours from records.

How a verdict is reached (the rule is on the page too). A difference between two of our
numbers counts only if it exceeds its noise: the larger of the seeds' spread (the standard
deviations of the two groups, added in quadrature) and, for accuracies, two recordings of
the test set (a 1-recording change is 1 percentage point on NMNIST-1k's 100). Beyond the
noise with the paper's sign: *agrees*; beyond it with the opposite sign: *disagrees*;
within it: *inconclusive*. A claim about a dataset without records: *not testable without
the full data*.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd

from rouser.experiments import experiment_runs, run_labels
from rouser.report.plotting import last_epochs, require
from rouser.report.style import METHOD_LABELS, load_paper_values, provenance
from rouser.results import RESULTS

AGREES, DISAGREES, INCONCLUSIVE = "agrees", "disagrees", "inconclusive (within noise)"
NOT_TESTABLE = "not testable without the full data"
ONE_SEED = "inconclusive (one seed, no spread known)"


def _mean_sd(values: pd.Series) -> tuple[float, float]:
    """Mean and sample sd (0 for one value)."""
    values = values.dropna().astype(float)
    sd = values.std() if len(values) > 1 else 0.0
    return float(values.mean()), float(sd)


def _text(values: pd.Series, unit: str = "%", digits: int = 1) -> str:
    """'92.3 ± 4.0% (3 seeds)' or '88.0% (1 seed)'."""
    mean, sd = _mean_sd(values)
    n = values.notna().sum()
    spread = f" ± {sd:.{digits}f}" if n > 1 else ""
    return f"{mean:.{digits}f}{spread}{unit} ({n} seed{'s' if n != 1 else ''})"


def verdict(ours: pd.Series, theirs: pd.Series, sign: int, resolution: float = 0.0) -> str:
    """Compare mean(ours) - mean(theirs) against its noise, expecting the paper's `sign`."""
    if ours.dropna().empty or theirs.dropna().empty:
        return NOT_TESTABLE
    if resolution == 0 and min(ours.notna().sum(), theirs.notna().sum()) < 2:
        return ONE_SEED  # no spread known and no natural resolution: nothing to compare with
    (m1, s1), (m2, s2) = _mean_sd(ours), _mean_sd(theirs)
    noise = max(math.hypot(s1, s2), resolution)
    difference = m1 - m2
    if abs(difference) <= noise:
        return INCONCLUSIVE
    return AGREES if np.sign(difference) == sign else DISAGREES


def _test_resolution(runs: pd.DataFrame) -> float:
    """Two test recordings, in percentage points: the smallest accuracy change we count."""
    n_test = runs["data.n_test"].dropna()
    return 200.0 / float(n_test.min()) if len(n_test) else 0.0


def _dead_neuron_rows(
    add: Callable[[str, str, str, str, str], None],
    runs: pd.DataFrame,
    epoch0: pd.DataFrame,
    fig4: dict,
    scale: str,
    page: str,
) -> None:
    """Fig. 4's two claims on `runs` (last epochs; `epoch0` their first): both hidden
    layers' dead fractions fall, and Rouser ends with fewer in layer 2. `fig4` is the
    paper's (``paper_values.yml``)."""
    dead = fig4["dead_neurons"]
    changes = []
    for layer in ("layer1", "layer2"):
        start = epoch0.loc[runs.index, f"dead_neurons.{layer}"] * 100
        end = runs[f"dead_neurons.{layer}"] * 100
        changes.append((layer, start, end))
    falls = [bool((end < start).all()) for _, start, end in changes]
    rises = [bool((end > start).all()) for _, start, end in changes]
    trend = AGREES if all(falls) else DISAGREES if all(rises) else INCONCLUSIVE
    add(
        f"Fig. 4: dead neurons fall during training (both methods, both hidden layers){scale}",
        "; ".join(
            f"{layer.replace('layer', 'layer ')}: "
            + ", ".join(
                f"{dead[m][layer][0]} → {dead[m][layer][-1]}% ({METHOD_LABELS[m]})"
                for m in ("baseline", "rouser")
            )
            for layer in ("layer1", "layer2")
        ),
        "; ".join(
            f"{layer.replace('layer', 'layer ')}: {start.mean():.0f} → {end.mean():.0f}%"
            for layer, start, end in changes
        )
        + " (mean over methods and seeds)",
        trend,
        page,
    )
    layer2 = {m: runs.loc[runs["config.method"] == m, "dead_neurons.layer2"] * 100 for m in dead}
    add(
        f"Fig. 4: Rouser ends with fewer dead neurons in hidden layer 2{scale}",
        f"Rouser {dead['rouser']['layer2'][-1]}%, baseline {dead['baseline']['layer2'][-1]}%"
        f" (epoch {fig4['epochs'][-1]})",
        f"Rouser {_text(layer2['rouser'])}, baseline {_text(layer2['baseline'])}",
        verdict(layer2["rouser"], layer2["baseline"], -1),
        page,
    )


def claims(records: pd.DataFrame, paper: dict | None = None) -> pd.DataFrame:
    """One row per claim of the paper: paper's value, ours, verdict, evidence page."""
    require(records, "Does it reproduce?")
    paper = paper or load_paper_values()
    profile = records["config.profile"].iloc[0]
    runs = last_epochs(records).set_index("run_id")
    names = ("table1", "fig2", "paper_epoch", "paper_epoch_6b")
    ids = {name: [r.run_id for r in experiment_runs(name, profile)] for name in names}
    table1 = runs.loc[runs.index.intersection(ids["table1"])]
    long = runs.loc[runs.index.intersection(ids["paper_epoch"])]
    long_scale = (
        f"over one paper epoch of steps ({int(long['config.epochs'].max())} epochs)"
        if len(long)
        else ""
    )
    epoch0 = records[records["epoch"] == 0].set_index("run_id")
    rows: list[dict] = []

    def add(claim: str, theirs: str, ours: str, result: str, page: str) -> None:
        rows.append(
            {
                "claim": claim,
                "paper": theirs,
                "ours": ours,
                "verdict": result,
                "evidence": f'<a href="{page}.html">{RESULTS[page].title}</a>',
            }
        )

    def group(frame: pd.DataFrame, dataset: str, method: str) -> pd.DataFrame:
        return frame[(frame["config.dataset"] == dataset) & (frame["config.method"] == method)]

    accuracy = "summary.final_test_accuracy"
    reference = paper["table1"]

    def accuracy_row(frame: pd.DataFrame, dataset: str, label: str, page: str) -> None:
        """Table I's claim for `dataset` on the runs of `frame`."""
        rouser, base = group(frame, dataset, "rouser"), group(frame, dataset, "baseline")
        ours = (
            f"Rouser {_text(rouser[accuracy] * 100)}, baseline {_text(base[accuracy] * 100)}"
            if len(rouser) and len(base)
            else "no runs"
        )
        add(
            f"Table I, {label}: Rouser's accuracy is above the baseline's",
            f"{reference[dataset]['rouser']}% vs {reference[dataset]['baseline']}%",
            ours,
            verdict(rouser[accuracy] * 100, base[accuracy] * 100, +1, _test_resolution(frame)),
            page,
        )

    for dataset, label in (("nmnist", "NMNIST"), ("dvs128", "DVS128 Gesture")):
        accuracy_row(table1, dataset, label, "table1")
        if dataset == "nmnist" and len(long):
            accuracy_row(long, dataset, f"{label}, {long_scale}", "paper_epoch")
    rouser, base = group(table1, "shd", "rouser"), group(table1, "shd", "baseline")
    if len(rouser) and len(base):
        base_fails = (base["status"] == "non-convergent").all()
        rouser_ok = (rouser["status"] == "finished").all()
        shd = AGREES if base_fails and rouser_ok else DISAGREES
        shd_ours = f"baseline converged in {int((base['status'] == 'finished').sum())} of "
        shd_ours += f"{len(base)} seeds; Rouser {_text(rouser[accuracy] * 100)}"
    else:
        shd, shd_ours = NOT_TESTABLE, "no runs"
    add(
        "Table I, SHD: the baseline does not converge, Rouser does",
        f"baseline failed; Rouser {reference['shd']['rouser']}%",
        shd_ours,
        shd,
        "table1",
    )

    # Fig. 2: the grid's shape (best at Th = 1, a dip at Th = 0.25).
    grid = runs.loc[runs.index.intersection(ids["fig2"])]
    grid = grid[grid["config.dataset"] == "nmnist"]
    if grid.empty:
        shape, ours = NOT_TESTABLE, "no runs"
    else:
        means = grid.groupby("config.threshold")[accuracy].mean() * 100
        ours = ", ".join(f"Th {th:g}: {acc:.0f}%" for th, acc in means.items())
        best = float(means.idxmax())
        spread = means.max() - means.min()
        if spread <= _test_resolution(grid):
            shape = INCONCLUSIVE
        else:
            dip = {0.0, 0.25, 0.5} <= set(means.index) and means[0.25] < min(means[0.0], means[0.5])
            shape = AGREES if best == 1.0 and dip else DISAGREES
    values = paper["fig2"]["accuracy"]["nmnist"]
    add(
        "Fig. 2, NMNIST: best at Th = 1, a dip at Th = 0.25",
        ", ".join(
            f"{th:g}: {v}%" for th, v in zip(paper["fig2"]["thresholds"], values, strict=True)
        ),
        ours,
        shape,
        "fig2_threshold_grid",
    )

    # Fig. 3: Rouser's weights move earlier (normalised weight change at epoch 4).
    nmnist = records[records["run_id"].isin(table1[table1["config.dataset"] == "nmnist"].index)]
    points = paper["fig3"]["points"]
    if nmnist.empty:
        early = {m: pd.Series(dtype=float) for m in ("rouser", "baseline")}
    else:
        final = nmnist.sort_values("epoch").groupby("run_id")["weight_change.total"].last()
        at4 = nmnist[nmnist["epoch"] == min(4, int(nmnist["epoch"].max()))].set_index("run_id")
        normalised = at4["weight_change.total"] / final.loc[at4.index]
        early = {m: normalised[at4["config.method"] == m] for m in ("rouser", "baseline")}
    add(
        "Fig. 3: Rouser's weights change earlier (normalised change at epoch 4)",
        f"Rouser {points['rouser'][4]}, baseline {points['baseline'][4]}",
        f"Rouser {_text(early['rouser'], '', 2)}, baseline {_text(early['baseline'], '', 2)}",
        verdict(early["rouser"], early["baseline"], +1),
        "fig3_weight_change",
    )

    # Fig. 4: dead neurons fall during training; Rouser ends with fewer in layer 2.
    nm = table1[table1["config.dataset"] == "nmnist"]
    if nm.empty:
        add(
            "Fig. 4: dead neurons fall during training",
            "",
            "no runs",
            NOT_TESTABLE,
            "fig4_dead_neurons",
        )
    long_nm = long[long["config.dataset"] == "nmnist"]
    for runs_of, scale, page in (
        (nm, "", "fig4_dead_neurons"), (long_nm, f", {long_scale}", "paper_epoch")
    ):  # fmt: skip
        if len(runs_of):
            _dead_neuron_rows(add, runs_of, epoch0, paper["fig4"], scale, page)

    # Fig. 5: Rouser's hidden layers fire less than the baseline's.
    rates = paper["fig5"]["final_spike_rate"]
    nm_rates = {
        m: nm.loc[nm["config.method"] == m, ["spike_rate.layer1", "spike_rate.layer2"]] * 100
        for m in ("rouser", "baseline")
    }
    hidden_r = nm_rates["rouser"].mean(axis=1)
    hidden_b = nm_rates["baseline"].mean(axis=1)
    add(
        "Fig. 5: Rouser's hidden layers fire less than the baseline's (mean of layers 1-2)",
        f"Rouser layer 1 {rates['rouser']['layer1']}, layer 2 {rates['rouser']['layer2']}; "
        f"baseline {rates['baseline']['layer1']}, {rates['baseline']['layer2']} (%)",
        f"Rouser {_text(hidden_r)}, baseline {_text(hidden_b)}",
        verdict(hidden_r, hidden_b, -1),
        "fig5_spike_rates",
    )

    # Training latency: Rouser converges in fewer epochs.
    latency = {
        m: nm.loc[nm["config.method"] == m, "summary.latency_epoch"] for m in ("rouser", "baseline")
    }
    add(
        "Faster convergence: Rouser reaches 95% of its final accuracy in fewer epochs",
        f"up to {paper['latency']['max_reduction']['v1']}% lower training latency (v1)",
        f"Rouser epoch {_text(latency['rouser'], '')}, baseline {_text(latency['baseline'], '')}",
        verdict(latency["rouser"], latency["baseline"], -1),
        "table1",
    )

    # Fig. 6: threshold learning on vs off from the same initial weights.
    labels = run_labels("fig6", profile)
    ablation = runs.loc[runs.index.intersection(list(labels))]
    settings = paper["fig6"]["settings"]
    for key, claim in (
        ("a", "Fig. 6a (Th 1.25, tau 3.75, s 1.5): learning on ends above learning off"),
        ("b", "Fig. 6b (Th 0.25, tau 3, s 3): learning on converges, learning off does not"),
    ):
        arm = ablation.index.map(labels.get)
        on = ablation[arm == f"{key}, learning on"]
        off = ablation[arm == f"{key}, learning off"]
        ends = settings[key]["end"]
        theirs = " vs ".join(f"{v}%" for v in ends.values())
        ours = (
            f"on {_text(on[accuracy] * 100)}, off {_text(off[accuracy] * 100)}"
            if len(on) and len(off)
            else "no runs"
        )
        if key == "a":
            result = verdict(on[accuracy] * 100, off[accuracy] * 100, +1, _test_resolution(runs))
        elif len(on) and len(off):
            converged = (on["status"] == "finished").all() and (off["status"] != "finished").all()
            result = AGREES if converged else DISAGREES
        else:
            result = NOT_TESTABLE
        add(claim, theirs, ours, result, "fig6_ablation")
    rescue = runs.loc[runs.index.intersection(ids["paper_epoch_6b"])]
    if len(rescue):
        converged = (rescue["status"] == "finished").all()
        add(
            "Fig. 6b (Th 0.25, tau 3, s 3), over one paper epoch of steps "
            f"({int(rescue['config.epochs'].max())} epochs): learning on converges",
            f"climbs to about {settings['b']['end'][0.01]}% ({paper['fig6']['epochs']} epochs)",
            f"on {_text(rescue[accuracy] * 100)}",
            AGREES if converged else DISAGREES,
            "paper_epoch",
        )

    table = pd.DataFrame(rows)
    epochs = sorted(table1["config.epochs"].unique()) if len(table1) else []
    table.attrs["title"] = (
        "Does it reproduce? One row per claim of the paper. Ours: "
        + provenance(records)
        + (f", Table I runs of {', '.join(map(str, epochs))} epochs" if epochs else "")
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
            f"{len(seeds)} seeds of Table I is {_text(seeds['test_accuracy'] * 100)}; "
            "a change smaller than that spread is not an effect."
        )
    table.attrs["title"] = (
        f"Fidelity study: lava-dl's differences one at a time, {epoch} epoch"
        f"{'s' if epoch != 1 else ''}, mean over seeds "
        f"{', '.join(map(str, sorted(study['config.seed'].unique())))}. Ours: " + provenance(study)
    )
    return table
