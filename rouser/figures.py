"""Every figure and table of the paper, drawn from run records beside the paper's own values.

Why it is built this way: a result is only reproducible if nothing between the runs and the
page is typed in by hand. So each function here takes the records DataFrame of
`rouser.records.load_records` (one row per run and epoch) and the paper's numbers from
`paper_values.yml`, and returns a matplotlib `Figure` or a pandas table. Notebooks only call
`render`, which selects an experiment's runs, says which are missing (and how to make them)
instead of failing obscurely, draws, saves vector files and displays.

Conventions: records hold fractions; everything drawn is in percent, as the paper prints it.
Ours is solid, the paper's is hatched or dotted and labelled "paper". Every title states the
profile and the data source, and says "synthetic" whenever any plotted run used synthetic data.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import IO

import matplotlib as mpl
import numpy as np
import pandas as pd
import seaborn as sns
import yaml
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from rouser import paths
from rouser.atomic import atomic_write
from rouser.config import check_choice, profile_config
from rouser.records import load_records, record_path
from rouser.results import RESULTS, result, result_runs

PAPER_VALUES_PATH = Path(__file__).with_name("paper_values.yml")
DONE_STATUSES = ("finished", "non-convergent")
METHOD_LABELS = {"baseline": "baseline", "rouser": "Rouser"}
DATASET_LABELS = {"nmnist": "NMNIST", "dvs128": "DVS128 Gesture", "shd": "SHD"}
_PALETTE = sns.color_palette("colorblind")
METHOD_COLORS = {"baseline": _PALETTE[0], "rouser": _PALETTE[1]}
PAPER_HATCH = "///"
# One look for every figure: seaborn's whitegrid at notebook scale. `svg.hashsalt` and the
# empty metadata below make the saved vector files byte-identical from run to run.
STYLE = {
    **sns.axes_style("whitegrid"),
    **sns.plotting_context("notebook", font_scale=0.9),
    "svg.hashsalt": "rouser",
    "legend.fontsize": 8,
    "legend.title_fontsize": 8,
}
_METADATA = {"svg": {"Date": None}, "pdf": {"CreationDate": None, "ModDate": None}}


# ---------------------------------------------------------------------------- the paper's data


@cache
def _read_paper_values(path: Path) -> dict:
    with path.open() as handle:
        return yaml.safe_load(handle)


def load_paper_values(path: str | os.PathLike | None = None) -> dict:
    """The paper's own numbers (`paper_values.yml`), read once: never produced by our runs."""
    return _read_paper_values(Path(path or PAPER_VALUES_PATH).resolve())


# ---------------------------------------------------------------------------- record helpers


def layer_names(records: pd.DataFrame, prefix: str, suffix: str = "") -> list[str]:
    """Layer names with a `prefix.<layer><suffix>` column, in network order (layer2 < layer10)."""
    names = {
        column[len(prefix) + 1 : len(column) - len(suffix)]
        for column in records.columns
        if column.startswith(prefix + ".layer")
        and column.endswith(suffix)
        and "." not in column[len(prefix) + 1 : len(column) - len(suffix)]
    }
    return sorted(names, key=lambda name: int(name.removeprefix("layer")))


def _layer_label(layer: str, layers: list[str]) -> str:
    """'layer 2', or 'layer 3 (output)' for the last of `layers` (Fig. 5 and thresholds)."""
    label = layer.replace("layer", "layer ")
    return f"{label} (output)" if layer == layers[-1] else label


def _provenance(records: pd.DataFrame) -> str:
    """'profile smoke, synthetic data': what every title says about where its numbers are from."""
    profiles = ", ".join(sorted(records["config.profile"].dropna().unique()))
    sources = set(records["data.source"].dropna().unique())
    if sources == {"real"}:
        data = "real data"
    elif sources == {"synthetic"}:
        data = "synthetic data"
    else:
        synthetic = sorted(
            records.loc[records["data.source"] == "synthetic", "config.dataset"].unique()
        )
        data = (
            "real + synthetic data (synthetic: " + ", ".join(map(_dataset_label, synthetic)) + ")"
        )
    return f"profile {profiles}, {data}"


