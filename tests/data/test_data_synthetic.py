"""Synthetic datasets: exact on-disk formats, tonic round trips, binning, loaders, caching."""

from __future__ import annotations

import json
import subprocess
import sys

import h5py
import numpy as np
import pytest
import tonic
import torch
from tonic.io import read_mnist_file

from rouser.config import load_config, resolve_run
from rouser.data import (
    binning_for,
    ensure_synthetic,
    make_loaders,
    to_dense,
)
from rouser.data.binning import Binning, SparseSample, SpikeCollate
from rouser.data.cache import BinnedCache
from rouser.data.nmnist import ShiftRotate
from rouser.data.readers import Recordings, open_split
from rouser.data.synthetic import dvs_events, nmnist_events, shd_spikes
from rouser.datasets import DATASET_SPECS, dataset_spec
from rouser.events import EventBatch
from rouser.report.style import DATASET_LABELS


def smoke(dataset: str, **overrides):
    return resolve_run(dataset, "rouser", "smoke", **overrides)


def loaders(dataset: str, root, **overrides):
    return make_loaders(smoke(dataset, **overrides), root, progress=False)


def test_nmnist_files_are_5_byte_events_tonic_decodes_exactly(tmp_path):
    folder = ensure_synthetic("nmnist", tmp_path, n_train=12, n_test=3, progress=False)
    files = sorted((folder / "NMNIST" / "Train").rglob("*.bin"))
    assert [f.relative_to(folder / "NMNIST" / "Train").as_posix() for f in files[:2]] == [
        "0/00001.bin",
        "0/00011.bin",
    ]
    assert len(files) == 12 and len(list((folder / "NMNIST" / "Test").rglob("*.bin"))) == 3
    expected = nmnist_events(0, np.random.default_rng([0, 0, 1]))
    decoded = read_mnist_file(str(files[0]), dtype=tonic.datasets.NMNIST.dtype)
    assert files[0].stat().st_size == 5 * len(expected)
    for column, name in enumerate(("x", "y", "p", "t")):
        np.testing.assert_array_equal(decoded[name], expected[:, column])
    assert 250_000 < decoded["t"].max() < 300_000


def test_dvs128_files_hold_x_y_p_t_ms_columns(tmp_path):
    folder = ensure_synthetic("dvs128", tmp_path, n_train=12, n_test=2, progress=False)
    train = folder / "DVSGesture" / "ibmGestureTrain"
    assert sorted(p.name for p in train.iterdir()) == [
        "user01_fluorescent",
        "user01_fluorescent_led",
    ]
    array = np.load(train / "user01_fluorescent" / "3.npy")
    np.testing.assert_array_equal(array, dvs_events(3, np.random.default_rng([0, 0, 3])))
    assert array.ndim == 2 and array.shape[1] == 4
    assert array[:, 0].max() < 128 and array[:, 1].max() < 128 and set(array[:, 2]) <= {0, 1}
    assert 1000 < array[:, 3].max() < 1500  # milliseconds
    reader = open_split(DATASET_SPECS["dvs128"].reader, folder, True, False)
    index = [reader.sample_key(i) for i in range(len(reader))].index((1, "fluorescent", 3))
    events = reader.read(index)  # tonic's reader: t converted to microseconds
    np.testing.assert_array_equal(events["t"], array[:, 3] * 1000)
    np.testing.assert_array_equal(events["x"], array[:, 0])
    assert (folder / "DVSGesture" / "ibmGestureTest" / "user24_fluorescent" / "1.npy").is_file()


