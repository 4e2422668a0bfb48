"""Batches assembled on the training device from a binned dataset held there whole.

Why: on a GPU, a DataLoader's CPU workers gather samples, augment them and send them over the
bus for every batch; the GPU finishes an N-MNIST step faster than they do. Here the cache's
positions for every sample of a split (full N-MNIST training set: ~1.2 GB as int32) move to
the device once, and each batch is a gather, the augmentation (`shift_rotate`, the same map
the CPU path applies) and a sort, all on the device: no CPU work per batch beyond launching.

The batches are the same `EventBatch` as `SpikeLoader`'s. The data order comes from its own
seeded generator and the augmentation from a device generator, so a resident run sees other
(equally random) batches than a CPU run of the same seed; both are reproducible and both
resume exactly (the generators are checkpointed like a DataLoader's).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch

from rouser.data.binning import batch_positions
from rouser.data.cache import CachedSpikes
from rouser.data.nmnist import ShiftRotate, shift_rotate
from rouser.events import EventBatch


class ResidentSpikes:
    """The samples of a `CachedSpikes` subset, on `device`: positions, per-sample offsets and
    labels, and the augmentation's generator (`state_dict` checkpoints it)."""

    def __init__(
        self,
        cached: CachedSpikes,
        time_bins: int,
        frame_shape: tuple[int, ...],
        device: torch.device,
        augment: ShiftRotate | None = None,
    ) -> None:
        samples = [cached.cache.sample(int(position)) for position in cached.positions]
        lengths = np.array([len(sample.index) for sample in samples], dtype=np.int64)
        # kept in the cache's own integer type (int32 for N-MNIST): half of int64's memory
        index = np.concatenate([sample.index for sample in samples]) if samples else []
        self.index = torch.as_tensor(np.asarray(index), device=device)
        self.offsets = torch.as_tensor(np.concatenate(([0], np.cumsum(lengths))), device=device)
        self.labels = torch.as_tensor(cached.labels.astype(np.int64), device=device)
        self.time_bins, self.frame_shape, self.device = time_bins, tuple(frame_shape), device
        self.augment = augment
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(augment.seed if augment is not None else 0)

    def __len__(self) -> int:
        return len(self.labels)

    def state_dict(self) -> dict:
        """The augmentation generator's state (resumed runs continue its draws)."""
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        """Restore what `state_dict()` returned."""
        self.generator.set_state(state["generator"])

    def batch(self, chosen: torch.Tensor) -> tuple[EventBatch, torch.Tensor]:
        """The samples at positions `chosen` (a device tensor) as one batch, augmented when
        the split is."""
        starts, lengths = self.offsets[chosen], self.offsets[chosen + 1] - self.offsets[chosen]
        n_batch = len(chosen)
        sample = torch.repeat_interleave(torch.arange(n_batch, device=self.device), lengths)
        first = torch.repeat_interleave(lengths.cumsum(0) - lengths, lengths)
        within = torch.arange(len(sample), device=self.device) - first
        index = self.index[starts[sample] + within].to(torch.int64)
        if self.augment is not None:
            index, sample = self._augment(index, sample, n_batch)
        positions = batch_positions(index, sample, n_batch, math.prod(self.frame_shape))
        shape = (self.time_bins, n_batch, *self.frame_shape)
        return EventBatch.from_positions(positions, shape), self.labels[chosen]

    def _augment(
        self, index: torch.Tensor, sample: torch.Tensor, n_batch: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One shift and rotation per sample (`self.augment`'s ranges and map), drawn here."""
        low, high, degrees = self.augment.ranges()
        options = {"generator": self.generator, "device": self.device}
        shifts = torch.randint(low, high + 1, (n_batch, 2), **options).to(torch.float64)
        uniform = torch.rand(n_batch, dtype=torch.float64, **options)
        angle = torch.deg2rad((2 * uniform - 1) * degrees)
        moved, kept = shift_rotate(
            index,
            self.frame_shape,
            shifts[sample, 0],
            shifts[sample, 1],
            torch.cos(angle)[sample],
            torch.sin(angle)[sample],
            lava_dl=self.augment.lava_dl,
        )
        return moved[kept], sample[kept]


class ResidentSpikeLoader:
    """Iterates `(EventBatch, labels)` batches of a `ResidentSpikes`, in a seeded order.

    Mirrors what the rest of rouser reads of a DataLoader: `dataset` (with its state),
    `generator` (the data order; None without shuffling), `sampler` (None), `batch_size`,
    `len()`. Batches are not dropped: the last one may be smaller.
    """

    def __init__(
        self,
        dataset: ResidentSpikes,
        batch_size: int,
        shuffle: bool,
        generator: torch.Generator | None = None,
    ) -> None:
        if shuffle and generator is None:
            raise ValueError("a shuffled ResidentSpikeLoader needs a seeded generator")
        self.dataset, self.batch_size = dataset, batch_size
        self.generator = generator if shuffle else None
        self.sampler = None

    def __len__(self) -> int:
        return math.ceil(len(self.dataset) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[EventBatch, torch.Tensor]]:
        n = len(self.dataset)
        shuffled = self.generator is not None
        order = torch.randperm(n, generator=self.generator) if shuffled else torch.arange(n)
        order = order.to(self.dataset.device)
        for start in range(0, n, self.batch_size):
            yield self.dataset.batch(order[start : start + self.batch_size])
