"""Event-native input: `EventBatch`, the first layer's events-only product, and the
device-resident loader (run here on the CPU, the code a GPU runs)."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
import torch

import rouser.events
from rouser.config import resolve_run
from rouser.data import make_loaders
from rouser.data.nmnist import ShiftRotate, shift_rotate
from rouser.data.resident import ResidentSpikeLoader, ResidentSpikes
from rouser.events import EventBatch
from rouser.kernels.event_product import event_linear, sparse_input_linear
from rouser.network import SpikingMLP


def random_events(shape=(7, 3, 2, 5, 4), density=0.08, seed=0) -> EventBatch:
    generator = torch.Generator().manual_seed(seed)
    dense = torch.rand(shape, generator=generator) < density
    return EventBatch.from_dense(dense)


def test_docstring_example_runs():
    assert doctest.testmod(rouser.events, raise_on_error=True).attempted > 0


def test_from_positions_sorts_deduplicates_and_checks():
    batch = EventBatch.from_positions(torch.tensor([9, 2, 9, 0]), (2, 1, 5))
    assert batch.index.tolist() == [0, 2, 9] and batch.n_events == 3
    rows, columns = batch.rows_and_columns()
    assert rows.tolist() == [0, 0, 1] and columns.tolist() == [0, 2, 4]
    with pytest.raises(ValueError, match=r"must lie in \[0, 10\)"):
        EventBatch.from_positions(torch.tensor([10]), (2, 1, 5))
    with pytest.raises(ValueError, match="must be \\[T, B, \\*frame_shape\\]"):
        EventBatch.from_positions(torch.tensor([0]), (2, 5))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("kernel", ["numba", "torch"])
def test_event_linear_equals_the_dense_product_and_its_weight_gradient(kernel, dtype):
    events = random_events()
    weight = torch.randn(6, events.n_features, dtype=dtype, requires_grad=True)
    upstream = torch.randn(7, 3, 6, dtype=dtype)
    (event_linear(events, weight, kernel) * upstream).sum().backward()
    ours, weight.grad = weight.grad, None
    dense = events.dense(dtype).reshape(7, 3, -1)
    expected = dense @ weight.t()
    (expected * upstream).sum().backward()
    tolerance = 1e-12 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(
        event_linear(events, weight, kernel), expected, rtol=tolerance, atol=tolerance
    )
    torch.testing.assert_close(ours, weight.grad, rtol=tolerance, atol=tolerance)


def test_event_and_dense_inputs_train_bit_identically_on_the_cpu():
    """The records were trained from dense batches: the events path must not change a bit."""
    events = random_events(shape=(20, 4, 2, 6, 6), density=0.05)
    grads = []
    for inputs in (events, events.dense()):
        torch.manual_seed(0)
        model = SpikingMLP([72, 16, 5], threshold=0.3)
        output = model(inputs)
        output.square().sum().backward()
        grads.append((output, [p.grad.clone() for p in model.parameters()]))
    (out_events, grad_events), (out_dense, grad_dense) = grads
    assert out_events.sum() > 0 and torch.equal(out_events, out_dense)
    assert all(torch.equal(a, b) for a, b in zip(grad_events, grad_dense, strict=True))


def test_sparse_input_linear_keeps_non_binary_values():
    x = torch.zeros(3, 4, dtype=torch.float64)
    x[0, 1], x[2, 3] = 0.5, -2.0
    weight = torch.randn(2, 4, dtype=torch.float64)
    torch.testing.assert_close(sparse_input_linear(x, weight), x @ weight.t())


def test_event_linear_refuses_mismatched_inputs():
    events = random_events()
    with pytest.raises(ValueError, match="takes 3 inputs, the events have 40"):
        event_linear(events, torch.zeros(2, 3))
    with pytest.raises(ValueError, match="events on cpu, weight on meta"):
        event_linear(events, torch.zeros(2, 40, device="meta"))
    with pytest.raises(ValueError, match="kernel='fast' must be"):
        event_linear(events, torch.zeros(2, 40), "fast")
    with pytest.raises(ValueError, match="SpikingMLP expects 12 input features per step, got 40"):
        SpikingMLP([12, 3])(events)


@pytest.mark.parametrize("lava_dl", [False, True])
def test_batched_shift_rotate_is_the_per_sample_map(lava_dl):
    """The resident loader maps a whole batch with per-position parameters; each sample must
    come out as `ShiftRotate`'s one-sample map with the same draw."""
    frame = (2, 34, 34)
    generator = np.random.default_rng(5)
    samples = [np.unique(generator.integers(0, 10 * 2312, 300)) for _ in range(4)]
    params = [(3.0, -4.0, 0.1), (0.0, 2.0, -0.17), (-1.0, 0.0, 0.0), (4.0, 4.0, 0.05)]
    index = torch.from_numpy(np.concatenate(samples))
    which = torch.repeat_interleave(torch.arange(4), torch.tensor([len(s) for s in samples]))
    table = torch.tensor(params, dtype=torch.float64)
    moved, kept = shift_rotate(
        index, frame, table[which, 0], table[which, 1],
        torch.cos(table[which, 2]), torch.sin(table[which, 2]), lava_dl=lava_dl,
    )  # fmt: skip
    for b, (sample, (dx, dy, angle)) in enumerate(zip(samples, params, strict=True)):
        scalar = [torch.tensor(v, dtype=torch.float64) for v in (dx, dy)]
        trig = [torch.tensor(f(angle), dtype=torch.float64) for f in (math.cos, math.sin)]
        one, one_kept = shift_rotate(
            torch.from_numpy(sample), frame, *scalar, *trig, lava_dl=lava_dl
        )
        assert torch.equal(moved[which == b][kept[which == b]], one[one_kept])


