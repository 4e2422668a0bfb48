"""rouser: SLAYER-style CUBA LIF networks whose firing thresholds are learned (arXiv:2407.19566).

The public API, the paper's method: the neuron (`CubaLIF`), its networks (`SpikingMLP`,
`build_network`), the spike-rate loss and the optimizer with a learning rate for thresholds
(eqs. 4-5). They need only torch, numpy and numba (`pip install rouser`). Training runs
live in `rouser.runs`, datasets in `rouser.data`, figures in `rouser.report`. NIR export
and import (`to_nir`, `from_nir`) are loaded on first use, so that the neuron does not pay
for, or need, the training and records stack they sit on (`pip install rouser[train]`).
"""

from __future__ import annotations

from typing import Any

from rouser.loss import spike_rate_loss
from rouser.network import SpikingMLP, build_network
from rouser.neuron import CubaLIF
from rouser.optim import make_optimizer

__all__ = [
    "CubaLIF",
    "SpikingMLP",
    "build_network",
    "from_nir",
    "make_optimizer",
    "spike_rate_loss",
    "to_nir",
]
# The one place the version is written: pyproject.toml reads it (setuptools' dynamic
# version), CITATION.cff is held equal to it by tests/test_packaging.py.
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """`rouser.to_nir` and `rouser.from_nir`, imported when first asked for."""
    if name in ("to_nir", "from_nir"):
        from rouser import nir_graph

        return getattr(nir_graph, name)
    raise AttributeError(f"module 'rouser' has no attribute {name!r}")
