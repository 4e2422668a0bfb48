r"""Keep ``|`` literal in the prose of the docstrings that the API page renders.

Why: some docstrings write norms and absolute values in plain text, the way the paper does
(``||W_e - W_0||``). reStructuredText reads ``|text|`` as a substitution reference, which
fails the strict (``-W``) book build with "Undefined substitution referenced". No docstring
here uses substitutions, so ``|`` in prose is escaped to ``\|`` before autodoc parses it.

Only prose: where a backslash is not an escape, ``\|`` would change what renders, so these
are left as written:

* math, the ``.. math::`` directive and the ``:math:`` role (``\|`` is LaTeX's norm, so
  ``|V - \vartheta|`` would become :math:`\|V - \vartheta\|`);
* inline literals (double backticks) and literal, code and doctest blocks, where docutils
  shows the backslash.

Equations belong in math and code in double backticks, so in a converted docstring this
handler changes nothing; it keeps unconverted plain-text docstrings building.
"""

from __future__ import annotations

import re
from typing import Any

from sphinx.application import Sphinx

# Directives whose content is not prose (math, or code shown verbatim).
VERBATIM_DIRECTIVE = re.compile(r"^(\s*)\.\.\s+(math|code|code-block|sourcecode|doctest)::")
# Inline spans left untouched: ``literals`` and roles whose content is raw (:math:`...`).
VERBATIM_INLINE = re.compile(r"(``.+?``|:math:`[^`]*`)")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _escape_prose(line: str) -> str:
    r"""``|`` -> ``\|`` outside inline literals and ``:math:`` roles of one line."""
    parts = VERBATIM_INLINE.split(line)
    # split() with one group: odd indices are the verbatim spans.
    return "".join(part if i % 2 else part.replace("|", r"\|") for i, part in enumerate(parts))


def escape_pipes(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    """autodoc-process-docstring handler: escape prose ``|``, in place."""
    out: list[str] = []
    block_indent: int | None = None  # indent of the line that opened a verbatim block
    opens_literal = False  # previous prose line ended with "::" (a literal block follows)
    opens_indent = 0
    in_doctest = False
    for line in lines:
        blank = not line.strip()
        if block_indent is not None:
            if blank or _indent(line) > block_indent:
                out.append(line)
                continue
            block_indent = None
        if in_doctest:
            if not blank:
                out.append(line)
                continue
            in_doctest = False
        if blank:
            out.append(line)
            continue
        if opens_literal and _indent(line) > opens_indent:
            # First line of a literal block: verbatim until the indent drops back.
            block_indent = opens_indent
            opens_literal = False
            out.append(line)
            continue
        opens_literal = False
        if VERBATIM_DIRECTIVE.match(line):
            block_indent = _indent(line)
            out.append(line)
            continue
        if line.lstrip().startswith(">>>"):
            in_doctest = True
            out.append(line)
            continue
        if line.rstrip().endswith("::"):
            opens_literal, opens_indent = True, _indent(line)
        out.append(_escape_prose(line))
    lines[:] = out


def setup(app: Sphinx) -> dict[str, bool]:
    """Register the handler with autodoc."""
    app.connect("autodoc-process-docstring", escape_pipes)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