def _dataset_label(dataset: str, records: pd.DataFrame | None = None) -> str:
    """'DVS128 Gesture', with ' (synthetic)' when `records` of that dataset are synthetic."""
    label = DATASET_LABELS.get(dataset, dataset)
    if records is not None:
        sources = records.loc[records["config.dataset"] == dataset, "data.source"]
        if (sources == "synthetic").any():
            label += " (synthetic)"
    return label


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def runs_provenance(records: pd.DataFrame) -> str:
    """What a results page states besides its figure: runs, profile, data, hardware, time.

    Time is each run's wall time from its record (`started` to `ended`), so a reader can tell
    what regenerating the result costs on the hardware named.
    """
    runs = records.groupby("run_id").first()
    hardware = sorted(set(runs["env.device"] + " (" + runs["env.device_name"] + ")"))
    wall = (pd.to_datetime(runs["ended"]) - pd.to_datetime(runs["started"])).dt.total_seconds()
    return (
        f"Drawn from {len(runs)} run(s): {_provenance(records)}; trained on "
        f"{', '.join(hardware)}; wall time {_duration(wall.sum())} in total, "
        f"{_duration(wall.max())} for the longest run."
    )


def _only_dataset(records: pd.DataFrame, dataset: str, figure: str) -> pd.DataFrame:
    """The rows of `dataset`, or a clear error when the records hold none of it."""
    check_choice("dataset", dataset, list(DATASET_LABELS))
    rows = records[records["config.dataset"] == dataset]
    if rows.empty:
        present = sorted(records["config.dataset"].unique()) if len(records) else []
        raise ValueError(
            f"{figure} needs records of dataset={dataset!r}; the records hold {present}"
        )
    return rows


def _require(records: pd.DataFrame, figure: str) -> None:
    if records.empty:
        raise ValueError(
            f"{figure}: no records to draw; train its runs first (rouser.figures.render lists them)"
        )


def _runs(records: pd.DataFrame) -> pd.DataFrame:
    """One row per run: its last epoch (where `summary.*` and the final test accuracy live)."""
    return records.sort_values("epoch").groupby("run_id", sort=False).tail(1)


def _stats(records: pd.DataFrame, by: list[str], column: str, scale: float = 100.0) -> pd.DataFrame:
    """Mean, sd (0 for a single seed) and count of `column` x `scale` over runs, per `by`."""
    grouped = records.groupby(by)[column]
    stats = pd.DataFrame({"mean": grouped.mean(), "sd": grouped.std(), "n": grouped.count()})
    stats[["mean", "sd"]] *= scale
    stats["sd"] = stats["sd"].fillna(0.0)
    return stats


def _method_order(methods: Iterable[str]) -> list[str]:
    present = set(methods)
    return [method for method in ("baseline", "rouser") if method in present]


def _new_figure(
    n_panels: int, width: float = 4.6, height: float = 3.6, **kw
) -> tuple[Figure, list[Axes]]:
    with mpl.rc_context(STYLE):
        figure = Figure(figsize=(width * n_panels, height), layout="constrained")
        axes = figure.subplots(1, n_panels, squeeze=False, **kw)[0]
    return figure, list(axes)


def _finish(figure: Figure, title: str, records: pd.DataFrame) -> Figure:
    """Title with provenance, and one legend below all panels (no panel's data hidden by it)."""
    handles: dict[str, object] = {}
    for ax in figure.axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    with mpl.rc_context(STYLE):
        figure.suptitle(f"{title}\nours: {_provenance(records)}", fontsize="medium")
        # as many columns as the longest label lets fit across the figure (8 pt: ~0.06 in/char)
        entry_inches = 0.6 + 0.062 * max(map(len, handles), default=0)
        ncols = max(1, min(len(handles), int(figure.get_figwidth() / entry_inches)))
        figure.legend(handles.values(), handles.keys(), loc="outside lower center", ncols=ncols)
    return figure


