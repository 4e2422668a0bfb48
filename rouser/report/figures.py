"""The paper's figures (Figs. 2-6) and the learned thresholds, drawn from run records.

Each function takes the records DataFrame of ``rouser.records.load_records`` (one row per
run and epoch) and the paper's numbers from ``paper_values.yml``, and returns a matplotlib
``Figure``: nothing between the runs and the page is typed in. Records hold fractions;
everything drawn is in percent, as the paper prints it. Ours is solid, the paper's is
hatched or dotted and labelled "paper".
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from rouser.config import check_choice
from rouser.report.plotting import (
    band,
    epoch_axis,
    finish,
    last_epochs,
    method_order,
    new_figure,
    only_dataset,
    paper_level,
    require,
    seed_stats,
    spread,
)
from rouser.report.style import (
    DATASET_LABELS,
    METHOD_COLORS,
    METHOD_LABELS,
    PAPER_HATCH,
    dataset_label,
    layer_label,
    layer_names,
    load_paper_values,
)

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
    require(records, "Fig. 2")
    reference = (paper or load_paper_values())["fig2"]
    runs = last_epochs(records)
    stats = seed_stats(runs, ["config.dataset", "config.threshold"], "summary.final_test_accuracy")
    datasets = [d for d in DATASET_LABELS if d in set(runs["config.dataset"])]
    figure, axes = new_figure(len(datasets), sharey=True)
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
            title=dataset_label(dataset, records),
            ylim=(0, 100),
        )
    epochs = ", ".join(str(int(e)) for e in sorted(runs["epoch"].unique()))
    return finish(
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
    require(records, "Fig. 3")
    reference = (paper or load_paper_values())["fig3"]
    rows = only_dataset(records, dataset, "Fig. 3").copy()
    rows["normalised"] = _normalised_weight_change(rows)
    figure, (ax,) = new_figure(1, width=6.0)
    for method in method_order(rows["config.method"].unique()):
        stats = seed_stats(
            rows[rows["config.method"] == method], ["epoch"], "normalised", scale=1.0
        )
        color = METHOD_COLORS[method]
        band(ax, stats.index.to_numpy(), stats, color, f"ours: {METHOD_LABELS[method]}", marker=".")
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
    epoch_axis(ax)
    return finish(
        figure,
        f"Fig. 3: normalised weight change from the initial weights, {dataset_label(dataset, records)}",
        records,
    )


def fig4_dead_neurons(
    records: pd.DataFrame, dataset: str = "nmnist", paper: dict | None = None
) -> Figure:
    """Fig. 4: dead neurons (%) per hidden layer at a few epochs, Rouser vs baseline.

    The paper's epochs (0, 5, ..., 20) when our runs have them all; otherwise up to five
    epochs spread over what the runs have. The paper's bars appear at its own epochs.
    """
    require(records, "Fig. 4")
    reference = (paper or load_paper_values())["fig4"]
    rows = only_dataset(records, dataset, "Fig. 4")
    layers = layer_names(rows, "dead_neurons")
    present = sorted(int(e) for e in rows["epoch"].unique())
    paper_epochs = reference["epochs"] if dataset == reference["dataset"] else []
    epochs = (
        paper_epochs
        if paper_epochs and set(paper_epochs) <= set(present)
        else spread(present, len(paper_epochs) or 5)
    )
    methods = method_order(rows["config.method"].unique())
    width = 0.8 / (2 * len(methods))
    figure, axes = new_figure(len(layers), sharey=True)
    x = np.arange(len(epochs))
    for ax, layer in zip(axes, layers, strict=True):
        for index, method in enumerate(methods):
            stats = seed_stats(
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
    return finish(
        figure,
        f"Fig. 4: dead neurons (no spike for an input), {dataset_label(dataset, records)}",
        records,
    )


def fig5_spike_rates(
    records: pd.DataFrame, dataset: str = "nmnist", paper: dict | None = None
) -> Figure:
    """Fig. 5: average spike rate (%) per layer over epochs, one panel per method.

    Mean over seeds with a +-sd band; the paper's approximate settling values as dotted lines
    (hatched bands where the paper gives only a range).
    """
    require(records, "Fig. 5")
    reference = (paper or load_paper_values())["fig5"]
    rows = only_dataset(records, dataset, "Fig. 5")
    layers = layer_names(rows, "spike_rate")
    methods = method_order(rows["config.method"].unique())
    colors = dict(zip(layers, sns.color_palette("viridis", len(layers)), strict=True))
    figure, axes = new_figure(len(methods), sharey=True)
    for ax, method in zip(axes, methods, strict=True):
        group = rows[rows["config.method"] == method]
        finals = (
            reference["final_spike_rate"].get(method, {}) if dataset == reference["dataset"] else {}
        )
        for layer in layers:
            stats = seed_stats(group, ["epoch"], f"spike_rate.{layer}")
            band(
                ax,
                stats.index.to_numpy(),
                stats,
                colors[layer],
                f"ours: {layer_label(layer, layers)}",
                marker=".",
            )
            if layer in finals:
                paper_level(
                    ax,
                    finals[layer],
                    colors[layer],
                    f"epoch {reference['epochs']}",
                    layer_label(layer, layers),
                )
        ax.set(ylabel="spike rate (% of time steps)", title=METHOD_LABELS[method])
        epoch_axis(ax)
    return finish(
        figure, f"Fig. 5: average spike rate per layer, {dataset_label(dataset, records)}", records
    )


def _setting_label(threshold: float, tau: float, scale: float) -> str:
    return f"(Th_init, tau, s) = ({threshold:g}, {tau:g}, {scale:g})"


def _rows_with(records: pd.DataFrame, columns: list[str], values: tuple) -> pd.DataFrame:
    """The rows whose `columns` equal `values` (floats compared with a tolerance)."""
    return records[np.isclose(records[columns].to_numpy(float), values).all(axis=1)]


def _fig6_setting(settings: dict, threshold: float, tau: float, scale: float) -> dict | None:
    """The paper's Fig. 6 setting with this (Th_init, tau, s), if it has one."""
    return next(
        (
            setting
            for setting in settings.values()
            if np.allclose(
                [setting["threshold"], setting["tau"], setting["scale"]], [threshold, tau, scale]
            )
        ),
        None,
    )


