"""N-MNIST: tonic's reader with sample ids, truncation checks, and lava-dl's augmentation.

Real files are `NMNIST/Train/<digit>/<id>.bin` (5 bytes per event), where `<id>` is the MNIST
sample index: subsets take the lowest ids, so NMNIST-1k (the `cpu` profile) is ids
00001-01000.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import tonic
import torch
from torch.utils.data import get_worker_info

from rouser.data.binning import SparseSample
from rouser.data.cpu_batches import shift_rotate_sample
from rouser.data.errors import CorruptRecordingError
from rouser.data.readers import OfflineFirst

EVENT_BYTES = 5  # x, y, polarity bit + 23-bit microsecond timestamp


class NMNIST(OfflineFirst, tonic.datasets.NMNIST):
    """tonic's N-MNIST reader that also loads a partial folder offline (see `OfflineFirst`)."""

    display_name = "N-MNIST"
    layout = (
        "NMNIST/Train/<digit>/<id>.bin and NMNIST/Test/<digit>/<id>.bin, each recording in "
        "the 5-byte N-MNIST event format (x, y, polarity, 23-bit microsecond timestamp)"
    )
    source = (
        "https://www.garrickorchard.com/datasets/n-mnist (Mendeley Data doi:10.17632/468j46mzdv.1, "
        "train.zip and test.zip; tonic.datasets.NMNIST downloads them)"
    )
    suffix = ".bin"
    spatial_dims = 2
    placement = r"[0-9]/[^/]+"  # <digit>/<id>.bin: tonic reads the label from the folder

    @classmethod
    def split_path(cls, location: Path, train: bool) -> Path:
        """`Train/` or `Test/` under `NMNIST/`."""
        return location / (cls.train_folder if train else cls.test_folder)

    def sample_key(self, index: int) -> int:
        """The MNIST sample id in the file name."""
        stem = Path(self.data[index]).stem
        if not stem.isdigit():
            raise CorruptRecordingError(
                self.data[index], "file name is not an N-MNIST sample id (expected NNNNN.bin)"
            )
        return int(stem)

    def check_file(self, index: int) -> None:
        """tonic splits the bytes into 5 columns; a truncated file would misalign them."""
        super().check_file(index)
        path = self.recording_path(index)
        size = path.stat().st_size
        if size % EVENT_BYTES:
            raise CorruptRecordingError(
                path,
                f"{size} bytes is not a whole number of {EVENT_BYTES}-byte events: the file is "
                "truncated or not an N-MNIST recording",
            )