def _epoch_axis(ax: Axes) -> None:
    """Whole epochs on the x axis (matplotlib would tick 2.5 epochs)."""
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _band(ax: Axes, x: np.ndarray, stats: pd.DataFrame, color, label: str, **kw) -> None:
    """Mean line with a +-sd band over seeds."""
    ax.plot(x, stats["mean"], color=color, label=label, **kw)
    ax.fill_between(
        x, stats["mean"] - stats["sd"], stats["mean"] + stats["sd"], color=color, alpha=0.2, lw=0
    )


def _paper_level(ax: Axes, value: float | list[float], color, when: str, what: str) -> None:
    """The paper's approximate value at `when`: a dotted line, or a hatched band for a range.

    Drawn across the whole axis rather than at the paper's epoch, so that a short run (smoke,
    cpu) is not squeezed into a corner of an axis stretched to the paper's 25 or 50 epochs.
    """
    if isinstance(value, list):
        ax.axhspan(
            value[0],
            value[1],
            facecolor="none",
            edgecolor=color,
            hatch=PAPER_HATCH,
            lw=0.0,
            alpha=0.6,
            label=f"paper (≈ range, {when}): {what}",
        )
    else:
        ax.axhline(value, color=color, ls=":", lw=1.5, label=f"paper (≈, {when}): {what}")


def _spread(values: list[int], k: int) -> list[int]:
    """At most `k` of the sorted `values`, evenly spaced, first and last included."""
    if len(values) <= k:
        return values
    return sorted({values[i] for i in np.linspace(0, len(values) - 1, k).round().astype(int)})


# ---------------------------------------------------------------------------- tables


def _architecture(run: pd.Series) -> str:
    sizes = ["x".join(str(int(n)) for n in run["config.sensor_size"])]
    sizes += [str(int(n)) for n in run["config.hidden"]] + [str(int(run["config.n_classes"]))]
    return "-".join(sizes)


def table1(records: pd.DataFrame, paper: dict | None = None) -> pd.DataFrame:
    """Table I: final top-1 test accuracy (%) per dataset and method, mean +- sd over seeds.

    One row per (dataset, method) we ran, with the paper's accuracy and architecture beside
    ours. A method whose runs all fail to converge says so, as the paper does for SHD.
    """
    _require(records, "Table I")
    reference = (paper or load_paper_values())["table1"]
    runs = _runs(records)
    rows = []
    for dataset in [d for d in DATASET_LABELS if d in set(runs["config.dataset"])]:
        for method in _method_order(runs.loc[runs["config.dataset"] == dataset, "config.method"]):
            group = runs[(runs["config.dataset"] == dataset) & (runs["config.method"] == method)]
            accuracy = group["summary.final_test_accuracy"] * 100
            sd = accuracy.std()  # NaN for one seed: no spread is known, none is shown
            non_convergent = int((group["status"] == "non-convergent").sum())
            ours = (
                f"{accuracy.mean():.2f} ± {sd:.2f}" if len(group) > 1 else f"{accuracy.mean():.2f}"
            )
            if non_convergent == len(group):
                ours = f"did not converge ({ours})"
            elif non_convergent:
                ours += f" ({non_convergent} of {len(group)} seeds did not converge)"
            paper_value = reference.get(dataset, {}).get(method)
            paper_text = (
                reference["notes"].get(f"{dataset}.{method}", "-")
                if paper_value is None
                else f"{paper_value:.2f}"
            )
            rows.append(
                {
                    "dataset": _dataset_label(dataset, records),
                    "method": METHOD_LABELS[method],
                    "ours (%)": ours,
                    "paper (%)": paper_text,
                    "seeds": len(group),
                    "architecture (ours)": _architecture(group.iloc[0]),
                    "architecture (paper)": reference.get(dataset, {}).get("architecture", "-"),
                    "ours mean": accuracy.mean(),
                    "ours sd": sd,
                    "paper": paper_value,
                    "non-convergent seeds": non_convergent,
                }
            )
    table = pd.DataFrame(rows)
    table.attrs["title"] = (
        "Table I: top-1 test accuracy (%), mean ± sd over seeds, beside the paper's. Ours: "
        + _provenance(records)
    )
    # numbers for code and CSV; the displayed table shows them once, as text
    table.attrs["hidden_columns"] = ["ours mean", "ours sd", "paper", "non-convergent seeds"]
    return table


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
    return table


