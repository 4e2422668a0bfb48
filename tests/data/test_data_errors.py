"""Missing, empty, truncated, wrong-format, unreadable and misplaced data: one clear error each,
naming the path; and the data's identity (fingerprint)."""

from __future__ import annotations

import json
import os
import pickle
import shlex
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import h5py
import numpy as np
import pytest
import tonic

from rouser.config import resolve_run
from rouser.data import CorruptRecordingError, DatasetNotFoundError, ensure_synthetic, make_loaders
from rouser.data.errors import CacheNotWritableError, DatasetLayoutError, UnreadableDataError
from rouser.data.nmnist import NMNIST
from rouser.data.readers import Recordings, open_split

EXPECTED = {
    "nmnist": ("N-MNIST", "NMNIST/Train", "garrickorchard.com"),
    "dvs128": ("DVS128 Gesture", "DVSGesture/ibmGestureTrain", "figshare.com"),
    "shd": ("SHD", "SHD/shd_train.h5", "zenkelab.org"),
}


def real_run(dataset: str, **overrides):
    return resolve_run(dataset, "rouser", "smoke", synthetic=False, **overrides)


@pytest.fixture
def offline(monkeypatch):
    """No network, as on this project's machines, whatever the machine running the tests."""

    def unreachable(*args, **kwargs):
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr(urllib.request, "urlopen", unreachable)


@pytest.mark.parametrize("dataset", list(EXPECTED))
def test_missing_dataset_names_dataset_path_layout_and_source(dataset, tmp_path):
    with pytest.raises(DatasetNotFoundError) as caught:
        make_loaders(real_run(dataset), tmp_path, download=False, progress=False)
    name, path, source = EXPECTED[dataset]
    message = str(caught.value)
    assert isinstance(caught.value, FileNotFoundError)
    assert name in message and str(tmp_path / path) in message and source in message
    assert "Expected layout" in message and "ROUSER_DATA" in message


def test_failed_download_is_one_clear_error_and_leaves_no_archive(tmp_path, offline):
    with pytest.raises(DatasetNotFoundError, match=r"download of https://\S+ failed"):
        make_loaders(real_run("nmnist"), tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []  # no empty archive, no empty folder


def test_empty_split_folder_says_it_holds_no_recordings(tmp_path):
    (tmp_path / "NMNIST" / "Train" / "3").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError, match=r"holds no \.bin files"):
        make_loaders(real_run("nmnist"), tmp_path, download=False, progress=False)


@pytest.fixture
def small_nmnist(tmp_path):
    """A copy of a tiny synthetic N-MNIST to damage."""
    source = ensure_synthetic("nmnist", tmp_path / "src", n_train=10, n_test=2, progress=False)
    shutil.copytree(source / "NMNIST", tmp_path / "root" / "NMNIST")
    return tmp_path / "root"


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda data: b"", "is empty"),
        (lambda data: data[:-2], "not a whole number of 5-byte events"),
        (lambda data: bytes(range(200, 255)) * 5, "outside the N-MNIST sensor"),
    ],
    ids=["empty", "truncated", "wrong-format"],
)
def test_damaged_nmnist_file_is_named(small_nmnist, tmp_path, damage, message):
    victim = small_nmnist / "NMNIST" / "Train" / "4" / "00005.bin"
    victim.write_bytes(damage(victim.read_bytes()))
    with pytest.raises(CorruptRecordingError, match=message) as caught:
        make_loaders(
            real_run("nmnist", train_subset=None, test_subset=None),
            small_nmnist,
            cache_dir=tmp_path / "cache",
            progress=False,
        )
    assert caught.value.path == victim and str(victim) in str(caught.value)
    assert [p for p in (tmp_path / "cache").glob("*") if ".tmp-" in p.name] == []


def test_misnamed_nmnist_file_is_named(small_nmnist):
    victim = small_nmnist / "NMNIST" / "Train" / "4" / "notes.bin"
    victim.write_bytes(b"12345")
    reader = open_split(NMNIST, small_nmnist, True, False)
    with pytest.raises(CorruptRecordingError, match="not an N-MNIST sample id") as caught:
        Recordings.first(reader, None)
    assert caught.value.path == victim


