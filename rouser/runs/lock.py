"""One trainer per run id: an exclusive lock in the runs folder.

Why: the same run launched twice at once (two Snakemake invocations, a notebook and the CLI)
used to train twice in full, both writing one record and one checkpoint. With
`run_lock(runs_dir, run_id)` around the training, the second waits, says for whom, and then
finds the first one's finished record instead of training again.

The lock is `fcntl.flock` on `<runs_dir>/.<run_id>.lock`: the kernel releases it when its
holder exits, however it exits (kill -9 included), so a lock is never stale. The file stays
(deleting it would let a third process lock a new file while the second waits on the old
one); while held it holds the holder's PID and host, for the message. Not re-entrant: taking
a lock this process already holds is an error rather than a deadlock. Works across hosts
where the file system supports flock (local disks, NFSv4).

The file is opened with `O_NOFOLLOW` and must be a regular file: run ids are predictable, so
whoever can write a shared runs folder could otherwise plant `.<run_id>.lock` as a symbolic
link to another file, which the truncation below would empty.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from rouser.atomic import AtomicWriteError, named_write_errors

_HELD: set[Path] = set()  # locks this process holds


def lock_path(runs_dir: str | os.PathLike, run_id: str) -> Path:
    """`<runs_dir>/.<run_id>.lock`."""
    return Path(runs_dir) / f".{run_id}.lock"


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _holder(fd: int) -> str:
    """Who holds the lock, as written in the file ("PID N on HOST"), or why it is unknown."""
    words = os.pread(fd, 256, 0).decode(errors="replace").split()
    if len(words) != 2:  # the holder has locked but not yet written, or is releasing
        return "another process (PID not yet written)"
    pid, host = words
    return f"PID {pid}" + ("" if host == socket.gethostname() else f" on host {host}")


@contextlib.contextmanager
def run_lock(
    runs_dir: str | os.PathLike,
    run_id: str,
    notify: Callable[[str], None] = _to_stderr,
) -> Iterator[Path]:
    """Hold the lock of `run_id` for the body; wait, after telling `notify` why, if taken.

    Yields the lock file's path. A runs folder where the lock cannot be created (read-only,
    a file), or a lock path that is a symbolic link or not a regular file, is an
    `AtomicWriteError` naming the lock file and the reason; nothing is written then.
    """
    path = lock_path(runs_dir, run_id)
    key = path.resolve()
    if key in _HELD:
        raise RuntimeError(f"this process already holds the lock of run {run_id} ({path})")
    with named_write_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_NONBLOCK: a FIFO planted there must not hang the open (it is refused below)
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
        fd = os.open(path, flags, 0o666)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise AtomicWriteError(
                path, "is not a regular file; remove it (rouser creates its lock files itself)"
            )
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            notify(f"run {run_id} is already being trained by {_holder(fd)}; waiting ({path})")
            fcntl.flock(fd, fcntl.LOCK_EX)
        with named_write_errors(path):  # a full disk: name the lock file
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        _HELD.add(key)
        try:
            yield path
        finally:
            _HELD.discard(key)
            os.ftruncate(fd, 0)  # the next holder's waiters must not see a dead PID
    finally:
        os.close(fd)  # releases the lock
