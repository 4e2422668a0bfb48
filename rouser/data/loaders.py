"""`make_loaders`: a run's train and test loaders, and the facts about its data.

The one entry point the training code and the notebooks use. It finds the data (argument >
`ROUSER_DATA` > `<repo>/data`), writes synthetic data first when the run asks for it, reads
the recordings through tonic, bins and caches them once, and serves `[T, B, ...]` float 0/1
batches from the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from rouser import paths
from rouser.atomic import remove_stale_temporaries
from rouser.config import RunConfig
from rouser.data.binning import Binning, SpikeCollate, SpikeLoader
from rouser.data.cache import BinnedCache, CachedSpikes, load_or_build
from rouser.data.errors import CorruptRecordingError
from rouser.data.nmnist import ShiftRotate
from rouser.data.readers import OfflineFirst, Recordings, open_split
from rouser.data.resident import ResidentSpikeLoader, ResidentSpikes
from rouser.data.synthetic import SYNTHETIC_SEED, ensure_synthetic
from rouser.datasets import dataset_spec

AUGMENTED = ("nmnist",)  # lava-dl's shift/rotation; the paper augments no other dataset
HOLDOUT_FRACTION = 0.1
# Fixed, not the run's seed: every run (method, seed, threshold) is scored on the same samples.
HOLDOUT_SEED = 0
# What `make_loaders` returns for each split.
Loader = SpikeLoader | ResidentSpikeLoader


class Loaders(NamedTuple):
    """What `make_loaders` returns: the train and test loaders and the description of their
    data (`info`, JSON-able, written into run records)."""

    train: Loader
    test: Loader
    info: dict[str, Any]


# Synthetic sizes when a profile takes the whole dataset (train_subset/test_subset null).
SYNTHETIC_DEFAULT_SIZES = (512, 128)


def binning_for(run: RunConfig) -> Binning:
    """The run's binning on its dataset's sensor."""
    reader = dataset_spec(run.dataset).reader
    return Binning(
        sensor_size=tuple(run.sensor_size),
        time_bins=run.time_bins,
        bin_us=run.bin_us,
        spatial_dims=reader.spatial_dims,
        native_size=tuple(reader.sensor_size),
        lava_dl=run.lava_dl_bins,
    )


def _holdout(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(train positions, held-out positions): a seeded 10% (at least one) held out."""
    if n < 2:
        raise ValueError(f"cannot hold out a test set from {n} training recording(s); need >= 2")
    order = np.random.default_rng(HOLDOUT_SEED).permutation(n)
    n_held = max(1, round(HOLDOUT_FRACTION * n))
    return np.sort(order[n_held:]), np.sort(order[:n_held])


def _open_splits(
    reader_cls: type[OfflineFirst], save_to: Path, download: bool
) -> tuple[OfflineFirst, OfflineFirst | None]:
    """Train and test readers; no test reader when a local dataset lacks its test split.

    tonic downloads only a dataset whose training split is absent (then both splits), so a
    partial local copy never triggers a network attempt.
    """
    train_was_absent = not reader_cls.split_present(save_to, train=True)
    train = open_split(reader_cls, save_to, True, download)
    if reader_cls.split_present(save_to, train=False) or (download and train_was_absent):
        return train, open_split(reader_cls, save_to, False, download)
    return train, None


def fingerprint(
    sets: dict[str, CachedSpikes],
    recordings: dict[str, Recordings],
    class_counts: dict[str, list[int]],
) -> dict[str, Any]:
    """The identity of the data a run sees: recordings per split and class, and a digest.

    The digest is sha256 over the sorted `[split, name, size]` of every recording in each
    loader, where `name` is its path relative to the dataset folder (`Train/7/00030.bin`;
    SHD: `shd_train.h5[row]`). Sizes and names, not contents: cheap for 70,000 files, and
    any lost, added, moved or resized recording changes it; the data root does not.
    """
    entries = []
    for split, subset in sets.items():
        names, sizes = recordings[split].names, recordings[split].sizes()
        entries += [[split, names[p], sizes[p]] for p in subset.positions.tolist()]
    digest = hashlib.sha256(json.dumps(sorted(entries)).encode()).hexdigest()
    return {
        "recordings": {split: len(subset) for split, subset in sets.items()},
        "class_counts": class_counts,
        "sha256": digest,
    }


