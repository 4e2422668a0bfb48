"""Figs. 3-5, the learned thresholds and one paper epoch, over the paper's own time axis.

Every curve is placed by the samples its run has trained on, in paper epochs
(`rouser.report.axis`), on a log axis (linear below a hundredth of a paper epoch, so the
untrained network at 0 stays visible): the first tens of steps, where dead neurons jump,
and the tenth paper epoch share one page. The paper's values sit where the paper's epoch k
lies, at k + 1. Each run of a trajectory is one line (seeds are separate lines, not a band:
the seeds reach different lengths), the longest run of a trajectory standing for its
shorter prefixes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from rouser.config import check_choice
from rouser.report import axis
from rouser.report.plotting import finish, method_order, new_figure, only_dataset, require
from rouser.report.style import (
    METHOD_COLORS,
    METHOD_LABELS,
    dataset_label,
    layer_label,
    layer_names,
    load_paper_values,
)

LINEAR_BELOW = 0.01  # paper epochs: the symlog axis is linear below this (epoch 0 at 0)


def paper_axis(ax: Axes, largest: float) -> None:
    """A symlog x axis in paper epochs of training samples, ticked at powers of ten."""
    ax.set_xscale("symlog", linthresh=LINEAR_BELOW, linscale=0.4)
    ax.set_xticks([0.0, *axis.log_ticks(largest)], ["0", *map(_tick, axis.log_ticks(largest))])
    ax.set_xlim(0.0, largest * 1.3)
    ax.set_xlabel("paper epochs of training samples")


def _tick(value: float) -> str:
    return f"{value:g}"


def _lines(
    ax: Axes, rows: pd.DataFrame, column: str, color, label: str, scale: float = 100.0, **style
) -> None:
    """One line per run of `rows` over paper epochs (`column` x `scale`: fractions are
    drawn in percent); the label on the first only."""
    for number, (_, run) in enumerate(rows.sort_values("paper_epochs").groupby("run_id")):
        ax.plot(
            run["paper_epochs"],
            run[column] * scale,
            color=color,
            label=label if number == 0 else None,
            marker=".",
            ms=3,
            lw=1.2,
            **style,
        )


def _paper_points(ax: Axes, epochs: list[int], values: list[float], color, label: str) -> None:
    """The paper's values at its epochs, placed at epoch + 1 paper epochs."""
    ax.plot(
        [axis.paper_x(e) for e in epochs],
        values,
        ls=":",
        marker="o",
        mfc="white",
        color=color,
        label=label,
    )


def _trajectories(records: pd.DataFrame, dataset: str, figure: str, paper: dict) -> pd.DataFrame:
    require(records, figure)
    return axis.trajectories(only_dataset(records, dataset, figure), paper)


def fig3_weight_change(
    records: pd.DataFrame, dataset: str = "nmnist", paper: dict | None = None
) -> Figure:
    """Fig. 3: how far the weights move from their initial values, Rouser vs baseline.

    Left: ||W - W_0|| (all layers) over paper epochs, every run. Right: the paper's view,
    each run's change normalised to 1 at its end, over the fraction of the run; the paper's
    points (epochs 0, 4 and 21 of its 0-21) at the same fractions.
    """
    paper = paper or load_paper_values()
    reference = paper["fig3"]
    rows = _trajectories(records, dataset, "Fig. 3", paper)
    end = axis.paper_x(reference["epochs"])
    figure, (absolute, normalised) = new_figure(2, width=5.0)
    for method in method_order(rows["config.method"].unique()):
        color = METHOD_COLORS[method]
        group = rows[rows["config.method"] == method].copy()
        _lines(absolute, group, "weight_change.total", color, f"ours: {METHOD_LABELS[method]}", 1.0)
        reach = group.groupby("run_id")["paper_epochs"].transform("max")
        last = group.sort_values("paper_epochs").groupby("run_id")["weight_change.total"]
        group["fraction"] = group["paper_epochs"] / reach
        group["normalised"] = group["weight_change.total"] / last.transform("last")
        for _, run in group.sort_values("fraction").groupby("run_id"):
            normalised.plot(run["fraction"], run["normalised"], color=color, marker=".", ms=3)
        if dataset == reference["dataset"] and method in reference["points"]:
            points = reference["points"][method]
            normalised.plot(
                [axis.paper_x(e) / end if e else 0.0 for e in points],
                list(points.values()),
                ls=":",
                marker="o",
                mfc="white",
                color=color,
                label=f"paper (≈): {METHOD_LABELS[method]}",
            )
    absolute.set(ylabel="||W - W_0|| (all layers)", title="weight change")
    absolute.set_ylim(bottom=0)
    paper_axis(absolute, float(rows["paper_epochs"].max()))
    normalised.set(
        xlabel="fraction of the run (the paper's: of epochs 0-21)",
        ylabel="weight change (1 = end of run)",
        title="normalised, as the paper plots it",
        xlim=(0, 1.02),
    )
    return finish(
        figure,
        f"Fig. 3: weight change from the initial weights, {dataset_label(dataset, records)}",
        records,
    )


