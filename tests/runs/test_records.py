"""Run records: paths, atomic writes that survive a crash, reading, and the DataFrame view."""

from __future__ import annotations

import json
import math
import os
import subprocess

import pandas as pd
import pytest
import torch

from rouser import paths
from rouser.atomic import atomic_write
from rouser.config import resolve_run
from rouser.runs import provenance
from rouser.runs.metrics import summarize
from rouser.runs.provenance import LOCAL_PATH_KEYS, environment, numerics, portable_data
from rouser.runs.records import (
    checkpoint_path,
    load_records,
    read_record,
    record_path,
    write_record,
)

STATS = ("mean", "std", "min", "max")


def entry(epoch: int, accuracy: float) -> dict:
    """One history entry with every measurement the record schema requires."""
    return {
        "epoch": epoch,
        "train_accuracy": accuracy,
        "test_accuracy": accuracy,
        "train_loss": 1.0,
        "test_loss": 1.0,
        "dead_neurons": {"layer1": 0.5},
        "spike_rate": {"layer1": 0.1, "layer2": 0.2},
        "weight_change": {"layer1": 0.0, "total": 0.0},
        "thresholds": {"layer1": {**dict.fromkeys(STATS, 1.25), "hist_counts": [1, 2]}},
        "epoch_seconds": 1.0,
    }


def make_record(lr_th: float, accuracies: list[float], status: str = "finished") -> dict:
    """A valid record of a smoke SHD run that trained to `accuracies` (epoch 0 first)."""
    run = resolve_run("shd", "rouser", "smoke", lr_th=lr_th, epochs=max(len(accuracies) - 1, 1))
    history = [entry(epoch, accuracy) for epoch, accuracy in enumerate(accuracies)]
    done = status in ("finished", "non-convergent")
    return {
        "schema": 1,
        "run_id": run.run_id,
        "status": status,
        "error": None,
        "config": run.to_dict(),
        "data": {"source": "synthetic"},
        "env": {"device": "cpu"},
        "started": "2026-01-01T00:00:00+00:00",
        "ended": None,
        "history": history,
        "summary": summarize(history, run.n_classes, run.latency_target, run.chance_margin)
        if done
        else None,
    }


def path_of(tmp_path, record: dict):
    return tmp_path / f"{record['run_id']}.json"


def test_paths_follow_run_id_and_env(tmp_path, monkeypatch):
    monkeypatch.delenv("ROUSER_RUNS", raising=False)
    run = resolve_run("shd", "rouser", "smoke")
    assert record_path(run, tmp_path) == tmp_path / f"{run.run_id}.json"
    assert checkpoint_path(run.run_id, tmp_path) == tmp_path / f"{run.run_id}.ckpt.pt"
    # without a folder: the run's own profile's records folder
    assert record_path(run) == paths.REPO_ROOT / "records" / "smoke" / f"{run.run_id}.json"
    cpu = resolve_run("shd", "rouser", "cpu")
    assert checkpoint_path(cpu).parent == paths.REPO_ROOT / "records" / "cpu"
    # a bare run id has no profile: the default one's folder
    assert record_path("abc") == paths.REPO_ROOT / "records" / paths.DEFAULT_PROFILE / "abc.json"
    assert paths.DEFAULT_PROFILE == "cpu"
    monkeypatch.setenv("ROUSER_RUNS", str(tmp_path / "elsewhere"))
    assert paths.runs_dir("smoke") == tmp_path / "elsewhere"
    assert record_path("abc") == tmp_path / "elsewhere" / "abc.json"
    assert record_path(run) == tmp_path / "elsewhere" / f"{run.run_id}.json"
    assert record_path(run, tmp_path) == tmp_path / f"{run.run_id}.json"  # argument first


def test_portable_data_drops_local_paths_only():
    description = {
        "dataset": "nmnist",
        "source": "real",
        "root": "/home/me/data",
        "location": "/home/me/data/NMNIST",
        "cache": {"train": "/home/me/data/cache/x"},
        "n_train": 1000,
        "fingerprint": {"sha256": "abc", "recordings": {"train": 1000}},
    }
    portable = portable_data(description)
    assert set(LOCAL_PATH_KEYS) == {"root", "location", "cache"}
    assert portable == {
        "dataset": "nmnist",
        "source": "real",
        "n_train": 1000,
        "fingerprint": {"sha256": "abc", "recordings": {"train": 1000}},
    }
    assert "/home/me" not in json.dumps(portable)
    assert "root" in description  # not mutated
    assert portable_data({"dataset": "shd"}) == {"dataset": "shd"}


def test_write_then_read_round_trips(tmp_path):
    record = make_record(0.001, [0.1, 0.6])
    path = tmp_path / "sub" / f"{record['run_id']}.json"
    write_record(record, path)
    assert read_record(path) == record  # the digest is checked, not returned
    assert json.loads(path.read_text())["digest"].startswith("sha256:")
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)


