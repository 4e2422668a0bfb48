"""Keep the browser console of every page free of errors the book's toolchain causes.

Why: `tests/book/test_browser.py` fails on any JavaScript error a reader's browser logs, and two come
from Jupyter Book 1.0.4's own stack, on every page:

- Sphinx 7.4 emits an inline script that an extension registers after `Builder.init()` twice
  (once as filename None, once as ''), so sphinx-thebe's `const THEBE_JS_URL = ...` is declared
  twice and the second copy throws "Identifier 'THEBE_JS_URL' has already been declared".
- pydata-sphinx-theme logs "Got invalid theme mode: ." on a reader's first visit when the
  `default_mode` of `html_context` is unset; it then falls back to "auto", set here up front.
"""

from __future__ import annotations

from typing import Any

from sphinx.application import Sphinx
from sphinx.config import Config


def default_mode_auto(app: Sphinx, config: Config) -> None:
    """Give the theme the mode it falls back to anyway, unless the book chose one."""
    config.html_context.setdefault("default_mode", "auto")


def drop_repeated_scripts(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    """Emit each script once: same file (None and '' alike), priority and attributes."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple[str, int, tuple[tuple[str, str], ...]]] = set()
    unique = []
    for script in scripts:
        key = (script.filename or "", script.priority, tuple(sorted(script.attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique  # the builder's own list: it restores it after each page


def setup(app: Sphinx) -> dict[str, bool]:
    """Run after the other extensions have registered their scripts and set the context."""
    app.connect("config-inited", default_mode_auto, priority=900)
    app.connect("html-page-context", drop_repeated_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