def fig4_dead_neurons(
    records: pd.DataFrame, dataset: str = "nmnist", paper: dict | None = None
) -> Figure:
    """Fig. 4: dead neurons (%) per hidden layer over paper epochs, Rouser vs baseline.

    Solid: dead for an input (silent on one input, averaged over the test inputs); dashed:
    dead for a batch of 32 (silent on every input of a batch), recorded since the runs on
    the paper's axis; both are the paper's definition ("to spike during the presentation of
    an input or input batch"). The paper's values at its epochs 0, 5, ..., 20 (its figure
    does not say which reading they are).
    """
    paper = paper or load_paper_values()
    reference = paper["fig4"]
    rows = _trajectories(records, dataset, "Fig. 4", paper)
    layers = layer_names(rows, "dead_neurons")
    figure, axes = new_figure(len(layers), sharey=True, width=5.0)
    for ax, layer in zip(axes, layers, strict=True):
        for method in method_order(rows["config.method"].unique()):
            color = METHOD_COLORS[method]
            group = rows[rows["config.method"] == method]
            label = METHOD_LABELS[method]
            _lines(ax, group, f"dead_neurons.{layer}", color, f"ours, per input: {label}")
            per_batch = f"dead_per_batch.{layer}"
            if per_batch in group and group[per_batch].notna().any():
                batched = group[group[per_batch].notna()]
                _lines(ax, batched, per_batch, color, f"ours, per batch: {label}", ls="--")
            values = reference["dead_neurons"].get(method, {}).get(layer)
            if values and dataset == reference["dataset"]:
                _paper_points(ax, reference["epochs"], values, color, f"paper (≈): {label}")
        ax.set(ylabel="dead neurons (%)", title=f"hidden {layer.replace('layer', 'layer ')}")
        ax.set_ylim(0, 100)
        largest = max(rows["paper_epochs"].max(), axis.paper_x(reference["epochs"][-1]))
        paper_axis(ax, float(largest))
    return finish(
        figure,
        f"Fig. 4: dead neurons over the paper's epochs, {dataset_label(dataset, records)}",
        records,
    )


def fig5_spike_rates(
    records: pd.DataFrame, dataset: str = "nmnist", paper: dict | None = None
) -> Figure:
    """Fig. 5: average spike rate (%) per layer over paper epochs, one panel per method.

    A log rate axis: ours (about 1%) and the paper's (5-68%) differ by more than ten times,
    which a linear axis squashes into its floor. The paper's settling values at its epoch
    25 (a bar where it gives a range).
    """
    paper = paper or load_paper_values()
    reference = paper["fig5"]
    rows = _trajectories(records, dataset, "Fig. 5", paper)
    layers = layer_names(rows, "spike_rate")
    methods = method_order(rows["config.method"].unique())
    colors = dict(zip(layers, sns.color_palette("viridis", len(layers)), strict=True))
    figure, axes = new_figure(len(methods), sharey=True, width=5.0)
    settle = axis.paper_x(reference["epochs"])
    for ax, method in zip(axes, methods, strict=True):
        group = rows[rows["config.method"] == method]
        finals = (
            reference["final_spike_rate"].get(method, {}) if dataset == reference["dataset"] else {}
        )
        for layer in layers:
            label = layer_label(layer, layers)
            _lines(ax, group, f"spike_rate.{layer}", colors[layer], f"ours: {label}")
            if layer in finals:
                value = finals[layer]
                low, high = (value, value) if not isinstance(value, list) else value
                ax.errorbar(
                    [settle],
                    [(low + high) / 2],
                    yerr=[[(high - low) / 2], [(high - low) / 2]],
                    ls="none",
                    marker="o",
                    mfc="white",
                    color=colors[layer],
                    capsize=3,
                    label=f"paper (≈, epoch {reference['epochs']}): {label}",
                )
        ax.set_yscale("log")
        ax.set(ylabel="spike rate (% of time steps, log)", title=METHOD_LABELS[method])
        paper_axis(ax, float(max(rows["paper_epochs"].max(), settle)))
    return finish(
        figure, f"Fig. 5: average spike rate per layer, {dataset_label(dataset, records)}", records
    )


