"""`python -m rouser train`: one training run from the command line.

Why a module of its own: the command line is a thin layer over `rouser.runs.train.train`:
settings take the type their `rouser.config.SETTINGS` entry declares, a bad option, setting,
path or dataset ends in one line naming it (exit status 2), never a traceback, and
`--export-nir` is checked before any data is read, so that a long run never fails at its end.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import numba

import rouser
from rouser import paths
from rouser.config import (
    FLAG,
    INT,
    METHODS,
    OPTIONAL_INT,
    REAL,
    SETTINGS,
    SIZES,
    RunConfig,
    load_config,
    resolve_run,
    run_fields,
)
from rouser.data.errors import CorruptRecordingError, DatasetNotFoundError, UnreadableDataError
from rouser.paths import DEFAULT_PROFILE
from rouser.runs.interrupts import EXIT_TERMINATED, Terminated
from rouser.runs.records import checkpoint_path, read_record, record_path
from rouser.runs.train import export_run, resolve_device, train

# Settings take the type their `rouser.config.SETTINGS` entry declares:
# decimal integers ("010" is 10), floats ("1e-3"), --x/--no-x switches, sizes ("64,64"),
# counts or "none". Bounds stay `check_setting`'s, the one check every entry point shares.
PROG = "python -m rouser train"
_METAVARS = {INT: "N", REAL: "X", SIZES: "N,N,...", OPTIONAL_INT: "N|none"}


def _integer(text: str) -> int:
    """A decimal integer: "010" is 10 (YAML 1.1 would read 8), "1e3" and "1.0" are refused."""
    if not re.fullmatch(r"\s*[+-]?[0-9]+\s*", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a decimal integer")
    return int(text, 10)


def _real(text: str) -> float:
    """A number as Python writes it: "1e-3", "0.001", "2"."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def _sizes(text: str) -> list[int]:
    """A list of integers: "64,64", "64 64" or "[64, 64]"."""
    items = text.strip().removeprefix("[").removesuffix("]").replace(",", " ").split()
    if not items:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of integers (e.g. 64,64)")
    return [_integer(item) for item in items]


def _count_or_none(text: str) -> int | None:
    """An integer, or "none"/"null": every recording."""
    return None if text.strip().lower() in ("none", "null") else _integer(text)


_TYPES = {INT: _integer, REAL: _real, SIZES: _sizes, OPTIONAL_INT: _count_or_none}


def _shown(value: object) -> str:
    """A setting's value as it is typed on the command line."""
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    if value is None:
        return "none"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _default_text(name: str, defaults: dict[str, RunConfig]) -> str:
    """'default 0.001', or one value per dataset where the datasets differ."""
    values = {dataset: _shown(getattr(run, name)) for dataset, run in defaults.items()}
    if len(set(values.values())) == 1:
        return f"default {next(iter(values.values()))}"
    return "default " + ", ".join(f"{dataset} {value}" for dataset, value in values.items())


def _fail(message: str) -> NoReturn:
    """End the CLI with one line naming what is wrong, exit status 2 (as argparse's own)."""
    print(f"{PROG}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


class _Parser(argparse.ArgumentParser):
    """Errors in one line, not usage plus message."""

    def error(self, message: str) -> NoReturn:
        _fail(message)


def _parser(profile: str = DEFAULT_PROFILE) -> argparse.ArgumentParser:
    """The CLI; `--help` shows the defaults of `profile` (the one given with --profile)."""
    config = load_config()
    profiles = list(config["profiles"])
    shown_profile = profile if profile in profiles else DEFAULT_PROFILE
    defaults = {
        dataset: resolve_run(dataset, METHODS[0], shown_profile, config)
        for dataset in config["datasets"]
    }
    parser = _Parser(
        prog=PROG,
        description="Train one rouser run and write its record to <runs-dir>/<run_id>.json; "
        "an interrupted run resumes from its last finished epoch.",
    )
    parser.add_argument("--version", action="version", version=f"rouser {rouser.__version__}")
    parser.add_argument("--dataset", required=True, choices=list(defaults))
    parser.add_argument("--method", required=True, choices=METHODS)
    parser.add_argument(
        "--profile",
        default=DEFAULT_PROFILE,
        choices=profiles,
        help=f"sizes and data of _config.yml's profiles (default {DEFAULT_PROFILE})",
    )
    parser.add_argument(
        "--runs-dir",
        type=Path,
        help="where records and checkpoints go (default $ROUSER_RUNS, else runs/<profile> in "
        "the clone, git-ignored; records/<profile> adds the run to the book's records)",
    )
    parser.add_argument("--data-root", type=Path, help="datasets (default $ROUSER_DATA, else data)")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        help="binned-data cache (default $ROUSER_CACHE, else <data>/cache)",
    )
    parser.add_argument("--device", help="cpu, cuda, cuda:N (default cuda when available)")
    parser.add_argument("--restart", action="store_true", help="ignore a record or checkpoint")
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="progress bars on stderr (default on)",
    )
    parser.add_argument(
        "--export-nir", type=Path, metavar="PATH", help="then write the trained network as NIR"
    )
    settings = parser.add_argument_group(
        f"run settings (defaults of profile {shown_profile}; the run id hashes every one)"
    )
    for name in run_fields():
        if name in ("dataset", "method", "profile"):
            continue
        kind, _, _, allowed = SETTINGS[name]
        flag, default = f"--{name.replace('_', '-')}", _default_text(name, defaults)
        # SUPPRESS: a flag not given is absent, so an explicit "none" can be told from it
        if kind == FLAG:
            settings.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=default
            )
        else:
            settings.add_argument(
                flag,
                type=_TYPES[kind],
                metavar=_METAVARS[kind],
                default=argparse.SUPPRESS,
                help=f"{allowed}; {default}",
            )
    return parser


