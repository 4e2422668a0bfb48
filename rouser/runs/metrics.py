r"""What the paper plots, measured from tensors training already has.

* ``ActivityMeter``: dead neurons (Fig. 4), neurons that never fire, and spike rates per
  layer (Fig. 5), accumulated batch by batch from the spikes ``SpikingMLP.forward_layers``
  returns during evaluation. It only sums spikes over time (one reduction per layer and
  batch) and keeps its running totals on the device, so it adds no extra forward pass and
  no host sync.
* ``weight_change``: :math:`\|W_e - W_0\|_F` per layer and for the whole network (Fig. 3).
* ``threshold_stats``: how learned thresholds spread per layer (mean, std, quantiles,
  histogram), which no published tool shows.
* ``summarize``: final and best accuracy, convergence (the paper's "training does not
  converge" for the SHD baseline) and training latency.

Layers are named ``"layer1"`` .. ``"layerL"``, input side first; ``"layerL"`` is the output
layer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from rouser.network import SpikingMLP

THRESHOLD_QUANTILES = {"q05": 0.05, "q25": 0.25, "q50": 0.5, "q75": 0.75, "q95": 0.95}
THRESHOLD_BINS = 20


def layer_name(index: int) -> str:
    """Name of the layer at 0-based ``index`` in the record: ``"layer1"`` for index 0."""
    return f"layer{index + 1}"


class ActivityMeter:
    """Streams spikes of every layer over a data set; ``result()`` gives the epoch's figures.

    Definitions (all fractions in [0, 1]):

    * ``dead_neurons[layer]``: for one input, the fraction of the layer's neurons that emit no
      spike over all time steps; averaged over the inputs (the paper's Fig. 4 wording).
      Hidden layers only: the output layer is trained towards fixed rates, not "dead".
    * ``dead_per_batch[layer]``: for one batch, the fraction of the layer's neurons silent on
      every input of the batch (the paper's "or input batch"); averaged over the batches,
      each weighted by its number of inputs.
    * ``never_firing[layer]``: fraction of hidden neurons silent for every input seen.
    * ``spike_rate[layer]``: spikes per neuron per time step, averaged over the inputs; every
      layer, output included (Fig. 5).
    """

    def __init__(self) -> None:
        self.n_inputs = 0
        self.steps = 0
        self.sizes: list[int] = []
        self.dead_sum: list[torch.Tensor] = []
        self.dead_batch_sum: list[torch.Tensor] = []
        self.fired: list[torch.Tensor] = []
        self.spike_sum: list[torch.Tensor] = []

    def update(self, layers: Sequence[torch.Tensor]) -> None:
        """Add one batch: ``layers`` are each layer's spikes ``[T, B, N_l]``, input side first."""
        steps, batch = layers[0].shape[:2]
        if not self.sizes:
            device = layers[0].device
            self.steps = steps
            self.sizes = [spikes.shape[-1] for spikes in layers]
            # float64 totals: a paper-size test set has ~1e9 spikes, past float32's exact range
            self.dead_sum = [
                torch.zeros((), dtype=torch.float64, device=device) for _ in layers[:-1]
            ]
            self.dead_batch_sum = [
                torch.zeros((), dtype=torch.float64, device=device) for _ in layers[:-1]
            ]
            self.fired = [torch.zeros(n, dtype=torch.bool, device=device) for n in self.sizes[:-1]]
            self.spike_sum = [torch.zeros((), dtype=torch.float64, device=device) for _ in layers]
        if steps != self.steps:
            raise ValueError(
                f"all batches must have the same number of time steps; got {steps} after "
                f"{self.steps}"
            )
        self.n_inputs += batch
        for index, spikes in enumerate(layers):
            counts = spikes.detach().sum(0)  # [B, N]: spikes of each neuron for each input
            self.spike_sum[index] += counts.sum(dtype=torch.float64)
            if index < len(layers) - 1:
                silent = counts == 0
                self.dead_sum[index] += silent.double().mean(1).sum()
                self.dead_batch_sum[index] += silent.all(0).double().mean() * batch
                self.fired[index] |= ~silent.all(0)

    def result(self) -> dict[str, dict[str, float]]:
        """``{"dead_neurons", "dead_per_batch", "never_firing", "spike_rate"}``, each a dict of
        floats per layer."""
        if not self.n_inputs:
            raise ValueError("ActivityMeter.result() called before any update()")
        n = self.n_inputs
        return {
            "dead_neurons": {
                layer_name(i): total.item() / n for i, total in enumerate(self.dead_sum)
            },
            "dead_per_batch": {
                layer_name(i): total.item() / n for i, total in enumerate(self.dead_batch_sum)
            },
            "never_firing": {
                layer_name(i): 1.0 - fired.float().mean().item()
                for i, fired in enumerate(self.fired)
            },
            "spike_rate": {
                layer_name(i): total.item() / (n * self.steps * size)
                for i, (total, size) in enumerate(zip(self.spike_sum, self.sizes, strict=True))
            },
        }


def synapse_weights(model: SpikingMLP) -> dict[str, torch.Tensor]:
    r"""Each layer's synaptic weight matrix, detached and copied (the :math:`W_0` of Fig. 3)."""
    return {
        layer_name(i): block.synapse.weight.detach().clone() for i, block in enumerate(model.blocks)
    }


def weight_change(model: SpikingMLP, initial: dict[str, torch.Tensor]) -> dict[str, float]:
    r"""Frobenius distance from the initial weights, per layer and in total (Fig. 3).

    Per layer :math:`\|W_e - W_0\|_F`; ``"total"`` is
    :math:`\sqrt{\sum_l \|W^l_e - W^l_0\|_F^2}`, the distance of all weights together.
    """
    change = {
        name: torch.linalg.vector_norm(weights - initial[name]).item()
        for name, weights in synapse_weights(model).items()
    }
    change["total"] = math.sqrt(sum(value**2 for value in change.values()))
    return change


def threshold_stats(model: SpikingMLP) -> dict[str, dict]:
    """Per layer: mean, std, min, quantiles, max and a 20-bin histogram of the thresholds.

    The histogram's edges span the layer's current range, so they are stored with the
    counts: figures can re-bin across epochs. A frozen (baseline) layer has one value and
    numpy's histogram puts it in the middle of a unit-wide range.
    """
    stats = {}
    for i, neuron in enumerate(model.neurons):
        values = neuron.threshold.detach().cpu().double().numpy()
        counts, edges = np.histogram(values, bins=THRESHOLD_BINS)
        stats[layer_name(i)] = {
            "mean": float(values.mean()),
            "std": float(values.std()),
            "min": float(values.min()),
            **{key: float(np.quantile(values, q)) for key, q in THRESHOLD_QUANTILES.items()},
            "max": float(values.max()),
            "hist_counts": counts.tolist(),
            "hist_edges": edges.tolist(),
        }
    return stats


def summarize(
    history: Sequence[dict], n_classes: int, latency_target: float, chance_margin: float
) -> dict:
    """The record's "summary" from its per-epoch history (epoch 0 = untrained network).

    * ``converged``: best test accuracy > chance (``1 / n_classes``) + ``chance_margin``; a
      run that stays at chance is the paper's "training does not converge" (Table I, SHD
      baseline).
    * ``latency_epoch``: first epoch whose test accuracy >= ``latency_target`` x final
      accuracy; ``latency_seconds``: training wall time summed up to and including that
      epoch.
    """
    if not history:
        raise ValueError("summarize needs a history with at least epoch 0")
    accuracies = [entry["test_accuracy"] for entry in history]
    final = accuracies[-1]
    best_index = int(np.argmax(accuracies))
    latency_index = next(i for i, acc in enumerate(accuracies) if acc >= latency_target * final)
    return {
        "final_test_accuracy": final,
        "best_test_accuracy": accuracies[best_index],
        "best_epoch": history[best_index]["epoch"],
        "latency_epoch": history[latency_index]["epoch"],
        "latency_seconds": sum(entry["epoch_seconds"] for entry in history[: latency_index + 1]),
        "converged": accuracies[best_index] > 1.0 / n_classes + chance_margin,
    }