def paper_epoch(
    records: pd.DataFrame, dataset: str = "nmnist", paper: dict | None = None
) -> Figure:
    """Test accuracy and dead neurons over the first paper epoch of steps, every setting.

    One line per run (Table II's setting for both methods, and Fig. 6b's rescue); the
    paper's only values inside this window sit at one paper epoch, where its epoch 0 lies:
    Fig. 4's dead neurons and the first point of Fig. 6's curves of a matching setting.
    """
    paper = paper or load_paper_values()
    rows = _trajectories(records, dataset, "One paper epoch", paper)
    rows = rows[rows["paper_epochs"] <= 1.0 + 1e-9]
    layers = layer_names(rows, "dead_neurons")
    columns = ["test_accuracy", *(f"dead_neurons.{layer}" for layer in layers)]
    figure, axes = new_figure(len(columns), width=4.2, height=3.6)
    fig4, fig6 = paper["fig4"], paper["fig6"]["settings"]
    for (method, threshold), group in rows.groupby(["config.method", "config.threshold"]):
        color = METHOD_COLORS[method]
        label = METHOD_LABELS[method] + (
            "" if np.isclose(threshold, 1.25) else f", Th_init {threshold:g}"
        )
        style = {} if np.isclose(threshold, 1.25) else {"ls": "--"}
        for ax, column in zip(axes, columns, strict=True):
            _lines(ax, group, column, color, f"ours: {label}", **style)
        arm = 0.0 if method == "baseline" else float(group["config.lr_th"].iloc[0])
        match = next(
            (
                s
                for s in fig6.values()
                if np.isclose(s["threshold"], threshold) and arm in s["start"]
            ),
            None,
        )
        if match is not None:
            axes[0].plot(
                [axis.paper_x(0)],
                [match["start"][arm]],
                ls="none",
                marker="o",
                mfc="white",
                color=color,
                label=f"paper (≈, Fig. 6 epoch 0): {label}",
            )
        if np.isclose(threshold, 1.25) and dataset == fig4["dataset"]:
            for ax, layer in zip(axes[1:], layers, strict=True):
                values = fig4["dead_neurons"].get(method, {}).get(layer)
                if values:
                    ax.plot(
                        [axis.paper_x(0)],
                        [values[0]],
                        ls="none",
                        marker="s",
                        mfc="white",
                        color=color,
                        label=f"paper (≈, Fig. 4 epoch 0): {label}",
                    )
    axes[0].set(ylabel="test accuracy (%)", title="test accuracy", ylim=(0, 100))
    for ax, layer in zip(axes[1:], layers, strict=True):
        ax.set(ylabel="dead neurons (%)", title=f"dead, hidden {layer.replace('layer', 'layer ')}")
        ax.set_ylim(0, 100)
    for ax in axes:
        paper_axis(ax, 1.0)
    return finish(
        figure,
        f"The first paper epoch of steps, {dataset_label(dataset, records)}",
        records,
    )


