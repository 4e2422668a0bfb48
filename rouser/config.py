"""Experiment settings: `_config.yml`, profiles, and one validated `RunConfig` per run.

Why one module: the notebooks, the Snakefile and the training code must agree on what a run
is. They all go through `resolve_run`, so a run's identity (`RunConfig.run_id`) is derived
from the same resolved values everywhere, and a wrong name or value fails early with a
message naming the parameter and what it accepts.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import os
from typing import Any

import yaml

from rouser.paths import config_path

DATASETS = ("nmnist", "dvs128", "shd")
METHODS = ("rouser", "baseline")

__all__ = ["DATASETS", "METHODS", "RunConfig", "profile_config", "resolve_run"]


def deep_merge(base: dict, override: dict) -> dict:
    """Return `base` with `override` merged in, recursively for nested dicts (no mutation)."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load_config(path: str | os.PathLike | None = None) -> dict:
    """Read `_config.yml` (or `$ROUSER_CONFIG`, or `path`) as a plain dict."""
    path = config_path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"experiment config not found at {path}; rouser reads the repository's _config.yml "
            "(set ROUSER_CONFIG to use another file)"
        )
    with path.open() as handle:
        return yaml.safe_load(handle)


def check_choice(name: str, value: Any, allowed: tuple | list) -> None:
    """Raise a ValueError naming the parameter and its allowed values if `value` is not one."""
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not allowed; choose one of {list(allowed)}")


def profile_config(profile: str, config: dict | None = None) -> dict:
    """The whole config with one profile's overrides applied (profiles change sizes only)."""
    config = load_config() if config is None else config
    check_choice("profile", profile, list(config["profiles"]))
    base = {key: value for key, value in config.items() if key != "profiles"}
    return deep_merge(base, config["profiles"][profile]) | {"profile": profile}


