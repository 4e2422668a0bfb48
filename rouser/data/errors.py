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
