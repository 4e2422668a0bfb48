"""The real recordings in `../shared/data`: N-MNIST through the real path, DVS128 clips."""

from __future__ import annotations

import runpy
import urllib.request
import warnings
from pathlib import Path

import numpy as np
import pytest
import tonic
from tonic.io import read_mnist_file

from rouser.config import resolve_run
from rouser.data import binning_for, make_loaders, to_dense
from rouser.data.binning import Binning
from rouser.data.nmnist import NMNIST
from rouser.data.readers import Recordings, open_split
from rouser.datasets import DATASET_SPECS

# Class counts of MNIST training ids 1-1000 (the shared data's README).
COUNTS_0_TO_9 = [97, 116, 99, 93, 105, 92, 94, 117, 87, 100]


@pytest.fixture(scope="module")
def real_train(shared_data) -> Recordings:
    return Recordings.first(open_split(NMNIST, shared_data, True, False), None)


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a network connection was attempted")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(tonic.download_utils, "download_url", refuse)


def test_the_1000_real_recordings_list_in_id_order_with_readme_counts(real_train):
    assert len(real_train) == 1000
    assert [int(name[-9:-4]) for name in real_train.names] == list(range(1, 1001))
    assert np.bincount(real_train.labels).tolist() == COUNTS_0_TO_9


def test_real_event_ranges(real_train):
    sizes, ends = [], []
    for position in range(0, 1000, 5):
        events = real_train.events(position)
        assert events["x"].max() < 34 and events["y"].max() < 34 and events["x"].min() >= 0
        assert set(np.unique(events["p"])) <= {0, 1}
        assert (np.diff(events["t"]) >= 0).all()
        sizes.append(len(events))
        ends.append(events["t"].max())
    assert min(sizes) >= 1000 and max(sizes) <= 8000
    assert min(ends) >= 280_000 and max(ends) <= 320_000  # ~300 ms, microseconds


