"""Which runs stand behind each figure and table of the paper, for one profile.

Why a module: `_config.yml`'s `experiments` block says once which runs Table I, Fig. 2 and
Fig. 6 need. The Snakefile (what to train), the figure notebooks (what to read, what is
missing) and the book (which executed notebooks to show) all expand it here, so they cannot
disagree about a run's identity. Every run goes through `rouser.config.resolve_run`.

The training notebooks expose a run's settings as papermill parameters;
`notebook_parameters` and `run_from_parameters` convert between the two and refuse a run the
notebooks could not reproduce exactly (same `run_id` after the round trip).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from rouser.config import RunConfig, check_choice, load_config, profile_config, resolve_run
from rouser.records import record_path

# table2 reads `_config.yml` only; fig3, fig4, fig5 and thresholds read Table I's NMNIST runs.
EXPERIMENTS = ("table1", "table2", "fig2", "fig3", "fig4", "fig5", "fig6", "thresholds")
NMNIST_VIEWS = ("fig3", "fig4", "fig5", "thresholds")

# The run settings a training notebook's `parameters` cell exposes (besides paths and device).
NOTEBOOK_PARAMETERS = (
    "method",
    "profile",
    "seed",
    "epochs",
    "batch_size",
    "threshold",
    "tau",
    "scale",
    "lr_w",
    "lr_th",
)


def experiment_runs(name: str, profile: str, config: dict | None = None) -> list[RunConfig]:
    """The runs experiment `name` needs in `profile`, one per seed of the profile.

    Fig. 2 and Fig. 6 may name their own `seeds` (the cpu profile trains their many
    settings once, to stay within a laptop hour, and Table I's runs over all seeds).

    `config` is the raw `_config.yml` dict (default: read it); the profile's overrides of
    `experiments` (e.g. fewer epochs in smoke) are applied here.
    """
    check_choice("experiment", name, EXPERIMENTS)
    config = load_config() if config is None else config
    resolved = profile_config(profile, config)
    spec = resolved["experiments"]
    seeds = resolved["seeds"]
    if name == "table2":
        return []
    if name in NMNIST_VIEWS:
        return [
            run for run in experiment_runs("table1", profile, config) if run.dataset == "nmnist"
        ]
    if name == "table1":
        table1 = spec["table1"]
        return [
            resolve_run(dataset, method, profile, config, seed=seed)
            for dataset in table1["datasets"]
            for method in table1["methods"]
            for seed in seeds
        ]
    if name == "fig2":
        fig2 = spec["fig2"]
        return [
            resolve_run(
                dataset,
                fig2["method"],
                profile,
                config,
                seed=seed,
                threshold=threshold,
                epochs=fig2["epochs"],
            )
            for dataset in fig2["datasets"]
            for threshold in fig2["thresholds"]
            for seed in fig2.get("seeds", seeds)
        ]
    # fig6: threshold learning on and off (lr_th = 0) from the same seed, i.e. the same
    # initial weights; both are "rouser" runs so that only lr_th differs between them.
    fig6 = spec["fig6"]
    return [
        resolve_run(
            fig6["dataset"],
            "rouser",
            profile,
            config,
            seed=seed,
            epochs=fig6["epochs"],
            threshold=setting["threshold"],
            tau=setting["tau"],
            scale=setting["scale"],
            lr_th=lr_th,
        )
        for setting in fig6["settings"].values()
        for lr_th in setting["lr_th"]
        for seed in fig6.get("seeds", seeds)
    ]


def all_runs(profile: str, config: dict | None = None) -> list[RunConfig]:
    """Every run of every experiment in `profile`, each `run_id` once, in experiment order.

    Experiments share runs (Fig. 6's first setting with threshold learning on is Table I's
    NMNIST Rouser run when the epochs agree); training it once is the point of the ids.
    """
    config = load_config() if config is None else config
    unique: dict[str, RunConfig] = {}
    for name in EXPERIMENTS:
        for run in experiment_runs(name, profile, config):
            unique.setdefault(run.run_id, run)
    return list(unique.values())


def missing_runs(
    name: str,
    profile: str,
    runs_dir: str | os.PathLike | None = None,
    config: dict | None = None,
) -> list[RunConfig]:
    """The runs of experiment `name` in `profile` that have no record in `runs_dir` yet.

    A record that exists but is not finished ("running", "failed") is not missing: it is
    reported by whoever reads it, with its status, because rerunning will not fix a failure.
    """
    return [
        run
        for run in experiment_runs(name, profile, config)
        if not record_path(run, runs_dir).is_file()
    ]


def notebook_parameters(run: RunConfig, config: dict | None = None) -> dict[str, Any]:
    """Papermill parameters that make a training notebook train exactly `run`.

    Raises ValueError when `run` changes a setting the notebooks do not expose (e.g. a
    custom `hidden`): the notebook would silently train a different run.
    """
    parameters = {name: getattr(run, name) for name in NOTEBOOK_PARAMETERS}
    rebuilt = run_from_parameters(run.dataset, parameters, config)
    if rebuilt != run:
        differing = [
            field.name
            for field in dataclasses.fields(RunConfig)
            if getattr(rebuilt, field.name) != getattr(run, field.name)
        ]
        raise ValueError(
            f"run {run.run_id} differs from its profile's defaults in {differing}, which the "
            f"training notebooks do not take as parameters (they take {list(NOTEBOOK_PARAMETERS)})"
        )
    return parameters


def run_from_parameters(
    dataset: str, parameters: Mapping[str, Any], config: dict | None = None
) -> RunConfig:
    """The run a training notebook for `dataset` trains with these papermill parameters.

    This is the notebook's own `resolve_run` call; paths and device are not part of a run.
    """
    settings = {key: value for key, value in parameters.items() if key not in ("method", "profile")}
    return resolve_run(dataset, parameters["method"], parameters["profile"], config, **settings)