@pytest.fixture
def small_dvs(tmp_path):
    source = ensure_synthetic("dvs128", tmp_path / "src", n_train=11, n_test=11, progress=False)
    shutil.copytree(source / "DVSGesture", tmp_path / "root" / "DVSGesture")
    return tmp_path / "root"


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda path: path.write_bytes(b""), "is empty"),
        (lambda path: path.write_bytes(path.read_bytes()[:200]), "cannot be read"),
        (lambda path: np.save(path, np.arange(12)), "cannot be read"),
        (lambda path: np.save(path, np.zeros((0, 4), np.int64)), "holds no events"),
        (lambda path: path.write_text("x,y,p,t\n1,2,1,5\n"), "cannot be read"),
    ],
    ids=["empty", "truncated", "one-column", "no-events", "text"],
)
def test_damaged_dvs_file_is_named(small_dvs, tmp_path, damage, message):
    victim = small_dvs / "DVSGesture" / "ibmGestureTest" / "user24_fluorescent" / "7.npy"
    damage(victim)
    with pytest.raises(CorruptRecordingError, match=message) as caught:
        make_loaders(real_run("dvs128"), small_dvs, cache_dir=tmp_path / "c", progress=False)
    assert caught.value.path == victim


@pytest.fixture
def small_shd(tmp_path):
    source = ensure_synthetic("shd", tmp_path / "src", n_train=8, n_test=4, progress=False)
    shutil.copytree(source / "SHD", tmp_path / "root" / "SHD")
    return tmp_path / "root"


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda path: path.write_bytes(b""), "cannot be opened"),
        (lambda path: path.write_bytes(path.read_bytes()[:1500]), "cannot be opened"),
        (lambda path: path.write_text("not hdf5"), "cannot be opened"),
    ],
    ids=["empty", "truncated", "wrong-format"],
)
def test_damaged_shd_file_is_named(small_shd, tmp_path, damage, message):
    victim = small_shd / "SHD" / "shd_test.h5"
    damage(victim)
    with pytest.raises(CorruptRecordingError, match=message) as caught:
        make_loaders(real_run("shd"), small_shd, cache_dir=tmp_path / "c", progress=False)
    assert caught.value.path == victim


def test_shd_file_without_labels_is_named(small_shd, tmp_path):
    victim = small_shd / "SHD" / "shd_train.h5"
    with h5py.File(victim, "a") as handle:
        del handle["labels"]
    with pytest.raises(CorruptRecordingError, match=r"missing \['labels'\]") as caught:
        make_loaders(real_run("shd"), small_shd, cache_dir=tmp_path / "c", progress=False)
    assert caught.value.path == victim


def test_errors_survive_pickling_across_worker_processes(tmp_path):
    for error in (
        CorruptRecordingError(tmp_path / "a.bin", "truncated"),
        DatasetNotFoundError("SHD", tmp_path, "layout", "source", "absent"),
    ):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and str(copy) == str(error)


def test_bad_run_settings_name_the_parameter(tmp_path):
    with pytest.raises(ValueError, match="augment=True is only defined for"):
        make_loaders(resolve_run("shd", "rouser", "smoke", augment=True), tmp_path, progress=False)
    with pytest.raises(ValueError, match="sensor_size"):
        make_loaders(
            resolve_run("dvs128", "rouser", "smoke", sensor_size=(128, 128, 1)),
            tmp_path,
            progress=False,
        )


def test_corrupt_file_found_by_a_binning_worker_is_the_same_error(small_shd, tmp_path):
    victim = small_shd / "SHD" / "shd_test.h5"
    with h5py.File(victim, "a") as handle:
        n_spikes = len(handle["spikes/units"][2])
        handle["spikes/units"][2] = np.full(n_spikes, 900, dtype=np.uint16)  # channels < 700
    with pytest.raises(CorruptRecordingError, match="outside the SHD sensor") as caught:
        make_loaders(
            real_run("shd"), small_shd, cache_dir=tmp_path / "c", num_workers=1, progress=False
        )
    assert caught.value.path == victim


# -- every recording the layout promises is read, or an error names it ----------------------
# The test machine runs as root, which reads everything: permissions are enforced by running
# the load in a child process without the capabilities that bypass them.
LOAD_AND_REPORT = """
import json, sys
from rouser.config import resolve_run
from rouser.data import make_loaders
run = resolve_run("nmnist", "rouser", "smoke", synthetic=False, train_subset=None,
                  test_subset=None, time_bins=20)
cache = sys.argv[2] or None
try:
    _, _, info = make_loaders(run, sys.argv[1], cache_dir=cache, download=False, progress=False)
except Exception as err:
    print(json.dumps([type(err).__name__, str(err)]))
else:
    print(json.dumps(["ok", info["fingerprint"]]))
"""


