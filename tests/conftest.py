"""Shared pytest fixtures: where the real data is, and small synthetic datasets.

Real-data tests read `<repo>/../shared/data` and skip, saying why, where it is absent: the
project must test green without it.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
BOOK_HTML = REPO / "book" / "_build" / "html"
# Written by `built_book` after a build that exited 0; jupyter-book writes index.html even when
# the build fails, so index.html's age cannot tell a good build from a failed one.
BOOK_BUILT_OK = REPO / "book" / "_build" / "built-ok"
# What a book build reads: its pages and config, the notebooks and run records it executes and
# shows, and the library those notebooks and the API page import.
BOOK_INPUTS = [
    REPO / "book",
    REPO / "notebooks",
    REPO / "records",
    REPO / "rouser",
    REPO / "_config.yml",
]


@pytest.fixture(autouse=True, scope="session")
def _one_thread() -> None:
    """Tests share two cores with other work: keep torch to one thread."""
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real recordings folder (see its README), or a skip when it is not on this machine."""
    if not (SHARED_DATA / "NMNIST" / "Train").is_dir():
        pytest.skip(f"real recordings not available: {SHARED_DATA / 'NMNIST' / 'Train'} is absent")
    return SHARED_DATA


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root holding the smoke-profile synthetic datasets (written on first use)."""
    return tmp_path_factory.mktemp("data")


def _newest_input() -> float:
    """The latest modification time among the book's inputs (its own build folder excluded)."""
    skip = {"_build", "__pycache__", ".ipynb_checkpoints"}
    times = [
        path.stat().st_mtime
        for root in BOOK_INPUTS
        for path in ([root] if root.is_file() else root.rglob("*"))
        if path.is_file() and not skip.intersection(path.relative_to(REPO).parts)
    ]
    return max(times, default=0.0)


@pytest.fixture(scope="session")
def built_book() -> Path:
    """The book as a reader builds it (`jupyter-book build book/`, warnings as errors), built once.

    The build is skipped when a previous one succeeded after every input last changed
    (`BOOK_BUILT_OK` newer than everything under `BOOK_INPUTS`), so the tests that read the
    HTML can share one build per session and across sessions; delete `book/_build` to force it.
    Returns `book/_build/html`.
    """
    if BOOK_BUILT_OK.is_file() and BOOK_BUILT_OK.stat().st_mtime > _newest_input():
        return BOOK_HTML
    BOOK_BUILT_OK.unlink(missing_ok=True)
    started = time.time()
    # The build's log goes to pytest's capture: shown in full when the build fails, live with -s.
    result = subprocess.run(
        ["jupyter-book", "build", "book/", "--warningiserror", "--keep-going"],
        cwd=REPO,
        timeout=1800,
    )
    assert result.returncode == 0, f"the book build failed (exit {result.returncode}); log above"
    BOOK_BUILT_OK.touch()
    # Dated at the build's start: an input edited while it ran makes the next session rebuild.
    os.utime(BOOK_BUILT_OK, (started, started))
    print(f"\nbook: built in {time.time() - started:.0f} s")
    return BOOK_HTML
