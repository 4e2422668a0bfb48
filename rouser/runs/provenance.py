"""Provenance of a run: the code, machine and numerics its numbers were computed with.

Why it is recorded: two runs of the same config give the same bits only on the same code
and the same arithmetic. A record's `env` names the git commit and whether (and how) the
tracked code differed from it, the CPU model, the instruction-set level that torch, MKL
and numba use (MKL's code path decides the last bits, measured), the library versions and
the SLURM job, so a reader can tell what a committed record was made on. Paths of the
machine that ran it are left out of what is committed (`portable_data`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import llvmlite.binding
import numba
import torch

import rouser
from rouser.paths import REPO_ROOT

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
    differing in the last bits on an AMD EPYC with AVX-512. On an AMD EPYC (Zen 4, MKL
    2024.0) the log's first line names no instruction set at all, so this is None there, as
    where torch has no MKL (a record's `device_name` and `numba_cpu` tell the two apart).
    MKL states its path only in its verbose log's first line; one small product is run with
    the log on and stdout (fd 1) captured.
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
