r"""`EventBatch`: a batch of binned spikes as the events themselves, never a dense tensor.

Why: an N-MNIST batch is 300 bins x 32 samples x 2,312 inputs = 22 million floats (89 MB),
of which ~150,000 hold a spike. Building it dense, then scanning it back for the non-zeros
in the first layer, costs more than the layer's own arithmetic. An `EventBatch` holds the
flat positions of the spikes in the `[T, B, *frame]` tensor, sorted and unique; the first
block of a network multiplies weight rows at exactly those positions
(`rouser.kernels.event_product.event_linear`), on the CPU and on a GPU.

Example::

    >>> import torch
    >>> from rouser.events import EventBatch
    >>> batch = EventBatch.from_positions(torch.tensor([7, 0, 7]), (2, 1, 4))
    >>> batch.index.tolist(), batch.n_events
    ([0, 7], 2)
    >>> batch.dense()[:, 0].tolist()
    [[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
    >>> EventBatch.from_dense(batch.dense()).index.tolist()
    [0, 7]
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch


@dataclasses.dataclass(frozen=True)
class EventBatch:
    """Spikes of a `[T, B, *frame_shape]` batch as sorted, unique flat positions.

    Position `p` is the spike at step `p // (B * F)`, sample `(p // F) % B`, input `p % F`
    (F = the product of `frame_shape`), i.e. the row `p // F` of the `[T * B, F]` matrix the
    first layer multiplies, at column `p % F`. A spike is a 1; several events in one bin are
    one spike, as in lava-dl's NMNIST input.
    """

    index: torch.Tensor  # int64 [n_events], strictly increasing
    shape: tuple[int, ...]  # (T, B, *frame_shape)

    @classmethod
    def from_positions(cls, positions: torch.Tensor, shape: tuple[int, ...]) -> EventBatch:
        """Sort and deduplicate flat positions (in any order, repeats allowed) into a batch."""
        shape = tuple(int(size) for size in shape)
        if len(shape) < 3 or min(shape) < 1:
            raise ValueError(f"shape={list(shape)} must be [T, B, *frame_shape], all >= 1")
        positions = positions.to(torch.int64).reshape(-1)
        if positions.numel() and (positions.min() < 0 or positions.max() >= math.prod(shape)):
            raise ValueError(f"event positions must lie in [0, {math.prod(shape)}) for {shape}")
        return cls(torch.unique(positions, sorted=True), shape)

    @classmethod
    def from_dense(cls, spikes: torch.Tensor) -> EventBatch:
        """The non-zero bins of a `[T, B, *frame_shape]` tensor (the inverse of `dense`)."""
        return cls.from_positions(spikes.reshape(-1).nonzero()[:, 0], tuple(spikes.shape))

    @property
    def time_bins(self) -> int:
        """T."""
        return self.shape[0]

    @property
    def batch_size(self) -> int:
        """B."""
        return self.shape[1]

    @property
    def n_features(self) -> int:
        """Inputs per step and sample: what the first layer reads."""
        return math.prod(self.shape[2:])

    @property
    def n_events(self) -> int:
        """Spikes in the batch."""
        return self.index.numel()

    @property
    def device(self) -> torch.device:
        """Where the positions live."""
        return self.index.device

    def to(self, device: str | torch.device, non_blocking: bool = False) -> EventBatch:
        """The same batch on `device` (only the positions move)."""
        return EventBatch(self.index.to(device, non_blocking=non_blocking), self.shape)

    def rows_and_columns(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(row `t * B + b`, column = input) of every spike: its place in the `[T*B, F]` matrix."""
        return self.index // self.n_features, self.index % self.n_features

    def dense(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The batch as a 0/1 tensor `[T, B, *frame_shape]` (for peers, plots, inspection)."""
        size = math.prod(self.shape)
        if self.device.type == "cpu" and dtype == torch.float32:
            # np.zeros gets pages the OS zeroes lazily (calloc): half the time of torch.zeros
            # for an N-MNIST batch (measured 50 vs 99 ms, including one read of the batch).
            flat = torch.from_numpy(np.zeros(size, np.float32))
        else:
            flat = torch.zeros(size, dtype=dtype, device=self.device)
        flat[self.index] = 1
        return flat.view(self.shape)