# ---------------------------------------------------------------------------- figures


def _bar_group(
    ax: Axes,
    x: np.ndarray,
    heights,
    errors,
    offset: float,
    width: float,
    color,
    label: str,
    paper: bool = False,
) -> None:
    if paper:
        ax.bar(
            x + offset,
            heights,
            width,
            label=label,
            facecolor="white",
            edgecolor=color,
            hatch=PAPER_HATCH,
            lw=1.0,
        )
    else:
        ax.bar(
            x + offset,
            heights,
            width,
            yerr=errors,
            label=label,
            color=color,
            capsize=2,
            error_kw={"lw": 1},
        )


def fig2_threshold_grid(records: pd.DataFrame, paper: dict | None = None) -> Figure:
    """Fig. 2: test accuracy after training with each fixed threshold, one panel per dataset.

    Grouped bars per threshold: ours (mean +- sd over seeds, final epoch) and the paper's.
    """
    _require(records, "Fig. 2")
    reference = (paper or load_paper_values())["fig2"]
    runs = _runs(records)
    stats = _stats(runs, ["config.dataset", "config.threshold"], "summary.final_test_accuracy")
    datasets = [d for d in DATASET_LABELS if d in set(runs["config.dataset"])]
    figure, axes = _new_figure(len(datasets), sharey=True)
    width = 0.38
    for ax, dataset in zip(axes, datasets, strict=True):
        ours = stats.loc[dataset]
        paper_acc = dict(
            zip(reference["thresholds"], reference["accuracy"].get(dataset, []), strict=False)
        )
        thresholds = sorted(set(ours.index) | set(paper_acc))
        x = np.arange(len(thresholds))
        ours = ours.reindex(thresholds)
        color = METHOD_COLORS["baseline"]
        _bar_group(ax, x, ours["mean"], ours["sd"], -width / 2, width, color, "ours")
        paper_heights = [paper_acc.get(t, np.nan) for t in thresholds]
        _bar_group(
            ax,
            x,
            paper_heights,
            None,
            width / 2,
            width,
            color,
            f"paper (≈, {reference['epochs']} epochs)",
            paper=True,
        )
        ax.set_xticks(x, [f"{t:g}" for t in thresholds])
        ax.set(
            xlabel="fixed threshold Th",
            ylabel="test accuracy (%)",
            title=_dataset_label(dataset, records),
            ylim=(0, 100),
        )
    epochs = ", ".join(str(int(e)) for e in sorted(runs["epoch"].unique()))
    return _finish(
        figure, f"Fig. 2: threshold grid search, test accuracy after {epochs} epochs", records
    )


def _normalised_weight_change(rows: pd.DataFrame) -> pd.Series:
    """Each run's total weight change divided by its value at the run's last epoch."""
    ordered = rows.sort_values("epoch")
    last = ordered.groupby("run_id")["weight_change.total"].transform("last")
    if (last <= 0).any():
        frozen = sorted(ordered.loc[last <= 0, "run_id"].unique())
        raise ValueError(
            f"Fig. 3: runs {frozen} have no weight change at their last epoch; nothing to normalise"
        )
    return (ordered["weight_change.total"] / last).reindex(rows.index)


