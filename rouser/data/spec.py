"""What the code needs to know about one dataset, declared once at the end of its module.

Why: a dataset used to be named in four tables (the loaders' readers, the synthetic writers,
the figures' labels, the settings' allowed names) that had to agree. Now each data module
ends with its `Dataset`, `rouser.data.registry` collects them, and everything else reads the
registry; a dataset's sizes and network (Table I) stay in `_config.yml`'s ``datasets``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rouser.data.readers import OfflineFirst

# (folder, n_train, n_test, seed, progress): writes a small dataset in the real on-disk format
SyntheticWriter = Callable[[Path, int, int, int, bool], None]


@dataclass(frozen=True)
class Dataset:
    """One dataset: its name in `_config.yml` and run ids, its label in figures and tables,
    its tonic reader, and the writer of its synthetic stand-in (`rouser.data.synthetic`)."""

    name: str
    label: str
    reader: type[OfflineFirst]
    write_synthetic: SyntheticWriter