@pytest.mark.parametrize("bin_us", [1000, 7000])
def test_binning_keeps_every_event_of_the_window(real_train, bin_us):
    """Per-bin counts equal an independent floor((t - t0) / bin_us) histogram: no event lost
    or duplicated at a bin edge; events after the window are dropped."""
    time_bins = 250_000 // bin_us  # a window that ends inside every recording
    binning = Binning((34, 34, 2), time_bins, bin_us, 2, (34, 34, 2))
    on_edges = 0
    for position in range(0, 1000, 50):
        events = real_train.events(position)
        sample = binning(events)
        offset = events["t"] - events["t"][0]
        inside = offset < time_bins * bin_us
        on_edges += int((offset[inside] % bin_us == 0).sum())
        per_bin = np.bincount(
            sample.index // binning.n_features, weights=sample.count, minlength=time_bins
        )
        expected = np.bincount(offset[inside] // bin_us, minlength=time_bins)
        np.testing.assert_array_equal(per_bin, expected)
        assert sample.count.sum() == inside.sum() < len(events)  # the tail was dropped
    assert on_edges > 0  # the edge case was exercised


def test_lava_dl_bins_round_each_time_from_zero_ties_to_even(real_train):
    """`Binning(lava_dl=True)`: per-bin counts equal lava-dl's ``np.round(t / 1 ms)`` from
    t = 0 (``fill_tensor``), ties included, and events past the window are dropped."""
    binning = Binning((34, 34, 2), 250, 1000, 2, (34, 34, 2), lava_dl=True)
    ties = 0
    for position in range(0, 1000, 50):
        events = real_train.events(position)
        sample = binning(events)
        bins = np.round(events["t"] / 1000).astype(np.int64)
        ties += int((events["t"] % 1000 == 500).sum())
        per_bin = np.bincount(sample.index // binning.n_features, weights=sample.count)
        expected = np.bincount(bins[bins < 250], minlength=len(per_bin))
        np.testing.assert_array_equal(per_bin, expected)
    assert ties > 0  # half-way times occurred, so ties to even were exercised


def test_real_nmnist_loads_offline_with_a_holdout_test_set(shared_data, tmp_path, no_network):
    run = resolve_run("nmnist", "rouser", "cpu", train_subset=200)
    listing = sorted(p.name for p in (shared_data / "NMNIST").iterdir())
    with pytest.warns(UserWarning, match="no test split"):
        train, test, info = make_loaders(run, shared_data, cache_dir=tmp_path, progress=False)
    assert sorted(p.name for p in (shared_data / "NMNIST").iterdir()) == listing  # nothing faked
    assert info["source"] == "real" and info["test_split"] == "holdout"
    assert (info["n_train"], info["n_test"]) == (180, 20)
    assert info["holdout"] == {"fraction": 0.1, "seed": 0}
    held = set(test.dataset.positions.tolist())
    assert held.isdisjoint(train.dataset.positions.tolist())
    spikes, labels = next(iter(test))
    assert spikes.shape == (300, 20, 2, 34, 34) and labels.shape == (20,)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, again, _ = make_loaders(run, shared_data, cache_dir=tmp_path, progress=False)
    assert set(again.dataset.positions.tolist()) == held  # the same held-out samples


def test_epochs_after_binning_never_read_raw_events(shared_data, tmp_path, monkeypatch):
    run = resolve_run("nmnist", "rouser", "cpu", train_subset=40, time_bins=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train, _, _ = make_loaders(run, shared_data, cache_dir=tmp_path, progress=False)

        def no_reading(self, index):
            raise AssertionError("raw events read after caching")

        monkeypatch.setattr(NMNIST, "read", no_reading)
        for _ in range(2):
            assert sum(len(labels) for _, labels in train) == 36
        train, _, _ = make_loaders(run, shared_data, cache_dir=tmp_path, progress=False)
    assert sum(len(labels) for _, labels in train) == 36


def test_real_dvs128_clips_bin_at_full_resolution(shared_data):
    clips = sorted((shared_data / "dvs_gesture_clips").glob("clip*.bin"))
    if not clips:
        pytest.skip(f"no DVS128 clips in {shared_data / 'dvs_gesture_clips'}")
    binning = binning_for(resolve_run("dvs128", "rouser", "paper"))
    assert binning.frame_shape == (2, 128, 128)
    for clip in clips[:3]:
        events = read_mnist_file(str(clip), dtype=tonic.datasets.NMNIST.dtype)  # 5-byte format
        assert events["x"].max() <= 127 and events["y"].max() <= 127
        dense = to_dense(binning(events), binning)
        assert dense.shape == (150, 2, 128, 128)
        inside = events["t"] - events["t"][0] < binning.window_us
        sample = binning(events)
        assert int(sample.count.sum()) == int(inside.sum()) > 60_000
        assert int(dense.sum()) == len(sample.index)
    downsampled = Binning((32, 32, 2), 150, 10_000, 2, DATASET_SPECS["dvs128"].reader.sensor_size)
    sample = downsampled(events)
    assert to_dense(sample, downsampled).shape == (150, 2, 32, 32)
    assert int(sample.count.sum()) == int(inside.sum())


def test_lava_dl_binning_is_rouser_binning_delayed_and_re_edged(real_train):
    """`workflow/scripts/lava_dl_binning.py`, the source of the fidelity page's numbers on
    lava-dl's time bins, on the first 30 real recordings."""
    script = Path(__file__).parents[2] / "workflow" / "scripts" / "lava_dl_binning.py"
    compare = runpy.run_path(str(script))["compare"]
    result = compare(Recordings.first(real_train.reader, 30))
    shares = result["bin_offset_share"]
    assert min(shares) >= 0 and sum(shares.values()) == pytest.approx(1.0)
    assert shares.get(0, 0.0) < 0.5  # most events sit in a later bin under lava-dl's rule
    assert result["kept_by_lava_dl_only"] == 0.0  # it starts earlier, so it drops, never adds
    assert 0.0 < result["shared_positions"] < 0.5
