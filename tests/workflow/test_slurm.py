"""The README's cluster command, run for real on a one-node SLURM brought up on this host.

Why: the SLURM path is the one a user takes when one GPU is not enough, and the one that
breaks silently (the plugin's default status command, sacct, makes Snakemake wait forever
on a cluster without accounting). Here the daemons (munged, slurmctld, slurmd) are started
from tests/slurm/*.in, filled in from the host, under a folder of their own, and stopped by
their PIDs afterwards. Run jobs go through the command of README "Reproduce on a cluster",
and each record must name its SLURM job, whose gres=gpu:1 request (a fake GPU,
File=/dev/null) SLURM granted, and equal a local run's record; a job cancelled mid-run
(scancel) resumes from its checkpoint when the workflow is rerun; a run that fails in its
job leaves its record "failed" with the error beside its notebook log, and the workflow's
error names the run and its logs; a status command that keeps failing fails the workflow instead of leaving it
waiting forever.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
import shlex
import shutil
import signal
import socket
import string
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import yaml

from rouser import paths
from rouser.config import load_config, resolve_run
from rouser.runs.experiments import all_runs
from rouser.runs.provenance import environment
from rouser.runs.records import checkpoint_path, read_record, record_path
from rouser.runs.train import TIMING_KEYS

REPO = paths.REPO_ROOT
TEMPLATES = REPO / "tests" / "slurm"
# Two smoke-profile runs of two epochs each: enough to cancel one after its first epoch.
RUN_IDS = ["nmnist-baseline-seed0-6ab49a8b31", "nmnist-rouser-seed0-b1828ad625"]
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scancel", "scontrol", "sinfo", "srun")
WORKFLOW_TIMEOUT_S = 900  # a run takes well under a minute; a hang must fail, not wait
# A weight learning rate that carries Adam's steps past float32's range in the first epoch.
DIVERGING_LR_W = 1e36
# Before workflow/slurm.smk, a failing status command left Snakemake waiting forever; now
# it fails within a few status checks (seconds): far longer than that is a hang.
STATUS_FAILURE_TIMEOUT_S = 240


def test_environment_names_the_slurm_job_only_inside_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    assert environment(torch.device("cpu"))["slurm_job_id"] == "4242"
    monkeypatch.delenv("SLURM_JOB_ID")
    assert "slurm_job_id" not in environment(torch.device("cpu"))


def _missing() -> str | None:
    """Why the one-node cluster cannot be brought up here, or None."""
    absent = [name for name in (*DAEMONS, *CLIENTS) if shutil.which(name, path=_path()) is None]
    if absent:
        return (
            f"SLURM not installed ({', '.join(absent)} absent): Debian's slurmctld slurmd "
            "slurm-client munge packages provide them (.ci/run installs them with apt-get)"
        )
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        return (
            "snakemake-executor-plugin-slurm not installed: pip install -r requirements-cluster.txt"
        )
    if os.geteuid() != 0:
        return "the test cluster's slurmd must run as root (it starts jobs as their user)"
    return None


def _path() -> str:
    """PATH with the sbin folders, where Debian puts the daemons."""
    return os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _memory_mb() -> int:
    """95% of this host's memory: what the node offers to jobs."""
    total_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    return int(total_kb / 1024 * 0.95)


