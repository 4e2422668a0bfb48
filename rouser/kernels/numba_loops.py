r"""Inner loops over time of the CUBA neuron, for the fused autograd function.

Two implementations of the same two kernels:

* ``forward(x, th, cd, vd) -> (spikes, voltage)`` runs the recurrence with reset
  (:mod:`rouser.dynamics`) and returns the spikes and the pre-reset voltage of every step
  (all that backward needs); its ``forward_fixed_*`` twin does the same in lava-dl's
  integer arithmetic (:mod:`rouser.fixed_point`);
* ``backward(grad_s, voltage, th, cd, vd, tau, scale) -> (grad_x, grad_th)`` applies the
  surrogate (eqs. 2-3) and back-propagates through the two leaky integrators in reverse
  time as linear filters (the reset is not differentiated, as in SLAYER). With
  :math:`\alpha_I` = ``cd``, :math:`\alpha_V` = ``vd`` and :math:`\gamma_V[T] = \gamma_I[T] = 0`:

.. math::

    g[t] &= \frac{\partial L}{\partial S[t]} \, \frac{s}{\tau}
            e^{-|V[t] - \vartheta| / \tau} \\
    \gamma_V[t] &= g[t] + \alpha_V \, \gamma_V[t+1], \qquad
    \frac{\partial L}{\partial x[t]} = \gamma_I[t] = \gamma_V[t] + \alpha_I \, \gamma_I[t+1] \\
    \frac{\partial L}{\partial \vartheta} &= -\sum_{t, b} g[t]

On the CPU a numba loop does each pass in one sweep over memory instead of ~5 tiny torch
ops per step; fusing the surrogate into the backward sweep beats five vectorised torch
passes over the same tensor (measured, 1 thread, ``[300, 32, 500]``: 25 ms vs 42 ms). Its
exponential is `rouser.kernels.expf.exp`, glibc's ``expf`` written out so that the sweep vectorises
(``[100, 128, 200]`` on one thread: 18.6 ms with the C library's call, 9.4 ms). On
CUDA the torch versions run: the forward loop launches ~5 kernels per step over all neurons
of the batch, and the backward's two linear filters are a single ``[T, T]`` matrix product
(``impulse_response``).
"""

from __future__ import annotations

import functools

import numba
import numpy as np
import torch

from rouser.fixed_point import STATE_SCALE, shift_to_zero, to_state
from rouser.kernels.expf import exp
from rouser.kernels.threads import follow_torch
from rouser.surrogate import surrogate_derivative


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


def forward_numba(
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


def forward_fixed_numba(
    x: torch.Tensor, th: torch.Tensor, cd_num: int, vd_num: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """CPU forward pass in lava-dl's fixed point; decays are numerators over 4096."""
    spikes = torch.empty_like(x)
    voltage = torch.empty_like(x)
    follow_torch()
    _forward_fixed_numba(x.numpy(), th.numpy(), cd_num, vd_num, spikes.numpy(), voltage.numpy())
    return spikes, voltage


def backward_numba(
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
        state.masked_fill_(state > th, 0.0)
    return (voltage > th).to(x.dtype), voltage


def forward_fixed_torch(
    x: torch.Tensor, th: torch.Tensor, cd_num: int, vd_num: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Device-agnostic forward pass in lava-dl's fixed point (integer states, int64)."""
    voltage = torch.empty_like(x)
    current = torch.zeros(x.shape[1:], dtype=torch.int64, device=x.device)
    state = torch.zeros_like(current)
    scaled_th = th.double() * STATE_SCALE
    for t in range(x.shape[0]):
        current = shift_to_zero(current * cd_num) + to_state(x[t])
        state = shift_to_zero(state * vd_num) + current
        voltage[t] = state / STATE_SCALE
        state = state.masked_fill(state > scaled_th, 0)
    return (voltage > th).to(x.dtype), voltage


@functools.lru_cache(maxsize=16)
def impulse_response(
    steps: int, cd: float, vd: float, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    r"""``[T, T]`` matrix :math:`K` with :math:`V = K x` for the two integrators, reset ignored.

    :math:`K_{ts}` is the voltage at step :math:`t` left by a unit input at step
    :math:`s \le t`. Back-propagating through the integrators is then one matrix product,
    :math:`\partial L / \partial x = K^\top \, \partial L / \partial V`, instead of
    :math:`2T` small ops in a reverse-time loop (on a GPU, :math:`5T` kernel launches become
    one GEMM).
    """
    response = torch.empty(steps, dtype=torch.float64)
    current = voltage = 0.0
    for k in range(steps):
        current = cd * current + (1.0 if k == 0 else 0.0)
        voltage = vd * voltage + current
        response[k] = voltage
    lag = torch.arange(steps)[:, None] - torch.arange(steps)[None, :]
    matrix = torch.where(lag >= 0, response[lag.clamp(min=0)], 0.0)
    return matrix.to(device=device, dtype=dtype)


def backward_torch(
    grad_s: torch.Tensor,
    voltage: torch.Tensor,
    th: torch.Tensor,
    cd: float,
    vd: float,
    tau: float,
    scale: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Device-agnostic backward pass: the surrogate for all steps at once, then one GEMM."""
    grad_pre = surrogate_derivative(voltage, th, tau, scale).mul_(grad_s)
    response = impulse_response(grad_s.shape[0], cd, vd, grad_s.device, grad_s.dtype)
    grad_x = (response.t() @ grad_pre.reshape(grad_s.shape[0], -1)).reshape(grad_s.shape)
    return grad_x, -grad_pre.sum((0, 1))
