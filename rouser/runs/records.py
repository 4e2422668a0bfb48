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

import contextlib
import functools
import hashlib
import json
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

import llvmlite.binding
import numba
import pandas as pd
import torch

import rouser
from rouser import paths
from rouser.atomic import atomic_write
from rouser.config import (
    DATASETS,
    LATER_SETTINGS,
    METHODS,
    SETTINGS,
    RunConfig,
    check_choice,
    check_setting,
    run_fields,
)
from rouser.paths import REPO_ROOT
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
    check_choice("config.dataset", config["dataset"], DATASETS)
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


# What a run executes besides the installed libraries: the package, the settings and the
# notebooks and workflow that drive it. Changes elsewhere (records written by runs, the book,
# tests) leave a run's numbers alone.
CODE_PATHS = ("rouser", "_config.yml", "notebooks", "workflow", "pyproject.toml")


def _git(*args: str) -> bytes | None:
    """`git args` in the clone rouser is imported from; None without git or a clone.

    An installed rouser's folder may sit inside the user's own repository (a venv in a
    project), where git would answer about that repository.
    """
    if not (REPO_ROOT / ".git").exists():
        return None
    try:
        result = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout


def _git_commit() -> str | None:
    """The HEAD commit of the clone rouser is imported from, or None without git or a clone."""
    out = _git("rev-parse", "HEAD")
    return out.decode().strip() or None if out is not None else None


def code_changes() -> dict:
    """How the code differs from its commit: {"dirty": bool, "diff_sha256": str | None,
    "changed": [paths]} over `CODE_PATHS`, or None values without git.

    Why: a run from a modified working tree (say `lr_w * 100` in the optimizer) has the
    clean commit's run id; the record must say that its numbers come from other code. The
    digest covers `git diff HEAD` and the untracked files' contents, so two runs from the
    same modifications have the same digest.
    """
    diff = _git("diff", "HEAD", "--binary", "--", *CODE_PATHS)
    listed = _git("ls-files", "--others", "--exclude-standard", "-z", "--", *CODE_PATHS)
    names = _git("diff", "HEAD", "--name-only", "-z", "--", *CODE_PATHS)
    if diff is None or listed is None or names is None:
        return {"dirty": None, "diff_sha256": None, "changed": None}
    untracked = sorted(name.decode() for name in listed.split(b"\0") if name)
    changed = sorted({name.decode() for name in names.split(b"\0") if name} | set(untracked))
    if not changed:
        return {"dirty": False, "diff_sha256": None, "changed": []}
    digest = hashlib.sha256(diff)
    for name in untracked:
        digest.update(name.encode() + b"\0")
        with contextlib.suppress(OSError):  # deleted since it was listed
            digest.update(hashlib.sha256((REPO_ROOT / name).read_bytes()).digest())
    return {"dirty": True, "diff_sha256": digest.hexdigest(), "changed": changed}


# Keys of the data description that are paths of the machine that ran the run: left out of
# records, which are committed and published.
LOCAL_PATH_KEYS = ("root", "location", "cache")


def portable_data(description: dict) -> dict:
    """The data description without the local paths (`LOCAL_PATH_KEYS`)."""
    return {key: value for key, value in description.items() if key not in LOCAL_PATH_KEYS}


def _cpu_model() -> str:
    """The CPU's model name (Linux), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


@functools.cache
def mkl_code_path() -> str | None:
    """The instruction sets of the code path MKL chose on this CPU ("AVX-512+AMX", "AVX2"),
    or None where torch has no MKL; read once per process.

    Why: torch's CPU matrix products go through MKL, whose kernels differ per instruction
    set, and its choice decides a run's bits. Measured on a 2-epoch smoke run (Intel Xeon,
    AVX-512): `MKL_ENABLE_INSTRUCTIONS=AVX2` or `MKL_CBWR=AVX2` trains to other weights,
    `MKL_CBWR=AVX512` to the same, while `ATEN_CPU_CAPABILITY=avx2` and any
    `NUMBA_CPU_NAME` change nothing. MKL picks its path by CPU vendor too, and does not take
    its Intel AVX-512 path on AMD CPUs: the likely cause of records trained on an Intel Xeon
    differing in the last bits on an AMD EPYC with AVX-512 (not checked on an AMD machine
    here). MKL states its path only in its verbose log's first line; one small product is
    run with the log on and stdout (fd 1) captured.
    """
    if not torch.backends.mkl.is_available():
        return None
    with tempfile.TemporaryFile() as log:
        sys.stdout.flush()
        try:
            saved = os.dup(1)
        except OSError:  # no stdout to borrow (a daemon): the path stays unstated
            return None
        os.dup2(log.fileno(), 1)
        try:
            with torch.backends.mkl.verbose(torch.backends.mkl.VERBOSE_ON):
                torch.mm(torch.ones(8, 8), torch.ones(8, 8))
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        log.seek(0)
        header = log.read().decode(errors="replace").split("\n", 1)[0]
    # "... Intel(R) Advanced Vector Extensions 512 (Intel(R) AVX-512) ... (Intel(R) AMX) ..."
    sets = re.findall(r"\(Intel\(R\) ([A-Z][A-Za-z0-9.-]+)\)", header)
    return "+".join(sets) or None


def numerics(device: torch.device) -> dict:
    """What a run's numbers depend on besides its settings (see `environment`).

    Besides the device, threads, flags and library versions, the CPU's instruction-set
    level: ATen's vectorised kernels (`cpu_capability`), MKL's code path (`mkl`, the one
    measured to change a run's bits across CPUs) and numba's compile target (`numba_cpu`).
    Records made before these three existed lack them.
    """
    return {
        "device_type": device.type,
        "torch_threads": torch.get_num_threads(),
        "deterministic": torch.are_deterministic_algorithms_enabled(),
        "torch": str(torch.__version__),  # a str subclass, which checkpoints cannot hold
        "numba": numba.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "mkl": mkl_code_path(),
        "numba_cpu": numba.config.CPU_NAME or llvmlite.binding.get_host_cpu_name(),
    }


def environment(device: torch.device) -> dict:
    """The record's "env": what ran the run, so a number can be traced to its setup.

    `numerics` holds what the numbers depend on beyond the run's settings: the device type,
    torch's CPU threads, torch's deterministic-algorithms flag, the library versions and the
    CPU's instruction-set level. A finished record is reused only where these agree
    (`rouser.runs.train`). `git` says whether the code differed from `git_commit`
    (`code_changes`). `slurm_job_id`, present only in a SLURM job, ties the record to the
    job's log and accounting on the cluster that ran it.
    """
    slurm = {"slurm_job_id": os.environ["SLURM_JOB_ID"]} if "SLURM_JOB_ID" in os.environ else {}
    return {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else _cpu_model(),
        "cpu_count": os.cpu_count(),
        "numerics": numerics(device),
        "platform": platform.platform(),
        "numba": numba.__version__,
        "torch": torch.__version__,
        "rouser": rouser.__version__,
        "python": sys.version.split()[0],
        "git_commit": _git_commit(),
        "git": code_changes(),
        **slurm,
    }