def fig6_ablation(records: pd.DataFrame, paper: dict | None = None) -> Figure:
    """Fig. 6: test accuracy over epochs with threshold learning on vs off (lr_Th = 0).

    One panel per neuron setting (Th_init, tau, s) found in the records; the same seed gives
    the same initial weights in both arms. The paper's approximate start and end accuracies of
    a matching setting: an open marker at epoch 0, a dotted line for epoch 50.
    """
    require(records, "Fig. 6")
    reference = (paper or load_paper_values())["fig6"]
    settings_columns = ["config.threshold", "config.tau", "config.scale"]
    settings = sorted(
        records[settings_columns].drop_duplicates().itertuples(index=False, name=None), reverse=True
    )
    figure, axes = new_figure(len(settings), sharey=True)
    for ax, setting in zip(axes, settings, strict=True):
        group = _rows_with(records, settings_columns, setting)
        match = _fig6_setting(reference["settings"], *setting)
        for lr_th in sorted(group["config.lr_th"].unique(), reverse=True):
            color = METHOD_COLORS["rouser" if lr_th > 0 else "baseline"]
            stats = seed_stats(group[group["config.lr_th"] == lr_th], ["epoch"], "test_accuracy")
            band(ax, stats.index.to_numpy(), stats, color, f"ours: lr_Th = {lr_th:g}", marker=".")
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
                paper_level(ax, match["end"][lr_th], color, when, f"lr_Th = {lr_th:g}")
        ax.set(ylabel="test accuracy (%)", title=_setting_label(*setting), ylim=(0, 100))
        epoch_axis(ax)
    datasets = ", ".join(
        dataset_label(d, records) for d in sorted(records["config.dataset"].unique())
    )
    return finish(figure, f"Fig. 6: ablation, threshold learning on vs off, {datasets}", records)