def unprivileged(command: list[str]) -> list[str]:
    """`command` run without the root capabilities that ignore file permissions."""
    if os.geteuid() != 0:
        return command
    if shutil.which("capsh"):
        drop = "--drop=cap_dac_override,cap_dac_read_search"
        return ["capsh", drop, "--", "-c", shlex.join(command)]
    if shutil.which("setpriv"):
        caps = "-dac_override,-dac_read_search"
        return ["setpriv", f"--bounding-set={caps}", f"--inh-caps={caps}", *command]
    pytest.skip("running as root without capsh or setpriv: permissions cannot be enforced")


def load_unprivileged(root: Path, cache: Path | None) -> tuple[str, object]:
    """(error type, message), or ("ok", fingerprint), of make_loaders in such a process."""
    command = [sys.executable, "-c", LOAD_AND_REPORT, str(root), str(cache or "")]
    env = {key: value for key, value in os.environ.items() if key != "ROUSER_CACHE"}
    done = subprocess.run(
        unprivileged(command), capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return tuple(json.loads(done.stdout.splitlines()[-1]))


@pytest.mark.parametrize(
    ("victim", "mode", "error", "message"),
    [
        ("NMNIST/Train/3", 0o000, "UnreadableDataError", "cannot be read by this user"),
        ("NMNIST/Train/4/00005.bin", 0o000, "UnreadableDataError", "cannot be read by this user"),
        ("NMNIST/Test", 0o000, "UnreadableDataError", "cannot be read by this user"),
        (".", 0o555, "CacheNotWritableError", "ROUSER_CACHE"),
    ],
    ids=["class-folder", "file", "test-split", "read-only-root-cache"],
)
def test_unreadable_data_stops_the_run_naming_the_path(small_nmnist, victim, mode, error, message):
    path = small_nmnist / victim
    path.chmod(mode)
    try:
        found, text = load_unprivileged(small_nmnist, None)
    finally:
        path.chmod(0o755)
    assert found == error and message in text
    named, fix = (small_nmnist / "cache", "cache_dir=") if mode == 0o555 else (path, "chmod")
    assert str(named) in text and fix in text


def test_read_only_data_root_loads_with_a_cache_elsewhere(small_nmnist, tmp_path):
    small_nmnist.chmod(0o555)
    try:
        found, fingerprint = load_unprivileged(small_nmnist, tmp_path / "cache")
    finally:
        small_nmnist.chmod(0o755)
    assert found == "ok" and fingerprint["recordings"] == {"train": 10, "test": 2}


def test_unreadable_real_class_folder_stops_the_run_naming_it(shared_data, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(shared_data / "NMNIST" / "Train", root / "NMNIST" / "Train")
    folder = root / "NMNIST" / "Train" / "7"
    folder.chmod(0o000)
    try:
        found, text = load_unprivileged(root, tmp_path / "cache")
    finally:
        folder.chmod(0o755)
    assert found == "UnreadableDataError" and f"{folder}: cannot be read" in text


def _folder_named_like_a_recording(split: Path) -> Path:
    victim = split / "3" / "00030.bin"
    victim.mkdir()
    return victim


def _broken_symlink(split: Path) -> Path:
    victim = split / "3" / "00030.bin"
    victim.symlink_to(split / "nowhere.bin")
    return victim


def _symlinked_class_folder(split: Path) -> Path:
    (split / "3").rename(split.parent / "three")
    (split / "3").symlink_to(split.parent / "three", target_is_directory=True)
    return split / "3"


def _recording_outside_the_layout(split: Path) -> Path:
    victim = split / "3" / "extra" / "00030.bin"
    victim.parent.mkdir()
    shutil.copy(split / "3" / "00004.bin", victim)
    return victim


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_folder_named_like_a_recording, "is a folder, but a .bin entry must be a recording"),
        (_broken_symlink, "is a broken symbolic link"),
        (_symlinked_class_folder, "is a symbolic link to a folder, which tonic does not follow"),
        (_recording_outside_the_layout, "is not where the layout puts recordings"),
    ],
    ids=["folder", "broken-symlink", "symlinked-folder", "outside-layout"],
)
def test_entry_tonic_would_skip_is_named(small_nmnist, tmp_path, damage, message):
    victim = damage(small_nmnist / "NMNIST" / "Train")
    with pytest.raises(DatasetLayoutError, match=message) as caught:
        make_loaders(real_run("nmnist"), small_nmnist, cache_dir=tmp_path / "cache", progress=False)
    assert caught.value.path == victim and isinstance(caught.value, CorruptRecordingError)