def fig3_weight_change(
    records: pd.DataFrame, dataset: str = "nmnist", paper: dict | None = None
) -> Figure:
    """Fig. 3: ||W_e - W_0|| normalised to 1 at the last epoch, Rouser vs baseline.

    Mean over seeds with a +-sd band; the paper's approximate points as open markers.
    """
    _require(records, "Fig. 3")
    reference = (paper or load_paper_values())["fig3"]
    rows = _only_dataset(records, dataset, "Fig. 3").copy()
    rows["normalised"] = _normalised_weight_change(rows)
    figure, (ax,) = _new_figure(1, width=6.0)
    for method in _method_order(rows["config.method"].unique()):
        stats = _stats(rows[rows["config.method"] == method], ["epoch"], "normalised", scale=1.0)
        color = METHOD_COLORS[method]
        _band(
            ax, stats.index.to_numpy(), stats, color, f"ours: {METHOD_LABELS[method]}", marker="."
        )
        if dataset == reference["dataset"] and method in reference["points"]:
            points = reference["points"][method]
            ax.plot(
                list(points),
                list(points.values()),
                ls=":",
                marker="o",
                mfc="white",
                color=color,
                label=f"paper (≈): {METHOD_LABELS[method]}",
            )
    ax.set_ylabel("weight change (1 = last epoch)")
    _epoch_axis(ax)
    return _finish(
        figure,
        f"Fig. 3: normalised weight change from the initial weights, {_dataset_label(dataset, records)}",
        records,
    )


def fig4_dead_neurons(
    records: pd.DataFrame, dataset: str = "nmnist", paper: dict | None = None
) -> Figure:
    """Fig. 4: dead neurons (%) per hidden layer at a few epochs, Rouser vs baseline.

    The paper's epochs (0, 5, ..., 20) when our runs have them all; otherwise up to five
    epochs spread over what the runs have. The paper's bars appear at its own epochs.
    """
    _require(records, "Fig. 4")
    reference = (paper or load_paper_values())["fig4"]
    rows = _only_dataset(records, dataset, "Fig. 4")
    layers = layer_names(rows, "dead_neurons")
    present = sorted(int(e) for e in rows["epoch"].unique())
    paper_epochs = reference["epochs"] if dataset == reference["dataset"] else []
    epochs = (
        paper_epochs
        if paper_epochs and set(paper_epochs) <= set(present)
        else _spread(present, len(paper_epochs) or 5)
    )
    methods = _method_order(rows["config.method"].unique())
    width = 0.8 / (2 * len(methods))
    figure, axes = _new_figure(len(layers), sharey=True)
    x = np.arange(len(epochs))
    for ax, layer in zip(axes, layers, strict=True):
        for index, method in enumerate(methods):
            stats = _stats(
                rows[rows["config.method"] == method], ["epoch"], f"dead_neurons.{layer}"
            ).reindex(epochs)
            color = METHOD_COLORS[method]
            _bar_group(
                ax,
                x,
                stats["mean"],
                stats["sd"],
                (index - len(methods) + 0.5) * width,
                width,
                color,
                f"ours: {METHOD_LABELS[method]}",
            )
            values = reference["dead_neurons"].get(method, {}).get(layer) if paper_epochs else None
            if values:
                by_epoch = dict(zip(paper_epochs, values, strict=True))
                heights = [by_epoch.get(e, np.nan) for e in epochs]
                _bar_group(
                    ax,
                    x,
                    heights,
                    None,
                    (index + 0.5) * width,
                    width,
                    color,
                    f"paper (≈): {METHOD_LABELS[method]}",
                    paper=True,
                )
        ax.set_xticks(x, [str(e) for e in epochs])
        ax.set(
            xlabel="epoch",
            ylabel="dead neurons (%)",
            title=f"hidden {layer.replace('layer', 'layer ')}",
            ylim=(0, 100),
        )
    return _finish(
        figure,
        f"Fig. 4: dead neurons (no spike for an input), {_dataset_label(dataset, records)}",
        records,
    )


