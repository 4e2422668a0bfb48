"""Experiment settings: Table II defaults, profiles, overrides, validation and run identity."""

from __future__ import annotations

import pytest

from rouser.config import load_config, profile_config, resolve_run


def test_defaults_are_the_papers_table_ii() -> None:
    run = resolve_run("nmnist", "rouser", "paper")
    assert (run.threshold, run.scale, run.tau) == (1.25, 1.5, 3.75)
    assert (run.lr_w, run.lr_th) == (0.001, 0.001)
    assert (run.current_decay, run.voltage_decay) == (0.75, 0.97)
    assert (run.true_rate, run.false_rate) == (0.2, 0.03)
    assert run.learn_threshold and not resolve_run("nmnist", "baseline").learn_threshold


@pytest.mark.parametrize(
    ("dataset", "sensor", "hidden", "classes"),
    [
        ("nmnist", (34, 34, 2), (500, 500), 10),
        ("dvs128", (128, 128, 2), (64,), 11),
        ("shd", (700, 1, 1), (200, 200), 20),
    ],
)
def test_paper_profile_has_table_i_architectures(dataset, sensor, hidden, classes) -> None:
    run = resolve_run(dataset, "rouser", "paper")
    assert (run.sensor_size, run.hidden, run.n_classes) == (sensor, hidden, classes)
    assert not run.synthetic and run.train_subset is None


def test_profiles_change_sizes_only() -> None:
    smoke, paper = resolve_run("shd", "rouser", "smoke"), resolve_run("shd", "rouser", "paper")
    assert smoke.synthetic and smoke.epochs < paper.epochs and smoke.time_bins < paper.time_bins
    assert (smoke.threshold, smoke.tau, smoke.lr_th) == (paper.threshold, paper.tau, paper.lr_th)
    cpu = resolve_run("nmnist", "baseline", "cpu")
    assert (cpu.train_subset, cpu.test_subset, cpu.synthetic) == (1000, 100, False)


def test_none_overrides_keep_the_profile_value_and_others_replace_it() -> None:
    run = resolve_run("shd", "rouser", "smoke", epochs=None, threshold=0.25, seed=4)
    assert run.epochs == resolve_run("shd", "rouser", "smoke").epochs
    assert (run.threshold, run.seed) == (0.25, 4)


def test_run_id_changes_with_any_setting_and_is_stable() -> None:
    a, b = resolve_run("shd", "rouser", "smoke"), resolve_run("shd", "rouser", "smoke")
    assert a.run_id == b.run_id and a.run_id.startswith("shd-rouser-seed0-")
    assert resolve_run("shd", "rouser", "smoke", lr_th=0.0).run_id != a.run_id


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (
            ("mnist", "rouser"),
            {},
            r"dataset='mnist' is not allowed; choose one of \['nmnist', 'dvs128', 'shd'\]",
        ),
        (
            ("shd", "adaptive"),
            {},
            r"method='adaptive' is not allowed; choose one of \['rouser', 'baseline'\]",
        ),
        (("shd", "rouser", "fast"), {}, "profile='fast' is not allowed"),
        (("shd", "rouser"), {"lr_th": -1.0}, "lr_th=-1.0 must be >= 0"),
        (("shd", "rouser"), {"voltage_decay": 3.0}, r"voltage_decay=3.0 must lie in \[0, 1\]"),
        (("shd", "rouser"), {"epochs": 0}, "epochs=0 must be > 0"),
        (("shd", "rouser"), {"learning_rate": 0.1}, "unknown run parameter 'learning_rate'"),
    ],
)
def test_bad_values_name_the_parameter_and_allowed_values(args, kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        resolve_run(*args, **kwargs)


def test_profile_config_merges_nested_overrides() -> None:
    config = load_config()
    smoke = profile_config("smoke", config)
    assert smoke["training"]["batch_size"] == config["profiles"]["smoke"]["training"]["batch_size"]
    assert smoke["training"]["lr_w"] == config["training"]["lr_w"]  # untouched keys survive
    assert smoke["profile"] == "smoke" and "profiles" not in smoke


def test_missing_config_file_says_where_it_looked(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ROUSER_CONFIG", str(tmp_path / "nope.yml"))
    with pytest.raises(FileNotFoundError, match=r"nope\.yml"):
        load_config()
