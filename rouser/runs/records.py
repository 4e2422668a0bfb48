"""Run records: where they live, how they are written safely, and how figures load them.

One JSON file per run, `<runs_dir>/<run_id>.json`. The run id comes from the resolved
config (`RunConfig.run_id` hashes every setting), so a finished run is found again instead
of recomputed, and a changed setting never reuses a stale record. Every file is written to
a temporary name in the same folder and renamed over the target: a crash or kill at any
moment leaves either the old file or the new one, never a torn one.

Nothing is drawn from a record that is not proven first (`check_record`, run by every read):
its fields have their types and ranges, its run id is its file's name and the hash of its
config, a finished record's summary is what `rouser.runs.metrics.summarize` computes from its
history, and its `digest` (a SHA-256 of the rest, written by `write_record`) matches, so a
hand edit anywhere is an error naming the file. `load_records` also refuses two files
holding the same run (a record copied over another's).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from rouser import paths
from rouser.atomic import atomic_write
from rouser.config import (
    LATER_SETTINGS,
    METHODS,
    SETTINGS,
    RunConfig,
    check_choice,
    check_setting,
    run_fields,
)
from rouser.datasets import DATASET_SPECS
from rouser.runs.metrics import summarize

SCHEMA = 1
STATUSES = ("running", "finished", "non-convergent", "failed")


def _folder_and_id(run_or_id: RunConfig | str, runs_dir: str | Path | None) -> tuple[Path, str]:
    """The runs folder (given, else the run's profile's, `rouser.paths.runs_dir`) and run id."""
    if isinstance(run_or_id, RunConfig):
        return paths.runs_dir(run_or_id.profile, runs_dir), run_or_id.run_id
    return paths.runs_dir(path=runs_dir), str(run_or_id)


def record_path(run_or_id: RunConfig | str, runs_dir: str | Path | None = None) -> Path:
    """`<runs_dir>/<run_id>.json` for a run config or a run id."""
    folder, run_id = _folder_and_id(run_or_id, runs_dir)
    return folder / f"{run_id}.json"


def checkpoint_path(run_or_id: RunConfig | str, runs_dir: str | Path | None = None) -> Path:
    """`<runs_dir>/<run_id>.ckpt.pt`: the last completed epoch's state, for resuming.

    Checkpoints sit beside their records but are git-ignored (`*.pt`): only records are
    committed.
    """
    folder, run_id = _folder_and_id(run_or_id, runs_dir)
    return folder / f"{run_id}.ckpt.pt"


class RecordError(ValueError):
    """A record file that is not a valid run record; the message names the file."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path = Path(path)
        super().__init__(f"run record {self.path}: {problem}")


