r"""lava-dl's fixed-point CUBA arithmetic, the numerics the paper's results were computed with.

lava-dl SLAYER (``neuron/cuba.py`` with ``neuron/dynamics/leaky_integrator.py``) runs both
leaky integrators of the CUBA neuron in integers, as Loihi does:

* states are integers in units of 1 / 4096 (``STATE_SCALE = 1 << 12``);
* a decay is a 12-bit integer: the fraction *lost* per step times 4096, rounded to the
  nearest integer (half to even), so the fraction kept is ``(4096 - lost) / 4096``;
* a decayed state ``a * kept`` is shifted right by 12 bits with rounding toward zero;
* an input is scaled by 4096 and truncated toward zero.

With :math:`q(y) = \operatorname{sign}(y) \lfloor |y| / 4096 \rfloor` and :math:`k_c`,
:math:`k_v` the decays' numerators (fraction kept times 4096, ``decay_numerator``), per step
and neuron:

.. math::

    i[t] &= q(k_c \, i[t-1]) + \operatorname{trunc}(4096 \, x[t]) \\
    v[t] &= q(k_v \, v'[t-1]) + i[t] \\
    S[t] &= [v[t] > 4096 \, \vartheta], \qquad v'[t] = v[t] \, (1 - S[t])

and the voltage the neuron reports is :math:`V[t] = v[t] / 4096`. lava-dl compares with
``>= 4096 * (Th + 0.01 / 4096)``, which for an integer state is the strict ``v > 4096 Th``
whenever ``4096 Th`` is an integer (lava-dl quantises its threshold to 1/64 at construction,
so it always is there). The backward pass of the fixed-point neuron is the float surrogate
of eqs. 2-3 through integrators with the *quantised* decays, as lava-dl's backward is.
"""

from __future__ import annotations

import torch

STATE_BITS = 12
STATE_SCALE = 1 << STATE_BITS  # lava-dl's s_scale = w_scale (1 << 6) * (1 << 6)
WEIGHT_SCALE = 1 << 6  # lava-dl's w_scale: a CUBA neuron's default `scale`
# lava-dl's 8-bit weights: even integers in [-256, 254] over w_scale, i.e. steps of 1/32
WEIGHT_STEP, WEIGHT_RANGE = 2 / WEIGHT_SCALE, (-256 / WEIGHT_SCALE, 254 / WEIGHT_SCALE)


def decay_numerator(kept: float) -> int:
    """The integer k with k / 4096 the fraction kept per step, as lava-dl quantises a decay.

    lava-dl stores the fraction lost, ``round(4096 * lost)``; e.g. kept = 0.97 (lost 0.03)
    gives 4096 - 123 = 3973, i.e. 0.96997 kept, not 0.97:

    >>> decay_numerator(0.97), quantised_decay(0.97)
    (3973, 0.969970703125)
    """
    if not 0.0 <= kept <= 1.0:
        raise ValueError(f"decay={kept!r} must lie in [0, 1] (fraction kept per step)")
    return STATE_SCALE - round(STATE_SCALE * (1.0 - kept))


def quantised_decay(kept: float) -> float:
    """The fraction kept per step that the fixed-point neuron actually applies."""
    return decay_numerator(kept) / STATE_SCALE


def shift_to_zero(value: torch.Tensor) -> torch.Tensor:
    """``sign(a) * (|a| >> 12)`` of an integer tensor: lava-dl's ``right_shift_to_zero``."""
    magnitude = value.abs() >> STATE_BITS
    return torch.where(value < 0, -magnitude, magnitude)


def quantize_weight(weight: torch.Tensor) -> torch.Tensor:
    """The weight a lava-dl CUBA block multiplies with: rounded to `WEIGHT_STEP` (half to
    even), then clipped to `WEIGHT_RANGE`, as its ``neuron.quantize_8bit`` pre-hook does.

    The rounding passes gradients straight through and the clipping stops them outside the
    range, as lava-dl's ``quantize`` (identity backward) followed by ``clamp`` does:

    >>> quantize_weight(torch.tensor([0.0156, 0.0157, -0.05, 5.0])).tolist()
    [0.0, 0.03125, -0.0625, 3.96875]
    """
    rounded = torch.round(weight / WEIGHT_STEP) * WEIGHT_STEP
    return (weight + (rounded - weight).detach()).clamp(*WEIGHT_RANGE)


def to_state(x: torch.Tensor) -> torch.Tensor:
    """An input current in state units, truncated toward zero (``.long()`` truncates)."""
    return (x * STATE_SCALE).long()