def fig5_spike_rates(
    records: pd.DataFrame, dataset: str = "nmnist", paper: dict | None = None
) -> Figure:
    """Fig. 5: average spike rate (%) per layer over epochs, one panel per method.

    Mean over seeds with a +-sd band; the paper's approximate settling values as dotted lines
    (hatched bands where the paper gives only a range).
    """
    _require(records, "Fig. 5")
    reference = (paper or load_paper_values())["fig5"]
    rows = _only_dataset(records, dataset, "Fig. 5")
    layers = layer_names(rows, "spike_rate")
    methods = _method_order(rows["config.method"].unique())
    colors = dict(zip(layers, sns.color_palette("viridis", len(layers)), strict=True))
    figure, axes = _new_figure(len(methods), sharey=True)
    for ax, method in zip(axes, methods, strict=True):
        group = rows[rows["config.method"] == method]
        finals = (
            reference["final_spike_rate"].get(method, {}) if dataset == reference["dataset"] else {}
        )
        for layer in layers:
            stats = _stats(group, ["epoch"], f"spike_rate.{layer}")
            _band(
                ax,
                stats.index.to_numpy(),
                stats,
                colors[layer],
                f"ours: {_layer_label(layer, layers)}",
                marker=".",
            )
            if layer in finals:
                _paper_level(
                    ax,
                    finals[layer],
                    colors[layer],
                    f"epoch {reference['epochs']}",
                    _layer_label(layer, layers),
                )
        ax.set(ylabel="spike rate (% of time steps)", title=METHOD_LABELS[method])
        _epoch_axis(ax)
    return _finish(
        figure, f"Fig. 5: average spike rate per layer, {_dataset_label(dataset, records)}", records
    )


def _setting_label(threshold: float, tau: float, scale: float) -> str:
    return f"(Th_init, tau, s) = ({threshold:g}, {tau:g}, {scale:g})"


def fig6_ablation(records: pd.DataFrame, paper: dict | None = None) -> Figure:
    """Fig. 6: test accuracy over epochs with threshold learning on vs off (lr_Th = 0).

    One panel per neuron setting (Th_init, tau, s) found in the records; the same seed gives
    the same initial weights in both arms. The paper's approximate start and end accuracies of
    a matching setting: an open marker at epoch 0, a dotted line for epoch 50.
    """
    _require(records, "Fig. 6")
    reference = (paper or load_paper_values())["fig6"]
    settings_columns = ["config.threshold", "config.tau", "config.scale"]
    settings = sorted(
        records[settings_columns].drop_duplicates().itertuples(index=False, name=None), reverse=True
    )
    figure, axes = _new_figure(len(settings), sharey=True)
    for ax, setting in zip(axes, settings, strict=True):
        group = records[np.isclose(records[settings_columns].to_numpy(float), setting).all(axis=1)]
        match = next(
            (
                s
                for s in reference["settings"].values()
                if np.allclose([s["threshold"], s["tau"], s["scale"]], setting)
            ),
            None,
        )
        for lr_th in sorted(group["config.lr_th"].unique(), reverse=True):
            color = METHOD_COLORS["rouser" if lr_th > 0 else "baseline"]
            stats = _stats(group[group["config.lr_th"] == lr_th], ["epoch"], "test_accuracy")
            _band(ax, stats.index.to_numpy(), stats, color, f"ours: lr_Th = {lr_th:g}", marker=".")
            if match is not None and lr_th in match["start"]:
                ax.plot(
                    [0],
                    [match["start"][lr_th]],
                    ls="none",
                    marker="o",
                    mfc="white",
                    color=color,
                    label=f"paper (≈, epoch 0): lr_Th = {lr_th:g}",
                )
            if match is not None and lr_th in match["end"]:
                when = f"epoch {reference['epochs']}"
                _paper_level(ax, match["end"][lr_th], color, when, f"lr_Th = {lr_th:g}")
        ax.set(ylabel="test accuracy (%)", title=_setting_label(*setting), ylim=(0, 100))
        _epoch_axis(ax)
    datasets = ", ".join(
        _dataset_label(d, records) for d in sorted(records["config.dataset"].unique())
    )
    return _finish(figure, f"Fig. 6: ablation, threshold learning on vs off, {datasets}", records)


