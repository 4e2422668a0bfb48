"""Every dataset rouser trains on, declared once as data: name, label, reader, synthetic writer.

Why a table of names instead of the classes: the report and the settings need a dataset's
name and label without importing tonic, so a `Dataset` names its reader and its writer as
``"module:attribute"`` and imports them on first use. Adding a dataset is a data module
(its tonic reader and its synthetic writer), one entry here, its settings under ``datasets``
in `_config.yml` (a test checks the names agree) and its training notebook.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rouser.config import check_choice

# (folder, n_train, n_test, seed, progress): writes a small dataset in the real on-disk format
SyntheticWriter = Callable[[Path, int, int, int, bool], None]


def _load(reference: str) -> Any:
    module, attribute = reference.split(":")
    return getattr(importlib.import_module(module), attribute)


@dataclass(frozen=True)
class Dataset:
    """One dataset: its name in `_config.yml` and run ids, its label in figures and tables,
    its tonic reader (a `rouser.data.readers.OfflineFirst`) and the writer of its synthetic
    stand-in (`rouser.data.synthetic`), the last two as ``"module:attribute"``."""

    name: str
    label: str
    reader_ref: str
    writer_ref: str

    @property
    def reader(self) -> type:
        """The tonic reader class (imports the data module, and tonic, on first use)."""
        return _load(self.reader_ref)

    @property
    def write_synthetic(self) -> SyntheticWriter:
        """The synthetic writer (imports `rouser.data.synthetic` on first use)."""
        return _load(self.writer_ref)


DATASET_SPECS: dict[str, Dataset] = {
    spec.name: spec
    for spec in (
        Dataset("nmnist", "NMNIST", "rouser.data.nmnist:NMNIST", "rouser.data.synthetic:write_nmnist"),
        Dataset(
            "dvs128", "DVS128 Gesture", "rouser.data.dvs128:DVSGesture",
            "rouser.data.synthetic:write_dvs128",
        ),
        Dataset("shd", "SHD", "rouser.data.shd:SHD", "rouser.data.synthetic:write_shd"),
    )
}  # fmt: skip


def dataset_spec(name: str) -> Dataset:
    """The registered dataset `name`; a ValueError lists the known ones."""
    check_choice("dataset", name, list(DATASET_SPECS))
    return DATASET_SPECS[name]
