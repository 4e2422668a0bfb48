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

METHODS = ("rouser", "baseline")

__all__ = ["METHODS", "RunConfig", "profile_config", "resolve_run"]


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


# The kinds of run setting. What each setting must be is declared once, on its `RunConfig`
# field (`setting`), and checked before any data work by the CLI, the notebooks and the
# Snakefile alike (`check_setting`).
INT, REAL, FLAG, SIZES, OPTIONAL_INT = "integer", "finite number", "true or false", "sizes", "opt"


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
class Setting:
    """How one run setting is typed and bounded; declared once, on its `RunConfig` field.

    `low`/`high` bound a number (None: unbounded), `open_low`/`open_high` exclude the bound
    itself; for sizes `low` bounds each entry. `allowed` says it in words for errors and
    `--help`.
    """

    kind: str
    low: float | None = None
    high: float | None = None
    allowed: str = "true or false"
    open_low: bool = False
    open_high: bool = False


SUBSET = "null (all recordings) or an integer >= 1"


def setting(
    kind: str,
    low: float | None = None,
    high: float | None = None,
    allowed: str = "true or false",
    *,
    open_low: bool = False,
    open_high: bool = False,
    notebook: bool = False,
    later: Any = dataclasses.MISSING,
) -> Any:
    """A `RunConfig` field with its `Setting`: everything else about a setting derives from it.

    `notebook`: the training notebooks take it as a papermill parameter. `later`: a setting
    added after records were committed, with the value that reproduces the runs made before
    it existed; at that value it is left out of `RunConfig.to_dict` (and so of `run_id`), so
    every earlier run keeps its identity and its record stays current.
    """
    metadata = {
        "setting": Setting(kind, low, high, allowed, open_low, open_high),
        "notebook": notebook,
        "later": later is not dataclasses.MISSING,
    }
    return dataclasses.field(default=later, metadata=metadata)


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
    method: str = dataclasses.field(metadata={"notebook": True})
    profile: str = dataclasses.field(metadata={"notebook": True})
    seed: int = setting(INT, 0, None, ">= 0", notebook=True)
    epochs: int = setting(INT, 1, None, ">= 1", notebook=True)
    batch_size: int = setting(INT, 1, None, ">= 1", notebook=True)
    threads: int = setting(INT, 1, None, ">= 1", notebook=True)
    threshold: float = setting(REAL, 0.0, None, ">= 0", notebook=True)
    tau: float = setting(REAL, 0.0, None, "> 0", open_low=True, notebook=True)
    scale: float = setting(REAL, 0.0, None, "> 0", open_low=True, notebook=True)
    current_decay: float = setting(REAL, 0.0, 1.0, "in [0, 1]")
    voltage_decay: float = setting(REAL, 0.0, 1.0, "in [0, 1]")
    fixed_point: bool = setting(FLAG, notebook=True)
    lr_w: float = setting(REAL, 0.0, None, ">= 0", notebook=True)
    lr_th: float = setting(REAL, 0.0, None, ">= 0", notebook=True)
    true_rate: float = setting(REAL, 0.0, 1.0, "in [0, 1]")
    false_rate: float = setting(REAL, 0.0, 1.0, "in [0, 1]")
    delay_shift: bool = setting(FLAG, notebook=True)
    weight_norm: bool = setting(FLAG, notebook=True)
    dropout: float = setting(REAL, 0.0, 1.0, "in [0, 1)", open_high=True, notebook=True)
    sensor_size: tuple[int, ...] = setting(SIZES, 1, None, "a list of integers >= 1")
    hidden: tuple[int, ...] = setting(SIZES, 1, None, "a non-empty list of integers >= 1")
    n_classes: int = setting(INT, 1, None, ">= 1")
    time_bins: int = setting(INT, 1, None, ">= 1")
    bin_us: int = setting(INT, 1, None, ">= 1")
    augment: bool = setting(FLAG)
    train_subset: int | None = setting(OPTIONAL_INT, 1, None, SUBSET)
    test_subset: int | None = setting(OPTIONAL_INT, 1, None, SUBSET)
    synthetic: bool = setting(FLAG)
    latency_target: float = setting(REAL, 0.0, 1.0, "in (0, 1]", open_low=True)
    chance_margin: float = setting(REAL, 0.0, 1.0, "in [0, 1)", open_high=True)
    # Later settings: `later` is the value that reproduces the runs made before they existed.
    quantize_weights: bool = setting(FLAG, later=False, notebook=True)
    flush_denormal: bool = setting(FLAG, later=False, notebook=True)
    lava_dl_augment: bool = setting(FLAG, later=False, notebook=True)
    loss_sum_over_batch: bool = setting(FLAG, later=False, notebook=True)
    lava_dl_bins: bool = setting(FLAG, later=False, notebook=True)
    # The history holds epoch 0, every power of two, every `history_every`-th epoch and the
    # last (`rouser.runs.epochs.records_epoch`): a run of 1,340 short epochs keeps ~40 entries.
    history_every: int = setting(INT, 1, None, ">= 1", later=1, notebook=True)
    # Hidden spikes read as events where sparse, and torch's fused Adam: faster on the CPU,
    # other last bits than the default (`rouser.network`, `rouser.optim`).
    fast_step: bool = setting(FLAG, later=False, notebook=True)
    # The dense CPU products through oneDNN instead of MKL: faster on AMD CPUs, other last bits
    # (`rouser.kernels.dense_product`).
    onednn_products: bool = setting(FLAG, later=False, notebook=True)

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


