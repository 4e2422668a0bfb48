"""On-disk cache of binned samples: one folder per (recordings, binning), memory-mapped.

Why not tonic's `DiskCachedDataset` (measured by `benchmarks/bench_data.py --compare-tonic`
on the 1,000 real N-MNIST recordings, 2 shared cores, no-op model): it writes one HDF5 file
per sample keyed by the sample's position only (a changed bin width or subset silently
reuses stale files), writes in place (a crash leaves a truncated file), and holding the dense
`ToFrame` frames it needed 36.1 MB and 14.8 s per cached epoch (67 samples/s: one HDF5 open
and lzf decode per sample), against 20.6 MB and 1.4-2 s for this cache. Here a cache folder
holds the sparse positions and counts of every selected sample in two flat files plus
offsets, named by a hash of everything that changes them, written under a temporary name
and renamed; reading a sample is a slice of a memory map, so epochs after binning never
touch the raw events.

A cache is proven before it is used (`BinnedCache`): the files' lengths agree with each other
and with `meta.json`, the labels are the recordings' own, and each file's SHA-256 (stored in
`meta.json` when the cache is built) matches. Hashing the 20.6 MB NMNIST-1k cache takes
~60 ms on one core, against 1.4-2 s per cached epoch, so every open verifies it in full.
A cache that fails is moved aside and rebuilt (`load_or_build`), or named in the error where
it cannot be; it is never trained on. Caches built before checksums existed pass the other
checks, then get their checksums written once (trust on first use: damage done before then
is found only by deleting the cache, which rebuilds it).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import tonic
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm  # text bars: tqdm.auto leaves empty widgets under papermill (train.py)

from rouser.atomic import (
    AtomicWriteError,
    atomic_folder,
    atomic_write,
    named_write_errors,
    temporary_name,
)
from rouser.data.binning import Binning, SparseSample
from rouser.data.errors import CacheNotWritableError, CorruptCacheError, CorruptRecordingError
from rouser.data.readers import Recordings

CACHE_FORMAT = 1  # bump when the binning or the file layout changes


def cache_key(recordings: Recordings, binning: Binning, source: str) -> str:
    """Hash of everything a binned sample depends on."""
    payload = {
        "format": CACHE_FORMAT,
        "tonic": tonic.__version__,
        "source": source,
        "recordings": recordings.fingerprint(),
        "binning": [
            list(binning.sensor_size),
            binning.time_bins,
            binning.bin_us,
            binning.spatial_dims,
            list(binning.native_size),
        ],
    }
    if binning.lava_dl:  # only then: caches binned before the option existed keep their keys
        payload["binning"].append("lava-dl")
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]


CACHE_FILES = ("index.bin", "count.bin", "offsets.npy", "labels.npy")


def file_checksums(folder: Path) -> dict[str, str]:
    """SHA-256 of each data file of a cache folder (everything but `meta.json`)."""
    checksums = {}
    for name in CACHE_FILES:
        with (folder / name).open("rb") as handle:
            checksums[name] = hashlib.file_digest(handle, "sha256").hexdigest()
    return checksums


class BinnedCache:
    """Read-only view of one cache folder; memory maps are opened lazily in each process.

    Opening checks the folder (module docstring) and raises `CorruptCacheError` naming it
    and the fault; `labels`, where given, are the recordings' labels the cache must hold.
    """

    def __init__(self, folder: Path, labels: np.ndarray | None = None) -> None:
        self.folder = Path(folder)
        try:
            self.meta = json.loads((self.folder / "meta.json").read_text())
            self.offsets = np.load(self.folder / "offsets.npy")
            self.labels = np.load(self.folder / "labels.npy")
            self._check(labels)
        except (OSError, ValueError, EOFError, KeyError) as error:  # missing, truncated files
            if isinstance(error, CorruptCacheError):
                raise
            raise CorruptCacheError(self.folder, f"cannot be read ({error!r})") from error
        self._arrays: tuple[np.ndarray, np.ndarray] | None = None

    def _entries(self, name: str) -> int:
        """Entries in `<name>.bin`, or a CorruptCacheError if it is not whole ones."""
        size = (self.folder / f"{name}.bin").stat().st_size
        itemsize = np.dtype(self.meta[f"{name}_dtype"]).itemsize
        if size % itemsize:
            raise CorruptCacheError(self.folder, f"{name}.bin holds a partial entry")
        return size // itemsize

    def _check(self, labels: np.ndarray | None) -> None:
        """Lengths agree, labels are the recordings', and the files' checksums match."""
        n = len(self.meta.get("samples", ()))
        offsets = self.offsets
        problems = []
        if self.meta.get("format") != CACHE_FORMAT:
            problems.append(f"format {self.meta.get('format')!r}, not {CACHE_FORMAT}")
        if len(self.labels) != n or len(offsets) != n + 1:
            problems.append(f"{len(self.labels)} labels and {len(offsets)} offsets for {n} samples")
        elif offsets[0] != 0 or np.any(np.diff(offsets) < 0):
            problems.append("offsets that do not start at 0 and increase")
        else:
            entries = {name: self._entries(name) for name in ("index", "count")}
            if set(entries.values()) != {int(offsets[-1])}:
                problems.append(f"{entries} entries where the offsets end at {offsets[-1]}")
        if labels is not None and not np.array_equal(self.labels, labels):
            problems.append("labels that are not the recordings' labels")
        if problems:
            raise CorruptCacheError(self.folder, "; ".join(problems))
        checksums = file_checksums(self.folder)
        if "sha256" not in self.meta:  # built before checksums existed: adopted (docstring)
            self.meta["sha256"] = checksums
            meta = json.dumps(self.meta).encode()
            # a read-only cache stays without them; it passed every other check
            with contextlib.suppress(AtomicWriteError):
                atomic_write(self.folder / "meta.json", lambda handle: handle.write(meta))
        differ = sorted(
            name for name in CACHE_FILES if checksums[name] != self.meta["sha256"][name]
        )
        if differ:
            raise CorruptCacheError(self.folder, f"{differ} do not match their checksums")

    def __len__(self) -> int:
        return len(self.labels)

    def __getstate__(self) -> dict[str, Any]:
        """Workers started by spawn reopen the maps instead of receiving copies."""
        return self.__dict__ | {"_arrays": None}

    def _open(self) -> tuple[np.ndarray, np.ndarray]:
        if self._arrays is None:
            arrays = []
            for name in ("index", "count"):
                dtype = np.dtype(self.meta[f"{name}_dtype"])
                path = self.folder / f"{name}.bin"
                # np.memmap refuses empty files (a cache of samples without events)
                size = path.stat().st_size
                arrays.append(np.memmap(path, dtype, mode="r") if size else np.empty(0, dtype))
            self._arrays = (arrays[0], arrays[1])
        return self._arrays

    def sample(self, position: int) -> SparseSample:
        """The `position`-th cached sample (copies, so callers may modify them)."""
        index, count = self._open()
        start, stop = self.offsets[position], self.offsets[position + 1]
        return SparseSample(np.array(index[start:stop]), np.array(count[start:stop]))

    @property
    def size_bytes(self) -> int:
        """Disk space of the folder."""
        return sum(path.stat().st_size for path in self.folder.iterdir())


class _BinnedRecordings(Dataset):
    """Recordings -> binned samples, for a DataLoader that spreads binning over workers.

    A corrupt file is returned, not raised, so it reaches the caller as the same clear error
    rather than as a DataLoader worker traceback.
    """

    def __init__(self, recordings: Recordings, binning: Binning) -> None:
        self.recordings = recordings
        self.binning = binning

    def __len__(self) -> int:
        return len(self.recordings)

    def __getitem__(self, position: int) -> SparseSample | CorruptRecordingError:
        try:
            return self.binning(self.recordings.events(position))
        except CorruptRecordingError as err:
            return err


def _as_is(item: Any) -> Any:
    """Collate function that passes a sample through (a picklable `lambda x: x`)."""
    return item


def load_or_build(
    recordings: Recordings,
    binning: Binning,
    cache_dir: Path,
    name: str,
    source: str,
    num_workers: int = 0,
    progress: bool = True,
) -> BinnedCache:
    """The cache of these recordings under this binning: read if present, else built once.

    A cache folder that cannot be written is a `CacheNotWritableError` saying how to move it.
    """
    key = cache_key(recordings, binning, source)
    folder = Path(cache_dir) / f"{name}-{len(recordings)}-{key}"
    labels = np.asarray(recordings.labels)
    if (folder / "meta.json").is_file():
        try:
            return BinnedCache(folder, labels)
        except CorruptCacheError as corrupt:
            _move_aside(folder, corrupt)
    try:
        _build(folder, key, recordings, binning, name, source, num_workers, progress)
    except AtomicWriteError as err:
        raise CacheNotWritableError(folder, err.reason) from err
    return BinnedCache(folder, labels)


def _move_aside(folder: Path, corrupt: CorruptCacheError) -> None:
    """Rename a corrupt cache to a temporary name (removed by `remove_stale_temporaries`
    once this process ends), so it is rebuilt; where that is impossible, raise `corrupt`.

    A rename, not a deletion: a process that has the old files mapped keeps reading them.
    """
    try:
        os.rename(folder, temporary_name(folder))
    except FileNotFoundError:
        pass  # another process moved it first
    except OSError as error:
        raise corrupt from error


def _build(
    folder: Path,
    key: str,
    recordings: Recordings,
    binning: Binning,
    name: str,
    source: str,
    num_workers: int,
    progress: bool,
) -> None:
    """Bin every recording and write the cache folder atomically."""
    samples = DataLoader(
        _BinnedRecordings(recordings, binning),
        batch_size=None,
        num_workers=num_workers,
        collate_fn=_as_is,
    )
    offsets = np.zeros(len(recordings) + 1, dtype=np.int64)
    # Counts saturate at 255: the spikes are count > 0, and one byte keeps the cache at 5 bytes
    # per (bin, pixel) entry, the size of one raw N-MNIST event.
    count_dtype = np.dtype(np.uint8)
    with atomic_folder(folder) as temporary, named_write_errors(folder):
        with (
            (temporary / "index.bin").open("wb") as index_file,
            (temporary / "count.bin").open("wb") as count_file,
        ):
            bar = tqdm(samples, total=len(recordings), desc=f"binning {name}", disable=not progress)
            for position, sample in enumerate(bar):
                if isinstance(sample, CorruptRecordingError):
                    raise sample
                index_file.write(sample.index.astype(binning.index_dtype).tobytes())
                count_file.write(np.minimum(sample.count, 255).astype(count_dtype).tobytes())
                offsets[position + 1] = offsets[position] + len(sample.index)
        np.save(temporary / "offsets.npy", offsets)
        np.save(temporary / "labels.npy", recordings.labels)
        meta = {
            "key": key,
            "format": CACHE_FORMAT,
            "name": name,
            "source": source,
            "samples": recordings.names,
            "index_dtype": binning.index_dtype.str,
            "count_dtype": count_dtype.str,
            "time_bins": binning.time_bins,
            "bin_us": binning.bin_us,
            "frame_shape": list(binning.frame_shape),
            "sha256": file_checksums(temporary),
        }
        (temporary / "meta.json").write_text(json.dumps(meta))


class CachedSpikes(Dataset):
    """Samples of a cache (a subset by position), optionally transformed after the cache.

    Items are (SparseSample, label); `binning.SpikeCollate` turns a list of them into a
    `[T, B, ...]` batch. Transforms (augmentation) run here, so the cache stays un-augmented.
    """

    def __init__(
        self,
        cache: BinnedCache,
        positions: np.ndarray | None = None,
        transform: Callable[[SparseSample], SparseSample] | None = None,
    ) -> None:
        self.cache = cache
        self.positions = np.arange(len(cache)) if positions is None else np.asarray(positions)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.positions)

    @property
    def labels(self) -> np.ndarray:
        """Labels of this subset, in order."""
        return self.cache.labels[self.positions]

    def state_dict(self) -> dict:
        """The transform's random state, if it has one (checkpoints resume augmentation)."""
        stateful = callable(getattr(self.transform, "state_dict", None))
        return {"transform": self.transform.state_dict() if stateful else None}

    def load_state_dict(self, state: dict) -> None:
        """Restore what `state_dict()` returned."""
        if state["transform"] is not None:
            self.transform.load_state_dict(state["transform"])

    def __getitem__(self, item: int) -> tuple[SparseSample, int]:
        position = int(self.positions[item])
        sample = self.cache.sample(position)
        if self.transform is not None:
            sample = self.transform(sample)
        return sample, int(self.cache.labels[position])
