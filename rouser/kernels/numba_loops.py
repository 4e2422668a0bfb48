r"""The CPU kernel family: numba loops over time for the fused CUBA node (`rouser.kernels`).

``forward`` runs the recurrence of `rouser.dynamics` with its reset and returns the spikes and
the pre-reset voltage of every step (all that backward needs); ``forward_fixed`` does the
same in lava-dl's integer arithmetic (:mod:`rouser.fixed_point`); ``backward`` applies the
surrogate (eqs. 2-3) and runs the two leaky integrators in reverse time as linear filters,
the backward recurrence stated in `rouser.dynamics`.

Why numba: each pass is one sweep over memory instead of ~5 tiny torch ops per step, and
fusing the surrogate into the backward sweep beats five vectorised torch passes over the
same tensor. Its exponential is `rouser.kernels.expf.exp`, glibc's ``expf`` written out so
that the sweep vectorises.
"""

from __future__ import annotations

import numba
import numpy as np
import torch

from rouser.kernels.expf import exp
from rouser.kernels.threads import follow_torch


# Every loop gives each sample of the batch to one thread (``prange``; samples never
# interact) and walks time inside it, the neurons innermost (contiguous in memory) and
# branch-free, so LLVM vectorises them: measured 0.48 ms instead of 1.8 ms for a
# [100, 32, 200] forward pass on one thread. Each element sees the same operations in the
# same order whatever the thread count, and there is no fastmath, so the forward pass stays
# bit-identical to torch's and every pass to a serial run. Threads: numba's, which follow
# ``torch.set_num_threads`` (`rouser.kernels.threads.follow_torch`).
@numba.njit(cache=True, parallel=True)
def _forward_numba(x, th, cd, vd, spikes, voltage):  # pragma: no cover - compiled
    steps, batch, neurons = x.shape
    for b in numba.prange(batch):
        current = np.zeros(neurons, dtype=x.dtype)
        state = np.zeros(neurons, dtype=x.dtype)
        for t in range(steps):
            for n in range(neurons):
                c = cd * current[n] + x[t, b, n]
                current[n] = c
                v = vd * state[n] + c
                voltage[t, b, n] = v
                fire = v > th[n]
                spikes[t, b, n] = fire
                state[n] = 0.0 if fire else v


@numba.njit(cache=True, inline="always")
def _decay_to_zero(state, numerator):  # pragma: no cover - compiled
    """``fixed_point.shift_to_zero(state * numerator)`` for one integer state."""
    decayed = state * numerator
    return decayed >> 12 if decayed >= 0 else -((-decayed) >> 12)


# lava-dl's integer arithmetic (rouser.fixed_point): states in units of 1/4096, decays as
# 12-bit numerators, products shifted right with rounding toward zero, inputs truncated.
@numba.njit(cache=True, parallel=True)
def _forward_fixed_numba(x, th, cd_num, vd_num, spikes, voltage):  # pragma: no cover
    steps, batch, neurons = x.shape
    for b in numba.prange(batch):
        current = np.zeros(neurons, dtype=np.int64)
        state = np.zeros(neurons, dtype=np.int64)
        for t in range(steps):
            for n in range(neurons):
                c = _decay_to_zero(current[n], cd_num) + np.int64(x[t, b, n] * 4096.0)
                current[n] = c
                v = _decay_to_zero(state[n], vd_num) + c
                voltage[t, b, n] = v / 4096.0
                fire = v > th[n] * 4096.0
                spikes[t, b, n] = fire
                state[n] = 0 if fire else v


@numba.njit(cache=True, parallel=True)
def _backward_numba(
    grad_s, voltage, th, gain, inv_tau, cd, vd, grad_x, grad_th
):  # pragma: no cover
    steps, batch, neurons = grad_s.shape
    for b in numba.prange(batch):
        grad_v = np.zeros(neurons, dtype=grad_s.dtype)
        grad_i = np.zeros(neurons, dtype=grad_s.dtype)
        for t in range(steps - 1, -1, -1):
            for n in range(neurons):
                # eq. 2 times the incoming gradient; eq. 3 is its negative, summed over t and b
                g = grad_s[t, b, n] * gain * exp(-abs(voltage[t, b, n] - th[n]) * inv_tau)
                grad_th[b, n] -= g
                gv = g + vd * grad_v[n]
                grad_v[n] = gv
                gi = gv + cd * grad_i[n]
                grad_i[n] = gi
                grad_x[t, b, n] = gi


def forward(
    x: torch.Tensor, th: torch.Tensor, cd: float, vd: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """CPU forward pass; ``x`` is a contiguous ``[T, B, N]`` float tensor."""
    spikes = torch.empty_like(x)
    voltage = torch.empty_like(x)
    # Scalars in the tensor's dtype keep float32 inputs in float32 arithmetic.
    real = x.numpy().dtype.type
    follow_torch()
    _forward_numba(x.numpy(), th.numpy(), real(cd), real(vd), spikes.numpy(), voltage.numpy())
    return spikes, voltage


def forward_fixed(
    x: torch.Tensor, th: torch.Tensor, cd_num: int, vd_num: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """CPU forward pass in lava-dl's fixed point; decays are numerators over 4096."""
    spikes = torch.empty_like(x)
    voltage = torch.empty_like(x)
    follow_torch()
    _forward_fixed_numba(x.numpy(), th.numpy(), cd_num, vd_num, spikes.numpy(), voltage.numpy())
    return spikes, voltage


def backward(
    grad_s: torch.Tensor,
    voltage: torch.Tensor,
    th: torch.Tensor,
    cd: float,
    vd: float,
    tau: float,
    scale: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""CPU backward pass from :math:`\partial L / \partial S` ``[T, B, N]``.

    Returns ``(grad_x, grad_th)``: :math:`\partial L / \partial x` ``[T, B, N]`` and
    :math:`\partial L / \partial \vartheta` ``[N]``.
    """
    grad_x = torch.empty_like(grad_s)
    grad_th = torch.zeros(grad_s.shape[1:], dtype=grad_s.dtype)
    real = grad_s.numpy().dtype.type
    follow_torch()
    _backward_numba(
        grad_s.numpy(),
        voltage.numpy(),
        th.numpy(),
        real(scale / tau),
        real(1.0 / tau),
        real(cd),
        real(vd),
        grad_x.numpy(),
        grad_th.numpy(),
    )
    return grad_x, grad_th.sum(0)
