r"""``CubaLIF``: the current-based leaky integrate-and-fire neuron with a learnable threshold.

SLAYER's CUBA neuron on time-first tensors ``[T, B, N]``, one threshold :math:`\vartheta_n`
per neuron. With :math:`\alpha_I` = ``current_decay`` and :math:`\alpha_V` =
``voltage_decay``, the fractions *kept* per step, and a reset to :math:`V_{rest} = 0`:

.. math::

    I[t] &= \alpha_I \, I[t-1] + x[t] \\
    V[t] &= \alpha_V \, V[t-1] \, (1 - S[t-1]) + I[t] \\
    S[t] &= H(V[t] - \vartheta) = \begin{cases} 1 & V[t] > \vartheta \\
            0 & \text{otherwise} \end{cases} \qquad \text{(eq. 1)}

The backward pass replaces the step's derivative by the paper's surrogate (eqs. 2 and 3),
which is what lets the threshold learn:

.. math::

    \frac{\partial S}{\partial V} = \frac{s}{\tau} e^{-|V - \vartheta| / \tau},
    \qquad
    \frac{\partial S}{\partial \vartheta} = -\frac{s}{\tau} e^{-|V - \vartheta| / \tau}

Rouser (``learn_threshold=True``) makes ``threshold`` an ``nn.Parameter`` updated by the
optimizer like the weights; the baseline (``learn_threshold=False``) keeps it as a frozen
buffer. lava-dl's ``current_decay=0.25, voltage_decay=0.03`` (fractions lost) is
``current_decay=0.75, voltage_decay=0.97`` here, as the paper's Table II states them.

Why the comparison is strict: lava-dl compares against ``threshold + 0.01 / 4096`` ("Loihi
spikes if voltage > vth"), so a neuron at rest (:math:`V = 0`) never fires, even at
:math:`\vartheta = 0` (Fig. 2's first grid point). A learned threshold may become negative;
then :math:`0 > \vartheta` and the neuron fires at rest on every step, as the equations say.
rouser does not clamp it: clamping would hide what the optimizer did, and Loihi, whose
threshold mantissa is unsigned, could not run such a network anyway.

``fixed_point=True`` runs the forward pass in lava-dl's integer arithmetic
(:mod:`rouser.fixed_point`: states in units of 1/4096, 12-bit decays, rounding toward zero),
spike for spike and voltage for voltage what lava-dl computes; the backward pass stays the
float surrogate above, with the quantised decays.

Example::

    >>> import torch
    >>> from rouser import CubaLIF
    >>> neuron = CubaLIF(3, threshold=1.25)
    >>> spikes = neuron(torch.full((20, 1, 3), 0.1))   # constant current 0.1 for 20 steps
    >>> spikes.shape, int(spikes.sum())
    (torch.Size([20, 1, 3]), 12)
    >>> int(CubaLIF(4, threshold=0.0, learn_threshold=False)(torch.zeros(5, 1, 4)).sum())
    0
"""

from __future__ import annotations

import math

import torch
from torch import nn

from rouser.dynamics import BACKENDS, TRITON_FIXED_POINT, cuba_lif, cuba_lif_reference


