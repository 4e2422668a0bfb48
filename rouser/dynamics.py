r"""CUBA LIF dynamics over a whole sequence: a readable reference and the fused fast path.

Both compute, for ``x`` of shape ``[T, B, N]`` and one threshold :math:`\vartheta` per
neuron, with :math:`\alpha_I` = ``current_decay`` and :math:`\alpha_V` = ``voltage_decay``
(fractions kept per step):

.. math::

    I[t] &= \alpha_I \, I[t-1] + x[t]
        \qquad \text{synaptic current} \\
    V[t] &= \alpha_V \, V'[t-1] + I[t]
        \qquad \text{membrane voltage (pre-reset)} \\
    S[t] &= H(V[t] - \vartheta) = [V[t] > \vartheta]
        \qquad \text{eq. 1 (strict)} \\
    V'[t] &= V[t] \, (1 - S[t])
        \qquad \text{reset to } V_{rest} = 0 \text{, carried to } t + 1

and back-propagate with the surrogate of eqs. 2-3 (:mod:`rouser.surrogate`) through the
integrators treated as linear filters (the reset is not differentiated), as SLAYER does:
with :math:`\gamma_V[T] = \gamma_I[T] = 0`, in reverse time,

.. math::

    g[t] &= \frac{\partial L}{\partial S[t]} \, \frac{s}{\tau}
            e^{-|V[t] - \vartheta| / \tau} \\
    \gamma_V[t] &= g[t] + \alpha_V \, \gamma_V[t+1], \qquad
    \frac{\partial L}{\partial x[t]} = \gamma_I[t] = \gamma_V[t] + \alpha_I \, \gamma_I[t+1] \\
    \frac{\partial L}{\partial \vartheta} &= -\sum_{t, b} g[t]

``cuba_lif_reference`` says this with per-step autograd; ``cuba_lif`` is a single autograd
node whose forward and backward loop over time outside autograd, and the tests hold the two
equal.

The fused node's loops come from one of three kernel families (`rouser.kernels.FAMILIES`,
the same functions in each): ``"numba"`` (CPU), ``"torch"`` (any device; ~5 kernel launches
per step on a GPU) and ``"triton"`` (one launch per pass on CUDA, imported on first use so
that importing rouser never pays for importing triton).
"""

from __future__ import annotations

import functools
import warnings

import torch

from rouser import kernels
from rouser.fixed_point import (
    STATE_SCALE,
    decay_numerator,
    quantised_decay,
    shift_to_zero,
    to_state,
)
from rouser.surrogate import spike

BACKENDS = ("auto", "numba", "torch", "triton")
TRITON_FIXED_POINT = (
    "fixed_point=True has no Triton kernel: use backend='torch' (or 'auto', which runs the "
    "torch loop for fixed point on CUDA)"
)


@functools.cache
def triton_unavailable() -> str | None:
    """Why the Triton kernels cannot be used here, or None when they import (checked once)."""
    try:
        kernels.family("triton")
    except ImportError as error:
        return f"triton does not import ({error})"
    return None


@functools.cache
def _warn_once(message: str) -> None:
    """A warning shown once per process and message, not once per forward pass."""
    warnings.warn(message, RuntimeWarning, stacklevel=4)


NUMBA_DTYPES = (torch.float32, torch.float64)


def resolve_backend(backend: str, device: torch.device, fixed_point: bool = False) -> str:
    """The kernel family that runs: ``"numba"``, ``"torch"`` or ``"triton"``.

    ``"auto"`` picks numba for CPU tensors and triton for CUDA tensors; it falls back to the
    torch loop, saying why once, where triton does not import or has no kernel (fixed point).
    An explicit backend that cannot run raises a ValueError instead.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r} is not allowed; choose one of {list(BACKENDS)}")
    if backend == "auto":
        if device.type == "cpu":
            return "numba"
        if device.type != "cuda":
            reason = "the Triton kernels run on CUDA tensors only"
        elif fixed_point:
            reason = "fixed_point=True has no Triton kernel"
        else:
            reason = triton_unavailable()
        if reason is None:
            return "triton"
        _warn_once(
            f"CubaLIF backend='auto' runs the torch loop on {device.type} "
            f"(~5 kernel launches per time step): {reason}"
        )
        return "torch"
    if backend == "numba" and device.type != "cpu":
        raise ValueError(f"backend='numba' runs on CPU tensors only, got device {device}")
    if backend == "triton":
        if fixed_point:
            raise ValueError(TRITON_FIXED_POINT)
        if (reason := triton_unavailable()) is not None:
            raise ValueError(f"backend='triton' cannot run: {reason}")
    return backend


def cuba_lif_reference(
    x: torch.Tensor,
    threshold: torch.Tensor,
    current_decay: float,
    voltage_decay: float,
    tau: float,
    scale: float,
    fixed_point: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-step autograd implementation; returns ``(spikes, voltage)`` (pre-reset), ``[T, B, N]``.

    Slow (one autograd node per op and step) but a direct transcription of the equations.
    With ``fixed_point``, each state's value is replaced by lava-dl's integer state
    (:mod:`rouser.fixed_point`) while its gradient stays that of the float integrator with the
    quantised decays: the straight-through backward lava-dl uses.
    """
    if fixed_point:
        cd_num, vd_num = decay_numerator(current_decay), decay_numerator(voltage_decay)
        current_decay, voltage_decay = (
            quantised_decay(current_decay),
            quantised_decay(voltage_decay),
        )
        current_int = torch.zeros(x.shape[1:], dtype=torch.int64, device=x.device)
        state_int = torch.zeros_like(current_int)
    current = torch.zeros_like(x[0])
    state = torch.zeros_like(x[0])
    spikes, voltages = [], []
    for t in range(x.shape[0]):
        current = current_decay * current + x[t]
        voltage = voltage_decay * state + current
        if fixed_point:
            current_int = shift_to_zero(current_int * cd_num) + to_state(x[t].detach())
            voltage_int = shift_to_zero(state_int * vd_num) + current_int
            current = current + (current_int / STATE_SCALE - current).detach()
            voltage = voltage + (voltage_int / STATE_SCALE - voltage).detach()
            state_int = voltage_int.masked_fill(
                voltage_int > threshold.detach().double() * STATE_SCALE, 0
            )
        s = spike(voltage, threshold, tau, scale)
        # Subtracting a detached copy resets the value while the gradient still flows
        # through V unchanged: the "reset ignored" backward of SLAYER.
        state = voltage - (voltage * s).detach()
        spikes.append(s)
        voltages.append(voltage)
    return torch.stack(spikes), torch.stack(voltages)


