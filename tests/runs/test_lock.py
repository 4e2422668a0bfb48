"""One trainer per run id: a second process waits for the first, saying for whom."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import threading

import pytest

from rouser.atomic import AtomicWriteError
from rouser.runs.lock import lock_path, run_lock

HOLD = """
import sys
from rouser.runs.lock import run_lock
with run_lock(sys.argv[1], sys.argv[2]):
    print("held", flush=True)
    sys.stdin.readline()
    print("releasing", flush=True)
"""


def must_not_wait(message: str) -> None:
    raise AssertionError(f"waited: {message}")


@pytest.fixture
def holder(tmp_path):
    """Another process holding the lock of run "r1" in `tmp_path` until its stdin closes."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path), "r1"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline() == "held\n"
    yield process
    process.kill()
    process.wait(timeout=60)


def test_second_process_waits_for_the_first_and_says_for_whom(tmp_path, holder):
    with run_lock(tmp_path, "r2", notify=must_not_wait):  # another run id: no waiting
        pass
    messages = []
    threading.Timer(1.0, holder.stdin.close).start()  # the first run finishes after 1 s
    with run_lock(tmp_path, "r1", notify=messages.append) as path:
        # already there, unread: the holder said "releasing" before we got the lock
        assert select.select([holder.stdout], [], [], 0)[0] == [holder.stdout]
        assert holder.stdout.read() == "releasing\n"
        assert path.read_text() == f"{os.getpid()} {socket.gethostname()}\n"
    assert messages == [
        f"run r1 is already being trained by PID {holder.pid}; waiting ({lock_path(tmp_path, 'r1')})"
    ]
    assert path.read_text() == ""  # released: no PID of a finished holder left behind


def test_a_killed_holder_releases_the_lock(tmp_path, holder):
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=60)
    with run_lock(tmp_path, "r1", notify=must_not_wait):
        pass


def test_taking_a_held_lock_again_in_one_process_is_an_error_not_a_deadlock(tmp_path):
    with (
        run_lock(tmp_path, "r1"),
        pytest.raises(RuntimeError, match="already holds"),
        run_lock(tmp_path, "r1"),
    ):
        pass
    with run_lock(tmp_path, "r1", notify=must_not_wait):  # released by the outer exit
        pass


def test_runs_folder_that_is_a_file_is_named(tmp_path):
    runs = tmp_path / "runs"
    runs.write_text("")
    with (
        pytest.raises(AtomicWriteError, match=f"{runs} is a file, not a folder"),
        run_lock(runs, "r1"),
    ):
        pass
