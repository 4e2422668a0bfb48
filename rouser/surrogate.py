r"""The spike function and its surrogate derivative: the paper's eqs. 1-3.

Forward, eq. 1, strict as in lava-dl and Loihi (see :class:`rouser.neuron.CubaLIF`):

.. math::

    S = H(V - \vartheta) = \begin{cases} 1 & V > \vartheta \\
        0 & \text{otherwise} \end{cases}

Backward, eq. 2 (the surrogate of the step's derivative) and eq. 3 (the threshold's):

.. math::

    \frac{\partial S}{\partial V} = \frac{s}{\tau} e^{-|V - \vartheta| / \tau},
    \qquad
    \frac{\partial S}{\partial \vartheta} = -\frac{s}{\tau} e^{-|V - \vartheta| / \tau}

Eq. 3 is what makes thresholds learnable: it is eq. 2 with the opposite sign, because raising
the threshold has the same effect on the spike as lowering the voltage. It is defined in one
place so that every neuron implementation (reference and fused) uses the same surrogate.
"""

from __future__ import annotations

import torch


def surrogate_derivative(
    voltage: torch.Tensor, threshold: torch.Tensor, tau: float, scale: float
) -> torch.Tensor:
    r"""Eq. 2's :math:`\partial S / \partial V`, element-wise; eq. 3's is its negative.

    One allocation then in-place ops: on a ``[100, 32, 200]`` tensor this is ~4x faster than
    the out-of-place expression, and it runs once per layer in every backward pass.
    """
    return (voltage - threshold).abs_().mul_(-1.0 / tau).exp_().mul_(scale / tau)


class SpikeFunction(torch.autograd.Function):
    """Heaviside step (eq. 1) with the exponential surrogate gradient (eqs. 2 and 3).

    Used one time step at a time by the reference neuron; the fused neuron applies the same
    derivative to all time steps at once.
    """

    @staticmethod
    def forward(ctx, voltage, threshold, tau, scale):  # type: ignore[override]
        """Eq. 1: ``1.0`` where ``voltage > threshold``, else ``0.0``; saves both for backward."""
        ctx.save_for_backward(voltage, threshold)
        ctx.tau, ctx.scale = tau, scale
        return (voltage > threshold).to(voltage.dtype)

    @staticmethod
    def backward(ctx, grad_spike):  # type: ignore[override]
        """Eq. 2 for the voltage; eq. 3, summed over all but the neuron axis, for the threshold."""
        voltage, threshold = ctx.saved_tensors
        grad_voltage = grad_spike * surrogate_derivative(voltage, threshold, ctx.tau, ctx.scale)
        grad_threshold = None
        if ctx.needs_input_grad[1]:
            grad_threshold = -grad_voltage.reshape(-1, threshold.numel()).sum(0)
        return grad_voltage, grad_threshold, None, None


def spike(voltage: torch.Tensor, threshold: torch.Tensor, tau: float, scale: float) -> torch.Tensor:
    """Spikes of eq. 1 with the surrogate gradients of eqs. 2-3.

    ``threshold`` (one per neuron) broadcasts over the last dimension of ``voltage``.
    """
    return SpikeFunction.apply(voltage, threshold, tau, scale)
