"""Several runs per GPU: every `run` job of the workflow takes one `gpu_slots`, so that
`--resources gpu_slots=N` places at most N runs on a GPU at once (checked by a dry run)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from rouser.runs.experiments import all_runs

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_every_run_job_takes_one_gpu_slot(tmp_path: Path) -> None:
    command = ["snakemake", "runs", "--cores", "8", "--resources", "gpu_slots=2", "-n"]
    command += ["--nolock", "--config", "profile=smoke", f"runs_dir={tmp_path}"]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = re.split(r"\n(?=\S*rule \w+:)", result.stdout + result.stderr)
    runs = [job for job in jobs if re.search(r"rule run:", job)]
    assert len(runs) == len(all_runs("smoke")) > 1
    assert all(re.search(r"resources: .*\bgpu_slots=1\b", job) for job in runs)
