"""Files rouser writes in shared folders: never through a planted link, and a full disk
names the file and what to free.

Run ids are predictable, so whoever can write a shared runs folder can plant
`.<run_id>.lock` (or any name rouser writes) before a run starts.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rouser.atomic import AtomicWriteError
from rouser.runs.lock import lock_path, run_lock


def test_lock_planted_as_symlink_is_refused_and_target_kept(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    runs = tmp_path / "runs"
    runs.mkdir()
    lock_path(runs, "r1").symlink_to(victim)
    with (
        pytest.raises(AtomicWriteError, match=r"\.r1\.lock is a symbolic link") as caught,
        run_lock(runs, "r1"),
    ):
        pytest.fail("trained under a planted lock link")
    assert "remove it" in str(caught.value)
    assert victim.read_text() == "precious\n"


def test_lock_planted_as_fifo_is_refused_without_hanging(tmp_path: Path) -> None:
    os.mkfifo(lock_path(tmp_path, "r1"))
    with (
        pytest.raises(AtomicWriteError, match=r"\.r1\.lock: is not a regular file"),
        run_lock(tmp_path, "r1"),
    ):
        pytest.fail("locked a FIFO")


# A process whose files may not grow past 64 KiB: writing more fails with EFBIG, as a full
# disk fails with ENOSPC, through the same code paths (SIGXFSZ ignored, as a full disk sends
# no signal). A checkpoint of this model is ~30 KB larger than the limit.
FULL = """
import resource, signal, sys, torch
from pathlib import Path
from rouser.runs.checkpoint import save_checkpoint
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 16, 1 << 16))
try:
    save_checkpoint(Path(sys.argv[1]), {"model": torch.zeros(1 << 15)})
except Exception as error:
    print(type(error).__name__, error)
"""


def test_full_disk_while_checkpointing_names_the_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "run.ckpt.pt"
    done = subprocess.run(
        [sys.executable, "-c", FULL, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.startswith(f"AtomicWriteError cannot write {path}: no space left")
    assert "inline_container" not in done.stdout and "free space" in done.stdout
    assert list(tmp_path.iterdir()) == []  # nothing half-written