def test_dvs_recording_outside_a_user_folder_is_named(small_dvs, tmp_path):
    split = small_dvs / "DVSGesture" / "ibmGestureTrain"
    victim = split / "3.npy"
    shutil.copy(split / "user01_fluorescent" / "3.npy", victim)
    with pytest.raises(DatasetLayoutError, match="not where the layout") as caught:
        make_loaders(real_run("dvs128"), small_dvs, cache_dir=tmp_path / "c", progress=False)
    assert caught.value.path == victim


def test_shd_split_that_is_a_folder_is_named(small_shd, tmp_path):
    victim = small_shd / "SHD" / "shd_test.h5"
    victim.unlink()
    victim.mkdir()
    with pytest.raises(DatasetLayoutError, match="is a folder") as caught:
        make_loaders(real_run("shd"), small_shd, cache_dir=tmp_path / "c", progress=False)
    assert caught.value.path == victim


def test_a_recording_tonic_does_not_list_is_named(small_nmnist, monkeypatch):
    listing = tonic.datasets.NMNIST.__init__

    def drop_one(self, *args, **kwargs):  # as a tonic that filtered differently would
        listing(self, *args, **kwargs)
        self.data.pop(3)
        self.targets.pop(3)

    monkeypatch.setattr(tonic.datasets.NMNIST, "__init__", drop_one)
    split = small_nmnist / "NMNIST" / "Train"
    dropped = sorted(split.glob("*/*.bin"), key=lambda path: (path.parent.name, path.name))[3]
    with pytest.raises(DatasetLayoutError, match="lists 9 recordings but") as caught:
        open_split(NMNIST, small_nmnist, True, False)
    assert caught.value.path == dropped


def test_new_errors_survive_pickling(tmp_path):
    for error in (
        DatasetLayoutError(tmp_path / "a.bin", "is a folder"),
        UnreadableDataError(tmp_path / "7", "PermissionError: Permission denied"),
        CacheNotWritableError(tmp_path / "cache", "read-only"),
    ):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and str(copy) == str(error)


# -- data identity ---------------------------------------------------------------------------
def load_info(root: Path, cache: Path) -> dict:
    run = real_run("nmnist", train_subset=None, test_subset=None)
    return make_loaders(run, root, cache_dir=cache, progress=False)[2]


def test_fingerprint_counts_recordings_per_split_and_class(small_nmnist, tmp_path):
    info = load_info(small_nmnist, tmp_path / "cache")
    fingerprint = info["fingerprint"]
    assert fingerprint["recordings"] == {"train": 10, "test": 2}
    assert fingerprint["class_counts"] == {"train": [1] * 10, "test": [1, 1] + [0] * 8}
    assert len(fingerprint["sha256"]) == 64
    json.dumps(info, allow_nan=False)  # goes into the run record as is


def test_fingerprint_follows_the_recordings_not_the_data_root(small_nmnist, tmp_path):
    first = load_info(small_nmnist, tmp_path / "cache")["fingerprint"]
    moved = tmp_path / "elsewhere"
    shutil.copytree(small_nmnist, moved)
    assert load_info(moved, tmp_path / "other-cache")["fingerprint"] == first
    victim = moved / "NMNIST" / "Train" / "4" / "00005.bin"
    victim.write_bytes(victim.read_bytes()[:-5])  # one event fewer: same count, other size
    resized = load_info(moved, tmp_path / "other-cache")["fingerprint"]
    assert resized["recordings"] == first["recordings"] and resized["sha256"] != first["sha256"]


def test_cache_of_fewer_recordings_is_not_reused_when_all_are_back(small_nmnist, tmp_path):
    train = small_nmnist / "NMNIST" / "Train"
    (train / "7").rename(tmp_path / "away")
    fewer = load_info(small_nmnist, tmp_path / "cache")
    (tmp_path / "away").rename(train / "7")
    every = load_info(small_nmnist, tmp_path / "cache")
    assert fewer["fingerprint"]["recordings"]["train"] == 9
    assert every["fingerprint"]["recordings"]["train"] == 10
    assert fewer["fingerprint"]["sha256"] != every["fingerprint"]["sha256"]
    assert fewer["cache"]["train"] != every["cache"]["train"]


def test_stale_cache_temporaries_of_dead_processes_are_removed(small_nmnist, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    pid = int(dead.stdout)
    stale = cache / f".nmnist-real-train-10-abc.tmp-{pid}-0123abcd"  # a name from before hosts
    (stale / "part").mkdir(parents=True)
    live = cache / f".nmnist-real-train-10-abc.tmp-{os.getpid()}-0123abcd"
    live.mkdir()
    load_info(small_nmnist, cache)
    assert not stale.exists() and live.is_dir()