def test_shd_file_has_the_shd_groups_and_tonic_reads_it(tmp_path):
    folder = ensure_synthetic("shd", tmp_path, n_train=25, n_test=4, progress=False)
    path = folder / "SHD" / "shd_train.h5"
    with h5py.File(path, "r") as handle:
        assert handle["spikes/times"].dtype.metadata["vlen"] == np.float16
        assert handle["spikes/units"].dtype.metadata["vlen"] == np.uint16
        assert len(handle["labels"]) == 25 and len(handle["extra/speaker"]) == 25
        assert len(handle["extra/keys"]) == 20
        times, units = handle["spikes/times"][21], handle["spikes/units"][21]
        assert handle["labels"][21] == 1
    expected_times, expected_units = shd_spikes(1, np.random.default_rng([0, 0, 21]))
    np.testing.assert_array_equal(times, expected_times)
    np.testing.assert_array_equal(units, expected_units)
    assert times.max() < 1.0 and units.max() < 700
    reader = open_split(DATASET_SPECS["shd"].reader, folder, True, False)
    assert len(reader) == 25 and reader.targets[21] == 1
    events = reader.read(21)
    np.testing.assert_array_equal(events["x"], units)
    np.testing.assert_array_equal(events["t"], (times.astype(np.float64) * 1e6).astype(int))


def test_synthetic_data_is_seeded_and_grows_as_a_superset(tmp_path):
    first = ensure_synthetic("nmnist", tmp_path / "a", n_train=5, n_test=1, progress=False)
    again = ensure_synthetic("nmnist", tmp_path / "b", n_train=5, n_test=1, progress=False)
    other = ensure_synthetic("nmnist", tmp_path / "c", n_train=5, n_test=1, seed=1, progress=False)
    name = "NMNIST/Train/2/00003.bin"
    assert (first / name).read_bytes() == (again / name).read_bytes()
    assert (first / name).read_bytes() != (other / name).read_bytes()
    before = (first / name).stat().st_mtime_ns
    ensure_synthetic("nmnist", first, n_train=15, n_test=1, progress=False)
    assert (first / name).stat().st_mtime_ns == before  # kept, not rewritten
    assert len(list((first / "NMNIST" / "Train").rglob("*.bin"))) == 15
    assert json.loads((first / "synthetic.json").read_text())["n_train"] == 15


@pytest.mark.parametrize("dataset", list(DATASET_SPECS))
def test_smoke_loaders_give_time_first_binary_batches(dataset, synthetic_root):
    run = smoke(dataset)
    train, test, info = loaders(dataset, synthetic_root)
    events, labels = next(iter(train))
    frame = tuple(binning_for(run).frame_shape)
    assert isinstance(events, EventBatch)
    assert events.shape == (run.time_bins, run.batch_size, *frame)
    assert labels.dtype == torch.int64 and events.index.dtype == torch.int64
    assert bool((events.index.diff() > 0).all()) and events.n_events > 0  # sorted, unique
    spikes = events.dense()
    assert spikes.dtype == torch.float32 and set(spikes.unique().tolist()) == {0.0, 1.0}
    assert int(np.prod(frame)) == int(np.prod(run.sensor_size))
    assert info["source"] == "synthetic" and info["test_split"] == "test"
    assert (info["n_train"], info["n_test"]) == (64, 32)
    assert len(train.dataset) == 64 and len(test.dataset) == 32
    assert sum(info["train_class_counts"]) == 64 and min(info["train_class_counts"]) >= 3
    assert json.loads(json.dumps(info)) == info
    assert info["location"].startswith(str(synthetic_root / "synthetic" / dataset))


@pytest.mark.parametrize("dataset", list(DATASET_SPECS))
def test_synthetic_classes_are_separable(dataset, synthetic_root):
    """Nearest class mean of per-pixel spike counts: far above chance on held-out samples."""
    train, test, _ = loaders(dataset, synthetic_root, augment=False)

    def counts(loader):
        xs, ys = zip(*((x.dense().sum(0).flatten(1), y) for x, y in loader), strict=True)
        return torch.cat(xs), torch.cat(ys)

    x_train, y_train = counts(train)
    x_test, y_test = counts(test)
    classes = y_train.unique()
    means = torch.stack([x_train[y_train == c].mean(0) for c in classes])
    means = means / means.norm(dim=1, keepdim=True)
    predicted = classes[(x_test @ means.T).argmax(1)]
    assert (predicted == y_test).float().mean() >= 0.8