class Cluster:
    """A one-node SLURM whose every file lies under `folder`; `env` reaches it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        host = socket.gethostname().split(".")[0]
        values = {
            "host": host,
            "user": "root",
            "dir": str(folder),
            "ctld_port": _free_port(),
            "slurmd_port": _free_port(),
            "cpus": os.cpu_count(),
            "memory_mb": _memory_mb(),
        }
        for name in ("slurm.conf", "gres.conf"):
            template = string.Template((TEMPLATES / f"{name}.in").read_text())
            (folder / name).write_text(template.substitute(values))
        for sub in ("state", "spool"):
            (folder / sub).mkdir()
        conf = folder / "slurm.conf"
        # The plugin's job step (snakemake-executor-plugin-slurm-jobstep 0.6.1) drops every
        # SLURM_* variable but the job's ids from the srun it calls, SLURM_CONF too, so that
        # srun finds no config (a real cluster's is at the default path or served
        # configless). An srun first on PATH, which jobs inherit, puts it back.
        shim = folder / "bin"
        shim.mkdir()
        srun = shutil.which("srun", path=_path())
        (shim / "srun").write_text(f'#!/bin/sh\nSLURM_CONF={conf} exec {srun} "$@"\n')
        (shim / "srun").chmod(0o755)
        self.env = os.environ | {"SLURM_CONF": str(conf), "PATH": f"{shim}{os.pathsep}{_path()}"}
        self.daemons: list[subprocess.Popen] = []
        self.timings: dict[str, float] = {}

    def start(self) -> None:
        """munged, slurmctld and slurmd in the foreground (-F/-D), so their PIDs are ours."""
        start = time.monotonic()
        key = self.folder / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        munge = [f"--{k}={self.folder / v}" for k, v in _MUNGE_FILES.items()]
        self._spawn(["munged", "--foreground", f"--key-file={key}", *munge])
        self._wait(lambda: (self.folder / "munge.socket").exists(), "munged's socket")
        self._spawn(["slurmctld", "-D", "-c", "-i"])
        self._wait(lambda: self._run("scontrol", "ping").returncode == 0, "slurmctld")
        self._spawn(["slurmd", "-D"])
        self._wait(lambda: self._run("sinfo", "-h", "-o", "%t").stdout.strip() == "idle", "idle")
        self.timings["cluster up"] = time.monotonic() - start

    def _spawn(self, command: list[str]) -> None:
        log = (self.folder / f"{command[0]}.out").open("w")
        self.daemons.append(
            subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        )

    def _run(self, *command: str) -> subprocess.CompletedProcess:
        return subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=60)

    def _wait(self, ready, what: str, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while not ready():
            dead = [d.args[0] for d in self.daemons if d.poll() is not None]
            if dead or time.monotonic() > deadline:
                logs = {p.name: p.read_text()[-1500:] for p in self.folder.glob("*.out")}
                logs |= {p.name: p.read_text()[-1500:] for p in self.folder.glob("*.log")}
                raise RuntimeError(f"test cluster: no {what} (exited: {dead}); logs: {logs}")
            time.sleep(0.2)

    def jobs(self) -> list[str]:
        """Ids of the jobs SLURM still knows as queued or running."""
        result = self._run("squeue", "-h", "-o", "%i")
        return result.stdout.split()

    def job(self, job_id: str) -> str:
        """`scontrol show job` of one job (kept for MinJobAge, 300 s, after it ends)."""
        return self._run("scontrol", "show", "job", "-o", job_id).stdout

    def stop(self) -> None:
        """Cancel what is left, then stop each daemon by its PID, newest first."""
        start = time.monotonic()
        if self.daemons:
            jobs = self.jobs()
            if jobs:
                self._run("scancel", *jobs)
        for daemon in reversed(self.daemons):
            daemon.terminate()
            try:
                daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
        self.timings["teardown"] = time.monotonic() - start


_MUNGE_FILES = {
    "socket": "munge.socket",
    "pid-file": "munged.pid",
    "log-file": "munged.log",
    "seed-file": "munged.seed",
}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    reason = _missing()
    if reason:
        pytest.skip(reason)
    # Not pytest's tmp_path: munged wants every folder above its socket open to all (0755).
    folder = Path(tempfile.mkdtemp(prefix="rouser-slurm-"))
    folder.chmod(0o755)
    cluster = None
    try:
        cluster = Cluster(folder)
        cluster.start()
        yield cluster
    finally:
        if cluster is not None:
            cluster.stop()
            print(
                f"\ntest_slurm timings (s): { {k: round(v, 1) for k, v in cluster.timings.items()} }"
            )
        shutil.rmtree(folder, ignore_errors=True)


def documented_command() -> str:
    """The cluster command of README "Reproduce on a cluster", its lines joined."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("### Reproduce on a cluster", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1).replace("\\\n", " ")
    return next(line for line in block.splitlines() if line.startswith("snakemake "))


def _command(runs: Path, data: Path, targets: list[str]) -> list[str]:
    """The documented command with this test's values for what each site fills in: no
    account (this cluster has none), its partition, the smoke profile on the CPU, and the
    memory and runtime a smoke run needs on this small node. The targets come first:
    --set-resources takes every word after it."""
    command = documented_command()
    site = {
        " slurm_account=ACCOUNT": "",
        "slurm_partition=PARTITION": "slurm_partition=debug",
        "profile=paper": "profile=smoke",
        "device=cuda": "device=cpu",
        "data_root=/shared/data": f"data_root={data}",
        "runs_dir=/shared/runs": f"runs_dir={runs}",
        "run:runtime=1440": "run:runtime=10",
        "run:mem_mb=32000": "run:mem_mb=1000",
    }
    for placeholder, value in site.items():
        assert placeholder in command, f"README's cluster command lost {placeholder!r}"
        command = command.replace(placeholder, value)
    program, *options = shlex.split(command)
    return [program, *targets, *options]


