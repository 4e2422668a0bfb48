"""rouser: SLAYER-style CUBA LIF networks whose firing thresholds are learned (arXiv:2407.19566)."""

from rouser.neuron import CubaLIF

__all__ = ["CubaLIF"]
__version__ = "0.1.0"