def paper_epoch(
    records: pd.DataFrame, dataset: str = "nmnist", paper: dict | None = None
) -> Figure:
    """Test accuracy and dead neurons over as many optimizer steps as one paper epoch.

    The x axis counts paper epochs: epochs x training recordings / the full training set's.
    One series per method and neuron setting (Th_init, tau, s, lr_Th), mean over seeds with a
    +-sd band. The paper's reference points are the only ones it gives inside one epoch:
    Fig. 4's dead neurons at epoch 0 (open squares at 0), and the first point of Fig. 6's
    curves for a matching setting (≈85% for both arms of 6a, chance for 6b without
    learning), which can only come after training, drawn at one paper epoch.
    """
    require(records, "One paper epoch")
    reference = paper or load_paper_values()
    rows = only_dataset(records, dataset, "One paper epoch").copy()
    full = reference["datasets"][dataset]["train"]
    rows["paper_epochs"] = rows["epoch"] * rows["data.n_train"] / full
    layers = layer_names(rows, "dead_neurons")
    columns = ["test_accuracy", *(f"dead_neurons.{layer}" for layer in layers)]
    setting = ["config.threshold", "config.tau", "config.scale", "config.lr_th"]
    figure, axes = new_figure(len(columns), width=3.6, height=3.2)  # legible three abreast
    fig4 = reference["fig4"] if dataset == reference["fig4"]["dataset"] else None
    fig6 = reference["fig6"]["settings"] if dataset == reference["fig6"]["dataset"] else {}
    th_init = next(
        row["value"] for row in reference["table2"]["rows"] if row["symbol"] == "Th_init"
    )
    for method in method_order(rows["config.method"].unique()):
        color = METHOD_COLORS[method]
        group = rows[rows["config.method"] == method]
        series = group[setting].drop_duplicates().itertuples(index=False, name=None)
        for number, (threshold, tau, scale, lr_th) in enumerate(sorted(series, reverse=True)):
            runs = _rows_with(group, setting, (threshold, tau, scale, lr_th))
            label = METHOD_LABELS[method]
            if threshold != th_init:  # Table II's setting is the plain method name
                label += f", Th_init {threshold:g}, tau {tau:g}, s {scale:g}, lr_Th {lr_th:g}"
            style = {"ls": "-" if number == 0 else "--"}
            for ax, column in zip(axes, columns, strict=True):
                stats = seed_stats(runs, ["paper_epochs"], column)
                band(ax, stats.index.to_numpy(), stats, color, f"ours: {label}", **style)
            arm = 0.0 if method == "baseline" else lr_th
            match = _fig6_setting(fig6, threshold, tau, scale)
            if match is not None and arm in match["start"]:
                axes[0].plot(
                    [1.0], [match["start"][arm]], ls="none", marker="o", mfc="white", color=color,
                    label=f"paper (≈, Fig. 6, first point): {label}",
                )  # fmt: skip
            if fig4 is None or threshold != th_init:
                continue
            for ax, layer in zip(axes[1:], layers, strict=True):
                values = fig4["dead_neurons"].get(method, {}).get(layer)
                if values:
                    ax.plot(
                        [0.0], [values[fig4["epochs"].index(0)]], ls="none", marker="s",
                        mfc="white", color=color, label=f"paper (≈, Fig. 4 epoch 0): {label}",
                    )  # fmt: skip
    axes[0].set(ylabel="test accuracy (%)", title="test accuracy", ylim=(0, 100))
    for ax, layer in zip(axes[1:], layers, strict=True):
        title = f"dead neurons, hidden {layer.replace('layer', 'layer ')}"
        ax.set(ylabel="dead neurons (%)", title=title, ylim=(0, 100))
    for ax in axes:
        ax.set_xlabel("paper epochs")
    return finish(
        figure,
        f"One paper epoch of optimizer steps ({full:,} training samples), "
        f"{dataset_label(dataset, records)}",
        records,
    )


def thresholds(records: pd.DataFrame, dataset: str = "nmnist", method: str = "rouser") -> Figure:
    """The learned thresholds' distribution per layer over training (not in the paper).

    From the per-epoch quantiles in the records: the median, the 25-75% and 5-95% bands and
    min/max, averaged over seeds; Th_init dashed for reference (where the baseline stays).
    """
    require(records, "Thresholds")
    check_choice("method", method, list(METHOD_LABELS))
    rows = only_dataset(records, dataset, "Thresholds")
    rows = rows[rows["config.method"] == method]
    if rows.empty:
        raise ValueError(f"Thresholds: no records of method={method!r} for dataset={dataset!r}")
    layers = layer_names(rows, "thresholds", ".q50")
    figure, axes = new_figure(len(layers), width=3.6, sharey=True)
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
        ax.set(ylabel="threshold", title=layer_label(layer, layers))
        epoch_axis(ax)
    return finish(
        figure,
        f"Thresholds of {METHOD_LABELS[method]} per layer over training, {dataset_label(dataset, records)} (mean over seeds)",
        records,
    )
