"""The expansion of `_config.yml`'s experiments into runs, and the notebook parameter mapping."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from rouser.config import deep_merge, load_config, profile_config
from rouser.data import binning_for
from rouser.data.loaders import HOLDOUT_FRACTION
from rouser.report.style import load_paper_values
from rouser.runs.experiments import (
    NOTEBOOK_OPTIONS,
    NOTEBOOK_PARAMETERS,
    all_runs,
    experiment_names,
    experiment_runs,
    missing_runs,
    notebook_parameters,
    notebook_run,
    run_from_parameters,
    run_labels,
)
from rouser.runs.train import build_model

PROFILES = tuple(load_config()["profiles"])
SETTINGS = {
    "rouser defaults", "fixed point", "delay shift", "weight norm", "dropout 0.05",
    "lava-dl surrogate", "8-bit weights", "lava-dl augmentation", "loss summed over the batch",
    "lava-dl time bins", "all of lava-dl's",
}  # fmt: skip


@pytest.fixture(scope="module")
def config() -> dict:
    return load_config()


def seeds_of(name: str, profile: str, config: dict) -> list[int]:
    resolved = profile_config(profile, config)
    return resolved["experiments"][name].get("seeds", resolved["seeds"])


def test_experiment_names_are_the_config_files(config: dict) -> None:
    assert experiment_names(config) == [
        "table1", "fig2", "fig6", "fidelity", "paper_epoch", "paper_epoch_6b",
        "horizon_methods", "horizon_fig2", "horizon_fig6b"
    ]  # fmt: skip
    extra = deep_merge(
        config, {"experiments": {"mine": {"datasets": ["shd"], "methods": ["rouser"]}}}
    )
    assert experiment_names(extra)[-1] == "mine"
    assert [run.dataset for run in experiment_runs("mine", "smoke", extra)] == ["shd"]


def test_paper_epoch_runs_as_many_samples_as_one_paper_epoch(config: dict) -> None:
    """The cpu profile's epochs x its training recordings ~ the full N-MNIST training set."""
    full = load_paper_values()["datasets"]["nmnist"]["train"]
    for name in ("paper_epoch", "paper_epoch_6b"):
        for run in experiment_runs(name, "cpu", config):
            trained = run.train_subset - round(HOLDOUT_FRACTION * run.train_subset)
            assert abs(run.epochs * trained - full) <= trained / 2
        assert {run.epochs for run in experiment_runs(name, "paper", config)} == {1}


@pytest.mark.parametrize("profile", PROFILES)
def test_table1_is_every_dataset_method_and_seed(profile: str, config: dict) -> None:
    resolved = profile_config(profile, config)
    spec = resolved["experiments"]["table1"]
    runs = experiment_runs("table1", profile, config)
    expected = {
        (dataset, method, seed)
        for dataset in spec["datasets"]
        for method in spec["methods"]
        for seed in resolved["seeds"]
    }
    assert {(run.dataset, run.method, run.seed) for run in runs} == expected
    assert len(runs) == len(expected)
    assert all(run.epochs == resolved["epochs"] for run in runs)
    assert all(run.profile == profile for run in runs)
    assert set(run_labels("table1", profile, config).values()) == {""}  # no vary axis


def test_cpu_profile_is_nmnist_only(config: dict) -> None:
    for name in experiment_names(config):
        assert {run.dataset for run in experiment_runs(name, "cpu", config)} == {"nmnist"}


@pytest.mark.parametrize("profile", PROFILES)
def test_fig2_is_a_fixed_threshold_grid(profile: str, config: dict) -> None:
    spec = profile_config(profile, config)["experiments"]["fig2"]
    runs = experiment_runs("fig2", profile, config)
    assert {run.method for run in runs} == {"baseline"}
    assert not any(run.learn_threshold for run in runs)
    assert {run.epochs for run in runs} == {spec["epochs"]}
    seeds = seeds_of("fig2", profile, config)
    for dataset in spec["datasets"]:
        thresholds = sorted(run.threshold for run in runs if run.dataset == dataset)
        assert thresholds == sorted([0.0, 0.25, 0.5, 0.75, 1.0] * len(seeds))
    labels = run_labels("fig2", profile, config)
    assert all(labels[run.run_id] == f"Th {run.threshold:g}" for run in runs)