class CubaLIF(nn.Module):
    r"""CUBA LIF neurons with one (optionally trainable) firing threshold per neuron.

    Args:
        n_neurons: number of neurons :math:`N`; inputs are ``[T, B, N]``.
        threshold: initial threshold :math:`\vartheta_{init}` (Table II: 1.25).
        current_decay: :math:`\alpha_I`, the fraction of synaptic current kept per step (0.75).
        voltage_decay: :math:`\alpha_V`, the fraction of membrane voltage kept per step (0.97).
        tau: surrogate steepness :math:`\tau` of eq. 2 (3.75).
        scale: surrogate scale :math:`s` of eq. 2 (1.5).
        learn_threshold: ``True`` for Rouser, ``False`` for the fixed-threshold baseline.
        backend: ``"auto"`` (numba on CPU; on CUDA the Triton kernels, or the torch loop
            with a warning where triton does not import or for fixed point), ``"numba"``,
            ``"torch"``, ``"triton"``, or ``"reference"`` (per-step autograd; slow, for
            checking).
        fixed_point: run the forward pass in lava-dl's integer arithmetic (the initial
            threshold is then rounded toward zero to a multiple of 1/64, as lava-dl does).

    Set ``record_voltage = True`` to keep the last forward pass's pre-reset voltage in
    ``self.voltage`` (detached); it costs nothing when off, because the fused path computes
    the voltage for its backward pass anyway.
    """

    def __init__(
        self,
        n_neurons: int,
        threshold: float = 1.25,
        current_decay: float = 0.75,
        voltage_decay: float = 0.97,
        tau: float = 3.75,
        scale: float = 1.5,
        learn_threshold: bool = True,
        backend: str = "auto",
        fixed_point: bool = False,
    ) -> None:
        super().__init__()
        if n_neurons < 1:
            raise ValueError(f"n_neurons={n_neurons!r} must be >= 1")
        for name, value in (("current_decay", current_decay), ("voltage_decay", voltage_decay)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}={value!r} must lie in [0, 1] (fraction kept per step)")
        for name, value in (("tau", tau), ("scale", scale)):
            if not value > 0:
                raise ValueError(f"{name}={value!r} must be > 0")
        if backend not in (*BACKENDS, "reference"):
            raise ValueError(
                f"backend={backend!r} is not allowed; choose one of {[*BACKENDS, 'reference']}"
            )
        if fixed_point and backend == "triton":
            raise ValueError(TRITON_FIXED_POINT)
        self.n_neurons = n_neurons
        self.current_decay = float(current_decay)
        self.voltage_decay = float(voltage_decay)
        self.tau = float(tau)
        self.scale = float(scale)
        self.learn_threshold = learn_threshold
        self.backend = backend
        self.fixed_point = bool(fixed_point)
        self.record_voltage = False
        self.voltage: torch.Tensor | None = None
        if fixed_point:
            # lava-dl stores the threshold as a multiple of 1/64 (Loihi's vThMant), rounded
            # toward zero when the neuron is built.
            threshold = math.trunc(threshold * 64) / 64
        initial = torch.full((n_neurons,), float(threshold))
        if learn_threshold:
            self.threshold = nn.Parameter(initial)
        else:
            self.register_buffer("threshold", initial)

    def extra_repr(self) -> str:
        return (
            f"{self.n_neurons}, current_decay={self.current_decay}, "
            f"voltage_decay={self.voltage_decay}, tau={self.tau}, scale={self.scale}, "
            f"learn_threshold={self.learn_threshold}, fixed_point={self.fixed_point}"
        )

    def check_input(self, x: torch.Tensor) -> None:
        """Raise a ValueError naming expected and given shape or dtype."""
        if x.dim() != 3 or x.shape[-1] != self.n_neurons:
            raise ValueError(
                f"CubaLIF expects input of shape [T, B, {self.n_neurons}], got {list(x.shape)}"
            )
        if not x.is_floating_point():
            raise ValueError(f"CubaLIF expects a floating-point input, got dtype {x.dtype}")
        # One reduction instead of an element-wise isfinite (8x cheaper on CPU): any NaN or
        # infinity makes the sum non-finite. CPU only: on a GPU the check would force a
        # device-to-host sync on every forward pass.
        if x.device.type == "cpu" and not torch.isfinite(x.sum()):
            raise ValueError("CubaLIF input contains NaN or infinite values")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map input currents ``x`` ``[T, B, N]`` to float 0/1 spikes ``[T, B, N]``."""
        self.check_input(x)
        args = (self.threshold, self.current_decay, self.voltage_decay, self.tau, self.scale)
        if self.backend == "reference":
            spikes, voltage = cuba_lif_reference(x, *args, fixed_point=self.fixed_point)
        else:
            spikes, voltage = cuba_lif(x, *args, backend=self.backend, fixed_point=self.fixed_point)
        self.voltage = voltage.detach() if self.record_voltage else None
        return spikes
