r"""The CPU loader's two per-batch passes as numba loops: the augmentation and the collation.

Why: on the CPU a training step waits for its batch, and the loader made each one with a few
dozen small torch operations per sample: an augmented N-MNIST batch of 32 took 14.7 ms, a
sixth of a fast step, and 3.0 ms with these loops (AMD EPYC, `benchmarks/bench_data.py`,
which checks the batches equal). They make the same batches, bit for bit.

* `shift_rotate_sample` is `rouser.data.nmnist.shift_rotate` for one sample: the same
  float64 operations in the same order (no fused multiply-adds: numba contracts none without
  ``fastmath``) and the same rounding (half to even), so every position lands where the torch
  map puts it. The torch map stays the reference and the device-resident loader's map.
* `collate_positions` is what `EventBatch.from_positions` makes of the samples' positions
  (``torch.unique`` of ``t * B * F + b * F + f``): sorted, each position once. Within a
  sample the positions arrive ordered by time step (binning sorts them, and the augmentation
  moves an event within its step only), so the batch is a merge: for each step, each
  sample's events of that step, sorted (a handful: ~14 per step for N-MNIST) and deduplicated.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def shift_rotate_sample(
    index, polarities, height, width, dx, dy, cos, sin, lava_dl
):  # pragma: no cover - compiled
    """(moved positions, kept) of one sample's positions `t * F + (p * H + y) * W + x`;
    `dx`, `dy`, `cos`, `sin` are floats (the sample's draw). See `shift_rotate`."""
    plane = height * width
    frame = polarities * plane
    cx, cy = (width - 1) / 2, (height - 1) / 2
    moved = np.empty(index.shape[0], np.int64)
    kept = np.empty(index.shape[0], np.bool_)
    for k in range(index.shape[0]):
        position = np.int64(index[k])
        step = position // frame  # one division each; the remainders by multiplication
        feature = position - step * frame
        polarity = feature // plane
        pixel = feature - polarity * plane
        row = pixel // width
        y, x = np.float64(row), np.float64(pixel - row * width)
        if lava_dl:
            moved_x = cos * x - sin * y + dx
            new_x, new_y = np.rint(moved_x), np.rint(sin * moved_x + cos * y + dy)
        else:
            new_x = np.rint(cos * (x - cx) - sin * (y - cy) + cx + dx)
            new_y = np.rint(sin * (x - cx) + cos * (y - cy) + cy + dy)
        ix, iy = np.int64(new_x), np.int64(new_y)
        kept[k] = ix >= 0 and ix < width and iy >= 0 and iy < height
        moved[k] = step * frame + polarity * plane + iy * width + ix
    return moved, kept


@numba.njit(cache=True)
def collate_positions(index, offsets, time_bins, n_features):  # pragma: no cover - compiled
    """Sorted unique positions ``t * B * F + b * F + f`` of samples whose positions
    ``t * F + f`` are ``index[offsets[b]:offsets[b + 1]]``, each ordered by step.

    Returns (positions, error): error 0, or 1 where a position lies outside
    ``[0, time_bins * n_features)``, 2 where a sample's steps decrease (the caller's
    fallback sorts those)."""
    n_batch = offsets.shape[0] - 1
    out = np.empty(index.shape[0], np.int64)
    if index.shape[0] and (index.min() < 0 or index.max() >= time_bins * n_features):
        return out[:0], 1
    steps = index // n_features
    cursor = offsets[:-1].copy()
    written = 0
    for t in range(time_bins):
        for b in range(n_batch):
            start = cursor[b]
            end = start
            while end < offsets[b + 1] and steps[end] == t:
                end += 1
            cursor[b] = end
            # the step's positions in the batch, insertion-sorted in place, then deduplicated
            base = (t * n_batch + b) * n_features
            first = written
            for k in range(start, end):
                value = base + index[k] - steps[k] * n_features
                slot = written
                while slot > first and out[slot - 1] > value:
                    slot -= 1
                if slot > first and out[slot - 1] == value:  # two events moved onto one pixel
                    continue
                for move in range(written, slot, -1):
                    out[move] = out[move - 1]
                out[slot] = value
                written += 1
    if np.any(cursor != offsets[1:]):  # a sample's steps decreased somewhere: not merged
        return out[:0], 2
    return out[:written], 0
