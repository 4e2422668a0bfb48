"""Measurements against counts done by hand on tiny tensors and a tiny hand-wired network."""

from __future__ import annotations

import math

import pytest
import torch

from rouser.config import resolve_run
from rouser.network import SpikingMLP
from rouser.runs.epochs import evaluate
from rouser.runs.metrics import (
    ActivityMeter,
    summarize,
    synapse_weights,
    threshold_stats,
    weight_change,
)


def spikes(rows: list[list[list[int]]]) -> torch.Tensor:
    """[T][B][N] nested lists of 0/1 -> float tensor [T, B, N]."""
    return torch.tensor(rows, dtype=torch.float32)


def test_activity_meter_equals_hand_count_over_two_batches():
    # Batch 1: T=2, B=2; hidden layer of 3 neurons, output layer of 2.
    hidden_1 = spikes([[[1, 0, 0], [0, 0, 0]], [[1, 0, 0], [0, 1, 0]]])
    out_1 = spikes([[[1, 0], [0, 0]], [[0, 0], [0, 0]]])
    # Batch 2: one input, no hidden spike at all, both outputs fire once.
    hidden_2 = spikes([[[0, 0, 0]], [[0, 0, 0]]])
    out_2 = spikes([[[1, 1]], [[0, 0]]])
    meter = ActivityMeter()
    meter.update([hidden_1, out_1])
    meter.update([hidden_2, out_2])
    result = meter.result()
    # Dead per input: input a fires neuron 0 only -> 2/3 dead; input b fires neuron 1 -> 2/3;
    # input c fires nothing -> 3/3. Mean over 3 inputs = (2/3 + 2/3 + 1) / 3 = 7/9.
    assert result["dead_neurons"] == {"layer1": pytest.approx(7 / 9)}
    # Neuron 2 never fires for any input: 1 of 3.
    assert result["never_firing"] == {"layer1": pytest.approx(1 / 3)}
    # Hidden: 3 spikes over 3 inputs x 2 steps x 3 neurons = 18 slots; output: 3 of 12.
    assert result["spike_rate"] == {
        "layer1": pytest.approx(3 / 18),
        "layer2": pytest.approx(3 / 12),
    }


def test_activity_meter_rejects_misuse():
    with pytest.raises(ValueError, match="before any update"):
        ActivityMeter().result()
    meter = ActivityMeter()
    meter.update([torch.zeros(2, 1, 3), torch.zeros(2, 1, 2)])
    with pytest.raises(ValueError, match="same number of time steps"):
        meter.update([torch.zeros(4, 1, 3), torch.zeros(4, 1, 2)])