@dataclasses.dataclass
class ShiftRotate:
    """Training augmentation of lava-dl's NMNIST tutorial, on a cached binned sample.

    Every sample gets a random integer shift of at most `max_shift` pixels in x and y and a
    rotation of at most `max_degrees` about the sensor centre; pixels leaving the sensor are
    dropped. lava-dl applies this to events before binning (its code draws shifts in [-4, 3]
    and angles within +-5 degrees about pixel (0, 0)); binning does not move events, so
    transforming the binned positions is the same map, and it lets the cache keep the
    un-augmented sample. tonic has no rigid shift/rotation transform, hence this class.

    Random numbers: in the main process a generator seeded with `seed`; in a DataLoader worker
    one seeded with the worker's seed, which the DataLoader derives from its own seeded
    generator, so augmented epochs are reproducible for a fixed `num_workers`.
    """

    frame_shape: tuple[int, int, int]  # (P, H, W)
    seed: int
    max_shift: int = 4
    max_degrees: float = 10.0
    lava_dl: bool = False  # lava-dl's tutorial map instead (see `ranges`, `shift_rotate`)
    _rng: np.random.Generator | None = dataclasses.field(default=None, init=False, repr=False)
    _rng_owner: int | None = dataclasses.field(default=None, init=False, repr=False)

    def generator(self) -> np.random.Generator:
        """This process's generator (see the class docstring)."""
        info = get_worker_info()
        owner = None if info is None else info.seed
        if self._rng is None or owner != self._rng_owner:
            self._rng = np.random.default_rng(self.seed if info is None else info.seed)
            self._rng_owner = owner
        return self._rng

    def state_dict(self) -> dict:
        """The main-process generator's state: a resumed run continues the same draws."""
        return {"rng": None if self._rng is None else self._rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        """Continue from `state_dict()` (main process; workers reseed from the loader)."""
        self._rng, self._rng_owner = None, None
        if state["rng"] is not None:
            self._rng = np.random.default_rng(self.seed)
            self._rng.bit_generator.state = state["rng"]

    def ranges(self) -> tuple[int, int, float]:
        """(lowest shift, highest shift, largest rotation in degrees) of one draw.

        lava-dl's tutorial draws ``randint(2 * 4) - 4`` (so [-4, 3]) and
        ``(rand() - 0.5) * 10`` degrees (so +-5); ours is symmetric: [-4, 4] and +-10.
        """
        if self.lava_dl:
            return -self.max_shift, self.max_shift - 1, self.max_degrees / 2
        return -self.max_shift, self.max_shift, self.max_degrees

    def __call__(self, sample: SparseSample) -> SparseSample:
        """A shifted and rotated copy of `sample` (same time bins and polarities)."""
        rng = self.generator()
        low, high, degrees = self.ranges()
        dx, dy = rng.integers(low, high + 1, size=2)
        angle = math.radians(rng.uniform(-degrees, degrees))
        # `shift_rotate`'s map, compiled for one sample (same positions, bit for bit)
        moved, keep = shift_rotate_sample(
            sample.index,
            *self.frame_shape,
            float(dx),
            float(dy),
            math.cos(angle),
            math.sin(angle),
            self.lava_dl,
        )
        return SparseSample(moved[keep].astype(sample.index.dtype), sample.count[keep])


def shift_rotate(
    index: torch.Tensor,
    frame_shape: tuple[int, int, int],
    dx: torch.Tensor,
    dy: torch.Tensor,
    cos: torch.Tensor,
    sin: torch.Tensor,
    lava_dl: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(moved positions, kept) for positions `t * F + (p * H + y) * W + x` of one sample or many.

    Each pixel is rotated about the sensor centre by the angle of (`cos`, `sin`), shifted by
    (`dx`, `dy`) pixels and rounded to the nearest pixel (half to even); `kept` is False where
    it left the sensor. The parameters are float64 tensors of one value, or one per position
    (a batch of samples, each with its own draw): `ShiftRotate` on the CPU and the
    device-resident loader share this one map.

    `lava_dl` applies the map of lava-dl's NMNIST tutorial as written: rotation about pixel
    (0, 0), and the new y computed from the already rotated and shifted x
    (``event.x = x cos - y sin + dx; event.y = event.x sin + y cos + dy``), then rounded
    half to even as its ``fill_tensor`` does.
    """
    polarities, height, width = frame_shape
    plane = height * width
    step, feature = index // (polarities * plane), index % (polarities * plane)
    polarity, pixel = feature // plane, feature % plane
    y, x = (pixel // width).to(torch.float64), (pixel % width).to(torch.float64)
    if lava_dl:
        moved_x = cos * x - sin * y + dx
        new_x, new_y = torch.round(moved_x), torch.round(sin * moved_x + cos * y + dy)
    else:
        cx, cy = (width - 1) / 2, (height - 1) / 2
        new_x = torch.round(cos * (x - cx) - sin * (y - cy) + cx + dx)
        new_y = torch.round(sin * (x - cx) + cos * (y - cy) + cy + dy)
    new_x, new_y = new_x.to(torch.int64), new_y.to(torch.int64)
    kept = (new_x >= 0) & (new_x < width) & (new_y >= 0) & (new_y < height)
    moved = step * (polarities * plane) + polarity * plane + new_y * width + new_x
    return moved, kept