@pytest.fixture
def nmnist_sets(synthetic_root):
    """A smoke N-MNIST run (augmented) with its worker loaders."""
    run = resolve_run("nmnist", "rouser", "smoke", train_subset=24, test_subset=10, batch_size=8)
    return run, make_loaders(run, synthetic_root, progress=False)


def test_resident_batches_equal_the_collated_samples(nmnist_sets):
    run, (_, test, _) = nmnist_sets
    held = ResidentSpikes(
        test.dataset, run.time_bins, test.collate.frame_shape, torch.device("cpu")
    )
    chosen = [7, 0, 3]
    events, labels = held.batch(torch.tensor(chosen))
    expected, expected_labels = test.collate([test.dataset[i] for i in chosen])
    assert events.shape == expected.shape and torch.equal(events.index, expected.index)
    assert torch.equal(labels, expected_labels)


def test_resident_augmentation_moves_pixels_rigidly(nmnist_sets):
    run, (train, _, _) = nmnist_sets
    frame = train.collate.frame_shape
    transform = train.dataset.transform
    identity = ShiftRotate(frame, seed=1, max_shift=0, max_degrees=0.0)
    plain = ResidentSpikes(train.dataset, run.time_bins, frame, torch.device("cpu"))
    still = ResidentSpikes(train.dataset, run.time_bins, frame, torch.device("cpu"), identity)
    moved = ResidentSpikes(train.dataset, run.time_bins, frame, torch.device("cpu"), transform)
    chosen = torch.arange(8)
    original = plain.batch(chosen)[0]
    assert torch.equal(still.batch(chosen)[0].index, original.index)
    augmented = moved.batch(chosen)[0]
    assert not torch.equal(augmented.index, original.index)
    # time bins and per-step polarity counts can only lose events that left the sensor
    dense_before, dense_after = original.dense(), augmented.dense()
    assert torch.all(dense_after.sum((2, 3, 4)) <= dense_before.sum((2, 3, 4)))
    assert dense_after.sum() > 0.5 * dense_before.sum()