def _profile_asked(argv: Sequence[str]) -> str:
    """The --profile on the command line (the default one without): --help shows its values."""
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--profile", default=DEFAULT_PROFILE)
    return early.parse_known_args(argv)[0].profile


def _check_nir_destination(path: Path, run: RunConfig, runs: Path, resume: bool) -> None:
    """Fail before any data is read where `--export-nir` could not write its file at the end."""
    if path.is_dir():
        raise ValueError(f"--export-nir {path} is a folder; give a file path (e.g. {path}/net.nir)")
    if not path.parent.is_dir():
        raise ValueError(f"--export-nir {path}: its folder {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK):
        raise ValueError(f"--export-nir {path}: its folder {path.parent} is not writable")
    record, checkpoint = record_path(run, runs), checkpoint_path(run, runs)
    reused = resume and record.is_file() and not checkpoint.is_file()
    if reused and read_record(record)["status"] in ("finished", "non-convergent"):
        raise ValueError(
            f"--export-nir needs the trained network, but {record} is finished and its "
            f"checkpoint {checkpoint} is absent (committed records carry none); add "
            "--restart to retrain the run, or give another --runs-dir"
        )


def _exec_with_pools_of(threads: int, argv: Sequence[str]) -> None:
    """Start this command again with numba's and OpenMP's thread pools sized to the run.

    Why: both pools are sized from the environment when numba and torch load, before the run
    (and its `threads`) is known, and take the machine's cores. numba's idle OpenMP threads
    spin: two 1-thread runs side by side on 2 cores took 317 ms per fast NMNIST-1k step each,
    and 135 ms with ``NUMBA_NUM_THREADS=1 OMP_NUM_THREADS=1`` (AMD EPYC; the workflow sets
    both). An environment that sets ``NUMBA_NUM_THREADS`` itself is left as it is.
    """
    if "NUMBA_NUM_THREADS" in os.environ or threads >= numba.config.NUMBA_NUM_THREADS:
        return
    pools = {"NUMBA_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, "-m", "rouser", "train", *argv], os.environ | pools)


def main(argv: Sequence[str] | None = None, *, program: bool = False) -> dict:
    """CLI entry point: parse, resolve the run, train, print where the record is.

    `program`: this process is the command itself (`python -m rouser train`), so a CPU run
    may start it again with thread pools of the run's size (`_exec_with_pools_of`).

    A bad option, setting, path or dataset ends in one line naming it (exit status 2),
    never a traceback; SIGTERM ends the run as Ctrl-C does, its record marked failed
    (exit status 143). Absent flags keep the profile's value; an explicit `none` for
    a subset means every recording (`resolve_run` reads None as "keep the profile's", as
    papermill's None parameters need).
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        parser = _parser(_profile_asked(argv))
    except (ValueError, OSError) as error:  # _config.yml missing or unreadable
        _fail(str(error))
    args = vars(parser.parse_args(argv))
    options = {key: args.pop(key) for key in ("data_root", "device", "cache_dir")}
    restart, progress = args.pop("restart"), args.pop("progress")
    export_nir, runs_given = args.pop("export_nir"), args.pop("runs_dir")
    dataset, method, profile = args.pop("dataset"), args.pop("method"), args.pop("profile")
    every = [name for name, value in args.items() if value is None]
    try:
        run = resolve_run(dataset, method, profile, **args)
        run = dataclasses.replace(run, **dict.fromkeys(every))  # a valid value: checked above
        runs = paths.cli_runs_dir(run.profile, runs_given)
        if program and resolve_device(options["device"]).type == "cpu":
            _exec_with_pools_of(run.threads, argv)
        if export_nir is not None:
            _check_nir_destination(export_nir, run, runs, not restart)
        record = train(run, runs_dir=runs, resume=not restart, progress=progress, **options)
    except (DatasetNotFoundError, CorruptRecordingError, UnreadableDataError, ValueError) as error:
        _fail(str(error))
    except Terminated as error:
        print(f"{PROG}: {error}: {record_path(run, runs)} marked failed", file=sys.stderr)
        raise SystemExit(EXIT_TERMINATED) from None
    print(f"{record['status']}: {record_path(run, runs)}")
    print(f"summary: {record['summary']}")
    if export_nir is not None:
        export_run(run, runs, export_nir)
        print(f"NIR graph: {export_nir}")
    return record