class CubaLIFFunction(torch.autograd.Function):
    """One autograd node for the whole sequence; saves only the pre-reset voltage."""

    @staticmethod
    def forward(ctx, x, threshold, current_decay, voltage_decay, tau, scale, backend, fixed):  # type: ignore[override]
        """Runs the kernel family's forward loop; saves the pre-reset voltage and threshold."""
        threshold_ = threshold.detach().to(x.dtype).contiguous()
        x_ = x.detach().contiguous()
        if fixed:
            forward = kernels.family(backend).forward_fixed
            cd_num, vd_num = decay_numerator(current_decay), decay_numerator(voltage_decay)
            spikes, voltage = forward(x_, threshold_, cd_num, vd_num)
            current_decay = quantised_decay(current_decay)
            voltage_decay = quantised_decay(voltage_decay)
        else:
            forward = kernels.family(backend).forward
            spikes, voltage = forward(x_, threshold_, current_decay, voltage_decay)
        ctx.save_for_backward(voltage, threshold_)
        ctx.params = (current_decay, voltage_decay, tau, scale, backend)
        ctx.mark_non_differentiable(voltage)
        # The voltage output never has a gradient: without this, autograd would allocate and
        # zero a [T, B, N] tensor for it in every backward pass (measured ~2 ms per hidden
        # layer of SHD's network at B = 128). The spikes' gradient is never None: they are the
        # only differentiable output, so backward runs only when they were used.
        ctx.set_materialize_grads(False)
        return spikes, voltage

    @staticmethod
    def backward(ctx, grad_spikes, _grad_voltage):  # type: ignore[override]
        """Surrogate (eqs. 2-3) and the integrators in reverse time, in one kernel call."""
        voltage, threshold = ctx.saved_tensors
        current_decay, voltage_decay, tau, scale, backend = ctx.params
        backward = kernels.family(backend).backward
        grad_x, grad_th = backward(
            grad_spikes.contiguous(), voltage, threshold, current_decay, voltage_decay, tau, scale
        )
        if not ctx.needs_input_grad[1]:
            grad_th = None
        return grad_x, grad_th, None, None, None, None, None, None


def cuba_lif(
    x: torch.Tensor,
    threshold: torch.Tensor,
    current_decay: float,
    voltage_decay: float,
    tau: float,
    scale: float,
    backend: str = "auto",
    fixed_point: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fused implementation; returns ``(spikes, voltage)`` (pre-reset), both ``[T, B, N]``.

    ``backend="auto"`` picks the numba loop for CPU tensors, the Triton kernels for CUDA
    tensors and the torch loop where neither applies (``resolve_backend``); the voltage
    output carries no gradient. ``fixed_point`` runs the forward pass in lava-dl's integer
    arithmetic (:mod:`rouser.fixed_point`) and the backward pass with its quantised decays.
    """
    chosen = resolve_backend(backend, x.device, fixed_point)
    if chosen == "numba" and x.dtype not in NUMBA_DTYPES:
        # numba's loops are compiled for float32 and float64; its own error for a bfloat16
        # tensor ("Got unsupported ScalarType BFloat16") names neither the cause nor a fix
        raise ValueError(
            f"CubaLIF's numba loop takes float32 or float64 input, not {x.dtype}: pass "
            "x.float(), or backend='torch' to run in that dtype"
        )
    return CubaLIFFunction.apply(
        x,
        threshold,
        float(current_decay),
        float(voltage_decay),
        float(tau),
        float(scale),
        chosen,
        bool(fixed_point),
    )
