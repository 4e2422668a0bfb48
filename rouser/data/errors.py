"""The two ways reading a dataset can fail, each with a message a user can act on.

Why a module of its own: every reader (three datasets, real or synthetic) raises the same two
errors, so callers (training, notebooks, tests) catch one type per failure instead of whatever
tonic, numpy or h5py happened to raise deep inside.
"""

from __future__ import annotations

from pathlib import Path


class DatasetNotFoundError(FileNotFoundError):
    """A dataset (or one of its splits) is not on disk and could not be downloaded."""

    def __init__(
        self, dataset: str, expected: Path, layout: str, source: str, why: str = ""
    ) -> None:
        self.dataset = dataset
        self.expected = Path(expected)
        self._parts = (dataset, expected, layout, source, why)
        message = (
            f"{dataset} not found at {self.expected}"
            + (f" ({why})" if why else "")
            + f". Expected layout: {layout}. Source: {source}. Put the files there (see "
            "data/README.md), pass data_root=... or set ROUSER_DATA to the folder that holds "
            "them, or use synthetic data (run.synthetic)."
        )
        super().__init__(message)

    def __reduce__(self) -> tuple:
        """Rebuild from the parts, so the error crosses DataLoader worker processes intact."""
        return type(self), self._parts


class CorruptRecordingError(ValueError):
    """A recording file exists but does not hold events in the dataset's format."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self) -> tuple:
        """Rebuild from path and reason, so the error crosses worker processes intact."""
        return type(self), (self.path, self.reason)


class DatasetLayoutError(CorruptRecordingError):
    """An entry where the layout puts recordings is not one tonic would read (a folder named
    like a recording, a broken or folder symlink, a file outside the layout).

    A subclass of `CorruptRecordingError`, so callers that catch bad recordings catch it too:
    without this check tonic skips such entries and the run silently trains on fewer files.
    """


class UnreadableDataError(PermissionError):
    """A dataset folder or file exists but this user may not list or read it.

    Why its own error: tonic's listing (`os.walk`) skips unreadable folders silently, so a
    `chmod 000` class folder used to vanish from the data instead of stopping the run.
    """

    def __init__(self, path: Path | str, what: str = "") -> None:
        self.path = Path(path)
        self.what = what
        super().__init__(
            f"{self.path}: cannot be read by this user"
            + (f" ({what})" if what else "")
            + f"; stopping rather than training without it. Make it readable (e.g. "
            f"`chmod -R a+rX {self.path}` and check the folders above it) or point data_root "
            "/ ROUSER_DATA at a readable copy."
        )

    def __reduce__(self) -> tuple:
        """Rebuild from path and detail, so the error crosses worker processes intact."""
        return type(self), (self.path, self.what)


class CacheNotWritableError(OSError):
    """The binned cache cannot be written where it was asked to go (by default under the
    data root, which may well be read-only: a shared dataset)."""

    def __init__(self, folder: Path | str, reason: str) -> None:
        self.folder = Path(folder)
        self.reason = reason
        super().__init__(
            f"cannot write the binned cache {self.folder}: {reason}. The data root may stay "
            "read-only: put the cache in a writable folder with make_loaders(..., "
            "cache_dir=...) (`--cache-dir` on the command line) or the ROUSER_CACHE "
            "environment variable."
        )

    def __reduce__(self) -> tuple:
        """Rebuild from folder and reason (the OSError default would mangle the arguments)."""
        return type(self), (self.folder, self.reason)


class CorruptCacheError(ValueError):
    """A binned-cache folder whose files disagree with each other, with its `meta.json`, with
    the recordings' labels or with their checksums: never trained on."""

    def __init__(self, folder: Path | str, problem: str) -> None:
        self.folder = Path(folder)
        self.problem = problem
        super().__init__(
            f"the binned cache {self.folder} is damaged: {problem}. Delete the folder; it is "
            "rebuilt from the recordings on the next run"
        )

    def __reduce__(self) -> tuple:
        """Rebuild from folder and problem (for DataLoader workers)."""
        return type(self), (self.folder, self.problem)