def _fields_where(key: str) -> list[dataclasses.Field]:
    return [field for field in dataclasses.fields(RunConfig) if field.metadata.get(key)]


# Derived from the declarations on `RunConfig`'s fields (`setting`):
# every checked setting: (kind, lowest, highest, allowed values in words)
SETTINGS: dict[str, tuple[str, float | None, float | None, str]] = {
    field.name: dataclasses.astuple(field.metadata["setting"])[:4]
    for field in _fields_where("setting")
}
# later settings and the value that reproduces the runs made before them
LATER_SETTINGS: dict[str, Any] = {field.name: field.default for field in _fields_where("later")}
# the run settings a training notebook's `parameters` cell exposes
NOTEBOOK_PARAMETERS: tuple[str, ...] = tuple(field.name for field in _fields_where("notebook"))
# bounds that exclude their end point (everything else includes it)
_OPEN_BELOW = {
    field.name for field in _fields_where("setting") if field.metadata["setting"].open_low
}
_OPEN_ABOVE = {
    field.name for field in _fields_where("setting") if field.metadata["setting"].open_high
}


def run_fields() -> list[str]:
    """The names of every run setting, in `RunConfig` order."""
    return [field.name for field in dataclasses.fields(RunConfig)]


def _profile_epochs(epochs: int | dict, profile: str, dataset: str) -> int:
    """A profile's epochs: one number for every dataset, or one per dataset by name."""
    chosen = epochs.get(dataset) if isinstance(epochs, dict) else epochs
    if chosen is None:
        raise ValueError(
            f"profile {profile!r} gives no epochs for dataset={dataset!r}: add '{dataset}: N' "
            f"under profiles.{profile}.epochs in _config.yml, or give one number for all"
        )
    return chosen


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
    # the datasets `_config.yml` gives settings for (each one named in rouser.datasets)
    check_choice("dataset", dataset, list(config["datasets"]))
    check_choice("method", method, METHODS)
    resolved = profile_config(profile, config)
    values: dict[str, Any] = {
        **LATER_SETTINGS,  # a later setting _config.yml does not name keeps its earlier value
        "dataset": dataset,
        "method": method,
        "profile": profile,
        "seed": resolved["seeds"][0],
        "epochs": _profile_epochs(resolved["epochs"], profile, dataset),
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
