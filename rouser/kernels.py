"""Inner loops over time of the CUBA neuron, for the fused autograd function.

Two implementations of the same two kernels:

* `forward(x, th, cd, vd) -> (spikes, voltage)` runs the recurrence with reset and returns
  the spikes and the pre-reset voltage of every step (all that backward needs);
* `reverse_filter(grad_pre, cd, vd) -> grad_x` back-propagates the surrogate-weighted
  gradient through the two leaky integrators in reverse time, as linear filters (the reset
  is not differentiated, as in SLAYER).

The surrogate itself (eqs. 2-3) is computed for all steps at once by torch in
`rouser.dynamics`, where vectorised `exp` is fast; only the sequential parts live here.
On the CPU a numba loop does each pass in one call instead of ~5 tiny torch ops per step
(see benchmarks/bench_neuron.py for the measured ratio). On CUDA the torch loop is used:
each op is one kernel over all neurons of the batch.
"""

from __future__ import annotations

import numba
import numpy as np
import torch


# Both loops walk time outermost and [batch, neuron] innermost (contiguous in memory), and
# are branch-free, so LLVM vectorises the neuron loop: measured 0.48 ms instead of 1.8 ms
# for a [100, 32, 200] forward pass. No fastmath: results stay bit-identical to torch's.
@numba.njit(cache=True)
def _forward_numba(x, th, cd, vd, spikes, voltage):  # pragma: no cover - compiled
    steps, batch, neurons = x.shape
    current = np.zeros((batch, neurons), dtype=x.dtype)
    state = np.zeros((batch, neurons), dtype=x.dtype)
    for t in range(steps):
        for b in range(batch):
            for n in range(neurons):
                c = cd * current[b, n] + x[t, b, n]
                current[b, n] = c
                v = vd * state[b, n] + c
                voltage[t, b, n] = v
                fire = v >= th[n]
                spikes[t, b, n] = fire
                state[b, n] = 0.0 if fire else v


@numba.njit(cache=True)
def _reverse_filter_numba(grad_pre, cd, vd, grad_x):  # pragma: no cover - compiled
    steps, batch, neurons = grad_pre.shape
    grad_v = np.zeros((batch, neurons), dtype=grad_pre.dtype)
    grad_i = np.zeros((batch, neurons), dtype=grad_pre.dtype)
    for t in range(steps - 1, -1, -1):
        for b in range(batch):
            for n in range(neurons):
                gv = grad_pre[t, b, n] + vd * grad_v[b, n]
                grad_v[b, n] = gv
                gi = gv + cd * grad_i[b, n]
                grad_i[b, n] = gi
                grad_x[t, b, n] = gi


def forward_numba(
    x: torch.Tensor, th: torch.Tensor, cd: float, vd: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """CPU forward pass; `x` is a contiguous [T, B, N] float tensor."""
    spikes = torch.empty_like(x)
    voltage = torch.empty_like(x)
    # Scalars in the tensor's dtype keep float32 inputs in float32 arithmetic.
    real = x.numpy().dtype.type
    _forward_numba(x.numpy(), th.numpy(), real(cd), real(vd), spikes.numpy(), voltage.numpy())
    return spikes, voltage


def reverse_filter_numba(grad_pre: torch.Tensor, cd: float, vd: float) -> torch.Tensor:
    """CPU reverse-time filter; `grad_pre` is a contiguous [T, B, N] float tensor."""
    grad_x = torch.empty_like(grad_pre)
    real = grad_pre.numpy().dtype.type
    _reverse_filter_numba(grad_pre.numpy(), real(cd), real(vd), grad_x.numpy())
    return grad_x


def forward_torch(
    x: torch.Tensor, th: torch.Tensor, cd: float, vd: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Device-agnostic forward pass: a few whole-tensor ops per time step."""
    voltage = torch.empty_like(x)
    current = torch.zeros_like(x[0])
    state = torch.zeros_like(x[0])
    for t in range(x.shape[0]):
        current.mul_(cd).add_(x[t])
        state.mul_(vd).add_(current)
        voltage[t] = state
        state.masked_fill_(state >= th, 0.0)
    return (voltage >= th).to(x.dtype), voltage


def reverse_filter_torch(grad_pre: torch.Tensor, cd: float, vd: float) -> torch.Tensor:
    """Device-agnostic reverse-time filter: two whole-tensor ops per time step."""
    grad_x = torch.empty_like(grad_pre)
    grad_v = torch.zeros_like(grad_pre[0])
    grad_i = torch.zeros_like(grad_pre[0])
    for t in range(grad_pre.shape[0] - 1, -1, -1):
        grad_v.mul_(vd).add_(grad_pre[t])
        grad_i.mul_(cd).add_(grad_v)
        grad_x[t] = grad_i
    return grad_x
