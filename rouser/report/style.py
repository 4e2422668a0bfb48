"""The report's look and its formatters: one function per fact a page states.

Shared by every table, figure and run plot, so that a label, an architecture string or a
provenance line reads the same everywhere. Imports matplotlib and seaborn; the Snakefile
and the results registry (`rouser.runs.results`) do not import this package.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import pandas as pd
import seaborn as sns
import yaml

from rouser.datasets import DATASET_SPECS

PAPER_VALUES_PATH = Path(__file__).resolve().parent.parent / "paper_values.yml"
DONE_STATUSES = ("finished", "non-convergent")
METHOD_LABELS = {"baseline": "baseline", "rouser": "Rouser"}
DATASET_LABELS = {name: spec.label for name, spec in DATASET_SPECS.items()}
_PALETTE = sns.color_palette("colorblind")
METHOD_COLORS = {"baseline": _PALETTE[0], "rouser": _PALETTE[1]}
PAPER_HATCH = "///"
# The book shows a figure at most as wide as its page's content: BOOK_CONTENT_PX at a 1,400 px
# window (772 px measured; tests/book/test_browser.py checks it), so a figure W inches wide (72 pt
# per inch) shows a point as BOOK_CONTENT_PX / (72 W) px. Every text of a figure must be at
# least MIN_TEXT_PX there (tests/report/test_figure_text.py draws each figure and checks).
BOOK_CONTENT_PX = 770
MIN_TEXT_PX = 10
# One look for every figure: seaborn's whitegrid at notebook scale. `svg.hashsalt` and the
# empty metadata below make the saved vector files byte-identical from run to run.
STYLE = {
    **sns.axes_style("whitegrid"),
    **sns.plotting_context("notebook", font_scale=0.9),
    "svg.hashsalt": "rouser",
    # TrueType (Type 42) fonts in PDF and PostScript: IEEE's PDF eXpress and ACM's checkers
    # reject the Type 3 fonts matplotlib embeds by default.
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    # >= MIN_TEXT_PX at BOOK_CONTENT_PX in a row of 3 panels of new_figure's 4.6 in: 12.9 pt
    "font.size": 13,
    "axes.labelsize": 13,
    "axes.titlesize": 13.5,
    "figure.titlesize": 13.5,
    "xtick.labelsize": 13,
    "ytick.labelsize": 13,
    "legend.fontsize": 13,
    "legend.title_fontsize": 13,
}
_METADATA = {"svg": {"Date": None}, "pdf": {"CreationDate": None, "ModDate": None}}


@cache
def _read_paper_values(path: Path) -> dict:
    with path.open() as handle:
        return yaml.safe_load(handle)


def load_paper_values(path: str | os.PathLike | None = None) -> dict:
    """The paper's own numbers (`paper_values.yml`), read once: never produced by our runs."""
    return _read_paper_values(Path(path or PAPER_VALUES_PATH).resolve())


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


def layer_label(layer: str, layers: list[str]) -> str:
    """'layer 2', or 'layer 3 (output)' for the last of `layers` (Fig. 5 and thresholds)."""
    label = layer.replace("layer", "layer ")
    return f"{label} (output)" if layer == layers[-1] else label


def provenance(records: pd.DataFrame) -> str:
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
        data = "real + synthetic data (synthetic: " + ", ".join(map(dataset_label, synthetic)) + ")"
    return f"profile {profiles}, {data}"


def dataset_label(dataset: str, records: pd.DataFrame | None = None) -> str:
    """'DVS128 Gesture', with ' (synthetic)' when `records` of that dataset are synthetic."""
    label = DATASET_LABELS.get(dataset, dataset)
    if records is not None:
        sources = records.loc[records["config.dataset"] == dataset, "data.source"]
        if (sources == "synthetic").any():
            label += " (synthetic)"
    return label


def duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def architecture(sensor_size, hidden, n_classes) -> str:
    """'34x34x2-500-500-10': the sensor's shape, the hidden sizes and the classes."""
    return "-".join(
        [
            "x".join(str(int(n)) for n in sensor_size),
            *(str(int(n)) for n in hidden),
            str(int(n_classes)),
        ]
    )