def test_evaluate_on_hand_wired_network_equals_hand_count():
    """With both decays 0 the voltage is the weighted input of the step: V[t] = W x[t].

    Network 2 -> 3 -> 2, threshold 0.5 (a unit input crosses it; spikes need V > Th). Hidden weights: neuron 0 listens to input 0, neuron 1
    to input 1, neuron 2 to nothing. Output weights: output 0 copies hidden 0, output 1
    copies hidden 1.
    """
    model = SpikingMLP(
        [2, 3, 2], threshold=0.5, current_decay=0.0, voltage_decay=0.0, learn_threshold=False
    )
    with torch.no_grad():
        model.blocks[0].synapse.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]))
        model.blocks[1].synapse.weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    # T=3. Input a: channel 0 at t=0,1. Input b: channel 1 at t=2. Input c: silent.
    x = spikes(
        [
            [[1, 0], [0, 0], [0, 0]],
            [[1, 0], [0, 0], [0, 0]],
            [[0, 0], [0, 1], [0, 0]],
        ]
    )
    labels = torch.tensor([0, 1, 1])
    run = resolve_run("shd", "baseline", "smoke", true_rate=0.2, false_rate=0.0)
    meter = ActivityMeter()
    accuracy, loss = evaluate(
        model, [(x[:, :2], labels[:2]), (x[:, 2:], labels[2:])], run, torch.device("cpu"), meter
    )
    result = meter.result()
    # Hidden dead per input: a -> {1, 2} dead (2/3), b -> {0, 2} (2/3), c -> all (1).
    assert result["dead_neurons"]["layer1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    assert result["never_firing"]["layer1"] == pytest.approx(1 / 3)  # neuron 2
    # Hidden spikes: a 2, b 1, c 0 = 3 over 3 inputs x 3 steps x 3 neurons.
    assert result["spike_rate"]["layer1"] == pytest.approx(3 / 27)
    # Output copies hidden 0/1: 3 spikes over 3 x 3 x 2.
    assert result["spike_rate"]["layer2"] == pytest.approx(3 / 18)
    # Predictions: a -> 0 (right), b -> 1 (right), c -> tie at 0 -> 0 (wrong, label 1).
    assert accuracy == pytest.approx(2 / 3)
    # Loss per input = sum over outputs (rate - target)^2; target 0.2 for the label, 0 else.
    # a: rates (2/3, 0) -> (2/3 - 0.2)^2 + 0; b: (0, 1/3) -> 0 + (1/3 - 0.2)^2; c: (0, 0) -> 0.04
    expected = ((2 / 3 - 0.2) ** 2 + (1 / 3 - 0.2) ** 2 + 0.2**2) / 3
    assert loss == pytest.approx(expected)


def test_weight_change_is_frobenius_distance_per_layer_and_total():
    model = SpikingMLP([2, 1, 1])
    initial = synapse_weights(model)
    with torch.no_grad():
        model.blocks[0].synapse.weight.add_(torch.tensor([[3.0, 4.0]]))  # norm 5
        model.blocks[1].synapse.weight.add_(torch.tensor([[-12.0]]))  # norm 12
    change = weight_change(model, initial)
    assert change["layer1"] == pytest.approx(5.0)
    assert change["layer2"] == pytest.approx(12.0)
    assert change["total"] == pytest.approx(13.0)
    assert initial["layer1"].data_ptr() != model.blocks[0].synapse.weight.data_ptr()


def test_threshold_stats_of_known_values():
    model = SpikingMLP([3, 4, 2], threshold=1.25)
    with torch.no_grad():
        model.neurons[0].threshold.copy_(torch.tensor([1.0, 2.0, 3.0, 4.0]))
    stats = threshold_stats(model)
    first = stats["layer1"]
    assert first["mean"] == pytest.approx(2.5)
    assert first["std"] == pytest.approx(math.sqrt(1.25))  # population std
    assert (first["min"], first["q50"], first["max"]) == pytest.approx((1.0, 2.5, 4.0))
    assert first["q25"] == pytest.approx(1.75)
    assert sum(first["hist_counts"]) == 4 and len(first["hist_edges"]) == 21
    assert first["hist_edges"][0] == 1.0 and first["hist_edges"][-1] == 4.0
    frozen = stats["layer2"]
    assert frozen["std"] == 0.0 and frozen["mean"] == 1.25 and sum(frozen["hist_counts"]) == 2


def history(accuracies: list[float], seconds: float = 2.0) -> list[dict]:
    return [
        {"epoch": e, "test_accuracy": a, "epoch_seconds": 0.0 if e == 0 else seconds}
        for e, a in enumerate(accuracies)
    ]


def test_summarize_latency_best_and_convergence():
    summary = summarize(history([0.1, 0.5, 0.9, 0.95, 0.8]), 10, 0.95, 0.05)
    # final 0.8 -> target 0.76 -> first reached at epoch 2, after 2 training epochs of 2 s
    assert summary["final_test_accuracy"] == 0.8
    assert (summary["best_test_accuracy"], summary["best_epoch"]) == (0.95, 3)
    assert (summary["latency_epoch"], summary["latency_seconds"]) == (2, 4.0)
    assert summary["converged"] is True


def test_summarize_marks_chance_level_as_non_convergent():
    # 20 classes: chance 0.05; best 0.09 <= 0.05 + 0.05 -> the paper's "does not converge"
    assert summarize(history([0.05, 0.09, 0.06]), 20, 0.95, 0.05)["converged"] is False
    assert summarize(history([0.05, 0.11, 0.06]), 20, 0.95, 0.05)["converged"] is True
    with pytest.raises(ValueError, match="at least epoch 0"):
        summarize([], 20, 0.95, 0.05)