def test_fig2_paper_profile_trains_ten_epochs(config: dict) -> None:
    assert {run.epochs for run in experiment_runs("fig2", "paper", config)} == {10}


@pytest.mark.parametrize("profile", PROFILES)
def test_fig6_is_two_settings_times_learning_on_and_off(profile: str, config: dict) -> None:
    runs = experiment_runs("fig6", profile, config)
    labels = run_labels("fig6", profile, config)
    seeds = seeds_of("fig6", profile, config)
    assert len(runs) == 4 * len(seeds) and {run.method for run in runs} == {"rouser"}
    assert {run.dataset for run in runs} == {"nmnist"}
    expected = {
        "a, learning on": (1.25, 3.75, 1.5, 0.001),
        "a, learning off": (1.25, 3.75, 1.5, 0.0),
        "b, learning on": (0.25, 3.0, 3.0, 0.01),
        "b, learning off": (0.25, 3.0, 3.0, 0.0),
    }
    for seed in seeds:
        of_seed = {labels[run.run_id]: run for run in runs if run.seed == seed}
        assert list(of_seed) == list(expected)  # axes expand in order, the last one fastest
        for label, (threshold, tau, scale, lr_th) in expected.items():
            run = of_seed[label]
            assert (run.threshold, run.tau, run.scale, run.lr_th) == (threshold, tau, scale, lr_th)


def test_fig6_pair_starts_from_the_same_weights(config: dict) -> None:
    on, off = experiment_runs("fig6", "smoke", config)[:2]
    assert on.lr_th > 0 and off.lr_th == 0 and on.seed == off.seed
    first, second = build_model(on), build_model(off)
    for (name, a), (_, b) in zip(
        first.state_dict().items(), second.state_dict().items(), strict=True
    ):
        if not name.endswith("threshold"):
            assert torch.equal(a, b), name


@pytest.mark.parametrize("profile", PROFILES)
def test_fidelity_study_sets_the_method_inside_its_axis(profile: str, config: dict) -> None:
    runs = experiment_runs("fidelity", profile, config)
    labels = run_labels("fidelity", profile, config)
    seeds = seeds_of("fidelity", profile, config)
    assert len(runs) == len(labels) == len(SETTINGS) * 2 * len(seeds)
    assert len(set(labels.values())) == len(SETTINGS) * 2
    by_label = {labels[run.run_id]: run for run in runs}
    for label, run in by_label.items():
        setting, condition = label.split(", ", 1)
        assert setting in SETTINGS
        if condition == "Rouser":
            assert run.method == "rouser" and run.threshold == 1.25
        else:
            assert condition == "baseline, Th 0.25"
            assert run.method == "baseline" and run.threshold == 0.25
        assert run.dataset == "nmnist"
    defaults = by_label["rouser defaults, Rouser"]
    assert not (defaults.fixed_point or defaults.delay_shift or defaults.weight_norm)
    assert by_label["fixed point, Rouser"].fixed_point
    assert by_label["delay shift, baseline, Th 0.25"].delay_shift
    assert by_label["dropout 0.05, Rouser"].dropout == 0.05
    assert by_label["lava-dl surrogate, Rouser"].scale == 0.15
    assert by_label["8-bit weights, Rouser"].quantize_weights
    assert not defaults.quantize_weights
    lava = by_label["all of lava-dl's, baseline, Th 0.25"]
    assert (lava.fixed_point, lava.delay_shift, lava.weight_norm, lava.dropout, lava.scale) == (
        True,
        True,
        True,
        0.05,
        0.15,
    )
    assert lava.quantize_weights and lava.lava_dl_augment and lava.loss_sum_over_batch
    assert lava.lava_dl_bins and binning_for(lava).lava_dl
    assert by_label["lava-dl augmentation, Rouser"].lava_dl_augment
    assert by_label["loss summed over the batch, Rouser"].loss_sum_over_batch
    assert by_label["lava-dl time bins, Rouser"].lava_dl_bins
    assert not (defaults.loss_sum_over_batch or binning_for(defaults).lava_dl)


