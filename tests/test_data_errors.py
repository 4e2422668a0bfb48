"""Missing, empty, truncated and wrong-format data: one clear error each, naming the file."""

from __future__ import annotations

import pickle
import shutil
import urllib.error
import urllib.request

import h5py
import numpy as np
import pytest

from rouser.config import resolve_run
from rouser.data import CorruptRecordingError, DatasetNotFoundError, ensure_synthetic, make_loaders
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