def thresholds(
    records: pd.DataFrame,
    dataset: str = "nmnist",
    method: str = "rouser",
    paper: dict | None = None,
) -> Figure:
    """The learned thresholds per layer over paper epochs (not in the paper).

    From the quantiles every record stores: each run's median; for the longest run also its
    25-75% and 5-95% bands and min/max, which show where a layer's thresholds go over the
    paper's horizon (the output layer's toward 0 in a run that collapses). Th_init dashed,
    where the baseline's stay.
    """
    paper = paper or load_paper_values()
    check_choice("method", method, list(METHOD_LABELS))
    rows = _trajectories(records, dataset, "Thresholds", paper)
    rows = rows[rows["config.method"] == method]
    if rows.empty:
        raise ValueError(f"Thresholds: no records of method={method!r} for dataset={dataset!r}")
    layers = layer_names(rows, "thresholds", ".q50")
    longest = rows.loc[rows["paper_epochs"].idxmax(), "run_id"]
    band = rows[rows["run_id"] == longest].sort_values("paper_epochs")
    figure, axes = new_figure(len(layers), width=3.6, sharey=True)
    color = METHOD_COLORS[method]
    for ax, layer in zip(axes, layers, strict=True):
        column = f"thresholds.{layer}"
        x = band["paper_epochs"]
        for low, high, alpha, share in (
            ("q05", "q95", 0.2, "5-95%"),
            ("q25", "q75", 0.45, "25-75%"),
        ):
            ax.fill_between(
                x,
                band[f"{column}.{low}"],
                band[f"{column}.{high}"],
                color=color,
                alpha=alpha,
                lw=0,
                label=f"{share}, longest run",
            )
        for edge in ("min", "max"):
            ax.plot(
                x,
                band[f"{column}.{edge}"],
                color=color,
                ls=":",
                lw=1,
                label="min / max, longest run" if edge == "min" else None,
            )
        _lines(ax, rows, f"{column}.q50", color, "median, each run", 1.0)
        for th_init in rows["config.threshold"].unique():
            ax.axhline(th_init, color="0.4", ls="--", lw=1, label="Th_init")
        ax.set(ylabel="threshold", title=layer_label(layer, layers))
        paper_axis(ax, float(rows["paper_epochs"].max()))
    return finish(
        figure,
        f"Thresholds of {METHOD_LABELS[method]} per layer over the paper's epochs, "
        f"{dataset_label(dataset, records)}",
        records,
    )


def fig6_ablation(records: pd.DataFrame, paper: dict | None = None) -> Figure:
    """Fig. 6: test accuracy over paper epochs with threshold learning on vs off.

    One panel per neuron setting (Th_init, tau, s); the same seed gives the same initial
    weights in both arms. Learning off is lr_Th = 0 on Rouser's path, or the baseline
    (frozen thresholds: the same numbers, tested). The paper's approximate start (its epoch
    0) and end (epoch 50) of a matching setting, at 1 and 51 paper epochs.
    """
    paper = paper or load_paper_values()
    reference = paper["fig6"]
    require(records, "Fig. 6")
    rows = axis.trajectories(records, paper)
    rows["arm"] = np.where(
        (rows["config.method"] == "rouser") & (rows["config.lr_th"] > 0), "on", "off"
    )
    columns = ["config.threshold", "config.tau", "config.scale"]
    settings = sorted(
        rows[columns].drop_duplicates().itertuples(index=False, name=None), reverse=True
    )
    figure, axes = new_figure(len(settings), sharey=True, width=5.0)
    for ax, setting in zip(axes, settings, strict=True):
        group = rows[np.isclose(rows[columns].to_numpy(float), setting).all(axis=1)]
        match = next(
            (
                s
                for s in reference["settings"].values()
                if np.allclose([s["threshold"], s["tau"], s["scale"]], setting)
            ),
            None,
        )
        for arm, method in (("on", "rouser"), ("off", "baseline")):
            runs = group[group["arm"] == arm]
            if runs.empty:
                continue
            color = METHOD_COLORS[method]
            rates = sorted(runs.loc[runs["config.method"] == "rouser", "config.lr_th"].unique())
            label = f"learning {arm}" + (f" (lr_Th = {rates[-1]:g})" if arm == "on" else "")
            _lines(ax, runs, "test_accuracy", color, f"ours: {label}")
            if match is None:
                continue
            lr = rates[-1] if arm == "on" else 0.0
            points = [(0, match["start"].get(lr)), (reference["epochs"], match["end"].get(lr))]
            known = [(e, v) for e, v in points if v is not None]
            if known:
                _paper_points(
                    ax, *map(list, zip(*known, strict=True)), color, f"paper (≈): {label}"
                )
        ax.set(ylabel="test accuracy (%)", title=_setting_label(*setting))
        ax.set_ylim(0, 100)
        paper_axis(ax, float(max(rows["paper_epochs"].max(), axis.paper_x(reference["epochs"]))))
    datasets = ", ".join(
        dataset_label(d, records) for d in sorted(records["config.dataset"].unique())
    )
    return finish(figure, f"Fig. 6: ablation, threshold learning on vs off, {datasets}", records)


def _setting_label(threshold: float, tau: float, scale: float) -> str:
    return f"(Th_init, tau, s) = ({threshold:g}, {tau:g}, {scale:g})"
