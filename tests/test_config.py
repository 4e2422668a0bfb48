"""Experiment settings: Table II defaults, profiles, overrides, validation and run identity."""

from __future__ import annotations

import dataclasses
import math

import pytest

from rouser import config as config_module
from rouser.config import (
    SETTINGS,
    RunConfig,
    check_setting,
    deep_merge,
    load_config,
    profile_config,
    resolve_run,
    run_fields,
)


@pytest.fixture(scope="module")
def config() -> dict:
    return load_config()


def test_defaults_are_the_papers_table_ii() -> None:
    run = resolve_run("nmnist", "rouser", "paper")
    assert (run.threshold, run.scale, run.tau) == (1.25, 1.5, 3.75)
    assert (run.lr_w, run.lr_th) == (0.001, 0.001)
    assert (run.current_decay, run.voltage_decay) == (0.75, 0.97)
    assert (run.true_rate, run.false_rate) == (0.2, 0.03)
    assert run.learn_threshold and not resolve_run("nmnist", "baseline", "paper").learn_threshold


def test_lava_dl_options_and_threads_default_off_and_single() -> None:
    run = resolve_run("nmnist", "rouser", "cpu")
    assert (run.fixed_point, run.delay_shift, run.weight_norm, run.dropout) == (
        False,
        False,
        False,
        0.0,
    )
    assert run.threads == 1 and isinstance(run.dropout, float)


def test_profile_is_required() -> None:
    with pytest.raises(TypeError, match="profile"):
        resolve_run("nmnist", "rouser")  # type: ignore[call-arg]


def test_profiles_come_from_the_config_file_not_constants(config: dict) -> None:
    assert not hasattr(config_module, "PROFILES")
    assert set(config["profiles"]) == {"paper", "cpu", "smoke"}
    renamed = deep_merge(config, {"profiles": {"laptop": config["profiles"]["cpu"]}})
    assert resolve_run("nmnist", "rouser", "laptop", renamed).profile == "laptop"


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
    for change in ({"lr_th": 0.0}, {"threads": 2}, {"dropout": 0.05}, {"delay_shift": True}):
        assert resolve_run("shd", "rouser", "smoke", **change).run_id != a.run_id, change


def test_later_settings_keep_earlier_run_ids_at_their_old_behaviour() -> None:
    """quantize_weights came after records were committed: off, it is not in the identity
    (so the committed runs keep their ids); on, it makes a new run."""
    run = resolve_run("nmnist", "rouser", "cpu")
    assert not run.quantize_weights and "quantize_weights" not in run.to_dict()
    assert RunConfig(**run.to_dict()).run_id == run.run_id  # a record's config reads back
    on = resolve_run("nmnist", "rouser", "cpu", quantize_weights=True)
    assert on.to_dict()["quantize_weights"] is True and on.run_id != run.run_id


