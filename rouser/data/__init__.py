"""The paper's three datasets (N-MNIST, DVS128 Gesture, SHD) as time-first spike batches.

`make_loaders(run)` is the entry point; the modules behind it each have one job:
`nmnist`/`dvs128`/`shd` (tonic readers, sample order, format checks; each ends with its
`Dataset`), `registry` (the datasets by name), `spec` (what a `Dataset` declares), `readers`
(offline presence and download policy), `binning` (events -> sparse bins -> `[T, B, ...]`
batches), `cache` (binned samples on disk), `synthetic` (format-exact small datasets),
`errors`.
"""

from rouser.data.binning import Binning, SparseSample, SpikeCollate, SpikeLoader, to_dense
from rouser.data.errors import CorruptRecordingError, DatasetNotFoundError
from rouser.data.loaders import Loaders, binning_for, make_loaders
from rouser.data.registry import DATASET_SPECS, dataset_spec, ensure_synthetic
from rouser.data.spec import Dataset

__all__ = [
    "DATASET_SPECS",
    "Binning",
    "CorruptRecordingError",
    "Dataset",
    "Loaders",
    "DatasetNotFoundError",
    "SparseSample",
    "SpikeCollate",
    "SpikeLoader",
    "binning_for",
    "dataset_spec",
    "ensure_synthetic",
    "make_loaders",
    "to_dense",
]
