"""Events -> time-first spike batches: binning with tonic, a sparse sample, and batch collation.

Why sparse throughout: an N-MNIST sample is 300 bins x 2,312 pixels, of which ~0.5% hold an
event. Binned samples are cached and passed around as (flat position, event count) pairs,
and a batch is the positions of its spikes in `[T, B, ...]` order (`rouser.events.EventBatch`),
which the network's first layer reads directly: no dense input tensor is built to train or
evaluate (`EventBatch.dense()` makes one for peers and plots).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np
import torch
from tonic.transforms import Downsample, ToFrame
from torch.utils.data import DataLoader, Dataset

from rouser.data.cpu_batches import collate_positions
from rouser.events import EventBatch


class SparseSample(NamedTuple):
    """One binned sample: flat positions into its `[T, *frame_shape]` tensor, with counts."""

    index: np.ndarray  # integer positions t * n_features + feature, ascending after binning
    count: np.ndarray  # events that fell on each position (>= 1); the spike tensor is count > 0


@dataclasses.dataclass(frozen=True)
class Binning:
    """`time_bins` bins of `bin_us` microseconds from a sample's first event, per pixel/channel.

    Events after the window are dropped; inside it, tonic's `ToFrame` slices half-open
    intervals [t0 + k*bin_us, t0 + (k+1)*bin_us), so an event on a bin edge lands in exactly one
    bin. `ToFrame` costs ~4 ms per N-MNIST sample (measured; a hand-written bincount takes
    0.13 ms), which is paid once: binned samples are cached.

    `native_size` is the reader's sensor; when `sensor_size` is smaller, tonic's `Downsample`
    maps pixels onto it first (the paper's sizes equal the native ones).

    `lava_dl` bins as lava-dl's tutorial does instead (``slayer.io.Event.fill_tensor``): bin
    ``round(t / bin_us)`` from t = 0, ties to even, so the window starts at t = 0 rather
    than at the first event (N-MNIST: spikes 1-2 bins later for most events,
    `workflow/scripts/lava_dl_binning.py`).
    """

    sensor_size: tuple[int, int, int]  # (W, H, P) as tonic, (channels, 1, 1) for SHD
    time_bins: int
    bin_us: int
    spatial_dims: int  # 2: camera frames [P, H, W]; 1: cochlea channels [P, X]
    native_size: tuple[int, int, int]
    lava_dl: bool = False

    def __post_init__(self) -> None:
        if self.spatial_dims not in (1, 2):
            raise ValueError(f"spatial_dims={self.spatial_dims!r} must be 1 or 2")
        if self.sensor_size[2] != self.native_size[2]:
            raise ValueError(
                f"sensor_size={list(self.sensor_size)} must keep the sensor's "
                f"{self.native_size[2]} polarities (native size {list(self.native_size)})"
            )
        if any(s < 1 or s > n for s, n in zip(self.sensor_size, self.native_size, strict=True)):
            raise ValueError(
                f"sensor_size={list(self.sensor_size)} must lie between 1 and the native "
                f"sensor size {list(self.native_size)} in every dimension"
            )

    @property
    def frame_shape(self) -> tuple[int, ...]:
        """Per-step shape, tonic's order: (P, H, W) for cameras, (P, X) for SHD."""
        width, height, polarities = self.sensor_size
        return (polarities, height, width) if self.spatial_dims == 2 else (polarities, width)

    @property
    def n_features(self) -> int:
        """Inputs per time step (what the network's first layer sees)."""
        return math.prod(self.frame_shape)

    @property
    def window_us(self) -> int:
        """Length of the binned window in microseconds."""
        return self.time_bins * self.bin_us

    @property
    def index_dtype(self) -> np.dtype:
        """Smallest integer type that holds every flat position."""
        return np.dtype(np.int32 if self.time_bins * self.n_features < 2**31 else np.int64)

    def __call__(self, events: np.ndarray) -> SparseSample:
        """Bin one recording's structured events (tonic's dtype, `t` in microseconds)."""
        if len(events) == 0:
            # tonic's ToFrame returns a (T, P, W, H) float array for empty input, transposed
            # relative to its non-empty output: an empty sample is answered here instead.
            return SparseSample(np.empty(0, self.index_dtype), np.empty(0, np.uint16))
        if np.any(np.diff(events["t"]) < 0):  # ToFrame's slicing assumes time order
            events = events[np.argsort(events["t"], kind="stable")]
        if self.sensor_size != self.native_size:
            events = Downsample(sensor_size=self.native_size, target_size=self.sensor_size[:2])(
                events
            )
        if self.lava_dl:  # each event moved to the start of its rounded bin (order is kept)
            events = events.copy()
            events["t"] = np.round(events["t"] / self.bin_us).astype(np.int64) * self.bin_us
        start = 0 if self.lava_dl else int(events["t"][0])
        frames = ToFrame(
            sensor_size=self.sensor_size,
            time_window=self.bin_us,
            start_time=start,
            end_time=start + self.window_us,
        )(events)
        flat = frames.reshape(-1)
        index = np.flatnonzero(flat)
        return SparseSample(index.astype(self.index_dtype), flat[index].astype(np.uint16))


def to_dense(sample: SparseSample, binning: Binning) -> torch.Tensor:
    """One sample as a float 0/1 tensor `[T, *frame_shape]` (for plots and inspection)."""
    events, _ = SpikeCollate(binning.time_bins, binning.frame_shape)([(sample, 0)])
    return events.dense()[:, 0]


def batch_positions(
    index: torch.Tensor, sample: torch.Tensor, n_batch: int, n_features: int
) -> torch.Tensor:
    """Positions `t * F + f` within each sample -> positions in the `[T, B, F]` batch.

    `sample` is each position's sample number b in the batch (a tensor like `index`).
    """
    step, feature = index // n_features, index % n_features
    return step * (n_batch * n_features) + sample * n_features + feature


@dataclasses.dataclass(frozen=True)
class SpikeCollate:
    """A list of (SparseSample, label) -> (`EventBatch` [T, B, ...], labels [B]) on `device`.

    A position with several events is one spike, as lava-dl's NMNIST input; labels are
    int64. Only the positions are made and moved: on a GPU they are sorted there.
    """

    time_bins: int
    frame_shape: tuple[int, ...]
    device: str = "cpu"

    def __call__(self, batch: list[tuple[SparseSample, int]]) -> tuple[EventBatch, torch.Tensor]:
        """Concatenate every sample's positions, placed in one time-first batch."""
        device = torch.device(self.device)
        n_batch = len(batch)
        n_features = math.prod(self.frame_shape)
        shape = (self.time_bins, n_batch, *self.frame_shape)
        labels = torch.tensor([int(label) for _, label in batch], dtype=torch.int64, device=device)
        index = np.concatenate([np.asarray(sample.index, dtype=np.int64) for sample, _ in batch])
        lengths = np.array([len(sample.index) for sample, _ in batch], dtype=np.int64)
        if device.type == "cpu":
            offsets = np.concatenate(([0], np.cumsum(lengths)))
            merged, error = collate_positions(index, offsets, self.time_bins, n_features)
            if error == 0:
                return EventBatch(torch.from_numpy(merged), shape), labels
            # out-of-range positions: from_positions below says so; unordered steps: it sorts
        sample = torch.repeat_interleave(torch.arange(n_batch), torch.from_numpy(lengths))
        positions = batch_positions(torch.from_numpy(index), sample, n_batch, n_features)
        return EventBatch.from_positions(positions.to(device), shape), labels


class SpikeLoader(DataLoader):
    """A DataLoader whose workers only gather (and augment) sparse samples; each batch is
    collated in the consuming process, on `collate.device`.

    Why not collate in the workers: a CUDA tensor cannot be made in a worker, and the
    samples are what crosses the process boundary anyway (~1 MB per N-MNIST batch).
    """

    def __init__(self, dataset: Dataset, collate: SpikeCollate, **kwargs: Any) -> None:
        super().__init__(dataset, collate_fn=list, **kwargs)
        self.collate = collate

    def __iter__(self) -> Iterator[tuple[EventBatch, torch.Tensor]]:
        return map(self.collate, super().__iter__())
