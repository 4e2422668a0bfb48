"""Every figure of the book is readable at the book's width: no text under `MIN_TEXT_PX`.

A figure of W inches is saved as SVG at 72 pt per inch (96 px per inch at the browser's
scale) and shown at most as wide as the page's content (`BOOK_CONTENT_PX`, checked in a
browser by `tests/book/test_browser.py`): wider figures shrink, and their text with them. Each
result figure is drawn here from the committed records, as the book draws it, and every
text it holds (titles, labels, ticks, legends, annotations) is measured at that scale.
"""

from __future__ import annotations

import matplotlib as mpl
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text

from rouser.report.plotting import new_figure
from rouser.report.render import render
from rouser.report.style import BOOK_CONTENT_PX, MIN_TEXT_PX, STYLE
from rouser.runs.results import RESULTS

CSS_PX_PER_INCH = 96


def shown_px_per_point(figure: Figure, content_px: float = BOOK_CONTENT_PX) -> float:
    """CSS pixels per point of the figure's text where the page shows it: at natural size
    (96/72) when the figure fits the content width, else shrunk to that width."""
    natural_px = figure.get_figwidth() * CSS_PX_PER_INCH
    return min(natural_px, content_px) / (figure.get_figwidth() * 72)


def text_sizes(figure: Figure) -> list[tuple[str, float]]:
    """(text, size in points) of every visible, non-empty text, ticks included (drawn first
    under the book's style, as the page saves it, so that tick labels exist)."""
    with mpl.rc_context(STYLE):
        figure.draw_without_rendering()
    return [
        (text.get_text(), text.get_fontsize())
        for text in figure.findobj(Text)
        if text.get_visible() and text.get_text().strip()
    ]


def test_shown_scale_follows_the_content_width() -> None:
    """A 3-panel figure (15 in) shrinks to the content; a 4 in one keeps its natural size."""
    wide, narrow = Figure(figsize=(15, 3)), Figure(figsize=(4, 3))
    assert shown_px_per_point(wide, 800) == pytest.approx(800 / (15 * 72))
    assert shown_px_per_point(narrow, 800) == pytest.approx(96 / 72)


def test_the_smallest_style_text_fits_three_panels() -> None:
    """The style itself: its smallest font, in a row of three panels of `new_figure`'s
    default width, is at least `MIN_TEXT_PX` at the book's width."""
    sizes = {
        key: value
        for key, value in STYLE.items()
        if key.endswith(("fontsize", "labelsize", "titlesize")) or key == "font.size"
    }
    figure, _ = new_figure(3)
    small = {
        key: size for key, size in sizes.items() if size * shown_px_per_point(figure) < MIN_TEXT_PX
    }
    assert len(sizes) >= 8 and not small, small


# Texts a draw function sizes relative to matplotlib's default font rather than the style's
# (fontsize="small" outside `mpl.rc_context(STYLE)`), each with its figure: they are too small
# and are listed here until their draw function is fixed; the test fails once one is not.
# Matched by the start of the text (a title may name a commit).
KNOWN_SMALL: set[tuple[str, str]] = set()


def test_every_text_of_a_book_figure_is_readable(tmp_path) -> None:
    """Every figure result, drawn from the committed records as its page draws it: each
    text at least MIN_TEXT_PX at the book's width, and each legend inside the figure."""
    figures = {}
    for name in RESULTS:
        output = render(name, figures_dir=tmp_path).output
        if isinstance(output, Figure):
            figures[name] = output
    assert len(figures) >= 7, sorted(figures)  # Figs. 2-6, the paper epoch, the thresholds
    small, clipped, known = {}, {}, set()
    for name, figure in figures.items():
        scale = shown_px_per_point(figure)
        found = []
        for text, size in text_sizes(figure):
            if size * scale >= MIN_TEXT_PX:
                continue
            match = next(
                (item for item in KNOWN_SMALL if item[0] == name and text.startswith(item[1])),
                None,
            )
            if match:
                known.add(match)
            else:
                found.append(f"{text!r} {size * scale:.1f} px")
        if found:
            small[name] = f"{figure.get_figwidth():.1f} in: " + "; ".join(found[:6])
        legends = [*figure.legends, *(ax.get_legend() for ax in figure.axes if ax.get_legend())]
        for legend in legends:
            box = legend.get_window_extent()
            if box.x0 < figure.bbox.x0 - 1 or box.x1 > figure.bbox.x1 + 1:
                clipped[name] = f"legend spans {box.x0:.0f}-{box.x1:.0f} of 0-{figure.bbox.x1:.0f}"
    assert not small, f"text under {MIN_TEXT_PX} px at {BOOK_CONTENT_PX} px: {small}"
    assert not clipped, f"legends cut off at the figure's edge: {clipped}"
    assert known == {item for item in KNOWN_SMALL if item[0] in figures}, (
        f"fixed, remove from KNOWN_SMALL: {KNOWN_SMALL - known}"
    )
