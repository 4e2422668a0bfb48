"""Run records: where they live, how they are written safely, and how figures load them.

One JSON file per run, `<runs_dir>/<run_id>.json`. The run id comes from the resolved
config (`RunConfig.run_id` hashes every setting), so a finished run is found again instead
of recomputed, and a changed setting never reuses a stale record. Every file is written to
a temporary name in the same folder and renamed over the target: a crash or kill at any
moment leaves either the old file or the new one, never a torn one.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import numba
import pandas as pd
import torch

import rouser
from rouser import paths
from rouser.atomic import atomic_write
from rouser.config import RunConfig, check_choice
from rouser.paths import REPO_ROOT

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


def write_record(record: dict, path: str | Path) -> None:
    """Write a run record as JSON, atomically.

    Serialised before the file is touched, with `allow_nan=False`: a NaN that reached a
    record would make it invalid JSON for other readers, so it fails here instead.
    """
    data = json.dumps(record, indent=1, allow_nan=False).encode()
    atomic_write(path, lambda handle: handle.write(data))


def read_record(path: str | Path) -> dict:
    """Read one run record; a missing, corrupt or foreign file is a clear error."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no run record at {path}; records are written by rouser.train.train "
            "(or `python -m rouser.train`) into the runs folder"
        )
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"run record {path} is not valid JSON: {error}") from error
    if not isinstance(record, dict) or record.get("schema") != SCHEMA:
        found = record.get("schema") if isinstance(record, dict) else type(record).__name__
        raise ValueError(f"{path} is not a rouser run record of schema {SCHEMA} (found {found!r})")
    check_choice(f"status of run record {path}", record.get("status"), STATUSES)
    return record


def _record_paths(runs_dir_or_paths: str | Path | Iterable[str | Path]) -> list[Path]:
    if isinstance(runs_dir_or_paths, str | Path):
        source = Path(runs_dir_or_paths)
        if source.is_dir():
            return sorted(source.glob("*.json"))
        if source.is_file():
            return [source]
        raise FileNotFoundError(
            f"runs folder {source} does not exist; train runs first (rouser.train.train or "
            "`python -m rouser.train`) or point to the folder that holds their records"
        )
    return [Path(path) for path in runs_dir_or_paths]


def load_records(runs_dir_or_paths: str | Path | Iterable[str | Path]) -> pd.DataFrame:
    """All records of a runs folder (or a list of record files) as one DataFrame.

    One row per (run, epoch), columns flattened with "." ("config.lr_th",
    "dead_neurons.layer1", "thresholds.layer1.q50", ...); a run without any epoch yet
    (e.g. failed before epoch 0) still gives one row, with a missing epoch, so that failures
    stay visible in tables.
    """
    rows = []
    for path in _record_paths(runs_dir_or_paths):
        record = read_record(path)
        run_level = {key: value for key, value in record.items() if key != "history"}
        rows.extend({**run_level, **entry} for entry in record["history"] or [{}])
    return pd.json_normalize(rows, sep=".")


def _git_commit() -> str | None:
    """The HEAD commit of the clone rouser is imported from, or None without git or a clone.

    An installed rouser's folder may sit inside the user's own repository (a venv in a
    project), where `git rev-parse` would answer with that repository's commit.
    """
    if not (REPO_ROOT / ".git").exists():
        return None
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


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


def numerics(device: torch.device) -> dict:
    """What a run's numbers depend on besides its settings (see `environment`)."""
    return {
        "device_type": device.type,
        "torch_threads": torch.get_num_threads(),
        "deterministic": torch.are_deterministic_algorithms_enabled(),
        "torch": torch.__version__,
        "numba": numba.__version__,
    }


def environment(device: torch.device) -> dict:
    """The record's "env": what ran the run, so a number can be traced to its setup.

    `numerics` holds what the numbers depend on beyond the run's settings: the device type,
    torch's CPU threads, torch's deterministic-algorithms flag and the library versions. A
    finished record is reused only where these agree (`rouser.train`).
    """
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
    }
