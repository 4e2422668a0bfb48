"""The CPU loader's numba passes make the batches the torch reference makes, bit for bit:
the augmentation (`shift_rotate`) per sample and the collation (`EventBatch.from_positions`)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rouser.data.binning import SparseSample, SpikeCollate, batch_positions
from rouser.data.cpu_batches import collate_positions, shift_rotate_sample
from rouser.data.nmnist import shift_rotate
from rouser.events import EventBatch

FRAME = (2, 34, 34)
FEATURES = math.prod(FRAME)


def sample_positions(generator: np.random.Generator, steps: int = 300) -> np.ndarray:
    """A binned sample's positions: sorted, unique, int32 like the N-MNIST cache."""
    count = int(generator.integers(0, 3000))
    return np.unique(generator.integers(0, steps * FEATURES, count)).astype(np.int32)


@pytest.mark.parametrize("lava_dl", [False, True])
def test_shift_rotate_sample_is_the_torch_map(lava_dl: bool) -> None:
    """Quarter turns (where one of cos and sin is 0 up to rounding) and random angles, with
    random shifts in the augmentation's range; pixels that leave the sensor included."""
    generator = np.random.default_rng(3)
    angles = [0.0, 90.0, 180.0, -90.0, *generator.uniform(-10, 10, 20)]
    for degrees in angles:
        index = sample_positions(generator)
        dx, dy = (float(v) for v in generator.integers(-4, 5, 2))
        cos, sin = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
        scalars = [torch.tensor(v, dtype=torch.float64) for v in (dx, dy, cos, sin)]
        expected, expected_kept = shift_rotate(
            torch.from_numpy(index.astype(np.int64)), FRAME, *scalars, lava_dl=lava_dl
        )
        moved, kept = shift_rotate_sample(index, *FRAME, dx, dy, cos, sin, lava_dl)
        assert np.array_equal(kept, expected_kept.numpy()), degrees
        assert np.array_equal(moved[kept], expected.numpy()[kept]), degrees


def torch_collate(samples: list[np.ndarray], steps: int) -> torch.Tensor:
    """The reference: every position placed in the batch, then ``torch.unique``."""
    index = torch.from_numpy(np.concatenate(samples).astype(np.int64))
    which = torch.repeat_interleave(
        torch.arange(len(samples)), torch.tensor([len(s) for s in samples])
    )
    positions = batch_positions(index, which, len(samples), FEATURES)
    return EventBatch.from_positions(positions, (steps, len(samples), *FRAME)).index


def offsets_of(samples: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(([0], np.cumsum([len(s) for s in samples]))).astype(np.int64)


def test_collate_positions_is_sorted_unique_like_torch() -> None:
    """Augmented samples: ordered by step, in any order within a step, with repeats (two
    pixels rotated onto one), and empty samples."""
    generator = np.random.default_rng(4)
    for _ in range(5):
        samples = []
        for _ in range(16):
            index = sample_positions(generator).astype(np.int64)
            steps, features = index // FEATURES, index % FEATURES
            features = (features + generator.integers(0, 3, len(index))) % FEATURES  # repeats
            samples.append(steps * FEATURES + features)
        samples[3] = samples[3][:0]
        merged, error = collate_positions(
            np.concatenate(samples), offsets_of(samples), 300, FEATURES
        )
        expected = torch_collate(samples, 300).numpy()
        assert error == 0 and np.array_equal(merged, expected)
        assert len(expected) < sum(len(s) for s in samples)  # the repeats were there


def test_collate_positions_refuses_what_it_cannot_merge() -> None:
    """Out-of-range positions (error 1) and steps that decrease within a sample (error 2):
    `SpikeCollate` then goes the torch way, which raises or sorts."""
    inside = np.array([5, 3], dtype=np.int64)  # steps 0 and 0
    assert collate_positions(inside, np.array([0, 2]), 2, FEATURES)[1] == 0
    outside = np.array([2 * FEATURES], dtype=np.int64)
    assert collate_positions(outside, np.array([0, 1]), 2, FEATURES)[1] == 1
    backwards = np.array([FEATURES + 1, 2], dtype=np.int64)  # step 1, then step 0
    assert collate_positions(backwards, np.array([0, 2]), 2, FEATURES)[1] == 2
    samples = [backwards, inside]
    collate = SpikeCollate(2, FRAME)
    events, _ = collate([(SparseSample(s, np.ones(len(s))), 0) for s in samples])
    assert torch.equal(events.index, torch_collate(samples, 2))
    with pytest.raises(ValueError, match="must lie in"):
        collate([(SparseSample(outside, np.ones(1)), 0)])