def _snakemake(
    args: list[str], env: dict, on_start=None, timeout_s: float = WORKFLOW_TIMEOUT_S
) -> tuple[int, str]:
    """Run Snakemake in a session of its own, killed (its whole group, by our PID) if it
    outlives `timeout_s`: a workflow that waits forever must fail this test, not hang CI.
    `on_start(process)` runs while it does."""
    process = subprocess.Popen(
        args,
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        if on_start:
            on_start(process)
        output, _ = process.communicate(timeout=timeout_s)
    except BaseException:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    return process.returncode, output


def _comparable(record: dict) -> dict:
    """A record without what differs between identical runs: where and when it ran."""
    history = [{k: v for k, v in e.items() if k not in TIMING_KEYS} for e in record["history"]]
    summary = {k: v for k, v in (record["summary"] or {}).items() if k != "latency_seconds"}
    drop = {"env", "started", "ended", "digest", "history", "summary"}
    return {k: v for k, v in record.items() if k not in drop} | {
        "history": history,
        "summary": summary,
    }


@pytest.fixture(scope="module")
def local_records(tmp_path_factory: pytest.TempPathFactory, data: Path) -> dict[str, dict]:
    """The two runs trained locally, as the smoke workflow does: what SLURM must equal."""
    runs = tmp_path_factory.mktemp("local-runs")
    targets = [str(record_path(run_id, runs)) for run_id in RUN_IDS]
    config = ["profile=smoke", "device=cpu", f"data_root={data}", f"runs_dir={runs}"]
    code, output = _snakemake(
        ["snakemake", "--cores", "1", *targets, "--config", *config], os.environ
    )
    assert code == 0, output[-5000:]
    return {run_id: read_record(record_path(run_id, runs)) for run_id in RUN_IDS}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.mark.slow
def test_documented_cluster_command_runs_each_run_as_a_slurm_job(
    cluster: Cluster, local_records: dict[str, dict], data: Path, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    targets = [str(record_path(run_id, runs)) for run_id in RUN_IDS]
    start = time.monotonic()
    code, output = _snakemake(_command(runs, data, targets), cluster.env)
    cluster.timings["two run jobs"] = time.monotonic() - start
    assert code == 0, output[-5000:]
    job_ids = set()
    for run_id in RUN_IDS:
        record = read_record(record_path(run_id, runs))
        job_id = record["env"].get("slurm_job_id")
        assert job_id, f"{run_id} did not run in a SLURM job"
        job = cluster.job(job_id)
        assert "JobState=COMPLETED" in job, job
        assert re.search(r"gpu:1\b", job), f"job {job_id} was not given gres gpu:1: {job}"
        assert _comparable(record) == _comparable(local_records[run_id]), run_id
        job_ids.add(job_id)
    assert len(job_ids) == len(RUN_IDS)  # one job per run


@pytest.mark.slow
def test_cancelled_run_job_resumes_from_its_checkpoint(
    cluster: Cluster, local_records: dict[str, dict], data: Path, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    run_id = RUN_IDS[0]
    target = str(record_path(run_id, runs))
    checkpoint = checkpoint_path(run_id, runs)
    cancelled, started = [], []

    def cancel_after_first_epoch(process: subprocess.Popen) -> None:
        deadline = time.monotonic() + WORKFLOW_TIMEOUT_S
        while not checkpoint.exists():
            assert process.poll() is None and time.monotonic() < deadline, "no checkpoint"
            time.sleep(0.1)
        cancelled.extend(cluster.jobs())
        started.append(read_record(target)["started"])  # a resumed run keeps it
        assert cancelled, "the run job ended before it could be cancelled"
        cluster._run("scancel", *cancelled)

    start = time.monotonic()
    code, output = _snakemake(_command(runs, data, [target]), cluster.env, cancel_after_first_epoch)
    assert code != 0, "the workflow did not notice its job was cancelled"
    assert run_id in output, output[-3000:]
    assert "CANCELLED" in cluster.job(cancelled[0]), cluster.job(cancelled[0])
    # the checkpoint of its first epoch is there to resume from; Snakemake deleted the
    # record of the stopped job (a failed job's output)
    assert checkpoint.exists() and not Path(target).exists()
    code, output = _snakemake(_command(runs, data, [target]), cluster.env)
    cluster.timings["scancel + rerun"] = time.monotonic() - start
    assert code == 0, output[-5000:]
    record = read_record(target)
    assert record["env"]["slurm_job_id"] not in cancelled
    assert record["started"] == started[0], "the rerun started over instead of resuming"
    assert _comparable(record) == _comparable(local_records[run_id])


@pytest.mark.slow
def test_failed_run_job_keeps_its_failed_record_and_is_named(
    cluster: Cluster, data: Path, tmp_path: Path
) -> None:
    """A fault a user can make: a learning rate in _config.yml far too large, so the run
    diverges in its first epoch. ROUSER_CONFIG points every process, the SLURM job's too,
    at the edited copy."""
    config = load_config()
    config["profiles"]["smoke"].setdefault("training", {})["lr_w"] = DIVERGING_LR_W
    settings = tmp_path / "config.yml"
    settings.write_text(yaml.safe_dump(config))
    run = resolve_run("nmnist", "baseline", "smoke", config)
    assert run == dataclasses.replace(
        resolve_run("nmnist", "baseline", "smoke"), lr_w=DIVERGING_LR_W
    )
    assert run.run_id in {r.run_id for r in all_runs("smoke", config)}  # a workflow target
    runs = tmp_path / "runs"
    target = record_path(run, runs)
    env = cluster.env | {"ROUSER_CONFIG": str(settings)}
    start = time.monotonic()
    code, output = _snakemake(_command(runs, data, [str(target)]), env)
    cluster.timings["failed run job"] = time.monotonic() - start
    assert code != 0, output[-5000:]
    # Snakemake deleted the failed job's record; the run rule kept it beside the notebook
    # log, failed, with the error that stopped it
    assert not target.exists()
    log = (paths.results_dir("smoke") / "runs" / f"{run.run_id}.ipynb").relative_to(REPO)
    failed_record = log.parent / "failed" / f"{run.run_id}.json"
    record = read_record(REPO / failed_record)
    assert record["status"] == "failed", record["status"]
    assert record["error"] == "ValueError: CubaLIF input contains NaN or infinite values"
    job_id = record["env"]["slurm_job_id"]
    assert "JobState=FAILED" in cluster.job(job_id), cluster.job(job_id)
    # the workflow's error names the run's record, its notebook log and its SLURM log
    error = output[output.index("Error in rule run:") :]
    assert f"output: {target}" in error, error[:3000]
    slurm_log = re.search(
        rf"log: {log}, {failed_record}, (\S*/slurm_logs/\S*/{run.run_id}/{job_id}\.log)", error
    )
    assert slurm_log, error[:3000]
    assert "CubaLIF input contains NaN" in Path(slurm_log.group(1)).read_text()


@pytest.mark.slow
def test_failing_status_command_fails_the_workflow(
    cluster: Cluster, data: Path, tmp_path: Path
) -> None:
    """squeue, the profile's status command, fails as it does when the controller does not
    answer; a PATH shim stands in for it in Snakemake's environment only."""
    shim = tmp_path / "bin"
    shim.mkdir()
    message = "slurm_load_jobs error: Unable to contact slurm controller (connect failure)"
    (shim / "squeue").write_text(f'#!/bin/sh\necho "squeue: error: {message}" >&2\nexit 1\n')
    (shim / "squeue").chmod(0o755)
    env = cluster.env | {"PATH": f"{shim}{os.pathsep}{cluster.env['PATH']}"}
    runs = tmp_path / "runs"
    before = set(cluster.jobs())
    # two attempts instead of the profile's 30 (10 s apart): the test's time, same path
    target = str(record_path(RUN_IDS[1], runs))
    command = [*_command(runs, data, [target]), "--slurm-status-attempts", "2"]
    start = time.monotonic()
    try:
        code, output = _snakemake(command, env, timeout_s=STATUS_FAILURE_TIMEOUT_S)
    finally:
        # the job Snakemake submitted and lost sight of: stopped, not left to the next test
        left = set(cluster.jobs()) - before
        if left:
            cluster._run("scancel", *left)
    cluster.timings["failing status command"] = time.monotonic() - start
    assert code != 0, output[-5000:]
    assert "SLURM's status command failed 2 times in a row" in output, output[-5000:]
    assert message in output, output[-5000:]
    # the error's advice finds the job it left running
    (job_id,) = re.findall(r"submitted with SLURM jobid (\d+)", output)
    name = re.search(r"'scancel --name (\S+)'", output).group(1)
    assert f"JobName={name}" in cluster.job(job_id), cluster.job(job_id)


def test_reproduce_page_gives_the_tested_cluster_command() -> None:
    page = (REPO / "book" / "reproduce.md").read_text()
    section = page.split("## On a cluster", 1)[1].split("\n## ", 1)[0]
    assert documented_command() in section.replace("\\\n", " ")
    for what in ("ACCOUNT", "PARTITION", "run:gres=gpu:1", "runtime", "mem_mb", "same paths"):
        assert what in section, what
