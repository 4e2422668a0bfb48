"""Data loading on the 1,000 real N-MNIST recordings: cold vs cached, and tonic's cache.

Measures, for the `cpu` profile (NMNIST-1k: 900 train + 100 held out, 300 bins of 1 ms,
augmented training batches of 32):

* cold `make_loaders`: list the files, read every recording through tonic, bin, write cache;
* cached `make_loaders`: the same call once the cache exists;
* epoch time with a no-op model (every train and test batch produced, moved to the device and
  dropped) and samples/s, for each `--workers` count;
* one augmented training batch from its 32 cached samples, interleaved batch by batch:
  rouser's numba passes (`rouser.data.cpu_batches`) against the torch reference they replaced
  (`shift_rotate` per sample, then ``torch.unique``: the loader until then), same draws,
  batches checked equal;
* with `--compare-tonic`: tonic's `DiskCachedDataset` holding `ToFrame` frames, the library's
  own answer to the same job (cold fill, cached epoch, size on disk).

    python benchmarks/bench_data.py [--data-root ../shared/data] [--workers 0 2]
                                    [--epochs 2] [--device cpu] [--batches 30]
                                    [--compare-tonic]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from tonic import DiskCachedDataset
from tonic.transforms import ToFrame
from torch import Tensor
from torch.utils.data import DataLoader

from rouser import paths
from rouser.config import resolve_run
from rouser.data import make_loaders
from rouser.data.binning import SparseSample, SpikeCollate, batch_positions
from rouser.data.cpu_batches import shift_rotate_sample
from rouser.data.nmnist import NMNIST, shift_rotate
from rouser.events import EventBatch


def folder_bytes(folder: Path) -> int:
    """Total size of the files under `folder`."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def timed_make(run, root: Path, cache: Path, workers: int) -> tuple[float, tuple]:
    """Seconds for one `make_loaders` call, and its result."""
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the hold-out warning, expected here
        result = make_loaders(run, root, cache_dir=cache, num_workers=workers, progress=False)
    return time.perf_counter() - start, result


def epoch_seconds(loaders: tuple[DataLoader, DataLoader], device: torch.device) -> float:
    """One pass over train and test with a model that does nothing with the batches."""
    start = time.perf_counter()
    for loader in loaders:
        for spikes, labels in loader:
            spikes.to(device, non_blocking=True), labels.to(device, non_blocking=True)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def torch_reference_batch(
    samples: list[SparseSample], draws: np.ndarray, time_bins: int, frame_shape
) -> Tensor:
    """The batch's positions as the loader made them before its numba passes: the torch
    map per sample (`shift_rotate`), then every position placed and ``torch.unique``."""
    moved = []
    for sample, (dx, dy, angle) in zip(samples, draws, strict=True):
        values = (dx, dy, math.cos(angle), math.sin(angle))
        scalars = [torch.tensor(float(v), dtype=torch.float64) for v in values]
        index = torch.from_numpy(sample.index.astype(np.int64))
        positions, kept = shift_rotate(index, frame_shape, *scalars)
        moved.append(positions[kept])
    lengths = torch.tensor([len(m) for m in moved])
    which = torch.repeat_interleave(torch.arange(len(moved)), lengths)
    positions = batch_positions(torch.cat(moved), which, len(moved), math.prod(frame_shape))
    return EventBatch.from_positions(positions, (time_bins, len(moved), *frame_shape)).index


def numba_batch(
    samples: list[SparseSample], draws: np.ndarray, time_bins: int, frame_shape
) -> Tensor:
    """The same batch the loader's way: `ShiftRotate`'s map per sample (`rouser.data.
    cpu_batches`), then `SpikeCollate` itself."""
    moved = []
    for sample, (dx, dy, angle) in zip(samples, draws, strict=True):
        args = (dx, dy, math.cos(angle), math.sin(angle), False)
        positions, kept = shift_rotate_sample(sample.index, *frame_shape, *args)
        moved.append((SparseSample(positions[kept], sample.count[kept]), 0))
    events, _ = SpikeCollate(time_bins, frame_shape)(moved)
    return events.index


def batch_making(
    cached, time_bins: int, frame_shape, batch_size: int, batches: int
) -> dict[str, float]:
    """Median ms per augmented batch of each way, interleaved; the batches must be equal."""
    generator = np.random.default_rng(0)
    times: dict[str, list[float]] = {"torch reference": [], "numba": []}
    for number in range(batches + 1):
        chosen = generator.choice(len(cached), batch_size, replace=False)
        samples = [cached[int(i)][0] for i in chosen]
        draws = np.column_stack((
            generator.integers(-4, 5, (batch_size, 2)),
            np.radians(generator.uniform(-10, 10, batch_size)),
        ))  # fmt: skip
        made = {}
        for name, make in (("torch reference", torch_reference_batch), ("numba", numba_batch)):
            start = time.perf_counter()
            made[name] = make(samples, draws, time_bins, frame_shape)
            if number:  # the first round compiles and warms up
                times[name].append(time.perf_counter() - start)
        if not torch.equal(made["torch reference"], made["numba"]):
            raise SystemExit("the numba batch differs from the torch reference's")
    return {name: 1e3 * float(np.median(values)) for name, values in times.items()}


