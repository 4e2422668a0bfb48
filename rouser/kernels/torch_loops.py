r"""The device-agnostic kernel family: torch loops for the fused CUBA node (`rouser.kernels`).

The same contract as `rouser.kernels.numba_loops`, in whole-tensor torch ops: the forward
loop launches ~5 kernels per step over all neurons of the batch, and the backward's two
linear filters (the backward recurrence of `rouser.dynamics`) are a single ``[T, T]`` matrix
product (``impulse_response``). It runs wherever torch does, and is the readable statement
the numba and Triton kernels are tested against.
"""

from __future__ import annotations

import functools

import torch

from rouser.fixed_point import STATE_SCALE, shift_to_zero, to_state
from rouser.surrogate import surrogate_derivative


def forward(
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


def forward_fixed(
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


def backward(
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
