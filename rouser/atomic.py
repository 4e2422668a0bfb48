"""Atomic file and folder writes: readers never see a half-written record, checkpoint,
cache or dataset file.

Why: records, caches and synthetic datasets are shared by concurrent runs (Snakemake jobs,
notebook kernels) and must survive a crash mid-write. Each writer fills a private temporary
name in the destination's folder and renames it into place, which is atomic on one file
system; a crash leaves only a temporary name, which readers ignore.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO


def _temporary_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces `path`, on error it vanishes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary_name(path)
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder to fill; on success it becomes `path` unless another writer
    got there first (then its identical result is kept and this one discarded)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary_name(path)
    temporary.mkdir()
    try:
        yield temporary
        try:
            os.rename(temporary, path)
        except OSError:
            if not path.is_dir():  # not the "another writer finished first" case
                raise
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], object]) -> None:
    """Write a file through `write(handle)`, flushed and fsynced before the rename.

    If `write` raises (or the process is interrupted), `path` keeps its previous content.
    """
    with atomic_file(path) as temporary, temporary.open("wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
