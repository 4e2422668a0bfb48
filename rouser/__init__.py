"""rouser: SLAYER-style CUBA LIF networks whose firing thresholds are learned (arXiv:2407.19566)."""

from rouser.neuron import CubaLIF
from rouser.nir_graph import from_nir, to_nir

__all__ = ["CubaLIF", "from_nir", "to_nir"]
__version__ = "0.1.0"