def thresholds(records: pd.DataFrame, dataset: str = "nmnist", method: str = "rouser") -> Figure:
    """The learned thresholds' distribution per layer over training (not in the paper).

    From the per-epoch quantiles in the records: the median, the 25-75% and 5-95% bands and
    min/max, averaged over seeds; Th_init dashed for reference (where the baseline stays).
    """
    _require(records, "Thresholds")
    check_choice("method", method, list(METHOD_LABELS))
    rows = _only_dataset(records, dataset, "Thresholds")
    rows = rows[rows["config.method"] == method]
    if rows.empty:
        raise ValueError(f"Thresholds: no records of method={method!r} for dataset={dataset!r}")
    layers = layer_names(rows, "thresholds", ".q50")
    figure, axes = _new_figure(len(layers), width=3.6, sharey=True)
    color = METHOD_COLORS[method]
    for ax, layer in zip(axes, layers, strict=True):
        columns = [
            f"thresholds.{layer}.{q}" for q in ("min", "q05", "q25", "q50", "q75", "q95", "max")
        ]
        means = rows.groupby("epoch")[columns].mean()
        means.columns = [c.rsplit(".", 1)[1] for c in columns]
        epochs = means.index.to_numpy()
        ax.fill_between(
            epochs, means["q05"], means["q95"], color=color, alpha=0.2, lw=0, label="5-95%"
        )
        ax.fill_between(
            epochs, means["q25"], means["q75"], color=color, alpha=0.45, lw=0, label="25-75%"
        )
        ax.plot(epochs, means["q50"], color=color, marker=".", label="median")
        ax.plot(epochs, means["min"], color=color, ls=":", lw=1, label="min / max")
        ax.plot(epochs, means["max"], color=color, ls=":", lw=1)
        for th_init in rows["config.threshold"].unique():
            ax.axhline(th_init, color="0.4", ls="--", lw=1, label="Th_init")
        ax.set(ylabel="threshold", title=_layer_label(layer, layers))
        _epoch_axis(ax)
    return _finish(
        figure,
        f"Thresholds of {METHOD_LABELS[method]} per layer over training, {_dataset_label(dataset, records)} (mean over seeds)",
        records,
    )


# ---------------------------------------------------------------------------- saving


def default_figures_dir(profile: str) -> Path:
    """`data/results/<profile>/figures/`: git-ignored, one folder per profile."""
    return paths.results_dir(profile) / "figures"


def _savefig(figure: Figure, handle: IO[bytes], fmt: str) -> None:
    with mpl.rc_context(STYLE):
        figure.savefig(handle, format=fmt, metadata=_METADATA[fmt])


def save(result: Figure | pd.DataFrame, name: str, figures_dir: str | os.PathLike) -> list[Path]:
    """Write a figure as SVG and PDF (vector, reproducible bytes) or a table as CSV, atomically."""
    figures_dir = Path(figures_dir)
    if isinstance(result, pd.DataFrame):
        targets = {"csv": figures_dir / f"{name}.csv"}
    elif isinstance(result, Figure):
        targets = {fmt: figures_dir / f"{name}.{fmt}" for fmt in ("svg", "pdf")}
    else:
        raise TypeError(
            f"save() takes a matplotlib Figure or a pandas DataFrame, not {type(result).__name__}"
        )
    for fmt, path in targets.items():
        if fmt == "csv":
            data = result.to_csv(index=False).encode()
            atomic_write(path, lambda handle, data=data: handle.write(data))
        else:
            atomic_write(path, lambda handle, fmt=fmt: _savefig(result, handle, fmt))
    return list(targets.values())


# ---------------------------------------------------------------------------- notebooks' entry