def test_resident_loader_order_is_seeded_complete_and_resumable(nmnist_sets):
    run, (train, _, _) = nmnist_sets
    frame = train.collate.frame_shape

    def loader(seed):
        held = ResidentSpikes(
            train.dataset, run.time_bins, frame, torch.device("cpu"), train.dataset.transform
        )
        return ResidentSpikeLoader(held, 8, True, torch.Generator().manual_seed(seed))

    first, again = loader(0), loader(0)
    batches = [(e.index, y) for e, y in first]
    assert len(first) == len(batches) == 3
    assert sorted(torch.cat([y for _, y in batches]).tolist()) == sorted(
        train.dataset.labels.tolist()
    )
    assert all(
        torch.equal(a, c) and torch.equal(b, d)
        for (a, b), (c, d) in zip(batches, [(e.index, y) for e, y in again], strict=True)
    )
    state = (first.generator.get_state(), first.dataset.state_dict())
    following = [e.index for e, _ in first]
    resumed = loader(0)
    resumed.generator.set_state(state[0])
    resumed.dataset.load_state_dict(state[1])
    assert all(
        torch.equal(a, b) for a, b in zip(following, [e.index for e, _ in resumed], strict=True)
    )
    other = [e.index for e, _ in loader(1)]
    assert not all(torch.equal(a, b) for a, b in zip(following, other, strict=True))


def test_make_loaders_serves_resident_batches_when_asked(nmnist_sets, synthetic_root):
    run, (_, test, info) = nmnist_sets
    train_r, test_r, info_r = make_loaders(run, synthetic_root, resident=True, progress=False)
    assert isinstance(train_r, ResidentSpikeLoader) and info_r == info
    for (a, y), (b, z) in zip(test, test_r, strict=True):
        assert torch.equal(a.index, b.index) and torch.equal(y, z)
    with pytest.raises(ValueError, match="num_workers=2 with device-resident batches"):
        make_loaders(run, synthetic_root, resident=True, num_workers=2, progress=False)
    with pytest.raises(ValueError, match="needs a seeded generator"):
        ResidentSpikeLoader(test_r.dataset, 4, shuffle=True)


def test_lava_dl_map_is_its_tutorials_formula():
    """lava-dl: x' = x cos - y sin + dx, then y' = x' sin + y cos + dy (the rotated x), about
    pixel (0, 0), rounded half to even; pixels leaving the sensor are dropped."""
    frame, angle, dx, dy = (2, 34, 34), 0.08, 3.0, -2.0
    t, p, y, x = np.meshgrid(
        np.arange(2), np.arange(2), np.arange(34), np.arange(34), indexing="ij"
    )
    index = torch.from_numpy((((t * 2 + p) * 34 + y) * 34 + x).reshape(-1))
    parameters = [
        torch.tensor(v, dtype=torch.float64) for v in (dx, dy, math.cos(angle), math.sin(angle))
    ]
    moved, kept = shift_rotate(index, frame, *parameters, lava_dl=True)
    new_x = x * math.cos(angle) - y * math.sin(angle) + dx
    new_y = new_x * math.sin(angle) + y * math.cos(angle) + dy
    new_x, new_y = np.round(new_x).astype(int).reshape(-1), np.round(new_y).astype(int).reshape(-1)
    inside = (new_x >= 0) & (new_x < 34) & (new_y >= 0) & (new_y < 34)
    assert np.array_equal(kept.numpy(), inside)
    expected = (((t * 2 + p).reshape(-1) * 34 + new_y) * 34 + new_x)[inside]
    assert np.array_equal(moved[kept].numpy(), expected)
    plain, _ = shift_rotate(index, frame, *parameters)
    assert not torch.equal(plain, moved)  # rouser's map rotates about the centre


def test_lava_dl_draws_are_its_ranges(synthetic_root):
    transform = ShiftRotate((2, 34, 34), seed=0, lava_dl=True)
    assert transform.ranges() == (-4, 3, 5.0)
    assert ShiftRotate((2, 34, 34), seed=0).ranges() == (-4, 4, 10.0)
    run = resolve_run("nmnist", "rouser", "smoke", lava_dl_augment=True)
    train, _, _ = make_loaders(run, synthetic_root, progress=False)
    assert train.dataset.transform.lava_dl
    plain = resolve_run("nmnist", "rouser", "smoke", augment=False, lava_dl_augment=True)
    with pytest.raises(ValueError, match="lava_dl_augment=True chooses how augment=True"):
        make_loaders(plain, synthetic_root, progress=False)
