"""`CubaLIF`: the current-based leaky integrate-and-fire neuron with a learnable threshold.

Dynamics (SLAYER's CUBA neuron, time-first tensors [T, B, N]):

    I[t] = cd * I[t-1] + x[t]                  cd = current_decay, fraction KEPT per step
    V[t] = vd * V[t-1] * (1 - S[t-1]) + I[t]   vd = voltage_decay, reset to V_rest = 0
    S[t] = 1 if V[t] >= Th else 0              eq. 1, one Th per neuron

Backward (surrogate gradient, the paper's eqs. 2 and 3):

    dS/dV  =  (s / tau) * exp(-|V - Th| / tau)
    dS/dTh = -(s / tau) * exp(-|V - Th| / tau)

Rouser (`learn_threshold=True`) makes `threshold` an `nn.Parameter` updated by the optimizer
like the weights; the baseline (`learn_threshold=False`) keeps it as a frozen buffer. lava-dl's
`current_decay=0.25, voltage_decay=0.03` (fractions lost) is `current_decay=0.75,
voltage_decay=0.97` here (fractions kept, as the paper's Table II states them).
"""

from __future__ import annotations

import torch
from torch import nn

from rouser.dynamics import BACKENDS, cuba_lif, cuba_lif_reference


class CubaLIF(nn.Module):
    """CUBA LIF neurons with one (optionally trainable) firing threshold per neuron.

    Args:
        n_neurons: number of neurons N; inputs are [T, B, N].
        threshold: initial threshold Th_init (Table II: 1.25).
        current_decay: fraction of synaptic current kept per step (0.75).
        voltage_decay: fraction of membrane voltage kept per step (0.97).
        tau: surrogate steepness of eq. 2 (3.75).
        scale: surrogate scale s of eq. 2 (1.5).
        learn_threshold: True for Rouser, False for the fixed-threshold baseline.
        backend: "auto" (numba on CPU, torch loop on CUDA), "numba", "torch", or
            "reference" (per-step autograd; slow, for checking).

    Set `record_voltage = True` to keep the last forward pass's pre-reset voltage in
    `self.voltage` (detached); it costs nothing when off, because the fused path computes
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
        self.n_neurons = n_neurons
        self.current_decay = float(current_decay)
        self.voltage_decay = float(voltage_decay)
        self.tau = float(tau)
        self.scale = float(scale)
        self.learn_threshold = learn_threshold
        self.backend = backend
        self.record_voltage = False
        self.voltage: torch.Tensor | None = None
        initial = torch.full((n_neurons,), float(threshold))
        if learn_threshold:
            self.threshold = nn.Parameter(initial)
        else:
            self.register_buffer("threshold", initial)

    def extra_repr(self) -> str:
        return (
            f"{self.n_neurons}, current_decay={self.current_decay}, "
            f"voltage_decay={self.voltage_decay}, tau={self.tau}, scale={self.scale}, "
            f"learn_threshold={self.learn_threshold}"
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
        # infinity makes the sum non-finite.
        if not torch.isfinite(x.sum()):
            raise ValueError("CubaLIF input contains NaN or infinite values")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map input currents x [T, B, N] to float 0/1 spikes [T, B, N]."""
        self.check_input(x)
        args = (self.threshold, self.current_decay, self.voltage_decay, self.tau, self.scale)
        if self.backend == "reference":
            spikes, voltage = cuba_lif_reference(x, *args)
        else:
            spikes, voltage = cuba_lif(x, *args, backend=self.backend)
        self.voltage = voltage.detach() if self.record_voltage else None
        return spikes