@dataclass(frozen=True)
class Rendered:
    """What `render` made: the figure or table (None when no run is there yet), and why not."""

    name: str
    profile: str
    output: Figure | pd.DataFrame | None
    runs_dir: Path | None = None
    missing: list[str] = field(default_factory=list)
    unfinished: dict[str, str] = field(default_factory=dict)
    paths: list[Path] = field(default_factory=list)
    provenance: str = ""

    @property
    def message(self) -> str:
        """Markdown naming the runs not drawn and what to do about them ('' if none)."""
        if not self.missing and not self.unfinished:
            return ""
        title = f"{RESULTS[self.name].title} (profile `{self.profile}`)"
        if self.output is None:
            lines = [f"**{title}: none of its runs has a finished record yet; nothing to draw.**"]
        else:
            lines = [f"**{title} is incomplete: it shows only the runs that are there.**"]
        if self.missing:
            listed = ", ".join(f"`{run_id}`" for run_id in self.missing)
            lines += [
                "",
                f"{len(self.missing)} run(s) have no record in `{self.runs_dir}` yet: {listed}. "
                f"Train them from the repository root with `{self.command}` (runs that have a "
                "record are not recomputed), then run this notebook again.",
            ]
        for run_id, status in self.unfinished.items():
            advice = {
                "failed": "its record's `error` says why; remove the record to train it again",
                "running": "not finished yet (or interrupted: training again resumes it)",
            }.get(status, "not finished")
            lines += ["", f"`{run_id}` is {status}: {advice}."]
        return "\n".join(lines)

    @property
    def command(self) -> str:
        """The workflow command that trains this profile's runs into `runs_dir`."""
        command = f"snakemake runs --cores 2 --config profile={self.profile}"
        if self.runs_dir is not None and (
            self.runs_dir.resolve() != paths.runs_dir(self.profile).resolve()
        ):
            command += f" runs_dir={self.runs_dir}"
        return command

    def _ipython_display_(self) -> None:
        from IPython.display import SVG, Markdown, display

        if self.message:
            display(Markdown(self.message))
        if isinstance(self.output, Figure):
            buffer = io.StringIO()
            with mpl.rc_context(STYLE):
                self.output.savefig(buffer, format="svg", metadata=_METADATA["svg"])
            display(SVG(buffer.getvalue()))
        elif isinstance(self.output, pd.DataFrame):
            table = self.output
            styled = table.style.set_uuid(self.name)  # stable HTML ids: reproducible pages
            styled = styled.set_caption(table.attrs.get("title", "")).hide(axis="index")
            styled = styled.hide(table.attrs.get("hidden_columns", []), axis="columns")
            display(styled.format(precision=2, na_rep="-"))
        if self.provenance:
            display(Markdown(self.provenance))


def experiment_records(
    name: str, profile: str, runs_dir: str | os.PathLike | None = None, config: dict | None = None
) -> tuple[pd.DataFrame, list[str], dict[str, str]]:
    """The records of result `name`'s finished runs, the ids without a record, and the
    ids whose record is not finished (with their status)."""
    runs_dir = paths.runs_dir(profile, runs_dir)
    wanted = [run.run_id for run in result_runs(name, profile, config)]
    missing = [run_id for run_id in wanted if not record_path(run_id, runs_dir).is_file()]
    present = [run_id for run_id in wanted if run_id not in missing]
    records = (
        load_records([record_path(run_id, runs_dir) for run_id in present])
        if present
        else pd.DataFrame()
    )
    unfinished: dict[str, str] = {}
    if not records.empty:
        status = records.groupby("run_id")["status"].first()
        unfinished = {run_id: s for run_id, s in status.items() if s not in DONE_STATUSES}
        records = records[~records["run_id"].isin(unfinished)].reset_index(drop=True)
    return records, missing, unfinished


def render(
    name: str,
    profile: str = paths.DEFAULT_PROFILE,
    runs_dir: str | os.PathLike | None = None,
    figures_dir: str | os.PathLike | None = None,
    config: dict | None = None,
) -> Rendered:
    """Draw one result of the registry (`rouser.results`) from its runs' records, save it,
    and return it for display.

    Missing or unfinished runs are listed with the command that makes them; whatever is
    there is still drawn.
    """
    entry = result(name)
    figures_dir = Path(figures_dir) if figures_dir is not None else default_figures_dir(profile)
    draw = globals()[entry.draw]
    if not entry.experiments:
        output = draw(profile, config)
        return Rendered(name, profile, output, paths=save(output, name, figures_dir))
    runs_dir = paths.runs_dir(profile, runs_dir)
    records, missing, unfinished = experiment_records(name, profile, runs_dir, config)
    if records.empty:
        return Rendered(name, profile, None, runs_dir, missing, unfinished)
    output = draw(records)
    paths_ = save(output, name, figures_dir)
    return Rendered(
        name, profile, output, runs_dir, missing, unfinished, paths_, runs_provenance(records)
    )