def test_subsets_take_the_first_ids(synthetic_root):
    _, _, info = loaders("nmnist", synthetic_root)
    cache = BinnedCache(info["cache"]["train"])
    names = cache.meta["samples"]
    assert names[:3] == ["Train/0/00001.bin", "Train/1/00002.bin", "Train/2/00003.bin"]
    assert sorted(int(n[-9:-4]) for n in names) == list(range(1, 65))
    small = make_loaders(
        smoke("nmnist", train_subset=10, test_subset=5), synthetic_root, progress=False
    )
    assert (small[2]["n_train"], small[2]["n_test"]) == (10, 5)


def test_train_shuffle_is_seeded_and_test_order_fixed(synthetic_root):
    def first_labels(seed):
        train, test, _ = loaders("shd", synthetic_root, seed=seed)
        return next(iter(train))[1].tolist(), next(iter(test))[1].tolist()

    assert first_labels(0) == first_labels(0)
    assert first_labels(0)[0] != first_labels(1)[0]
    assert first_labels(0)[1] == first_labels(1)[1] == [row % 20 for row in range(16)]


def test_cache_is_reused_and_keyed_by_binning(synthetic_root, monkeypatch):
    _, _, info = loaders("shd", synthetic_root)
    _, _, other = loaders("shd", synthetic_root, bin_us=20000)
    assert other["cache"]["train"] != info["cache"]["train"]

    def no_binning(self, events):
        raise AssertionError("binned again although cached")

    monkeypatch.setattr(Binning, "__call__", no_binning)
    train, _, again = loaders("shd", synthetic_root)
    assert again["cache"] == info["cache"]
    assert sum(len(y) for _, y in train) == 64
    leftovers = [p for p in (synthetic_root / "cache").iterdir() if ".tmp-" in p.name]
    assert leftovers == []


def test_cache_matches_fresh_binning_and_is_sparse(synthetic_root):
    run = smoke("nmnist")
    _, _, info = loaders("nmnist", synthetic_root)
    cache = BinnedCache(info["cache"]["train"])
    binning = binning_for(run)
    reader = open_split(
        DATASET_SPECS["nmnist"].reader, synthetic_root / "synthetic" / "nmnist", True, False
    )
    fresh = binning(Recordings.first(reader, 64).events(5))
    cached = cache.sample(5)
    np.testing.assert_array_equal(cached.index, fresh.index)
    np.testing.assert_array_equal(cached.count, fresh.count)
    dense_bytes = 4 * len(cache) * run.time_bins * binning.n_features
    assert cache.size_bytes < dense_bytes / 50


def test_augmentation_only_on_train_and_after_the_cache(synthetic_root):
    train, test, info = loaders("nmnist", synthetic_root)
    assert info["augment"] is True
    assert isinstance(train.dataset.transform, ShiftRotate) and test.dataset.transform is None
    cache = train.dataset.cache
    before = cache.sample(0)
    augmented = [train.dataset[0][0] for _ in range(5)]
    np.testing.assert_array_equal(cache.sample(0).index, before.index)  # cache untouched
    assert any(not np.array_equal(a.index, before.index) for a in augmented)
    first = next(iter(test))[0]
    assert torch.equal(first.index, next(iter(test))[0].index)


