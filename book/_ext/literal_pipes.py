"""Keep `|` literal in the docstrings that the API page renders.

Why: rouser's docstrings are plain text that writes norms and absolute values the way the
paper does (`|V - Th|`, `||W - W0||_F`). reStructuredText reads `|text|` as a substitution
reference, which fails the strict (`-W`) book build with "Undefined substitution
referenced". No docstring here uses substitutions, so every `|` is escaped before autodoc
parses it.
"""

from __future__ import annotations

from typing import Any

from sphinx.application import Sphinx


def escape_pipes(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    """autodoc-process-docstring handler: `|` -> `\\|`, in place."""
    lines[:] = [line.replace("|", r"\|") for line in lines]


def setup(app: Sphinx) -> dict[str, bool]:
    """Register the handler with autodoc."""
    app.connect("autodoc-process-docstring", escape_pipes)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
