"""Hidden spikes read as events (`fast_step`): the same spikes and, to float32 rounding, the
same gradients as the dense product; dense batches keep the dense product; the setting
reaches the network and leaves every committed run's id alone."""

from __future__ import annotations

import pytest
import torch
from products import assert_float32_close, product_and_gradients
from torch.nn import functional
from toy_task import DATASET, killed_after_checkpoint, toy_loaders, toy_settings

import rouser.kernels.event_product as sparse_input
from rouser.config import resolve_run
from rouser.data import binning_for
from rouser.data.binning import SpikeCollate
from rouser.data.nmnist import NMNIST
from rouser.data.readers import Recordings, open_split
from rouser.events import EventBatch
from rouser.kernels.event_product import spike_linear
from rouser.loss import spike_rate_loss
from rouser.network import HIDDEN_EVENTS_BELOW, HIDDEN_EVENTS_MIN_OUTPUTS, build_network
from rouser.runs.records import read_record, record_path
from rouser.runs.train import TIMING_KEYS, build_model, train


def spikes_and_weight(density: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Hidden spikes [30, 4, 50] (an empty step, a dropout-scaled spike), weights, dL/dy."""
    generator = torch.Generator().manual_seed(0)
    x = (torch.rand(30, 4, 50, generator=generator) < density).float()
    x[3] = 0.0
    x[5, 1, 7] = 1.0 / 0.95  # dropout rescales the spikes it keeps
    weight = torch.randn(20, 50, generator=generator)
    return x, weight, torch.randn(30, 4, 20, generator=generator)


def test_sparse_spikes_take_the_event_product_with_dense_input_gradient() -> None:
    x, weight, grad_out = spikes_and_weight(0.03)
    out = spike_linear(x.requires_grad_(), weight.requires_grad_(), max_density=0.05)
    assert type(out.grad_fn).__name__ == "ViewBackward0"  # of the event product's output
    assert "NumbaCsrLinear" in type(out.grad_fn.next_functions[0][0]).__name__
    events = product_and_gradients(lambda a, w: spike_linear(a, w, 0.05), x, weight, grad_out)
    dense = product_and_gradients(functional.linear, x, weight, grad_out)
    # the sums run in another order: float32 rounding, relative ~1e-7
    torch.testing.assert_close(events[0], dense[0], rtol=1e-6, atol=1e-6)
    assert torch.equal(events[1], dense[1])  # the same dense product dL/dy @ W
    torch.testing.assert_close(events[2], dense[2], rtol=1e-6, atol=1e-6)


def test_dense_spikes_keep_the_dense_product_bit_for_bit() -> None:
    x, weight, grad_out = spikes_and_weight(0.3)
    events = product_and_gradients(lambda a, w: spike_linear(a, w, 0.05), x, weight, grad_out)
    dense = product_and_gradients(functional.linear, x, weight, grad_out)
    for mine, theirs in zip(events, dense, strict=True):
        assert torch.equal(mine, theirs)


def test_event_product_is_the_same_at_any_thread_count() -> None:
    x, weight, grad_out = spikes_and_weight(0.03)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        two = product_and_gradients(lambda a, w: spike_linear(a, w, 0.05), x, weight, grad_out)
    finally:
        torch.set_num_threads(before)
    one = product_and_gradients(lambda a, w: spike_linear(a, w, 0.05), x, weight, grad_out)
    for a, b in zip(one, two, strict=True):
        assert torch.equal(a, b)


def test_fast_step_reaches_the_hidden_blocks_and_keeps_committed_run_ids() -> None:
    default = resolve_run("nmnist", "rouser", "cpu")
    assert resolve_run("nmnist", "rouser", "cpu", fast_step=False).run_id == default.run_id
    assert "fast_step" not in default.to_dict()
    fast = resolve_run("nmnist", "rouser", "cpu", fast_step=True)
    assert fast.run_id != default.run_id
    assert [block.hidden_events for block in build_model(default).blocks] == [False] * 3
    assert [block.hidden_events for block in build_model(fast).blocks] == [False, True, False]


def test_only_wide_hidden_blocks_read_events() -> None:
    wide, narrow = HIDDEN_EVENTS_MIN_OUTPUTS, HIDDEN_EVENTS_MIN_OUTPUTS - 1
    model = build_network((10,), (wide, wide, narrow), 3, hidden_events=True)
    assert [block.hidden_events for block in model.blocks] == [False, True, False, False]


def spikes_and_gradients(model: torch.nn.Module, x: EventBatch, labels: torch.Tensor):
    model.zero_grad(set_to_none=True)
    layers = model.forward_layers(x)
    spike_rate_loss(layers[-1], labels).backward()
    return layers, {name: p.grad for name, p in model.named_parameters()}


def compare_paths(sizes: tuple[int, ...], x: EventBatch, labels: torch.Tensor, threshold: float):
    """Every layer's spikes and every gradient of one network: dense, hidden events
    (`fast_step`), and hidden events with the dense products by oneDNN (`onednn_products`)."""
    results = []
    for hidden_events, onednn in ((False, False), (True, False), (True, True)):
        torch.manual_seed(0)
        model = build_network(
            sizes[:1], sizes[1:-1], sizes[-1], threshold=threshold, onednn_products=onednn
        )
        for block in model.blocks[1:]:
            block.hidden_events = hidden_events
        results.append(spikes_and_gradients(model, x, labels))
    (dense_layers, dense_grads), *others = results
    for event_layers, event_grads in others:
        for dense, events in zip(dense_layers, event_layers, strict=True):
            assert torch.equal(dense, events)
        assert_float32_close((event_grads[n] for n in dense_grads), dense_grads.values())
    return dense_layers


def test_network_spikes_equal_and_gradients_agree_on_sparse_synthetic_spikes() -> None:
    generator = torch.Generator().manual_seed(2)
    x = EventBatch.from_dense((torch.rand(40, 3, 64, generator=generator) < 0.05).float())
    labels = torch.tensor([0, 3, 1])
    layers = compare_paths((64, 48, 48, 4), x, labels, threshold=1.0)
    # the event path was taken by both hidden blocks, on some spikes
    assert all(0 < layer.mean() < HIDDEN_EVENTS_BELOW for layer in layers[:2])


def test_network_spikes_equal_and_gradients_agree_on_real_recordings(shared_data) -> None:
    """Eight real N-MNIST recordings (300 bins) through the paper's network."""
    run = resolve_run("nmnist", "rouser", "cpu")
    recordings = Recordings.first(open_split(NMNIST, shared_data, True, False), 8)
    binning = binning_for(run)
    batch = [(binning(recordings.events(i)), recordings.labels[i]) for i in range(8)]
    x, labels = SpikeCollate(run.time_bins, binning.frame_shape)(batch)
    sizes = (x.n_features, *run.hidden, run.n_classes)
    layers = compare_paths(sizes, x, labels, threshold=run.threshold)
    assert all(0 < layer.mean() < HIDDEN_EVENTS_BELOW for layer in layers[:2])


@pytest.mark.parametrize("onednn_products", [False, True])
def test_a_fast_step_run_resumes_to_the_history_of_an_uninterrupted_one(
    tmp_path, monkeypatch, onednn_products: bool
):
    """Hidden events and fused Adam (its state in the checkpoint), and the products by oneDNN
    where asked, repeat bit for bit."""
    settings = toy_settings(
        epochs=2, hidden=[200, 200], fast_step=True, onednn_products=onednn_products
    )
    run = resolve_run(DATASET, "rouser", "smoke", **settings)
    assert build_model(run).blocks[1].hidden_events
    taken = []  # batches whose hidden spikes went through the event product
    real_csr = sparse_input._dense_csr
    monkeypatch.setattr(sparse_input, "_dense_csr", lambda *a: taken.append(1) or real_csr(*a))
    whole = train(run, tmp_path / "whole", "cpu", loaders=toy_loaders(), progress=False)
    assert taken
    assert whole["config"]["fast_step"] is True
    with killed_after_checkpoint(monkeypatch, 1):
        train(run, tmp_path / "cut", "cpu", loaders=toy_loaders(), progress=False)
    resumed = train(run, tmp_path / "cut", "cpu", loaders=toy_loaders(), progress=False)
    assert resumed == read_record(record_path(run, tmp_path / "cut"))

    def untimed(history: list[dict]) -> list[dict]:
        return [{k: v for k, v in entry.items() if k not in TIMING_KEYS} for entry in history]

    assert untimed(resumed["history"]) == untimed(whole["history"])
