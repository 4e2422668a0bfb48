"""Every dataset rouser trains on, by name: the `Dataset` at the end of each data module.

Adding a dataset is a data module ending with its `Dataset`, one entry here, its settings
under ``datasets`` in `_config.yml` (a test checks the names agree) and its training notebook.
"""

from __future__ import annotations

from pathlib import Path

from rouser.config import check_choice
from rouser.data import dvs128, nmnist, shd
from rouser.data.spec import Dataset
from rouser.data.synthetic import SYNTHETIC_SEED, write_marked

DATASET_SPECS: dict[str, Dataset] = {
    spec.name: spec for spec in (nmnist.DATASET, dvs128.DATASET, shd.DATASET)
}


def dataset_spec(name: str) -> Dataset:
    """The registered dataset `name`; a ValueError lists the known ones."""
    check_choice("dataset", name, list(DATASET_SPECS))
    return DATASET_SPECS[name]


def ensure_synthetic(
    dataset: str,
    folder: str | Path,
    n_train: int,
    n_test: int,
    seed: int = SYNTHETIC_SEED,
    progress: bool = True,
) -> Path:
    """Make sure `folder` holds at least `n_train`/`n_test` synthetic samples of `dataset`
    in its real on-disk format; return it. `folder` is what tonic gets as `save_to` (e.g.
    `<data root>/synthetic/nmnist`)."""
    spec = dataset_spec(dataset)
    return write_marked(spec.write_synthetic, dataset, folder, n_train, n_test, seed, progress)