def tonic_disk_cache(root: Path, cache: Path, batch_size: int) -> dict[str, float]:
    """tonic's DiskCachedDataset of dense ToFrame frames: fill, then one cached epoch."""
    frames = ToFrame(
        sensor_size=NMNIST.sensor_size, time_window=1000, start_time=0, end_time=300_000
    )
    reader = NMNIST(root, train=True)
    reader.transform = frames
    dataset = DiskCachedDataset(reader, cache_path=str(cache))
    results = {}
    for label in ("fill", "epoch"):
        start = time.perf_counter()
        loader = DataLoader(dataset, batch_size=batch_size, collate_fn=stack_time_first)
        n = sum(len(labels) for _, labels in loader)
        results[label] = time.perf_counter() - start
    results["n"] = n
    results["bytes"] = folder_bytes(cache)
    return results


def stack_time_first(batch: list) -> tuple[torch.Tensor, torch.Tensor]:
    """Dense frames [T, P, H, W] per sample -> float 0/1 [T, B, P, H, W], as rouser's batches."""
    spikes = torch.stack([torch.from_numpy(np.asarray(f) > 0) for f, _ in batch], dim=1)
    return spikes.float(), torch.tensor([int(label) for _, label in batch])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=paths.data_root())
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batches", type=int, default=30, help="batches timed per way")
    parser.add_argument("--compare-tonic", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if not (args.data_root / "NMNIST" / "Train").is_dir():
        raise SystemExit(f"no real N-MNIST recordings at {args.data_root / 'NMNIST' / 'Train'}")
    run = resolve_run("nmnist", "rouser", "cpu")
    raw = folder_bytes(args.data_root / "NMNIST" / "Train")

    with tempfile.TemporaryDirectory() as scratch:
        cache = Path(scratch) / "cache"
        cold, (_, _, info) = timed_make(run, args.data_root, cache, 0)
        warm, _ = timed_make(run, args.data_root, cache, 0)
        n = info["n_train"] + info["n_test"]
        print(f"NMNIST-1k real: {info['n_train']} train + {info['n_test']} held out, "
              f"T={run.time_bins} x {run.bin_us} us, batch {run.batch_size}, augment={run.augment}")  # fmt: skip
        print(f"raw recordings on disk          {raw / 1e6:8.1f} MB")
        print(f"make_loaders cold (read+bin)    {cold:8.2f} s   ({n / cold:7.0f} recordings/s)")
        print(f"make_loaders cached             {warm:8.2f} s")
        print(f"cache on disk                   {folder_bytes(cache) / 1e6:8.1f} MB")
        dense = n * run.time_bins * 2 * 34 * 34 * 4
        print(f"  (dense float32 would be       {dense / 1e9:8.2f} GB)")
        for workers in args.workers:
            _, loaders = timed_make(run, args.data_root, cache, workers)
            times = [epoch_seconds(loaders[:2], device) for _ in range(args.epochs)]
            best = min(times)
            print(f"epoch, no-op model, workers={workers}  {best:6.2f} s   ({n / best:7.0f} samples/s, "
                  f"{best / (len(loaders[0]) + len(loaders[1])) * 1e3:5.1f} ms/batch; "
                  f"all epochs {', '.join(f'{t:.2f}' for t in times)} s)")  # fmt: skip
        unaugmented = resolve_run("nmnist", "rouser", "cpu", augment=False)
        _, (train, _, _) = timed_make(unaugmented, args.data_root, cache, 0)
        frame_shape = train.collate.frame_shape
        made = batch_making(train.dataset, run.time_bins, frame_shape, run.batch_size, args.batches)
        ratio = made["torch reference"] / made["numba"]
        print(f"one augmented batch of {run.batch_size} (median of {args.batches}, interleaved, "
              f"equal batches): torch reference {made['torch reference']:.1f} ms, "
              f"numba {made['numba']:.1f} ms ({ratio:.1f}x)")  # fmt: skip
        if args.compare_tonic:
            result = tonic_disk_cache(args.data_root, Path(scratch) / "tonic", run.batch_size)
            print(f"tonic DiskCachedDataset, {result['n']} samples, dense ToFrame frames (lzf):")
            print(f"  fill (read+bin+write)         {result['fill']:8.2f} s")
            print(f"  cached epoch                  {result['epoch']:8.2f} s   "
                  f"({result['n'] / result['epoch']:7.0f} samples/s)")  # fmt: skip
            print(f"  cache on disk                 {result['bytes'] / 1e6:8.1f} MB")


if __name__ == "__main__":
    main()