# What each run setting must be: (kind, lower bound, upper bound, what is allowed, in words);
# `_OPEN_BELOW` / `_OPEN_ABOVE` name the bounds a value may not equal.
# One table, checked before any data work, by the CLI, the notebooks and the Snakefile alike.
INT, REAL, FLAG, SIZES, OPTIONAL_INT = "integer", "finite number", "true or false", "sizes", "opt"
SETTINGS: dict[str, tuple[str, float | None, float | None, str]] = {
    "seed": (INT, 0, None, ">= 0"),
    "epochs": (INT, 1, None, ">= 1"),
    "batch_size": (INT, 1, None, ">= 1"),
    "threads": (INT, 1, None, ">= 1"),
    "threshold": (REAL, 0.0, None, ">= 0"),
    "tau": (REAL, 0.0, None, "> 0"),
    "scale": (REAL, 0.0, None, "> 0"),
    "current_decay": (REAL, 0.0, 1.0, "in [0, 1]"),
    "voltage_decay": (REAL, 0.0, 1.0, "in [0, 1]"),
    "lr_w": (REAL, 0.0, None, ">= 0"),
    "lr_th": (REAL, 0.0, None, ">= 0"),
    "true_rate": (REAL, 0.0, 1.0, "in [0, 1]"),
    "false_rate": (REAL, 0.0, 1.0, "in [0, 1]"),
    "dropout": (REAL, 0.0, 1.0, "in [0, 1)"),
    "latency_target": (REAL, 0.0, 1.0, "in (0, 1]"),
    "chance_margin": (REAL, 0.0, 1.0, "in [0, 1)"),
    "sensor_size": (SIZES, 1, None, "a list of integers >= 1"),
    "hidden": (SIZES, 1, None, "a non-empty list of integers >= 1"),
    "n_classes": (INT, 1, None, ">= 1"),
    "time_bins": (INT, 1, None, ">= 1"),
    "bin_us": (INT, 1, None, ">= 1"),
    "train_subset": (OPTIONAL_INT, 1, None, "null (all recordings) or an integer >= 1"),
    "test_subset": (OPTIONAL_INT, 1, None, "null (all recordings) or an integer >= 1"),
    "augment": (FLAG, None, None, "true or false"),
    "synthetic": (FLAG, None, None, "true or false"),
    "fixed_point": (FLAG, None, None, "true or false"),
    "delay_shift": (FLAG, None, None, "true or false"),
    "weight_norm": (FLAG, None, None, "true or false"),
    "quantize_weights": (FLAG, None, None, "true or false"),
    "flush_denormal": (FLAG, None, None, "true or false"),
    "lava_dl_augment": (FLAG, None, None, "true or false"),
    "loss_sum_over_batch": (FLAG, None, None, "true or false"),
    "lava_dl_bins": (FLAG, None, None, "true or false"),
    "history_every": (INT, 1, None, ">= 1"),
    "fast_step": (FLAG, None, None, "true or false"),
}
# Settings added after records were committed, with the value that reproduces the runs made
# before they existed. At that value a setting is left out of `RunConfig.to_dict` (and so of
# `run_id`): every earlier run keeps its identity and its record stays current.
LATER_SETTINGS: dict[str, Any] = {
    "quantize_weights": False,
    "flush_denormal": False,
    "lava_dl_augment": False,
    "loss_sum_over_batch": False,
    "lava_dl_bins": False,
    "history_every": 1,
    "fast_step": False,
}
# Bounds that exclude their end point (everything else includes it).
_OPEN_BELOW = {"tau", "scale", "latency_target"}
_OPEN_ABOVE = {"dropout", "chance_margin"}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _finite(value: float) -> bool:
    """Finite as a float (an integer too large for a float is not)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def check_setting(name: str, value: Any) -> Any:
    """`value` as run setting `name` needs it (int, float, bool, tuple), or a ValueError.

    The error names the setting, the value given and what is allowed: a typo'd or
    non-finite value fails here, before any data is read, never later in the run.
    """
    kind, low, high, allowed = SETTINGS[name]
    given = value

    def refuse() -> ValueError:
        # "integer >= 1", "finite number > 0"; sizes and optional counts say it in `allowed`
        described = f"{kind} {allowed}" if kind in (INT, REAL) else allowed
        return ValueError(f"{name}={given!r} is not allowed: it must be {described}")

    if kind == FLAG:
        if not isinstance(value, bool):
            raise ValueError(f"{name}={value!r} is not allowed: it must be true or false")
        return value
    if kind == OPTIONAL_INT and value is None:
        return None
    if kind == SIZES:
        if not isinstance(value, list | tuple) or not value:
            raise refuse()
        if not all(_is_int(item) and item >= low for item in value):
            raise refuse()
        return tuple(value)
    if kind in (INT, OPTIONAL_INT):
        if not _is_int(value):
            raise refuse()
    elif isinstance(value, bool) or not isinstance(value, int | float) or not _finite(value):
        raise refuse()
    else:
        value = float(value)
    if low is not None and (value < low or (name in _OPEN_BELOW and value == low)):
        raise refuse()
    if high is not None and (value > high or (name in _OPEN_ABOVE and value == high)):
        raise refuse()
    return value


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything that determines one training run's result, and nothing else.

    Paths (data root, runs folder) are deliberately absent: moving the data must not change
    a run's identity. `threads` is present because it changes the numbers: torch's CPU
    matrix products split their sums across threads, so 1 and 2 threads give histories that
    differ in the last bits and, over epochs, in accuracy. The record also states the
    device and library versions it ran on (`rouser.runs.provenance.environment`).
    """

    dataset: str
    method: str
    profile: str
    seed: int
    epochs: int
    batch_size: int
    threads: int
    threshold: float
    tau: float
    scale: float
    current_decay: float
    voltage_decay: float
    fixed_point: bool
    lr_w: float
    lr_th: float
    true_rate: float
    false_rate: float
    delay_shift: bool
    weight_norm: bool
    dropout: float
    sensor_size: tuple[int, ...]
    hidden: tuple[int, ...]
    n_classes: int
    time_bins: int
    bin_us: int
    augment: bool
    train_subset: int | None
    test_subset: int | None
    synthetic: bool
    latency_target: float
    chance_margin: float
    quantize_weights: bool = False  # LATER_SETTINGS: a default keeps old records readable
    flush_denormal: bool = False  # LATER_SETTINGS too
    lava_dl_augment: bool = False  # LATER_SETTINGS too
    loss_sum_over_batch: bool = False  # LATER_SETTINGS too
    lava_dl_bins: bool = False  # LATER_SETTINGS too
    # The history holds epoch 0, every power of two, every `history_every`-th epoch and the
    # last (`rouser.runs.epochs.records_epoch`): a run of 1,340 short epochs keeps ~40 entries.
    history_every: int = 1  # LATER_SETTINGS too
    # Hidden spikes read as events where sparse, and torch's fused Adam: faster on the CPU,
    # other last bits than the default (`rouser.network`, `rouser.optim`).
    fast_step: bool = False  # LATER_SETTINGS too

    @property
    def learn_threshold(self) -> bool:
        """Rouser learns thresholds; the baseline keeps them frozen at `threshold`."""
        return self.method == "rouser"

    def to_dict(self) -> dict:
        """Plain JSON-able dict (tuples become lists), without `LATER_SETTINGS` at their
        earlier behaviour's value."""
        values = json.loads(json.dumps(dataclasses.asdict(self)))
        return {
            name: value
            for name, value in values.items()
            if name not in LATER_SETTINGS or value != LATER_SETTINGS[name]
        }

    @property
    def run_id(self) -> str:
        """Readable prefix plus a hash of every field: a changed setting is a new run."""
        canonical = json.dumps(self.to_dict(), sort_keys=True).encode()
        digest = hashlib.sha256(canonical).hexdigest()[:10]
        return f"{self.dataset}-{self.method}-seed{self.seed}-{digest}"


