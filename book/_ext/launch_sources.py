"""Point the launch buttons (Binder, Colab) of executed notebooks at their source notebook.

Why: the book's notebook pages are papermill outputs under `book/generated/`, which are
build products, not files of the repository. sphinx-book-theme builds a page's launch links
from the page's own path, so they would open a file that does not exist. Papermill records
the notebook it executed in `metadata.papermill.input_path` (relative to the repository
root, where the workflow runs); this extension swaps that path into the links, so Binder
and Colab open `notebooks/<name>.ipynb`, the notebook that reproduces the page.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx

LAUNCH_GROUP = "launch-buttons"  # sphinx-book-theme's label of the launch button group


def source_notebook(app: Sphinx, pagename: str) -> str | None:
    """The repository-relative notebook that papermill executed into this page, if any."""
    page = Path(app.env.doc2path(pagename))
    if page.suffix != ".ipynb":
        return None
    metadata = json.loads(page.read_text()).get("metadata", {})
    input_path = metadata.get("papermill", {}).get("input_path")
    repo_root = Path(app.srcdir).resolve().parent
    if not input_path or not (repo_root / input_path).is_file():
        return None
    return (repo_root / input_path).resolve().relative_to(repo_root).as_posix()


def retarget_launch_buttons(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    """Replace the page's own path by its source notebook's in every launch link."""
    source = source_notebook(app, pagename)
    if source is None:
        return
    book_path = app.config.html_theme_options.get("path_to_docs", "").strip("/")
    page_path = f"{book_path}/{pagename}.ipynb" if book_path else f"{pagename}.ipynb"
    for group in context.get("header_buttons", []):
        if group.get("label") == LAUNCH_GROUP:
            for button in group["buttons"]:
                if "url" in button:
                    button["url"] = button["url"].replace(page_path, source)


def setup(app: Sphinx) -> dict[str, bool]:
    """Run after sphinx-book-theme adds the launch buttons (its priority is 501)."""
    app.connect("html-page-context", retarget_launch_buttons, priority=502)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
