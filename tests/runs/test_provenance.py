"""Provenance that cannot lie: a checkpoint carries the numerics it was trained under, a
resume under others is refused unless asked for (then the record lists each environment),
and a run from a modified working tree says so."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from toy_task import DATASET, killed_after_checkpoint, toy_loaders, toy_settings

import rouser.runs.train as train_module
from rouser.config import resolve_run
from rouser.runs import provenance
from rouser.runs.checkpoint import ALLOW_OTHER_NUMERICS
from rouser.runs.provenance import _cpu_model, code_changes, mkl_code_path
from rouser.runs.records import checkpoint_path, read_record, record_path
from rouser.runs.train import train


def toy_run():
    return resolve_run(DATASET, "rouser", "smoke", **toy_settings(epochs=3))


@pytest.fixture
def interrupted_under_old_torch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A run killed after epoch 1 whose first epochs ran under torch "2.12.0+cpu"."""
    real_environment = train_module.environment

    def old_torch(device):
        env = real_environment(device)
        env["numerics"] = {**env["numerics"], "torch": "2.12.0+cpu"}
        return env

    monkeypatch.setattr(train_module, "environment", old_torch)
    with killed_after_checkpoint(monkeypatch, 1):
        train(toy_run(), tmp_path, "cpu", loaders=toy_loaders(), progress=False)
    monkeypatch.setattr(train_module, "environment", real_environment)
    return tmp_path


def test_resume_under_other_numerics_is_refused(
    interrupted_under_old_torch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ALLOW_OTHER_NUMERICS, raising=False)
    run = toy_run()
    with pytest.raises(RuntimeError, match=r"other numerics .*'torch': \('2\.12\.0\+cpu'") as err:
        train(run, interrupted_under_old_torch, "cpu", loaders=toy_loaders(), progress=False)
    assert str(checkpoint_path(run, interrupted_under_old_torch)) in str(err.value)
    assert ALLOW_OTHER_NUMERICS in str(err.value)


def test_resume_under_other_numerics_when_asked_lists_both(
    interrupted_under_old_torch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ALLOW_OTHER_NUMERICS, "1")
    run = toy_run()
    record = train(run, interrupted_under_old_torch, "cpu", loaders=toy_loaders(), progress=False)
    assert record["status"] == "finished"
    environments = record["env"]["environments"]
    assert [entry["from_epoch"] for entry in environments] == [0, 2]
    assert environments[0]["numerics"]["torch"] == "2.12.0+cpu"
    assert environments[1]["numerics"] == record["env"]["numerics"]
    assert read_record(record_path(run, interrupted_under_old_torch)) == record


def test_uninterrupted_run_lists_no_environments(tmp_path: Path) -> None:
    record = train(toy_run(), tmp_path, "cpu", loaders=toy_loaders(), progress=False)
    assert "environments" not in record["env"]
    for key in ("cpu_capability", "mkl", "numba_cpu", "torch", "numba", "device_type"):
        assert key in record["env"]["numerics"], key


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture
def clone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A committed clone layout that `rouser.runs.records` inspects instead of this checkout."""
    repo = tmp_path / "clone"
    (repo / "rouser").mkdir(parents=True)
    (repo / "rouser" / "optim.py").write_text("lr_w = 1\n")
    (repo / "records").mkdir()
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "clean")
    monkeypatch.setattr(provenance, "REPO_ROOT", repo)
    return repo


def test_clean_tree_is_recorded_clean(clone: Path) -> None:
    (clone / "records" / "run.json").write_text("{}")  # records written by runs: not code
    assert code_changes() == {"dirty": False, "diff_sha256": None, "changed": []}


def test_modified_tree_is_recorded_with_a_diff_digest(clone: Path) -> None:
    (clone / "rouser" / "optim.py").write_text("lr_w = 1 * 100\n")
    first = code_changes()
    assert first["dirty"] is True and first["changed"] == ["rouser/optim.py"]
    assert code_changes() == first  # the same modification, the same digest
    (clone / "rouser" / "extra.py").write_text("x = 1\n")  # an untracked module counts too
    second = code_changes()
    assert second["changed"] == ["rouser/extra.py", "rouser/optim.py"]
    assert second["diff_sha256"] != first["diff_sha256"]


def test_training_from_a_modified_tree_says_so(clone: Path, tmp_path: Path) -> None:
    (clone / "rouser" / "optim.py").write_text("lr_w = 1 * 100\n")
    run = toy_run()
    with pytest.warns(UserWarning, match=r"modified working tree .*rouser/optim\.py"):
        record = train(run, tmp_path / "runs", "cpu", loaders=toy_loaders(), progress=False)
    assert record["run_id"] == run.run_id  # the settings' id, and the record says why it
    assert record["env"]["git_commit"] == _git(clone, "rev-parse", "HEAD")  # is not clean:
    assert record["env"]["git"] == code_changes() and record["env"]["git"]["dirty"] is True


@pytest.mark.skipif(not torch.backends.mkl.is_available(), reason="this torch has no MKL")
def test_mkl_code_path_is_the_one_mkl_takes() -> None:
    """MKL's path decides a run's bits (`rouser.runs.provenance.mkl_code_path`); limited to AVX2,
    as MKL limits itself on AMD CPUs, it says so. Where MKL's log names no instruction set
    (an AMD EPYC's does not), it says None, limited or not."""
    code = "from rouser.runs.provenance import mkl_code_path; print(mkl_code_path())"
    limited = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
        capture_output=True,
        text=True,
        check=True,
    )
    named = mkl_code_path() is not None
    assert limited.stdout == ("AVX2\n" if named else "None\n")  # nothing else on stdout
    assert named or "AMD" in _cpu_model(), "MKL named no path on an Intel CPU"
