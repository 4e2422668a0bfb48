r"""Spike-rate loss and rate-coded classification, as lava-dl's ``SpikeRate`` for NMNIST.

The output neuron of the true class should fire at ``true_rate`` (0.2 of the time steps)
and every other output neuron at ``false_rate`` (0.03); the prediction is the output neuron
with the most spikes. Rates, not first-spike times, keep the loss defined for any sequence
length. For output spikes :math:`S_{tbc}` over :math:`T` steps, a batch of :math:`B` and
target rates :math:`\hat r_{bc}`:

.. math::

    r_{bc} = \frac{1}{T} \sum_t S_{tbc}, \qquad
    L = \frac{1}{B} \sum_b \sum_c \left(r_{bc} - \hat r_{bc}\right)^2, \qquad
    \hat y_b = \operatorname{argmax}_c \sum_t S_{tbc}
"""

from __future__ import annotations

import torch


def target_rates(
    labels: torch.Tensor, n_classes: int, true_rate: float, false_rate: float
) -> torch.Tensor:
    """``[B, n_classes]`` target spike rates for integer labels ``[B]``."""
    targets = torch.full((labels.shape[0], n_classes), float(false_rate), device=labels.device)
    return targets.scatter_(1, labels.long().unsqueeze(1), float(true_rate))


def spike_rate_loss(
    output_spikes: torch.Tensor,
    labels: torch.Tensor,
    true_rate: float = 0.2,
    false_rate: float = 0.03,
    reduction: str = "mean",
) -> torch.Tensor:
    """Squared error between output spike rates and target rates.

    Summed over output neurons and, by default, averaged over the batch, so the loss (and the
    weight learning rate it implies) does not depend on the batch size. ``reduction="sum"``
    sums over the batch instead, as lava-dl's ``SpikeRate`` does by default: the same
    gradients times B, which Adam's step size ignores up to its epsilon (the fidelity study
    measures it: ``loss_sum_over_batch``).

    A silent output misses the true class's target rate (0.2) and meets the others' (0.03)
    within their own squared error: (0.2)^2 + 9 x (0.03)^2 = 0.0481, the loss a network
    sits at once its output falls silent (the book's "Why low thresholds fail").

    >>> import torch
    >>> from rouser import spike_rate_loss
    >>> silent = torch.zeros(300, 2, 10)  # [T, B, classes]
    >>> round(float(spike_rate_loss(silent, torch.tensor([3, 7]))), 6)
    0.0481
    """
    if output_spikes.dim() != 3 or labels.shape != output_spikes.shape[1:2]:
        raise ValueError(
            f"expected output spikes [T, B, C] and labels [B], got {list(output_spikes.shape)} "
            f"and {list(labels.shape)}"
        )
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction={reduction!r} must be 'mean' or 'sum'")
    rates = output_spikes.mean(0)
    targets = target_rates(labels, rates.shape[1], true_rate, false_rate).to(rates.dtype)
    per_sample = ((rates - targets) ** 2).sum(1)
    return per_sample.sum() if reduction == "sum" else per_sample.mean()


def predict(output_spikes: torch.Tensor) -> torch.Tensor:
    """Predicted class ``[B]``: the output neuron with the most spikes (lowest index on ties)."""
    return output_spikes.sum(0).argmax(1)
