"""Point the launch buttons (Binder, Colab) of result pages at their source notebook.

Why: the book's result pages are symbolic links (`book/results/<name>.ipynb` ->
`notebooks/<name>.ipynb`). sphinx-book-theme builds a page's launch links from the page's
own path, which Binder and Colab would open as a link file, not a notebook. This extension
swaps the link's target into the launch URLs, so they open `notebooks/<name>.ipynb`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sphinx.application import Sphinx

LAUNCH_GROUP = "launch-buttons"  # sphinx-book-theme's label of the launch button group


def source_notebook(app: Sphinx, pagename: str) -> str | None:
    """The repository-relative notebook a symlinked page points to, if it is one."""
    page = Path(app.env.doc2path(pagename))
    if page.suffix != ".ipynb" or not page.is_symlink():
        return None
    repo_root = Path(app.srcdir).resolve().parent
    return page.resolve().relative_to(repo_root).as_posix()


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
