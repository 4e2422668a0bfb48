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
import os
from pathlib import Path
from typing import Any

import yaml

DATASETS = ("nmnist", "dvs128", "shd")
METHODS = ("rouser", "baseline")
PROFILES = ("paper", "cpu", "smoke")

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_PATH = REPO_ROOT / "_config.yml"


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
    path = Path(path or os.environ.get("ROUSER_CONFIG") or CONFIG_PATH)
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


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything that determines one training run's result, and nothing else.

    Paths (data root, runs folder) and the device are deliberately absent: moving the data or
    training on a GPU must not change a run's identity.
    """

    dataset: str
    method: str
    profile: str
    seed: int
    epochs: int
    batch_size: int
    threshold: float
    tau: float
    scale: float
    current_decay: float
    voltage_decay: float
    lr_w: float
    lr_th: float
    true_rate: float
    false_rate: float
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

    @property
    def learn_threshold(self) -> bool:
        """Rouser learns thresholds; the baseline keeps them frozen at `threshold`."""
        return self.method == "rouser"

    def to_dict(self) -> dict:
        """Plain JSON-able dict (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @property
    def run_id(self) -> str:
        """Readable prefix plus a hash of every field: a changed setting is a new run."""
        canonical = json.dumps(self.to_dict(), sort_keys=True).encode()
        digest = hashlib.sha256(canonical).hexdigest()[:10]
        return f"{self.dataset}-{self.method}-seed{self.seed}-{digest}"

    def validate(self) -> None:
        """Raise a ValueError naming the first out-of-range parameter."""
        check_choice("dataset", self.dataset, DATASETS)
        check_choice("method", self.method, METHODS)
        positive = {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "tau": self.tau,
            "scale": self.scale,
            "time_bins": self.time_bins,
            "bin_us": self.bin_us,
            "n_classes": self.n_classes,
        }
        for name, value in positive.items():
            if not value > 0:
                raise ValueError(f"{name}={value!r} must be > 0")
        for name in ("current_decay", "voltage_decay", "true_rate", "false_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}={value!r} must lie in [0, 1]")
        for name in ("lr_w", "lr_th"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}={getattr(self, name)!r} must be >= 0")
        if not 0 < self.latency_target <= 1:
            raise ValueError(f"latency_target={self.latency_target!r} must lie in (0, 1]")
        for name in ("train_subset", "test_subset"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name}={value!r} must be None (all) or >= 1")
        if self.seed < 0:
            raise ValueError(f"seed={self.seed!r} must be >= 0")
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"hidden={self.hidden!r} needs at least one layer of >= 1 neurons")


def resolve_run(
    dataset: str,
    method: str,
    profile: str = "paper",
    config: dict | None = None,
    **overrides: Any,
) -> RunConfig:
    """The `RunConfig` of one run: Table II defaults, the profile's sizes, then `overrides`.

    An override of `None` means "keep the profile's value", which is how a papermill
    `parameters` cell full of `None` defaults maps onto `_config.yml`.
    """
    check_choice("dataset", dataset, DATASETS)
    check_choice("method", method, METHODS)
    check_choice("profile", profile, PROFILES)
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
        **resolved["neuron"],
        **resolved["training"],
        **resolved["datasets"][dataset],
    }
    fields = {f.name for f in dataclasses.fields(RunConfig)}
    for name, value in overrides.items():
        if name not in fields:
            raise ValueError(f"unknown run parameter {name!r}; known parameters: {sorted(fields)}")
        if value is not None:
            values[name] = value
    values["sensor_size"] = tuple(values["sensor_size"])
    values["hidden"] = tuple(values["hidden"])
    floats = ("threshold", "tau", "scale", "current_decay", "voltage_decay", "lr_w", "lr_th")
    for name in floats:
        values[name] = float(values[name])
    run = RunConfig(**{k: values[k] for k in fields})
    run.validate()
    return run
