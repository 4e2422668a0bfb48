"""The docstrings' runnable examples stay true.

Docstring examples (``>>>``) are the first code a reader copies, from the source or from the
book's API page, so each one is run as a doctest. The modules are found by their text, not
listed: a new example is tested the day it is written, and a module without examples is
not even imported (importing all of ``rouser`` would pull in triton and matplotlib).
"""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

ROUSER = Path(__file__).resolve().parents[1] / "rouser"
# Modules whose examples the API page shows; if one loses its examples, say so.
EXPECTED = {"rouser.neuron", "rouser.fixed_point", "rouser.nir_graph"}


def modules_with_examples() -> list[str]:
    """Dotted names of the rouser modules whose source holds a doctest prompt."""
    names = []
    for path in sorted(ROUSER.rglob("*.py")):
        if ">>> " in path.read_text(encoding="utf-8"):
            parts = path.relative_to(ROUSER.parent).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            names.append(".".join(parts))
    return names


def test_the_expected_modules_have_examples():
    assert set(modules_with_examples()) >= EXPECTED


@pytest.mark.parametrize("name", modules_with_examples())
def test_docstring_examples_run(name: str):
    module = importlib.import_module(name)
    result = doctest.testmod(module, verbose=False, report=True)
    assert result.attempted > 0, f"{name} has '>>> ' in its source but no doctest ran"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed"