def test_integer_values_of_real_settings_give_the_same_run() -> None:
    """YAML and papermill write 1 for 1.0: it must not make another run id."""
    a = resolve_run("shd", "rouser", "smoke", threshold=1)
    b = resolve_run("shd", "rouser", "smoke", threshold=1.0)
    assert a == b and a.run_id == b.run_id and isinstance(a.threshold, float)


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (
            ("mnist", "rouser", "smoke"),
            {},
            r"dataset='mnist' is not allowed; choose one of \['nmnist', 'dvs128', 'shd'\]",
        ),
        (
            ("shd", "adaptive", "smoke"),
            {},
            r"method='adaptive' is not allowed; choose one of \['rouser', 'baseline'\]",
        ),
        (("shd", "rouser", "fast"), {}, r"profile='fast' is not allowed.*'smoke'"),
        (("shd", "rouser", "smoke"), {"lr_th": -1.0}, r"lr_th=-1\.0 is not allowed.*>= 0"),
        (
            ("shd", "rouser", "smoke"),
            {"voltage_decay": 3.0},
            r"voltage_decay=3\.0 is not allowed.*in \[0, 1\]",
        ),
        (("shd", "rouser", "smoke"), {"epochs": 0}, r"epochs=0 is not allowed.*>= 1"),
        (
            ("shd", "rouser", "smoke"),
            {"learning_rate": 0.1},
            r"unknown run parameter 'learning_rate'; known parameters: \[.*'lr_th'",
        ),
        (
            ("shd", "rouser", "smoke"),
            {"n_classes": 10},
            r"n_classes=10 is not allowed for dataset='shd': its recordings have 20 classes",
        ),
        (
            ("shd", "rouser", "smoke"),
            {"false_rate": 0.5},
            r"false_rate=0\.5 must not exceed true_rate=0\.2",
        ),
        (("shd", "rouser", "smoke"), {"dropout": 1.0}, r"dropout=1\.0 is not allowed.*\[0, 1\)"),
        (("shd", "rouser", "smoke"), {"threads": 0}, r"threads=0 is not allowed.*>= 1"),
        (("shd", "rouser", "smoke"), {"fixed_point": "yes"}, r"fixed_point='yes' .*true or false"),
    ],
)
def test_bad_values_name_the_parameter_and_allowed_values(args, kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        resolve_run(*args, **kwargs)


def test_equal_rates_are_allowed() -> None:
    run = resolve_run("shd", "rouser", "smoke", true_rate=0.1, false_rate=0.1)
    assert run.true_rate == run.false_rate == 0.1


def test_config_file_with_an_unknown_setting_is_refused(config: dict) -> None:
    bad = deep_merge(config, {"training": {"momentum": 0.9}})
    with pytest.raises(ValueError, match=r"_config\.yml sets unknown run settings \['momentum'\]"):
        resolve_run("shd", "rouser", "smoke", bad)


def test_config_file_values_are_checked_too(config: dict) -> None:
    bad = deep_merge(config, {"neuron": {"tau": float("nan")}})
    with pytest.raises(ValueError, match=r"tau=nan is not allowed"):
        resolve_run("shd", "rouser", "smoke", bad)


# ---------------------------------------------------------------------------- check_setting


def test_every_run_setting_has_a_rule() -> None:
    assert set(SETTINGS) == set(run_fields()) - {"dataset", "method", "profile"}
    assert run_fields() == [field.name for field in dataclasses.fields(RunConfig)]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("lr_w", math.nan, r"lr_w=nan is not allowed: it must be finite number >= 0"),
        ("threshold", math.inf, r"threshold=inf is not allowed: it must be finite number"),
        ("lr_th", -math.inf, r"lr_th=-inf is not allowed"),
        ("epochs", 2.5, r"epochs=2\.5 is not allowed: it must be integer >= 1"),
        ("epochs", 2.0, r"epochs=2\.0 is not allowed: it must be integer"),
        ("epochs", True, r"epochs=True is not allowed: it must be integer"),
        ("seed", False, r"seed=False is not allowed"),
        ("threshold", True, r"threshold=True is not allowed: it must be finite number"),
        ("augment", "abc", r"augment='abc' is not allowed: it must be true or false"),
        ("weight_norm", 1, r"weight_norm=1 is not allowed: it must be true or false"),
        ("delay_shift", None, r"delay_shift=None is not allowed"),
        ("lr_w", -0.001, r"lr_w=-0\.001 is not allowed: it must be finite number >= 0"),
        ("dropout", 1.0, r"dropout=1\.0 is not allowed: it must be finite number in \[0, 1\)"),
        ("dropout", -0.1, r"dropout=-0\.1 is not allowed"),
        ("tau", 0.0, r"tau=0\.0 is not allowed: it must be finite number > 0"),
        ("scale", 0, r"scale=0(\.0)? is not allowed: it must be finite number > 0"),
        ("latency_target", 0.0, r"latency_target=0\.0 is not allowed.*\(0, 1\]"),
        ("chance_margin", 1.0, r"chance_margin=1\.0 is not allowed.*\[0, 1\)"),
        ("current_decay", 1.01, r"current_decay=1\.01 is not allowed.*\[0, 1\]"),
        ("threshold", "1.25", r"threshold='1\.25' is not allowed"),
        ("hidden", [], r"hidden=\[\] is not allowed: it must be a non-empty list of integers >= 1"),
        ("hidden", [64, 0], r"hidden=\[64, 0\] is not allowed"),
        ("hidden", [64, 2.5], r"hidden=\[64, 2\.5\] is not allowed"),
        ("sensor_size", 34, r"sensor_size=34 is not allowed"),
        ("train_subset", 0, r"train_subset=0 is not allowed.*null \(all recordings\)"),
        ("n_classes", None, r"n_classes=None is not allowed"),
    ],
)
def test_check_setting_refuses_and_names_the_setting(name, value, message) -> None:
    with pytest.raises(ValueError, match=message):
        check_setting(name, value)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("threshold", 0, 0.0),  # Fig. 2's first grid point: >= 0 includes 0
        ("threshold", 1, 1.0),
        ("dropout", 0.0, 0.0),
        ("latency_target", 1.0, 1.0),
        ("current_decay", 1.0, 1.0),
        ("lr_th", 0, 0.0),
        ("epochs", 1, 1),
        ("augment", False, False),
        ("hidden", [64, 64], (64, 64)),
        ("train_subset", None, None),
        ("test_subset", 100, 100),
    ],
)
def test_check_setting_accepts_and_normalises(name, value, expected) -> None:
    checked = check_setting(name, value)
    assert checked == expected and type(checked) is type(expected)


def test_profile_config_merges_nested_overrides(config: dict) -> None:
    smoke = profile_config("smoke", config)
    assert smoke["training"]["batch_size"] == config["profiles"]["smoke"]["training"]["batch_size"]
    assert smoke["training"]["lr_w"] == config["training"]["lr_w"]  # untouched keys survive
    assert smoke["profile"] == "smoke" and "profiles" not in smoke
    assert config["training"]["batch_size"] == 32  # the raw config is not mutated


def test_missing_config_file_says_where_it_looked(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ROUSER_CONFIG", str(tmp_path / "nope.yml"))
    with pytest.raises(FileNotFoundError, match=r"nope\.yml"):
        load_config()


def test_a_later_setting_the_config_file_omits_keeps_its_earlier_value(config: dict) -> None:
    """A new setting is one declaration on `RunConfig`: without a `_config.yml` entry every
    run resolves to the value that reproduces the runs made before it, so no id changes."""
    without = {**config, "numerics": {**config["numerics"]}}
    del without["numerics"]["fast_step"]
    run = resolve_run("nmnist", "rouser", "cpu", without)
    assert run.fast_step is False
    assert run.run_id == resolve_run("nmnist", "rouser", "cpu", config).run_id


def test_profile_epochs_one_number_or_one_per_dataset():
    """`profiles.<name>.epochs`: a number for every dataset, or a mapping by dataset; a
    dataset the mapping leaves out is refused, saying where to add it."""
    config = load_config()
    config["profiles"]["smoke"]["epochs"] = {"nmnist": 3, "shd": 4}
    assert resolve_run("shd", "rouser", "smoke", config).epochs == 4
    with pytest.raises(
        ValueError,
        match=r"no epochs for dataset='dvs128': add 'dvs128: N' under profiles\.smoke\.epochs",
    ):
        resolve_run("dvs128", "rouser", "smoke", config)
    config["profiles"]["smoke"]["epochs"] = 5
    assert resolve_run("dvs128", "rouser", "smoke", config).epochs == 5