def test_experiment_without_a_method_is_refused(config: dict) -> None:
    bad = deep_merge(config, {"experiments": {"x": {"datasets": ["shd"], "vary": [{"a": {}}]}}})
    with pytest.raises(ValueError, match=r"experiment 'x' names no method for run \('a',\)"):
        experiment_runs("x", "smoke", bad)


def test_experiment_with_an_unknown_key_is_refused(config: dict) -> None:
    bad = deep_merge(config, {"experiments": {"fig2": {"thresholds": [0.5]}}})
    with pytest.raises(ValueError, match=r"experiment 'fig2' .*unknown keys \['thresholds'\]"):
        experiment_runs("fig2", "smoke", bad)


def test_a_vary_entry_with_a_bad_value_names_it(config: dict) -> None:
    bad = deep_merge(config, {"experiments": {"fig2": {"vary": [{"Th -1": {"threshold": -1}}]}}})
    with pytest.raises(ValueError, match=r"threshold=-1(\.0)? is not allowed"):
        experiment_runs("fig2", "smoke", bad)


def test_unknown_experiment_names_the_choices(config: dict) -> None:
    with pytest.raises(ValueError, match=r"experiment='fig7'.*fig6"):
        experiment_runs("fig7", "smoke", config)


@pytest.mark.parametrize("profile", PROFILES)
def test_all_runs_is_the_deduplicated_union(profile: str, config: dict) -> None:
    runs = all_runs(profile, config)
    ids = [run.run_id for run in runs]
    assert len(ids) == len(set(ids))
    union = {
        run.run_id
        for name in experiment_names(config)
        for run in experiment_runs(name, profile, config)
    }
    assert set(ids) == union


def test_shared_runs_are_trained_once(config: dict) -> None:
    """Smoke's Fig. 6 (a) with lr_Th on is exactly Table I's NMNIST Rouser run."""
    table1 = {run.run_id for run in experiment_runs("table1", "smoke", config)}
    fig6 = {run.run_id for run in experiment_runs("fig6", "smoke", config)}
    shared = table1 & fig6
    assert len(shared) == 1
    (run_id,) = shared
    assert run_labels("fig6", "smoke", config)[run_id] == "a, learning on"
    total = sum(len(experiment_runs(name, "smoke", config)) for name in experiment_names(config))
    assert len(all_runs("smoke", config)) < total


def test_missing_runs_are_those_without_a_record(tmp_path, config: dict) -> None:
    runs = experiment_runs("fig6", "smoke", config)
    assert missing_runs(runs, tmp_path) == runs
    (tmp_path / f"{runs[0].run_id}.json").write_text(json.dumps({"schema": 1}))
    assert missing_runs(runs, tmp_path) == runs[1:]


@pytest.mark.parametrize("profile", PROFILES)
def test_notebook_parameters_round_trip(profile: str, config: dict) -> None:
    for run in all_runs(profile, config):
        parameters = notebook_parameters(run, config)
        assert set(parameters) == set(NOTEBOOK_PARAMETERS)
        # papermill passes parameters as YAML/JSON: survive that serialisation too
        parameters = json.loads(json.dumps(parameters))
        assert run_from_parameters(run.dataset, parameters, config).run_id == run.run_id


def test_notebook_parameters_cover_the_lava_dl_options_and_threads() -> None:
    assert {"threads", "fixed_point", "delay_shift", "weight_norm", "dropout"} <= set(
        NOTEBOOK_PARAMETERS
    )
    assert {"data_root", "runs_dir", "device"} <= set(NOTEBOOK_OPTIONS)
    assert not set(NOTEBOOK_OPTIONS) & set(NOTEBOOK_PARAMETERS)