def test_killed_write_leaves_previous_record_intact(tmp_path, monkeypatch):
    old = make_record(0.001, [0.1], status="running")
    path = path_of(tmp_path, old)
    write_record(old, path)

    def killed(_fd):
        raise KeyboardInterrupt("killed while the new record was half on disk")

    monkeypatch.setattr(os, "fsync", killed)
    with pytest.raises(KeyboardInterrupt):
        write_record({**old, "history": [entry(0, 0.1), entry(1, 0.5)]}, path)
    assert read_record(path) == old
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temp file left


def test_atomic_write_with_failing_writer_keeps_old_bytes(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(b"old")

    def half_then_crash(handle):
        handle.write(b"new but not comp")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, half_then_crash)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["blob"]


def test_nan_is_refused_before_the_file_is_touched(tmp_path):
    good = make_record(0.001, [0.1, 0.6])
    path = path_of(tmp_path, good)
    write_record(good, path)
    with pytest.raises(ValueError, match="JSON compliant"):
        write_record({**good, "history": [entry(0, math.nan)]}, path)
    assert read_record(path) == good


def test_read_record_errors_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"rouser\.runs\.train"):
        read_record(tmp_path / "missing.json")
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text('{"schema": 1, "hist')
    with pytest.raises(ValueError, match="not valid JSON"):
        read_record(corrupt)
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"name": "package.json"}))
    with pytest.raises(ValueError, match="not a rouser run record"):
        read_record(foreign)
    record = make_record(0.0, [0.1], status="done")
    bad_status = path_of(tmp_path, record)
    bad_status.write_text(json.dumps(record))
    with pytest.raises(ValueError, match="status"):
        read_record(bad_status)


def test_load_records_one_row_per_run_and_epoch(tmp_path):
    a = make_record(0.001, [0.1, 0.6])
    b = make_record(0.0, [], status="failed")
    write_record(a, path_of(tmp_path, a))
    write_record(b, path_of(tmp_path, b))
    (tmp_path / f".{a['run_id']}.json.x.tmp").write_text("half")  # a crashed writer's temp
    (tmp_path / f"{a['run_id']}.ckpt.pt").write_bytes(b"\0")
    frame = load_records(tmp_path)
    assert len(frame) == 3
    for column in (
        "run_id",
        "status",
        "config.lr_th",
        "data.source",
        "summary.final_test_accuracy",
        "epoch",
        "test_accuracy",
        "dead_neurons.layer1",
        "spike_rate.layer2",
        "thresholds.layer1.mean",
    ):
        assert column in frame.columns, column
    rows = frame[frame.run_id == a["run_id"]]
    assert rows["epoch"].tolist() == [0, 1] and rows["test_accuracy"].tolist() == [0.1, 0.6]
    assert rows["config.lr_th"].tolist() == [0.001, 0.001]
    assert rows["thresholds.layer1.hist_counts"].iloc[0] == [1, 2]
    failed = frame[frame.run_id == b["run_id"]]
    assert failed["status"].item() == "failed" and pd.isna(failed["epoch"].item())
    same = load_records([path_of(tmp_path, a)])
    assert same["run_id"].tolist() == [a["run_id"]] * 2
    with pytest.raises(FileNotFoundError, match="train runs first"):
        load_records(tmp_path / "nope")


def test_environment_states_the_numerics_and_works_without_git(monkeypatch):
    # as outside SLURM: inside a job (tests run through sbatch) env also names the job,
    # env.slurm_job_id (tests/workflow/test_slurm.py)
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    env = environment(torch.device("cpu"))
    assert set(env) == {
        "device", "device_name", "cpu_count", "numerics", "platform", "numba", "torch",
        "rouser", "python", "git_commit", "git",
    }  # fmt: skip
    assert env["device"] == "cpu" and env["torch"] == torch.__version__
    assert env["numerics"] == numerics(torch.device("cpu"))
    assert env["numerics"]["device_type"] == "cpu"
    assert env["numerics"]["torch"] == torch.__version__
    assert env["numerics"]["torch_threads"] == torch.get_num_threads()
    assert env["numerics"]["deterministic"] == torch.are_deterministic_algorithms_enabled()
    json.dumps(env, allow_nan=False)  # a record's part: plain JSON

    def no_git(*_args, **_kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(provenance.subprocess, "run", no_git)
    assert environment(torch.device("cpu"))["git_commit"] is None
    assert environment(torch.device("cpu"))["git"] == {
        "dirty": None,
        "diff_sha256": None,
        "changed": None,
    }

    def not_a_checkout(*args, **_kwargs):
        raise subprocess.CalledProcessError(128, args[0])

    monkeypatch.setattr(provenance.subprocess, "run", not_a_checkout)
    assert environment(torch.device("cpu"))["git_commit"] is None


def test_numerics_follow_torch_threads():
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert numerics(torch.device("cpu"))["torch_threads"] == 2
    finally:
        torch.set_num_threads(before)
