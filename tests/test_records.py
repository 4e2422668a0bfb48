"""Run records: paths, atomic writes that survive a crash, reading, and the DataFrame view."""

from __future__ import annotations

import json
import math
import os
import subprocess

import pandas as pd
import pytest
import torch

from rouser import paths, records
from rouser.atomic import atomic_write
from rouser.config import resolve_run
from rouser.records import (
    LOCAL_PATH_KEYS,
    checkpoint_path,
    environment,
    load_records,
    numerics,
    portable_data,
    read_record,
    record_path,
    write_record,
)


def make_record(run_id: str, lr_th: float, history: list[dict], status: str = "finished") -> dict:
    return {
        "schema": 1,
        "run_id": run_id,
        "status": status,
        "error": None,
        "config": {"dataset": "shd", "method": "rouser", "seed": 0, "lr_th": lr_th},
        "data": {"source": "synthetic"},
        "env": {"device": "cpu"},
        "started": "2026-01-01T00:00:00+00:00",
        "ended": None,
        "history": history,
        "summary": {"final_test_accuracy": history[-1]["test_accuracy"]} if history else None,
    }


def entry(epoch: int, accuracy: float) -> dict:
    return {
        "epoch": epoch,
        "test_accuracy": accuracy,
        "dead_neurons": {"layer1": 0.5},
        "spike_rate": {"layer1": 0.1, "layer2": 0.2},
        "thresholds": {"layer1": {"mean": 1.25, "hist_counts": [1, 2]}},
    }


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
    record = make_record("r1", 0.001, [entry(0, 0.1)])
    path = tmp_path / "sub" / "r1.json"
    write_record(record, path)
    assert read_record(path) == record
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)


def test_killed_write_leaves_previous_record_intact(tmp_path, monkeypatch):
    path = tmp_path / "r1.json"
    old = make_record("r1", 0.001, [entry(0, 0.1)], status="running")
    write_record(old, path)

    def killed(_fd):
        raise KeyboardInterrupt("killed while the new record was half on disk")

    monkeypatch.setattr(os, "fsync", killed)
    with pytest.raises(KeyboardInterrupt):
        write_record(make_record("r1", 0.001, [entry(0, 0.1), entry(1, 0.5)]), path)
    assert read_record(path) == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r1.json"]  # no temp file left


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
    path = tmp_path / "r1.json"
    good = make_record("r1", 0.001, [entry(0, 0.1)])
    write_record(good, path)
    with pytest.raises(ValueError, match="JSON compliant"):
        write_record(make_record("r1", 0.001, [entry(0, math.nan)]), path)
    assert read_record(path) == good


def test_read_record_errors_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"rouser\.train"):
        read_record(tmp_path / "missing.json")
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text('{"schema": 1, "hist')
    with pytest.raises(ValueError, match="not valid JSON"):
        read_record(corrupt)
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"name": "package.json"}))
    with pytest.raises(ValueError, match="not a rouser run record"):
        read_record(foreign)
    bad_status = tmp_path / "bad.json"
    bad_status.write_text(json.dumps(make_record("x", 0.0, [], status="done")))
    with pytest.raises(ValueError, match="status"):
        read_record(bad_status)


def test_load_records_one_row_per_run_and_epoch(tmp_path):
    write_record(make_record("a", 0.001, [entry(0, 0.1), entry(1, 0.6)]), tmp_path / "a.json")
    write_record(make_record("b", 0.0, [], status="failed"), tmp_path / "b.json")
    (tmp_path / ".a.json.x.tmp").write_text("half")  # a temp file from a crashed writer
    (tmp_path / "a.ckpt.pt").write_bytes(b"\0")
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
    a = frame[frame.run_id == "a"]
    assert a["epoch"].tolist() == [0, 1] and a["test_accuracy"].tolist() == [0.1, 0.6]
    assert a["config.lr_th"].tolist() == [0.001, 0.001]
    assert a["thresholds.layer1.hist_counts"].iloc[0] == [1, 2]
    b = frame[frame.run_id == "b"]
    assert b["status"].item() == "failed" and pd.isna(b["epoch"].item())
    same = load_records([tmp_path / "a.json"])
    assert same["run_id"].tolist() == ["a", "a"]
    with pytest.raises(FileNotFoundError, match="train runs first"):
        load_records(tmp_path / "nope")


def test_environment_states_the_numerics_and_works_without_git(monkeypatch):
    env = environment(torch.device("cpu"))
    assert set(env) == {
        "device", "device_name", "cpu_count", "numerics", "platform", "numba", "torch",
        "rouser", "python", "git_commit",
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

    monkeypatch.setattr(records.subprocess, "run", no_git)
    assert environment(torch.device("cpu"))["git_commit"] is None

    def not_a_checkout(*args, **_kwargs):
        raise subprocess.CalledProcessError(128, args[0])

    monkeypatch.setattr(records.subprocess, "run", not_a_checkout)
    assert environment(torch.device("cpu"))["git_commit"] is None


def test_numerics_follow_torch_threads():
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert numerics(torch.device("cpu"))["torch_threads"] == 2
    finally:
        torch.set_num_threads(before)