def test_notebook_parameters_refuse_a_run_notebooks_cannot_express(config: dict) -> None:
    run = dataclasses.replace(experiment_runs("table1", "smoke", config)[0], hidden=(7,))
    with pytest.raises(ValueError, match=r"\['hidden'\]"):
        notebook_parameters(run, config)


def test_bad_notebook_parameter_names_the_allowed_values(config: dict) -> None:
    parameters = notebook_parameters(experiment_runs("table1", "smoke", config)[0], config)
    with pytest.raises(ValueError, match=r"method='slayer'.*'rouser', 'baseline'"):
        run_from_parameters("nmnist", parameters | {"method": "slayer"}, config)


def test_an_experiment_may_name_its_own_seeds() -> None:
    """The cpu profile trains Fig. 2's grid and Fig. 6's ablation on one seed, the fidelity study
    on two, Table I on all."""
    assert {run.seed for run in experiment_runs("fig2", "cpu")} == {0}
    assert {run.seed for run in experiment_runs("fig6", "cpu")} == {0}
    assert {run.seed for run in experiment_runs("fidelity", "cpu")} == {0, 1}
    assert {run.seed for run in experiment_runs("table1", "cpu")} == {0, 1, 2}


# ---------------------------------------------------------------------------- notebook_run


def notebook_namespace(**changes) -> dict:
    """What a training notebook's globals() hold after its parameters cell (defaults)."""
    namespace = {name: None for name in (*NOTEBOOK_PARAMETERS, *NOTEBOOK_OPTIONS)}
    namespace["method"] = "rouser"
    # what IPython and the notebook's own imports add: never parameters
    namespace |= {"In": [""], "Out": {}, "_": None, "_i1": "", "json": json, "print": print}
    return namespace | changes


def test_notebook_run_defaults_to_the_cpu_profile() -> None:
    run, options = notebook_run("nmnist", notebook_namespace())
    assert run.profile == "cpu" and run.method == "rouser" and run.dataset == "nmnist"
    assert options == dict.fromkeys(NOTEBOOK_OPTIONS)


def test_notebook_run_passes_parameters_and_options() -> None:
    run, options = notebook_run(
        "shd",
        notebook_namespace(profile="smoke", epochs=1, dropout=0.05, runs_dir="/r", device="cpu"),
    )
    assert (run.profile, run.epochs, run.dropout) == ("smoke", 1, 0.05)
    assert options == dict.fromkeys(NOTEBOOK_OPTIONS) | {"runs_dir": "/r", "device": "cpu"}


def test_notebook_run_refuses_an_unknown_parameter_naming_it_and_the_known_ones() -> None:
    namespace = notebook_namespace(epoch=1)  # papermill's `-p epoch 1`, a typo for epochs
    with pytest.raises(ValueError, match=r"unknown notebook parameter\(s\) \['epoch'\]") as error:
        notebook_run("nmnist", namespace)
    for known in (*NOTEBOOK_PARAMETERS, *NOTEBOOK_OPTIONS):
        assert repr(known) in str(error.value), known


def test_notebook_run_refuses_a_missing_parameter() -> None:
    namespace = notebook_namespace()
    del namespace["threads"]
    with pytest.raises(ValueError, match=r"parameters cell must define \['threads'\]"):
        notebook_run("nmnist", namespace)


def test_notebook_run_checks_values() -> None:
    with pytest.raises(ValueError, match=r"epochs=2\.5 is not allowed"):
        notebook_run("nmnist", notebook_namespace(profile="smoke", epochs=2.5))


def test_a_vary_entry_can_name_the_seeds_it_trains(config: dict) -> None:
    axis = {"short": {"epochs": 1}, "long": {"epochs": 2, "seeds": [1]}}
    spec = {"x": {"datasets": ["shd"], "methods": ["rouser"], "seeds": [0, 1], "vary": [axis]}}
    labels = run_labels("x", "smoke", deep_merge(config, {"experiments": spec}))
    trained = sorted((label, run_id.split("-")[2]) for run_id, label in labels.items())
    assert trained == [("long", "seed1"), ("short", "seed0"), ("short", "seed1")]
