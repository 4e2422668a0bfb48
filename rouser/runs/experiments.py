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
from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import Any

from rouser.config import (
    NOTEBOOK_PARAMETERS,
    RunConfig,
    check_choice,
    load_config,
    profile_config,
    resolve_run,
)
from rouser.paths import DEFAULT_PROFILE
from rouser.runs.records import record_path

# A training notebook's parameters besides its run settings (`NOTEBOOK_PARAMETERS`).
NOTEBOOK_OPTIONS = ("data_root", "runs_dir", "device", "cache_dir", "export_nir")
# Names IPython itself puts in a notebook's namespace.
_IPYTHON_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "open"}


def experiment_names(config: dict | None = None) -> list[str]:
    """The experiments `_config.yml` declares, in its order."""
    config = load_config() if config is None else config
    return list(config["experiments"])


def _labelled_runs(
    name: str, profile: str, config: dict | None = None
) -> list[tuple[tuple[str, ...], RunConfig]]:
    """(labels of the axes' entries, run) for every run experiment `name` trains in `profile`."""
    config = load_config() if config is None else config
    check_choice("experiment", name, experiment_names(config))
    resolved = profile_config(profile, config)
    spec = resolved["experiments"][name]
    known = ("datasets", "methods", "epochs", "seeds", "settings", "vary")
    unknown = set(spec) - set(known)
    if unknown:
        raise ValueError(
            f"experiment {name!r} in _config.yml has unknown keys {sorted(unknown)}; "
            f"known: {', '.join(known)}"
        )
    combinations: list[tuple[tuple[str, ...], dict]] = [((), spec.get("settings", {}))]
    for axis in spec.get("vary", []):
        combinations = [
            ((*labels, label), {**settings, **overrides})
            for labels, settings in combinations
            for label, overrides in axis.items()
        ]
    runs = []
    for dataset in spec["datasets"]:
        for method in spec.get("methods", [None]):
            for labels, combined in combinations:
                # An axis entry may name the seeds it trains (a later axis overrides): a path
                # added for one seed (e.g. a faster step) need not declare it for the others.
                settings = dict(combined)
                for seed in settings.pop("seeds", spec.get("seeds", resolved["seeds"])):
                    overrides = {"epochs": spec.get("epochs"), **settings, "seed": seed}
                    chosen = overrides.pop("method", method)
                    if chosen is None:
                        raise ValueError(
                            f"experiment {name!r} names no method for run {labels}: give "
                            "`methods` or a `method` in one of its `vary` entries"
                        )
                    run = resolve_run(dataset, chosen, profile, config, **overrides)
                    runs.append((labels, run))
    return runs


def experiment_runs(name: str, profile: str, config: dict | None = None) -> list[RunConfig]:
    """The runs experiment `name` needs in `profile`: datasets x methods x axes x seeds.

    `config` is the raw `_config.yml` dict (default: read it); the profile's overrides of
    `experiments` (fewer epochs, fewer seeds) are applied here.
    """
    return [run for _, run in _labelled_runs(name, profile, config)]


def run_labels(name: str, profile: str, config: dict | None = None) -> dict[str, str]:
    """run_id -> the labels of its `vary` entries ("b, learning off"): how figures name runs."""
    return {run.run_id: ", ".join(labels) for labels, run in _labelled_runs(name, profile, config)}


def all_runs(profile: str, config: dict | None = None) -> list[RunConfig]:
    """Every run of every experiment in `profile`, each `run_id` once, in experiment order.

    Experiments share runs (Fig. 6's first setting with threshold learning on is Table I's
    NMNIST Rouser run when the epochs agree); training it once is the point of the ids.
    """
    config = load_config() if config is None else config
    unique: dict[str, RunConfig] = {}
    for name in experiment_names(config):
        for run in experiment_runs(name, profile, config):
            unique.setdefault(run.run_id, run)
    return list(unique.values())


def missing_runs(
    runs: Iterable[RunConfig], runs_dir: str | os.PathLike | None = None
) -> list[RunConfig]:
    """The `runs` that have no record in `runs_dir` (default: each run's profile folder) yet.

    A record that exists but is not finished ("running", "failed") is not missing: it is
    reported by whoever reads it, with its status, because rerunning will not fix a failure.
    """
    return [run for run in runs if not record_path(run, runs_dir).is_file()]


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


def notebook_run(dataset: str, namespace: Mapping[str, Any]) -> tuple[RunConfig, dict]:
    """(run, {data_root, runs_dir, device, cache_dir, export_nir}) from a training
    notebook's parameter variables.

    Called first thing after the `parameters` cell with `globals()`: every variable there
    is a parameter, so a name that is not one of ours (papermill's `-p epoch 1` for
    `epochs`) is refused, naming it and the known ones, instead of silently training the
    defaults.
    """
    known = {*NOTEBOOK_PARAMETERS, *NOTEBOOK_OPTIONS}
    given = {
        name
        for name, value in namespace.items()
        if not name.startswith("_")
        and name not in _IPYTHON_NAMES
        and not isinstance(value, ModuleType)
        and not callable(value)
    }
    unknown = sorted(given - known)
    if unknown:
        raise ValueError(
            f"unknown notebook parameter(s) {unknown}; this notebook takes {sorted(known)}"
        )
    missing = sorted(known - given)
    if missing:
        raise ValueError(f"the parameters cell must define {missing}")
    parameters = {name: namespace[name] for name in NOTEBOOK_PARAMETERS}
    profile = parameters["profile"] or DEFAULT_PROFILE
    run = run_from_parameters(dataset, {**parameters, "profile": profile})
    return run, {name: namespace[name] for name in NOTEBOOK_OPTIONS}
