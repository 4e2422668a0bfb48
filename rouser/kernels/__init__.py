"""The fast loops behind the paper's method: the neuron's sweeps over time and the event product.

Nothing here defines the method; `rouser.dynamics` states the recurrences (forward and
backward) and the surrogate (eqs. 1-3) and picks a kernel family. Every family is a module
with the same three functions, checked by tests against the readable per-step reference in
`rouser.dynamics`:

* ``forward(x, th, cd, vd) -> (spikes, voltage)``: ``x`` ``[T, B, N]``, one threshold per
  neuron, the decays as fractions kept per step; the spikes and the pre-reset voltage of
  every step (all that backward needs);
* ``forward_fixed(x, th, cd_num, vd_num)``: the same in lava-dl's integer arithmetic
  (`rouser.fixed_point`; decays as numerators over 4096); not in the Triton family;
* ``backward(grad_s, voltage, th, cd, vd, tau, scale) -> (grad_x, grad_th)``: the surrogate
  times the spikes' gradient, through the two integrators in reverse time.

The families (`FAMILIES`): ``numba`` (`numba_loops`, CPU), ``torch`` (`torch_loops`, any
device) and ``triton`` (`fused_triton`, CUDA; imported on first use so that importing
rouser never pays for importing triton). Beside them: `event_product` (a layer's synapse
read from the events of its input: N-MNIST bins are ~99% empty, hidden layers fire at ~1%),
`dense_product` (the dense CPU products left, by oneDNN where a run asks: faster than MKL
on AMD CPUs), `expf` (the float32 exponential of eq. 2, written out so that numba vectorises
it) and `threads` (one thread count for numba's pool and torch's).
"""

from __future__ import annotations

import importlib
from types import ModuleType

FAMILIES = {
    "numba": "rouser.kernels.numba_loops",
    "torch": "rouser.kernels.torch_loops",
    "triton": "rouser.kernels.fused_triton",
}


def family(backend: str) -> ModuleType:
    """The kernel family of `backend` (a key of `FAMILIES`), imported on first use."""
    if backend not in FAMILIES:
        raise ValueError(
            f"backend={backend!r} has no kernel family; choose one of {list(FAMILIES)}"
        )
    return importlib.import_module(FAMILIES[backend])
