"""The binned cache is proven before it is used: a damaged one is rebuilt, or named where it
cannot be, and never trained on.

Each variant once trained silently: labels zeroed (the run "finished" at test accuracy 1.0),
`index.bin` emptied ("finished, converged" with no input), in-range bit flips (other
numbers under the same run id and data fingerprint), truncated files (an IndexError).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from rouser.config import resolve_run
from rouser.data import make_loaders
from rouser.data.binning import Binning
from rouser.data.cache import BinnedCache, file_checksums
from rouser.data.errors import CorruptCacheError


def _loaders(root: Path, cache: Path) -> tuple:
    run = resolve_run("shd", "rouser", "smoke")
    return make_loaders(run, root, progress=False, cache_dir=cache)


@pytest.fixture
def cache(synthetic_root: Path, tmp_path: Path) -> Path:
    """A freshly built cache folder of the smoke SHD training set (its own cache dir)."""
    _, _, info = _loaders(synthetic_root, tmp_path / "cache")
    return Path(info["cache"]["train"])


def _zero_labels(folder: Path) -> None:
    np.save(folder / "labels.npy", np.zeros_like(np.load(folder / "labels.npy")))


def _empty_index(folder: Path) -> None:
    (folder / "index.bin").write_bytes(b"")


def _flip_a_count(folder: Path) -> None:
    data = bytearray((folder / "count.bin").read_bytes())
    data[len(data) // 2] ^= 0x02  # a count that stays a valid count
    (folder / "count.bin").write_bytes(bytes(data))


def _truncate(name: str) -> Callable[[Path], None]:
    def truncate(folder: Path) -> None:
        data = (folder / name).read_bytes()
        (folder / name).write_bytes(data[: len(data) // 2 + 1])

    return truncate


DAMAGE = {
    "labels zeroed": (_zero_labels, r"labels that are not the recordings'"),
    "index emptied": (_empty_index, r"entries where the offsets end at"),
    "count bit flip": (_flip_a_count, r"\['count\.bin'\] do not match their checksums"),
    "index truncated": (_truncate("index.bin"), r"index\.bin holds a partial entry|entries"),
    "offsets truncated": (_truncate("offsets.npy"), r"cannot be read"),
}


@pytest.mark.parametrize("name", DAMAGE)
def test_damaged_cache_is_named(cache: Path, name: str) -> None:
    damage, message = DAMAGE[name]
    labels = np.load(cache / "labels.npy")
    damage(cache)
    with pytest.raises(CorruptCacheError, match=message) as caught:
        BinnedCache(cache, labels)
    assert str(cache) in str(caught.value) and "Delete the folder" in str(caught.value)


@pytest.mark.parametrize("name", DAMAGE)
def test_damaged_cache_is_rebuilt_not_trained_on(
    synthetic_root: Path, cache: Path, name: str
) -> None:
    good = {path.name: path.read_bytes() for path in cache.iterdir()}
    DAMAGE[name][0](cache)
    train, _, info = _loaders(synthetic_root, cache.parent)
    assert Path(info["cache"]["train"]) == cache
    assert {path.name: path.read_bytes() for path in cache.iterdir()} == good
    labels = np.concatenate([batch[1].numpy() for batch in train])
    assert sorted(labels.tolist()) == sorted(np.load(cache / "labels.npy").tolist())


def test_cache_without_checksums_is_adopted_then_verified(cache: Path) -> None:
    """A cache built before checksums existed: checked, then its checksums written once."""
    meta = json.loads((cache / "meta.json").read_text())
    checksums = meta.pop("sha256")
    assert checksums == file_checksums(cache)
    (cache / "meta.json").write_text(json.dumps(meta))
    BinnedCache(cache)
    assert json.loads((cache / "meta.json").read_text())["sha256"] == checksums
    _flip_a_count(cache)
    with pytest.raises(CorruptCacheError, match="checksums"):
        BinnedCache(cache)


def test_binning_is_skipped_for_a_sound_cache(
    synthetic_root: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_binning(self, events):
        raise AssertionError("binned again although the cache is sound")

    monkeypatch.setattr(Binning, "__call__", no_binning)
    _loaders(synthetic_root, cache.parent)


# Building the cache in a process whose files may not grow past 4 KiB (EFBIG, as a full disk
# gives ENOSPC, through the same write calls; SIGXFSZ ignored as a full disk sends none).
FULL = """
import resource, signal, sys
from pathlib import Path
from rouser.config import resolve_run
from rouser.data import make_loaders
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 12, 1 << 12))
try:
    make_loaders(resolve_run("shd", "rouser", "smoke"), sys.argv[1], progress=False,
                 cache_dir=sys.argv[2])
except Exception as error:
    print(type(error).__name__, error)
"""


def test_full_disk_while_caching_names_the_cache_and_what_to_free(
    synthetic_root: Path, cache: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "full"
    done = subprocess.run(
        [sys.executable, "-c", FULL, str(synthetic_root), str(folder)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert done.stdout.startswith(f"CacheNotWritableError cannot write the binned cache {folder}")
    assert "no space left" in done.stdout and "free space" in done.stdout
    assert [path for path in folder.iterdir() if not path.name.startswith(".")] == []
