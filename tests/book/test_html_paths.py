"""No page of the built book shows a path of the machine that built it.

Executed notebooks carry the builder's paths wherever a cell prints one, and papermill's
injected-parameters cell does so by construction (`runs_dir = "/home/.../data/runs"`). Such a
path tells a reader nothing and publishes the builder's file system, so every page is searched
for the repository's absolute path and the folder holding it, temporary folders, the home
folder and /root: each HTML page, the page sources offered for download (`_sources/`: .ipynb,
.md, .txt), the search index, which holds the text of every page, and the run records
published beside the pages (`records/`).
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CONTEXT = 60  # characters shown on each side of a path found
# Pages, their downloadable sources (_sources/), the search index, the published run records.
TEXT_SUFFIXES = {".html", ".ipynb", ".md", ".txt", ".js", ".json", ".csv", ".yml", ".yaml"}


def local_paths() -> list[str]:
    """The absolute path prefixes of this machine that must not appear in a page."""
    prefixes = {
        f"{REPO}/",
        f"{REPO.resolve()}/",
        f"{Path(tempfile.gettempdir()).resolve()}/",
        "/tmp/",
        "/root/",
    }
    # the folder holding the checkout, where data and other checkouts sit beside it
    if REPO.parent != Path("/"):
        prefixes |= {f"{REPO.parent}/", f"{REPO.resolve().parent}/"}
    if Path.home() != Path("/"):
        prefixes |= {f"{Path.home()}/", f"{Path.home().resolve()}/"}
    return sorted(prefixes)


def published_text_files(html: Path) -> list[Path]:
    """Every file of the built book a reader can open or download as text.

    The theme's assets (`_static/`: scripts, styles, MathJax) and the figures (`_images/`)
    are made without the builder's paths, and are the bulk of the book's bytes.
    """
    return sorted(
        path
        for path in html.rglob("*")
        if path.is_file()
        and path.suffix in TEXT_SUFFIXES
        and path.relative_to(html).parts[0] not in {"_static", "_images"}
    )


def local_paths_in(html: Path) -> list[str]:
    """Each local path found in the built book at `html`, with the file and text around it."""
    pattern = re.compile("|".join(re.escape(prefix) for prefix in local_paths()))
    found = []
    for path in published_text_files(html):
        text = path.read_text(errors="replace")
        for match in pattern.finditer(text):
            excerpt = text[max(match.start() - CONTEXT, 0) : match.end() + CONTEXT]
            found.append(f"{path.relative_to(html)}: ...{' '.join(excerpt.split())}...")
    return found


def test_a_papermill_parameters_cell_is_found(tmp_path: Path) -> None:
    """The check finds what papermill injects when given absolute paths, and paths in records."""
    (tmp_path / "_sources" / "results").mkdir(parents=True)
    (tmp_path / "searchindex.js").write_text("Search.setIndex({})")
    (tmp_path / "index.html").write_text("<p>no path here</p>")
    cell = f'runs_dir = "{REPO}/data/runs"\nscratch = "/tmp/x"\nhome = "{Path.home()}/x"'
    (tmp_path / "results" / "table1.html").parent.mkdir()
    (tmp_path / "results" / "table1.html").write_text(f"<pre>{cell}</pre>")
    (tmp_path / "_sources" / "results" / "table1.ipynb").write_text(json.dumps({"source": cell}))
    (tmp_path / "records" / "cpu").mkdir(parents=True)
    (tmp_path / "records" / "cpu" / "run.json").write_text(json.dumps({"data": f"{REPO}/data"}))
    found = local_paths_in(tmp_path)
    assert len(found) == 7, found
    assert all(line.startswith(("results/table1.html", "_sources/", "records/")) for line in found)


@pytest.mark.slow
def test_no_page_shows_a_local_path(built_book: Path) -> None:
    found = local_paths_in(built_book)
    assert not found, f"{len(found)} local paths in the built book:\n" + "\n".join(found[:50])
