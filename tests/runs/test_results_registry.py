"""The results registry: every figure and table declared once, and consistent with the
notebooks, the report's draw functions, the paper's values and `_config.yml`."""

from __future__ import annotations

import pytest
import yaml

from rouser import paths
from rouser.config import load_config
from rouser.report.render import DRAWERS
from rouser.runs.experiments import experiment_names, experiment_runs
from rouser.runs.results import RESULTS, Result, result, result_runs

PAPER_VALUES = yaml.safe_load((paths.REPO_ROOT / "rouser" / "paper_values.yml").read_text())
PROFILES = tuple(load_config()["profiles"])


@pytest.mark.parametrize("name", RESULTS)
def test_every_result_has_its_notebook(name: str) -> None:
    entry = RESULTS[name]
    assert entry.name == name
    assert (paths.NOTEBOOKS_DIR / f"{name}.ipynb").is_file()


def test_every_result_notebook_is_in_the_registry() -> None:
    """A notebook that is neither a training notebook nor a result would have no rule."""
    training = {"nmnist", "dvs128", "shd"}
    stems = {path.stem for path in paths.NOTEBOOKS_DIR.glob("*.ipynb")}
    assert stems - training == set(RESULTS)


@pytest.mark.parametrize("name", RESULTS)
def test_draw_function_exists_in_the_report(name: str) -> None:
    draw = RESULTS[name].draw
    owners = [module for module in DRAWERS if hasattr(module, draw)]
    assert len(owners) == 1, f"{name}: draw={draw!r} found in {owners}"
    assert callable(getattr(owners[0], draw))
    assert owners[0] in DRAWERS


@pytest.mark.parametrize("name", RESULTS)
def test_paper_key_exists_in_the_papers_values(name: str) -> None:
    key = RESULTS[name].paper
    if key is not None:
        assert key in PAPER_VALUES, f"{name}: paper={key!r} not in paper_values.yml"


@pytest.mark.parametrize("name", RESULTS)
def test_experiments_and_datasets_exist(name: str) -> None:
    entry = RESULTS[name]
    assert set(entry.experiments) <= set(experiment_names())
    assert set(entry.datasets) <= {"nmnist", "dvs128", "shd"}


def test_every_experiment_is_read_by_some_result() -> None:
    read = {experiment for entry in RESULTS.values() for experiment in entry.experiments}
    assert set(experiment_names()) <= read


def test_unknown_result_is_an_error_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"result='fig2'.*'fig2_threshold_grid'"):
        result("fig2")  # the old short name
    with pytest.raises(ValueError, match=r"result='fig7' is not allowed"):
        result_runs("fig7", "smoke")
    assert result("table1") is RESULTS["table1"]


def test_table2_reads_no_runs() -> None:
    assert RESULTS["table2"].experiments == ()
    assert result_runs("table2", "paper") == []


@pytest.mark.parametrize("profile", PROFILES)
def test_result_runs_filter_datasets_and_deduplicate(profile: str) -> None:
    table1 = experiment_runs("table1", profile)
    nmnist = [run for run in table1 if run.dataset == "nmnist"]
    horizon = experiment_runs("horizon_methods", profile)
    thresholds = result_runs("thresholds", profile)  # Table I's, then the horizon's others
    assert thresholds[: len(nmnist)] == nmnist
    assert {r.run_id for r in thresholds} == {r.run_id for r in [*nmnist, *horizon]}
    longer = [*experiment_runs("paper_epoch", profile), *horizon]
    for name in ("fig3_weight_change", "fig4_dead_neurons", "fig5_spike_rates"):
        runs = result_runs(name, profile)  # Table I's, then the longer ones not among them
        assert runs[: len(nmnist)] == nmnist
        assert {r.run_id for r in runs} == {r.run_id for r in [*nmnist, *longer]}
    assert result_runs("table1", profile) == table1
    fidelity = result_runs("fidelity", profile)
    ids = [run.run_id for run in fidelity]
    assert len(ids) == len(set(ids))
    wanted = [*experiment_runs("fidelity", profile), *table1]
    assert set(ids) == {run.run_id for run in wanted if run.dataset == "nmnist"}
    reproduce = {run.run_id for run in result_runs("reproduce", profile)}
    assert reproduce == {
        run.run_id
        for name in RESULTS["reproduce"].experiments
        for run in experiment_runs(name, profile)
    }


def test_result_runs_keep_experiment_order() -> None:
    fig6 = experiment_runs("fig6", "smoke")
    assert result_runs("fig6_ablation", "smoke")[: len(fig6)] == fig6


def test_entries_are_frozen() -> None:
    with pytest.raises(AttributeError):
        RESULTS["table1"].title = "x"  # type: ignore[misc]
    assert Result("x", "X", "table1").experiments == ()