def record_digest(record: dict) -> str:
    """SHA-256 of the record without its `digest`, over canonical JSON (sorted keys).

    JSON writes floats as their shortest round-tripping repr, so the digest of a record read
    back equals the one computed before writing; any hand edit changes it.
    """
    body = {key: value for key, value in record.items() if key != "digest"}
    canonical = json.dumps(body, sort_keys=True, allow_nan=False, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def write_record(record: dict, path: str | Path) -> None:
    """Write a run record as JSON with its `digest`, atomically.

    Serialised before the file is touched, with `allow_nan=False`: a NaN that reached a
    record would make it invalid JSON for other readers, so it fails here instead.
    """
    stamped = {key: value for key, value in record.items() if key != "digest"}
    stamped["digest"] = record_digest(stamped)
    data = json.dumps(stamped, indent=1, allow_nan=False).encode()
    atomic_write(path, lambda handle: handle.write(data))


# A record's top-level fields and the JSON types each may hold.
_FIELDS: dict[str, tuple[type | None, ...]] = {
    "run_id": (str,),
    "status": (str,),
    "error": (str, None),
    "config": (dict,),
    "data": (dict,),
    "env": (dict,),
    "started": (str,),
    "ended": (str, None),
    "history": (list,),
    "summary": (dict, None),
}
DONE = ("finished", "non-convergent")  # statuses whose record is a result, with a summary
# Per-epoch numbers: (lowest, highest) allowed, None for unbounded; `optional` may be absent.
_FRACTION = (0.0, 1.0)
_POSITIVE = (0.0, None)
_ENTRY_NUMBERS = {
    "train_accuracy": _FRACTION,
    "test_accuracy": _FRACTION,
    "train_loss": _POSITIVE,
    "test_loss": _POSITIVE,
    "epoch_seconds": _POSITIVE,
}
_ENTRY_OPTIONAL = {"eval_seconds": _POSITIVE, "steps": _POSITIVE, "samples": _POSITIVE}
# Per-layer maps of numbers, {"layer1": value, ...}
_ENTRY_LAYERS = {"dead_neurons": _FRACTION, "spike_rate": _FRACTION, "weight_change": _POSITIVE}
_ENTRY_OPTIONAL_LAYERS = {"never_firing": _FRACTION}
_THRESHOLD_STATS = ("mean", "std", "min", "max")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_number(where: str, value: object, bounds: tuple[float | None, float | None]) -> None:
    low, high = bounds
    if not _is_number(value) or not math.isfinite(value):
        raise ValueError(f"{where} is {value!r}, not a finite number")
    if (low is not None and value < low) or (high is not None and value > high):
        allowed = f"in [{low:g}, {high:g}]" if high is not None else f">= {low:g}"
        raise ValueError(f"{where} is {value!r}, outside the allowed range ({allowed})")


def _check_layers(where: str, value: object, bounds: tuple[float | None, float | None]) -> None:
    if not isinstance(value, dict) or not value:
        raise ValueError(f"{where} is {value!r}, not a map of layer names to numbers")
    for layer, number in value.items():
        _check_number(f"{where}.{layer}", number, bounds)


def _check_entry(index: int, entry: object) -> None:
    """One history entry: its measurements have their types and ranges."""
    where = f"history[{index}]"
    if not isinstance(entry, dict):
        raise ValueError(f"{where} is {type(entry).__name__}, not an object")
    missing = sorted({"epoch", "thresholds", *_ENTRY_NUMBERS, *_ENTRY_LAYERS} - entry.keys())
    if missing:
        raise ValueError(f"{where} lacks {missing}")
    if not isinstance(entry["epoch"], int) or isinstance(entry["epoch"], bool):
        raise ValueError(f"{where}.epoch is {entry['epoch']!r}, not an integer")
    for key, bounds in (*_ENTRY_NUMBERS.items(), *_ENTRY_OPTIONAL.items()):
        if key in entry:
            _check_number(f"{where}.{key}", entry[key], bounds)
    for key, bounds in (*_ENTRY_LAYERS.items(), *_ENTRY_OPTIONAL_LAYERS.items()):
        if key in entry:
            _check_layers(f"{where}.{key}", entry[key], bounds)
    rate = entry.get("samples_per_second")
    if rate is not None:
        _check_number(f"{where}.samples_per_second", rate, _POSITIVE)
    if not isinstance(entry["thresholds"], dict) or not entry["thresholds"]:
        raise ValueError(f"{where}.thresholds is {entry['thresholds']!r}, not a map of layers")
    for layer, stats in entry["thresholds"].items():
        if not isinstance(stats, dict):
            raise ValueError(f"{where}.thresholds.{layer} is {stats!r}, not an object")
        for key in _THRESHOLD_STATS:
            _check_number(f"{where}.thresholds.{layer}.{key}", stats.get(key), (None, None))
        counts = stats.get("hist_counts", [])
        if not isinstance(counts, list) or not all(
            isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts
        ):
            raise ValueError(f"{where}.thresholds.{layer}.hist_counts is not a list of counts")


def run_of(config: dict) -> RunConfig:
    """The `RunConfig` a record's config describes, every value checked as `resolve_run` does.

    Settings newer than the record take the value that reproduces it (`LATER_SETTINGS`).
    """
    if not isinstance(config, dict):
        raise ValueError(f"config is {type(config).__name__}, not an object")
    fields = run_fields()
    missing = sorted(set(fields) - set(LATER_SETTINGS) - config.keys())
    unknown = sorted(config.keys() - set(fields))
    if missing or unknown:
        raise ValueError(f"config lacks settings {missing} / has unknown settings {unknown}")
    check_choice("config.dataset", config["dataset"], list(DATASET_SPECS))
    check_choice("config.method", config["method"], METHODS)
    values = {**LATER_SETTINGS, **config}
    checked = {
        name: check_setting(name, value) if name in SETTINGS else value
        for name, value in values.items()
    }
    return RunConfig(**checked)


def check_record(record: object, path: str | Path) -> dict:
    """`record` (as read from `path`) if it is a valid run record, else a `RecordError`.

    Checks the schema version, every field's type, the status, each history entry's
    measurements and ranges (epochs increasing, up to the configured number; history entries
    may skip epochs, `history_every`), that the run id is the file's name and the hash of
    the config, that a finished (or non-convergent) record's summary is the one its history
    gives and agrees with its status, and the `digest`. A record without a digest is
    accepted only while unfinished (a run started before digests existed); a finished one
    made then is stamped once by `workflow/scripts/stamp_records.py`. Returns the record
    without its digest.
    """
    path = Path(path)
    if not isinstance(record, dict) or record.get("schema") != SCHEMA:
        found = record.get("schema") if isinstance(record, dict) else type(record).__name__
        raise RecordError(path, f"not a rouser run record of schema {SCHEMA} (found {found!r})")
    try:
        _check_content(record, path)
    except ValueError as error:
        raise RecordError(path, str(error)) from error
    return {key: value for key, value in record.items() if key != "digest"}


def _check_content(record: dict, path: Path) -> None:
    """The checks of `check_record`, raising a ValueError that says what is wrong."""
    for key, types in _FIELDS.items():
        if key not in record:
            raise ValueError(f"lacks the field {key!r}")
        value = record[key]
        if not any(value is None if kind is None else isinstance(value, kind) for kind in types):
            names = " or ".join("null" if kind is None else kind.__name__ for kind in types)
            raise ValueError(f"{key} is {type(value).__name__} {value!r:.60}, not {names}")
    check_choice("status", record["status"], STATUSES)
    digest = record.get("digest")
    if digest is not None and digest != record_digest(record):
        raise ValueError(
            "its content does not match its digest: it was edited after training wrote it; "
            "restore it from git or retrain the run"
        )
    if digest is None and record["status"] in DONE:
        raise ValueError(
            "has no digest; a finished record written before digests existed is stamped "
            "once, after review, by `python workflow/scripts/stamp_records.py FILE`"
        )
    if record["run_id"] != path.stem:
        raise ValueError(
            f"holds run {record['run_id']!r}, not the run its file name says ({path.stem!r}): "
            "a record copied or renamed"
        )
    run = run_of(record["config"])
    if run.run_id != record["run_id"]:
        raise ValueError(
            f"its config hashes to run id {run.run_id!r}, not {record['run_id']!r}: the "
            "config was edited after the run"
        )
    epochs = []
    for index, entry in enumerate(record["history"]):
        _check_entry(index, entry)
        epochs.append(entry["epoch"])
    if epochs != sorted(set(epochs)) or (epochs and not 0 <= epochs[-1] <= run.epochs):
        raise ValueError(
            f"history epochs {epochs} are not increasing within 0..{run.epochs} (config.epochs)"
        )
    _check_summary(record, run)


def _check_summary(record: dict, run: RunConfig) -> None:
    """A finished record's summary is the one its history gives, and agrees with its status
    (unfinished records are never drawn as results: their summary is not checked)."""
    status, summary = record["status"], record["summary"]
    if status not in DONE:
        return
    if not record["history"] or record["history"][-1]["epoch"] != run.epochs:
        raise ValueError(f"a {status!r} record's history does not reach epoch {run.epochs}")
    expected = summarize(record["history"], run.n_classes, run.latency_target, run.chance_margin)
    if summary != expected:
        raise ValueError(
            f"its summary {summary} is not the one its history gives ({expected}): summary "
            "or history edited, or a summary missing"
        )
    if (status == "finished") != expected["converged"]:
        raise ValueError(f"status {status!r} contradicts converged={expected['converged']}")


def read_record(path: str | Path) -> dict:
    """Read and check one run record (`check_record`); a missing, corrupt, foreign or
    tampered file is a clear error naming it. Returns the record without its digest."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no run record at {path}; records are written by rouser.runs.train.train "
            "(or `python -m rouser train`) into the runs folder"
        )
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise RecordError(path, f"not valid JSON: {error}") from error
    return check_record(record, path)


def _record_paths(runs_dir_or_paths: str | Path | Iterable[str | Path]) -> list[Path]:
    if isinstance(runs_dir_or_paths, str | Path):
        source = Path(runs_dir_or_paths)
        if source.is_dir():
            return sorted(source.glob("*.json"))
        if source.is_file():
            return [source]
        raise FileNotFoundError(
            f"runs folder {source} does not exist; train runs first (rouser.runs.train.train or "
            "`python -m rouser train`) or point to the folder that holds their records"
        )
    return [Path(path) for path in runs_dir_or_paths]


def load_records(runs_dir_or_paths: str | Path | Iterable[str | Path]) -> pd.DataFrame:
    """All records of a runs folder (or a list of record files) as one DataFrame.

    One row per (run, epoch), columns flattened with "." ("config.lr_th",
    "dead_neurons.layer1", "thresholds.layer1.q50", ...); a run without any epoch yet
    (e.g. failed before epoch 0) still gives one row, with a missing epoch, so that failures
    stay visible in tables.

    Every record is checked (`read_record`); two files holding the same history (one
    record copied over another's under a new name) are an error naming both.
    """
    rows = []
    seen: dict[str, Path] = {}
    for path in _record_paths(runs_dir_or_paths):
        record = read_record(path)
        history = record_digest({"history": record["history"]})
        if record["history"] and history in seen:
            raise RecordError(
                path, f"has the same history as {seen[history]}: one run's record copied"
            )
        seen[history] = path
        run_level = {key: value for key, value in record.items() if key != "history"}
        rows.extend({**run_level, **entry} for entry in record["history"] or [{}])
    return pd.json_normalize(rows, sep=".")
