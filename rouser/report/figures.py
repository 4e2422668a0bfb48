"""Fig. 2, the threshold grid, drawn from run records.

Each function takes the records DataFrame of ``rouser.runs.records.load_records`` (one row per
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

from rouser.report import axis
from rouser.report.plotting import (
    finish,
    last_epochs,
    new_figure,
    require,
    seed_stats,
)
from rouser.report.style import (
    DATASET_LABELS,
    METHOD_COLORS,
    PAPER_HATCH,
    STYLE,
    dataset_label,
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

    Grouped bars per threshold: ours (mean +- sd over seeds, at each run's end), one bar
    per length of run in paper epochs of samples (`rouser.report.axis`), and the paper's
    (after its 10 epochs).
    """
    require(records, "Fig. 2")
    paper = paper or load_paper_values()
    reference = paper["fig2"]
    rows = last_epochs(axis.trajectories(records, paper))
    rows["length"] = rows["paper_epochs"].map(lambda x: f"{x:.2g}" if x < 1 else f"{x:.0f}")
    # every panel of the paper's figure; one without runs shows the paper's bars alone
    datasets = [
        d for d in DATASET_LABELS if d in set(rows["config.dataset"]) | set(reference["accuracy"])
    ]
    lengths = sorted(rows["length"].unique(), key=float)
    figure, axes = new_figure(len(datasets), sharey=True, width=5.4)
    width = 0.8 / (len(lengths) + 1)
    shades = dict(
        zip(
            lengths, sns.light_palette(METHOD_COLORS["baseline"], len(lengths) + 1)[1:], strict=True
        )
    )
    for ax, dataset in zip(axes, datasets, strict=True):
        ours = rows[rows["config.dataset"] == dataset]
        paper_acc = dict(
            zip(reference["thresholds"], reference["accuracy"].get(dataset, []), strict=False)
        )
        thresholds = sorted(set(ours["config.threshold"]) | set(paper_acc))
        x = np.arange(len(thresholds))
        for index, length in enumerate(lengths):
            group = ours[ours["length"] == length]
            stats = seed_stats(group, ["config.threshold"], "summary.final_test_accuracy")
            stats = stats.reindex(thresholds)
            offset = (index - len(lengths) / 2) * width
            label = f"ours, {length} paper epochs"
            _bar_group(ax, x, stats["mean"], stats["sd"], offset, width, shades[length], label)
        paper_heights = [paper_acc.get(t, np.nan) for t in thresholds]
        _bar_group(
            ax,
            x,
            paper_heights,
            None,
            (len(lengths) / 2) * width,
            width,
            METHOD_COLORS["baseline"],
            f"paper (≈, {reference['epochs']} epochs)",
            paper=True,
        )
        if ours.empty:
            ax.text(
                0.5, 0.93, "ours: not run here (needs the full data)", transform=ax.transAxes,
                ha="center", fontsize=STYLE["font.size"],
            )  # fmt: skip
        ax.set_xticks(x, [f"{t:g}" for t in thresholds])
        ax.set(
            xlabel="fixed threshold Th",
            ylabel="test accuracy (%)",
            title=dataset_label(dataset, records),
            ylim=(0, 100),
        )
    return finish(
        figure, "Fig. 2: threshold grid search, test accuracy at the end of training", records
    )
