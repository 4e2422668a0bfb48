"""The registry of results: every figure and table the companion draws, declared once.

Why one list: the Snakefile (one rule per result), the book (one page per result), the
renderer (which draw function, which runs, which of the paper's values) and the tests all
read ``RESULTS``. Adding a figure is one entry here, its draw function in
:mod:`rouser.report` and its notebook ``notebooks/<name>.ipynb``. Which runs an experiment
trains is declared in ``_config.yml`` (``experiments``) and expanded by
:mod:`rouser.runs.experiments`.

This module imports neither matplotlib nor torch, so the Snakefile can build its job graph
without them; ``draw`` names a function of ``rouser.report.tables``, ``figures`` or
``claims``.
"""

from __future__ import annotations

import dataclasses

from rouser.config import RunConfig, check_choice
from rouser.runs.experiments import experiment_runs


@dataclasses.dataclass(frozen=True)
class Result:
    """One figure or table: where it comes from and where it goes.

    Attributes:
        name: the notebook's stem (``notebooks/<name>.ipynb``), the book page and the
            Snakemake target ``data/results/<profile>/<name>.ipynb``.
        title: as the book's table of contents and the figure show it.
        draw: the function (in ``rouser.report``'s tables, figures or claims) that draws it.
        experiments: the ``_config.yml`` experiments whose runs it reads.
        datasets: only these datasets' runs (all when empty).
        paper: its key in ``rouser/paper_values.yml`` (None: the paper has no such result).
        study: the study record it is drawn from, relative to the repository, and the
            module that makes it (``python -m <module>``), for a page without runs.
    """

    name: str
    title: str
    draw: str
    experiments: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()
    paper: str | None = None
    study: tuple[str, str] | None = None


RESULTS: dict[str, Result] = {
    result.name: result
    for result in (
        Result(
            "reproduce", "Does it reproduce?", "claims",
            ("table1", "fig2", "fig6", "paper_epoch", "paper_epoch_6b", "horizon_methods",
             "horizon_fig2", "horizon_fig6b"), (), None,
        ),
        Result("table1", "Table I: top-1 accuracy", "table1", ("table1",), (), "table1"),
        Result("table2", "Table II: hyperparameters", "table2", (), (), "table2"),
        Result(
            "fig2_threshold_grid", "Fig. 2: threshold grid", "fig2_threshold_grid",
            ("fig2", "horizon_fig2"), (), "fig2",
        ),
        Result(
            "fig3_weight_change", "Fig. 3: weight change", "fig3_weight_change",
            ("table1", "paper_epoch", "horizon_methods"), ("nmnist",), "fig3",
        ),
        Result(
            "fig4_dead_neurons", "Fig. 4: dead neurons", "fig4_dead_neurons",
            ("table1", "paper_epoch", "horizon_methods"), ("nmnist",), "fig4",
        ),
        Result(
            "fig5_spike_rates", "Fig. 5: spike rates", "fig5_spike_rates",
            ("table1", "paper_epoch", "horizon_methods"), ("nmnist",), "fig5",
        ),
        Result(
            "fig6_ablation", "Fig. 6: ablation", "fig6_ablation",
            ("fig6", "horizon_methods", "paper_epoch_6b", "horizon_fig6b"), (), "fig6",
        ),
        Result(
            "paper_epoch", "One paper epoch of steps (new)", "paper_epoch",
            ("paper_epoch", "paper_epoch_6b"),
            ("nmnist",), None,
        ),
        Result(
            "first_steps", "Why low thresholds fail at the start (new)", "first_steps",
            study=("records/studies/first_steps.json", "rouser.runs.first_steps"),
        ),
        Result(
            "thresholds", "Learned thresholds (new)", "thresholds", ("table1", "horizon_methods"),
            ("nmnist",), None,
        ),
        Result(
            "fidelity", "Fidelity to lava-dl (new)", "fidelity", ("fidelity", "table1"),
            ("nmnist",), None,
        ),
    )
}  # fmt: skip


def result(name: str) -> Result:
    """The registry entry `name`, or a ValueError listing the known ones."""
    check_choice("result", name, list(RESULTS))
    return RESULTS[name]


def result_runs(name: str, profile: str, config: dict | None = None) -> list[RunConfig]:
    """The runs result `name` reads in `profile`, each once, in experiment order."""
    entry = result(name)
    unique: dict[str, RunConfig] = {}
    for experiment in entry.experiments:
        for run in experiment_runs(experiment, profile, config):
            if not entry.datasets or run.dataset in entry.datasets:
                unique.setdefault(run.run_id, run)
    return list(unique.values())
