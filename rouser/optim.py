r"""Adam with separate learning rates for weights and thresholds: eqs. 4-5.

The paper writes the updates as plain gradient descent,

.. math::

    w \leftarrow w - \eta_W \frac{\partial L}{\partial w}, \qquad
    \vartheta \leftarrow \vartheta - \eta_\vartheta \frac{\partial L}{\partial \vartheta}
    \qquad \text{(eqs. 4-5)}

and trains with Adam; here :math:`\eta_W` is ``lr_w`` and :math:`\eta_\vartheta` is
``lr_th``, one Adam parameter group each. Thresholds are found by type (the ``threshold``
parameter of every ``CubaLIF``), not by name, so the helper works for any network built
from rouser neurons. With ``lr_th = 0``, Adam's update of a threshold is exactly 0, which
reproduces the fixed-threshold baseline bit for bit.

Which of torch's three Adam implementations runs, and why: on the CPU torch picks the
per-tensor loop by default, which took 46 ms per ``step()`` for the NMNIST network's 1.4 M
parameters at 2 threads (median of 25, loaded machine) - a quarter of a training step.
``foreach=True`` does the same element-wise operations in the same order, a list at a time:
10.6 ms, and the same bits (``tests/test_optim.py`` holds the two equal over 30 steps), so
it is always on. ``fused=True`` (one kernel over all parameters, 0.6 ms) evaluates the
update in another order and differs in the last bits (7e-9 after 30 steps), so it is a run
setting (``fast_step``), off for every committed record.
"""

from __future__ import annotations

import torch
from torch import nn

from rouser.neuron import CubaLIF


def threshold_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The learnable thresholds of every ``CubaLIF`` in ``model`` (empty for the baseline)."""
    return [
        module.threshold
        for module in model.modules()
        if isinstance(module, CubaLIF) and isinstance(module.threshold, nn.Parameter)
    ]


def make_optimizer(
    model: nn.Module, lr_w: float, lr_th: float, fused: bool = False
) -> torch.optim.Adam:
    """Adam with one parameter group for weights (``lr_w``) and one for thresholds (``lr_th``).

    ``fused`` runs torch's fused kernel (faster, other last bits); otherwise the ``foreach``
    implementation, bit-identical to torch's default (module docstring).
    """
    if lr_w < 0 or lr_th < 0:
        raise ValueError(f"learning rates must be >= 0, got lr_w={lr_w!r}, lr_th={lr_th!r}")
    thresholds = threshold_parameters(model)
    threshold_ids = {id(p) for p in thresholds}
    weights = [p for p in model.parameters() if id(p) not in threshold_ids and p.requires_grad]
    groups = [{"params": weights, "lr": lr_w, "name": "weights"}]
    if thresholds:
        groups.append({"params": thresholds, "lr": lr_th, "name": "thresholds"})
    return torch.optim.Adam(groups, fused=True) if fused else torch.optim.Adam(groups, foreach=True)
