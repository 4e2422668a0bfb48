"""rouser: SLAYER-style CUBA LIF networks whose firing thresholds are learned (arXiv:2407.19566).

`CubaLIF` needs only torch, numpy and numba (`pip install rouser`). NIR export and import
(`to_nir`, `from_nir`) are loaded on first use, so that the neuron does not pay for, or
need, the training and records stack they sit on (`pip install rouser[train]`).
"""

from __future__ import annotations

from typing import Any

from rouser.neuron import CubaLIF

__all__ = ["CubaLIF", "from_nir", "to_nir"]
# The one place the version is written: pyproject.toml reads it (setuptools' dynamic
# version), CITATION.cff is held equal to it by tests/test_packaging.py.
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """`rouser.to_nir` and `rouser.from_nir`, imported when first asked for."""
    if name in ("to_nir", "from_nir"):
        from rouser import nir_graph

        return getattr(nir_graph, name)
    raise AttributeError(f"module 'rouser' has no attribute {name!r}")
