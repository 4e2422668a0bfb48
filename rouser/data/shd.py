"""Spiking Heidelberg Digits through tonic: one HDF5 file per split, one row per sample.

tonic's SHD reader does not list labels (it reads one per sample) and opens the file for
`len()`; here the file is opened once to check its structure and read the labels, so that a
wrong or truncated file fails with its name before any sample is binned.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
import tonic

from rouser.data.errors import CorruptRecordingError
from rouser.data.readers import READ_ERRORS, OfflineFirst

REQUIRED = ("spikes/times", "spikes/units", "labels", "extra/keys", "extra/speaker")


class SHD(OfflineFirst, tonic.datasets.SHD):
    """tonic's SHD reader that also loads a lone `.h5` offline (see `OfflineFirst`)."""

    display_name = "SHD"
    layout = (
        "SHD/shd_train.h5 and SHD/shd_test.h5 (HDF5: ragged spikes/times in seconds and "
        "spikes/units per sample, labels, extra/keys, extra/speaker)"
    )
    source = (
        "https://zenkelab.org/datasets/shd_train.h5.zip and shd_test.h5.zip (Cramer et al. "
        "2020, CC BY 4.0; tonic.datasets.SHD downloads and unzips them)"
    )
    suffix = ".h5"
    spatial_dims = 1
    placement = None  # one HDF5 file per split
    allow_empty = True  # a quiet utterance may give a row without spikes

    def __init__(self, save_to: str | Path, train: bool = True, allow_download: bool = False):
        super().__init__(save_to, train=train, allow_download=allow_download)
        self.targets = self._read_labels()

    def _read_labels(self) -> list[int]:
        """Labels of every row, after checking the datasets tonic reads are all there."""
        path = self.recording_path(0)
        try:
            with h5py.File(path, "r") as handle:
                missing = [key for key in REQUIRED if key not in handle]
                if missing:
                    raise CorruptRecordingError(
                        path, f"missing {missing}: not an SHD file (expected {self.layout})"
                    )
                labels = np.asarray(handle["labels"][()], dtype=np.int64)
                lengths = {key: len(handle[key]) for key in ("spikes/times", "spikes/units")}
        except READ_ERRORS as err:
            if isinstance(err, CorruptRecordingError):
                raise
            raise CorruptRecordingError(
                path, f"cannot be read as SHD HDF5 ({type(err).__name__}: {err})"
            ) from err
        if any(length != len(labels) for length in lengths.values()):
            raise CorruptRecordingError(
                path, f"{len(labels)} labels but spike rows {lengths}: the file is inconsistent"
            )
        if len(labels) and (labels.min() < 0 or labels.max() >= len(self.classes)):
            raise CorruptRecordingError(
                path,
                f"labels span [{labels.min()}, {labels.max()}], expected [0, {len(self.classes) - 1}]",
            )
        return labels.tolist()

    def __len__(self) -> int:
        return len(self.targets)

    @classmethod
    def split_path(cls, location: Path, train: bool) -> Path:
        """`shd_train.h5` or `shd_test.h5` under `SHD/`."""
        return location / f"shd_{'train' if train else 'test'}.h5"

    def sample_key(self, index: int) -> int:
        """The row in the file."""
        return index

    def recording_path(self, index: int) -> Path:
        """Every sample lives in the split's one HDF5 file."""
        return Path(self.location_on_system) / self.data_filename

    def sample_name(self, index: int) -> str:
        """`shd_train.h5[row]`."""
        return f"{self.data_filename}[{index}]"

    def source_files(self, indices: Sequence[int]) -> list[Path]:
        """The one HDF5 file."""
        return [self.recording_path(0)]