def run_fields() -> list[str]:
    """The names of every run setting, in `RunConfig` order."""
    return [field.name for field in dataclasses.fields(RunConfig)]


def resolve_run(
    dataset: str,
    method: str,
    profile: str,
    config: dict | None = None,
    **overrides: Any,
) -> RunConfig:
    """The `RunConfig` of one run: Table II defaults, the profile's sizes, then `overrides`.

    An override of `None` means "keep the profile's value", which is how a papermill
    `parameters` cell full of `None` defaults maps onto `_config.yml`. Every value is checked
    (`check_setting`) here, so a bad one fails before any data work.
    """
    config = load_config() if config is None else config
    check_choice("dataset", dataset, DATASETS)
    check_choice("method", method, METHODS)
    resolved = profile_config(profile, config)
    values: dict[str, Any] = {
        "dataset": dataset,
        "method": method,
        "profile": profile,
        "seed": resolved["seeds"][0],
        "epochs": resolved["epochs"][dataset],
        "train_subset": resolved["train_subset"],
        "test_subset": resolved["test_subset"],
        "synthetic": resolved["synthetic"],
        **resolved["numerics"],
        **resolved["neuron"],
        **resolved["network"],
        **resolved["training"],
        **resolved["datasets"][dataset],
    }
    fields = run_fields()
    for name, value in overrides.items():
        if name not in fields:
            raise ValueError(f"unknown run parameter {name!r}; known parameters: {sorted(fields)}")
        if value is not None:
            values[name] = value
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"_config.yml sets unknown run settings {unknown}; known: {fields}")
    for name in SETTINGS:
        values[name] = check_setting(name, values[name])
    native = config["datasets"][dataset]["n_classes"]
    if values["n_classes"] != native:
        raise ValueError(
            f"n_classes={values['n_classes']!r} is not allowed for dataset={dataset!r}: "
            f"its recordings have {native} classes"
        )
    if not values["false_rate"] <= values["true_rate"]:
        raise ValueError(
            f"false_rate={values['false_rate']!r} must not exceed true_rate="
            f"{values['true_rate']!r}: the labelled neuron is the one that should fire more"
        )
    return RunConfig(**{name: values[name] for name in fields})