def _describe(
    run: RunConfig,
    root: Path,
    location: Path,
    binning: Binning,
    sets: dict[str, CachedSpikes],
    recordings: dict[str, Recordings],
) -> dict[str, Any]:
    """The JSON-able facts about the data that go into the run record."""
    holdout = sets["train"].cache is sets["test"].cache

    def class_counts(labels: np.ndarray) -> list[int]:
        if len(labels) and labels.max() >= run.n_classes:
            raise CorruptRecordingError(
                location,
                f"label {labels.max()} found, but {run.dataset} has {run.n_classes} classes",
            )
        return np.bincount(labels, minlength=run.n_classes).tolist()

    counts = {split: class_counts(subset.labels) for split, subset in sets.items()}
    return {
        "dataset": run.dataset,
        "source": "synthetic" if run.synthetic else "real",
        "root": str(root),
        "location": str(location),
        "n_train": len(sets["train"]),
        "n_test": len(sets["test"]),
        "test_split": "holdout" if holdout else "test",
        "time_bins": run.time_bins,
        "bin_us": run.bin_us,
        "sensor_size": list(binning.sensor_size),
        "frame_shape": list(binning.frame_shape),
        "augment": bool(run.augment),
        "train_subset": run.train_subset,
        "test_subset": run.test_subset,
        "train_class_counts": counts["train"],
        "test_class_counts": counts["test"],
        "holdout": {"fraction": HOLDOUT_FRACTION, "seed": HOLDOUT_SEED} if holdout else None,
        "synthetic_seed": SYNTHETIC_SEED if run.synthetic else None,
        "cache": {split: str(cached.cache.folder) for split, cached in sets.items()},
        "fingerprint": fingerprint(sets, recordings, counts),
    }


def make_loaders(
    run: RunConfig,
    data_root: str | os.PathLike | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    download: bool = True,
    num_workers: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = True,
    resident: bool | None = None,
) -> Loaders:
    """Train and test loaders of `run`'s dataset, and a JSON-able description of the data.

    Batches are `(spikes, labels)`: an `EventBatch` of shape `[run.time_bins, B, *frame_shape]`
    (the spikes' positions; `.dense()` gives the float 0/1 tensor) and int64 `[B]`. The train
    loader shuffles with a generator seeded by `run.seed` and applies N-MNIST's augmentation
    when `run.augment`; the test loader keeps sample order.

    A dataset without a test split (like the 1,000 real N-MNIST training recordings) loads
    without any download: a seeded 10% of the training recordings becomes the test set, with a
    warning and `"test_split": "holdout"` in the description. tonic downloads a dataset only
    when `download` and its training split is not on disk.

    `num_workers` > 0 bins (first use) and gathers samples in worker processes; batches are
    collated on `device` in the calling process (pass the training device). `resident`
    (default: when `device` is a GPU) instead moves each split's binned positions to
    `device` once and assembles every batch there (`rouser.data.resident`), with its own
    seeded order and augmentation draws. Binned samples are cached under `cache_dir` (argument
    > `$ROUSER_CACHE` > `<data root>/cache`); temporaries left there by killed processes are
    removed first.

    Every recording the layout holds is read, or an error names the one that cannot be
    (`UnreadableDataError`, `DatasetLayoutError`). The description's `fingerprint` identifies
    the recordings each loader serves (see `fingerprint`): equal fingerprints, same data.
    """
    dataset_spec(run.dataset)  # a known dataset, or a ValueError naming the known ones
    if run.augment and run.dataset not in AUGMENTED:
        raise ValueError(
            f"augment=True is only defined for {list(AUGMENTED)} (lava-dl's NMNIST shift and "
            f"rotation); set augment to false for dataset={run.dataset!r}"
        )
    if run.lava_dl_augment and not run.augment:
        raise ValueError(
            "lava_dl_augment=True chooses how augment=True augments; set augment to true too"
        )
    binning = binning_for(run)
    sets, info = _spike_sets(
        run, paths.data_root(data_root), binning, cache_dir, download, num_workers, progress
    )
    order = torch.Generator().manual_seed(run.seed)
    if resident is None:
        resident = torch.device(device).type != "cpu"
    if resident:
        if num_workers:
            raise ValueError(
                f"num_workers={num_workers} with device-resident batches: they are assembled "
                "on the device, with no worker; pass num_workers=0 or resident=False"
            )
        held = {
            split: ResidentSpikes(
                subset, binning.time_bins, binning.frame_shape, torch.device(device),
                subset.transform,
            )
            for split, subset in sets.items()
        }  # fmt: skip
        return Loaders(
            ResidentSpikeLoader(held["train"], run.batch_size, shuffle=True, generator=order),
            ResidentSpikeLoader(held["test"], run.batch_size, shuffle=False),
            info,
        )
    common = {
        "collate": SpikeCollate(binning.time_bins, binning.frame_shape, str(device)),
        "batch_size": run.batch_size,
        "num_workers": num_workers,
        "persistent_workers": num_workers > 0,
    }
    train_loader = SpikeLoader(sets["train"], shuffle=True, generator=order, **common)
    test_loader = SpikeLoader(sets["test"], shuffle=False, **common)
    return Loaders(train_loader, test_loader, info)


