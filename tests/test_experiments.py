"""The expansion of `_config.yml`'s experiments into runs, and the notebook parameter mapping."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from rouser.config import PROFILES, load_config, profile_config
from rouser.experiments import (
    EXPERIMENTS,
    NMNIST_VIEWS,
    NOTEBOOK_PARAMETERS,
    all_runs,
    experiment_runs,
    missing_runs,
    notebook_parameters,
    run_from_parameters,
)
from rouser.train import build_model


@pytest.fixture(scope="module")
def config() -> dict:
    return load_config()


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
    assert all(run.epochs == resolved["epochs"][run.dataset] for run in runs)
    assert all(run.profile == profile for run in runs)


def test_cpu_profile_is_nmnist_only(config: dict) -> None:
    for name in ("table1", "fig2", "fig6"):
        assert {run.dataset for run in experiment_runs(name, "cpu", config)} == {"nmnist"}


@pytest.mark.parametrize("profile", PROFILES)
def test_fig2_is_a_fixed_threshold_grid(profile: str, config: dict) -> None:
    resolved = profile_config(profile, config)
    spec = resolved["experiments"]["fig2"]
    runs = experiment_runs("fig2", profile, config)
    assert {run.method for run in runs} == {"baseline"}
    assert not any(run.learn_threshold for run in runs)
    assert {run.epochs for run in runs} == {spec["epochs"]}
    for dataset in spec["datasets"]:
        thresholds = sorted(run.threshold for run in runs if run.dataset == dataset)
        seeds = spec.get("seeds", resolved["seeds"])
        assert thresholds == sorted(spec["thresholds"] * len(seeds))


def test_fig2_paper_profile_trains_ten_epochs(config: dict) -> None:
    assert {run.epochs for run in experiment_runs("fig2", "paper", config)} == {10}


@pytest.mark.parametrize("profile", PROFILES)
def test_fig6_pairs_threshold_learning_on_and_off(profile: str, config: dict) -> None:
    resolved = profile_config(profile, config)
    spec = resolved["experiments"]["fig6"]
    runs = experiment_runs("fig6", profile, config)
    assert {run.method for run in runs} == {"rouser"}
    assert {run.dataset for run in runs} == {spec["dataset"]}
    seeds = spec.get("seeds", resolved["seeds"])
    assert len(runs) == sum(len(s["lr_th"]) for s in spec["settings"].values()) * len(seeds)
    for setting in spec["settings"].values():
        for seed in seeds:
            pair = [
                run
                for run in runs
                if (run.threshold, run.tau, run.scale, run.seed)
                == (setting["threshold"], setting["tau"], setting["scale"], seed)
            ]
            assert sorted(run.lr_th for run in pair) == sorted(setting["lr_th"])
            assert 0.0 in {run.lr_th for run in pair}


def test_fig6_pair_starts_from_the_same_weights(config: dict) -> None:
    on, off = experiment_runs("fig6", "smoke", config)[:2]
    assert on.lr_th > 0 and off.lr_th == 0 and on.seed == off.seed
    first, second = build_model(on), build_model(off)
    for (name, a), (_, b) in zip(
        first.state_dict().items(), second.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("name", NMNIST_VIEWS)
def test_nmnist_views_are_table1_nmnist_runs(name: str, config: dict) -> None:
    runs = experiment_runs(name, "smoke", config)
    table1 = experiment_runs("table1", "smoke", config)
    assert runs == [run for run in table1 if run.dataset == "nmnist"]
    assert {run.method for run in runs} == {"baseline", "rouser"}


def test_table2_needs_no_runs(config: dict) -> None:
    assert experiment_runs("table2", "paper", config) == []


def test_unknown_experiment_names_the_choices(config: dict) -> None:
    with pytest.raises(ValueError, match=r"experiment='fig7'.*fig6"):
        experiment_runs("fig7", "smoke", config)


@pytest.mark.parametrize("profile", PROFILES)
def test_all_runs_is_the_deduplicated_union(profile: str, config: dict) -> None:
    runs = all_runs(profile, config)
    ids = [run.run_id for run in runs]
    assert len(ids) == len(set(ids))
    union = {run.run_id for name in EXPERIMENTS for run in experiment_runs(name, profile, config)}
    assert set(ids) == union


def test_shared_runs_are_trained_once(config: dict) -> None:
    """Smoke's Fig. 6 (a) with lr_Th on is exactly Table I's NMNIST Rouser run."""
    table1 = {run.run_id for run in experiment_runs("table1", "smoke", config)}
    fig6 = {run.run_id for run in experiment_runs("fig6", "smoke", config)}
    assert table1 & fig6
    total = sum(len(experiment_runs(name, "smoke", config)) for name in ("table1", "fig2", "fig6"))
    assert len(all_runs("smoke", config)) == total - len(table1 & fig6)


def test_missing_runs_are_those_without_a_record(tmp_path, config: dict) -> None:
    runs = experiment_runs("fig6", "smoke", config)
    assert missing_runs("fig6", "smoke", tmp_path, config) == runs
    (tmp_path / f"{runs[0].run_id}.json").write_text(json.dumps({"schema": 1}))
    assert missing_runs("fig6", "smoke", tmp_path, config) == runs[1:]


@pytest.mark.parametrize("profile", PROFILES)
def test_notebook_parameters_round_trip(profile: str, config: dict) -> None:
    for run in all_runs(profile, config):
        parameters = notebook_parameters(run, config)
        assert set(parameters) == set(NOTEBOOK_PARAMETERS)
        # papermill passes parameters as YAML/JSON: survive that serialisation too
        parameters = json.loads(json.dumps(parameters))
        assert run_from_parameters(run.dataset, parameters, config).run_id == run.run_id


def test_notebook_parameters_refuse_a_run_notebooks_cannot_express(config: dict) -> None:
    run = dataclasses.replace(experiment_runs("table1", "smoke", config)[0], hidden=(7,))
    with pytest.raises(ValueError, match=r"\['hidden'\]"):
        notebook_parameters(run, config)


def test_bad_notebook_parameter_names_the_allowed_values(config: dict) -> None:
    parameters = notebook_parameters(experiment_runs("table1", "smoke", config)[0], config)
    with pytest.raises(ValueError, match=r"method='slayer'.*'rouser', 'baseline'"):
        run_from_parameters("nmnist", parameters | {"method": "slayer"}, config)


def test_an_experiment_may_name_its_own_seeds() -> None:
    """The cpu profile trains Fig. 2's grid and Fig. 6's ablation on one seed, Table I on all."""
    assert {run.seed for run in experiment_runs("fig2", "cpu")} == {0}
    assert {run.seed for run in experiment_runs("fig6", "cpu")} == {0}
    assert {run.seed for run in experiment_runs("table1", "cpu")} == {0, 1, 2}
