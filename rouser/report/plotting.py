"""Helpers shared by the tables and figures: record selection, statistics over seeds, and
the panels' common parts (titles with provenance, legends, the paper's reference levels).
"""

from __future__ import annotations

from collections.abc import Iterable

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from rouser.config import check_choice
from rouser.report import axis
from rouser.report.style import DATASET_LABELS, PAPER_HATCH, STYLE, duration, provenance


def runs_provenance(records: pd.DataFrame) -> str:
    """What a results page states besides its figure: runs, profile, data, hardware, time.

    Time is what regenerating the result costs on the hardware named (`training_seconds`).
    """
    runs = records.groupby("run_id").first()
    hardware = sorted(set(runs["env.device"] + " (" + runs["env.device_name"] + ")"))
    total, longest = training_seconds(records)
    return (
        f"Drawn from {len(runs)} run(s): {provenance(records)}; trained on "
        f"{', '.join(hardware)}; training time {duration(total)} in total, "
        f"{duration(longest)} for the longest run."
    )


def training_seconds(records: pd.DataFrame) -> tuple[float, float]:
    """The runs' training time in seconds, in total and for the longest run, as their
    histories time it (epochs and evaluations).

    Not each record's `started` to `ended`: a run resumed in a later session would count
    the hours it waited, and a run that continues a shorter one's checkpoint holds that
    one's history, so each trajectory (runs that differ in length only) counts once.
    """
    timed = records.reindex(columns=["epoch_seconds", "eval_seconds"]).fillna(0.0).sum(axis=1)
    per_run = timed.groupby(records["run_id"]).sum()
    runs = records.groupby("run_id").first()
    longest_of_each = runs["config.epochs"].groupby(axis.trajectory_key(runs)).idxmax()
    return float(per_run[longest_of_each].sum()), float(per_run.max())


def only_dataset(records: pd.DataFrame, dataset: str, figure: str) -> pd.DataFrame:
    """The rows of `dataset`, or a clear error when the records hold none of it."""
    check_choice("dataset", dataset, list(DATASET_LABELS))
    rows = records[records["config.dataset"] == dataset]
    if rows.empty:
        present = sorted(records["config.dataset"].unique()) if len(records) else []
        raise ValueError(
            f"{figure} needs records of dataset={dataset!r}; the records hold {present}"
        )
    return rows


def require(records: pd.DataFrame, figure: str) -> None:
    if records.empty:
        raise ValueError(
            f"{figure}: no records to draw; train its runs first (rouser.report.render lists them)"
        )


def last_epochs(records: pd.DataFrame) -> pd.DataFrame:
    """One row per run: its last epoch (where `summary.*` and the final test accuracy live)."""
    return records.sort_values("epoch").groupby("run_id", sort=False).tail(1)


def seed_stats(
    records: pd.DataFrame, by: list[str], column: str, scale: float = 100.0
) -> pd.DataFrame:
    """Mean, sd (0 for a single seed) and count of `column` x `scale` over runs, per `by`."""
    grouped = records.groupby(by)[column]
    stats = pd.DataFrame({"mean": grouped.mean(), "sd": grouped.std(), "n": grouped.count()})
    stats[["mean", "sd"]] *= scale
    stats["sd"] = stats["sd"].fillna(0.0)
    return stats


def mean_sd(values: pd.Series) -> tuple[float, float]:
    """Mean and sample sd over seeds (sd 0 for one value)."""
    values = values.dropna().astype(float)
    sd = values.std() if len(values) > 1 else 0.0
    return float(values.mean()), float(sd)


def seeds_text(values: pd.Series, unit: str = "%", digits: int = 1) -> str:
    """'92.3 ± 4.0% (3 seeds)' or '88.0% (1 seed)'."""
    mean, sd = mean_sd(values)
    n = values.notna().sum()
    spread = f" ± {sd:.{digits}f}" if n > 1 else ""
    return f"{mean:.{digits}f}{spread}{unit} ({n} seed{'s' if n != 1 else ''})"


def method_order(methods: Iterable[str]) -> list[str]:
    present = set(methods)
    return [method for method in ("baseline", "rouser") if method in present]


def new_figure(
    n_panels: int, width: float = 4.6, height: float = 3.6, **kw
) -> tuple[Figure, list[Axes]]:
    with mpl.rc_context(STYLE):
        figure = Figure(figsize=(width * n_panels, height), layout="constrained")
        axes = figure.subplots(1, n_panels, squeeze=False, **kw)[0]
    return figure, list(axes)


def finish(figure: Figure, title: str, records: pd.DataFrame) -> Figure:
    """Title with provenance, and one legend below all panels (no panel's data hidden by it)."""
    first = figure.axes[0] if figure.axes else None
    for ax in figure.axes[1:]:
        # panels that share the first one's y axis read its label; theirs would sit in the gap
        if first.get_shared_y_axes().joined(first, ax):
            ax.set_ylabel("")
    handles: dict[str, object] = {}
    for ax in figure.axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    with mpl.rc_context(STYLE):
        figure.suptitle(f"{title}\nours: {provenance(records)}", fontsize="medium")
        # as many columns as the longest label lets fit across the figure (~0.0078 in/char
        # per point of the legend's font: 0.062 in at 8 pt)
        inches_per_char = 0.0078 * STYLE["legend.fontsize"]
        entry_inches = 0.6 + inches_per_char * max(map(len, handles), default=0)
        ncols = max(1, min(len(handles), int(figure.get_figwidth() / entry_inches)))
        figure.legend(handles.values(), handles.keys(), loc="outside lower center", ncols=ncols)
    return figure


def band(ax: Axes, x: np.ndarray, stats: pd.DataFrame, color, label: str, **kw) -> None:
    """Mean line with a +-sd band over seeds."""
    ax.plot(x, stats["mean"], color=color, label=label, **kw)
    ax.fill_between(
        x, stats["mean"] - stats["sd"], stats["mean"] + stats["sd"], color=color, alpha=0.2, lw=0
    )


def paper_level(ax: Axes, value: float | list[float], color, when: str, what: str) -> None:
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


def spread(values: list[int], k: int) -> list[int]:
    """At most `k` of the sorted `values`, evenly spaced, first and last included."""
    if len(values) <= k:
        return values
    return sorted({values[i] for i in np.linspace(0, len(values) - 1, k).round().astype(int)})