def _spike_sets(
    run: RunConfig,
    root: Path,
    binning: Binning,
    cache_dir: str | os.PathLike | None,
    download: bool,
    num_workers: int,
    progress: bool,
) -> tuple[dict[str, CachedSpikes], dict[str, Any]]:
    """The train and test sets of `run` (binned, cached) and the description of their data."""
    reader_cls = dataset_spec(run.dataset).reader
    source, save_to = "real", root
    if run.synthetic:
        source, download = "synthetic", False
        sizes = (run.train_subset or SYNTHETIC_DEFAULT_SIZES[0],
                 run.test_subset or SYNTHETIC_DEFAULT_SIZES[1])  # fmt: skip
        save_to = ensure_synthetic(
            run.dataset, root / "synthetic" / run.dataset, *sizes, progress=progress
        )
    train_reader, test_reader = _open_splits(reader_cls, save_to, download)
    caches = paths.cache_dir(root, cache_dir)
    remove_stale_temporaries(caches)
    recordings: dict[str, Recordings] = {}

    def cached(reader: OfflineFirst, limit: int | None, split: str) -> BinnedCache:
        recordings[split] = Recordings.first(reader, limit)
        if not len(recordings[split]):
            raise CorruptRecordingError(
                reader.expected_path(save_to, reader.train), "holds no recordings"
            )
        name = f"{run.dataset}-{source}-{split}"
        return load_or_build(
            recordings[split], binning, caches, name, source, num_workers, progress
        )

    transform = (
        ShiftRotate(binning.frame_shape, seed=run.seed, lava_dl=run.lava_dl_augment)
        if run.augment
        else None
    )
    train_cache = cached(train_reader, run.train_subset, "train")
    if test_reader is not None:
        train_set = CachedSpikes(train_cache, transform=transform)
        test_set = CachedSpikes(cached(test_reader, run.test_subset, "test"))
    else:
        recordings["test"] = recordings["train"]
        kept, held = _holdout(len(train_cache))
        train_set = CachedSpikes(train_cache, kept, transform)
        test_set = CachedSpikes(train_cache, held[: run.test_subset])
        warnings.warn(
            f"{reader_cls.display_name} has no test split at "
            f"{reader_cls.expected_path(save_to, train=False)}: testing on a seeded "
            f"{HOLDOUT_FRACTION:.0%} of the training recordings ({len(test_set)} held "
            "out, not trained on)",
            stacklevel=3,
        )
    location = Path(train_reader.location_on_system)
    sets = {"train": train_set, "test": test_set}
    return sets, _describe(run, root, location, binning, sets, recordings)