def test_shift_rotate_moves_pixels_rigidly_and_keeps_time():
    frame = (2, 34, 34)
    time_bins = 3
    t, p, y, x = (
        np.array([0, 1, 2]),
        np.array([0, 1, 0]),
        np.array([10, 20, 33]),
        np.array([5, 6, 33]),
    )
    index = ((t * 2 + p) * 34 + y) * 34 + x
    sample = SparseSample(index.astype(np.int32), np.ones(3, np.uint16))
    identity = ShiftRotate(frame, seed=0, max_shift=0, max_degrees=0)
    np.testing.assert_array_equal(identity(sample).index, index)
    shifted = ShiftRotate(frame, seed=3, max_degrees=0)(sample)
    step, rest = np.divmod(shifted.index, 2 * 34 * 34)
    pol, pixel = np.divmod(rest, 34 * 34)
    assert set(step) <= set(range(time_bins)) and (pol == p[step]).all()
    dy, dx = np.divmod(pixel, 34)[0] - y[step], np.divmod(pixel, 34)[1] - x[step]
    assert len(set(dy)) == 1 and len(set(dx)) == 1 and max(abs(dy[0]), abs(dx[0])) <= 4
    rotated = ShiftRotate(frame, seed=0, max_shift=0, max_degrees=10)
    angles = []
    for _ in range(50):
        out = rotated(SparseSample(np.array([16 * 34 + 33], np.int32), np.ones(1, np.uint16))).index
        if len(out):
            oy, ox = np.divmod(out[0], 34)
            angles.append(np.degrees(np.arctan2(oy - 16.5, ox - 16.5)))
    assert angles and max(abs(a) for a in angles) <= 10 + 4  # rounding to whole pixels


def test_to_dense_matches_the_batch(synthetic_root):
    run = smoke("shd")
    train, _, _ = loaders("shd", synthetic_root)
    sample, _ = train.dataset[3]
    dense = to_dense(sample, binning_for(run))
    assert dense.shape == (run.time_bins, 1, 700)
    assert int(dense.sum()) == len(sample.index)


def test_worker_processes_give_the_same_batches(synthetic_root):
    """Workers gather sparse samples; the batch is made dense in this process either way."""
    _, test, _ = loaders("shd", synthetic_root)
    _, test_workers, _ = make_loaders(smoke("shd"), synthetic_root, num_workers=1, progress=False)
    for (x, y), (xw, yw) in zip(test, test_workers, strict=True):
        assert torch.equal(x.index, xw.index) and x.shape == xw.shape and torch.equal(y, yw)


def test_batches_place_each_samples_spikes_time_first():
    """Sample b's spike at (t, f) lands at batch position (t, b, f); repeats are one spike."""
    first = SparseSample(np.array([0, 5]), np.array([1, 1]))  # t=0 f=0, t=1 f=1
    second = SparseSample(np.array([3, 4]), np.array([2, 1]))  # t=0 f=3, t=1 f=0
    events, labels = SpikeCollate(3, (1, 4))([(first, 2), (second, 7)])
    dense = events.dense()
    assert dense.shape == (3, 2, 1, 4) and labels.tolist() == [2, 7]
    assert dense[0, :, 0].tolist() == [[1, 0, 0, 0], [0, 0, 0, 1]]
    assert dense[1, :, 0].tolist() == [[0, 1, 0, 0], [1, 0, 0, 0]]
    assert dense[2].sum() == 0 and events.n_events == 4


def test_each_dataset_is_declared_once_and_has_its_settings():
    """`rouser.datasets` names the datasets `_config.yml` gives settings for; labels,
    readers and writers all come from it, and naming one imports no tonic."""
    assert list(DATASET_SPECS) == list(load_config()["datasets"])
    for name, spec in DATASET_SPECS.items():
        assert spec.name == name and spec.reader.__module__ == f"rouser.data.{name}"
        assert spec.write_synthetic.__name__ == f"write_{name}"
        assert DATASET_LABELS[name] == spec.label
    light = "import sys, rouser.datasets, rouser.report.style; print('tonic' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", light], capture_output=True, text=True,
                          check=True).stdout == "False\n"  # fmt: skip
    with pytest.raises(ValueError, match=r"dataset='mnist' .*'nmnist', 'dvs128', 'shd'"):
        dataset_spec("mnist")
