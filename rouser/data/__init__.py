"""The paper's three datasets (N-MNIST, DVS128 Gesture, SHD) as time-first spike batches.

`make_loaders(run)` is the entry point; the modules behind it each have one job:
`nmnist`/`dvs128`/`shd` (tonic readers, sample order, format checks; each is named in
`rouser.datasets`), `readers` (offline presence and download policy), `binning` (events ->
sparse bins -> `[T, B, ...]` batches), `cache` (binned samples on disk), `synthetic`
(format-exact small datasets), `errors`.
"""

from rouser.data.binning import Binning, SparseSample, SpikeCollate, SpikeLoader, to_dense
from rouser.data.errors import CorruptRecordingError, DatasetNotFoundError
from rouser.data.loaders import Loaders, binning_for, make_loaders
from rouser.data.synthetic import ensure_synthetic

__all__ = [
    "Binning",
    "CorruptRecordingError",
    "DatasetNotFoundError",
    "Loaders",
    "SparseSample",
    "SpikeCollate",
    "SpikeLoader",
    "binning_for",
    "ensure_synthetic",
    "make_loaders",
    "to_dense",
]
