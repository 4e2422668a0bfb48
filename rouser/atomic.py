"""Atomic file and folder writes: readers never see a half-written record, checkpoint,
cache or dataset file.

Why: records, caches and synthetic datasets are shared by concurrent runs (Snakemake jobs,
notebook kernels) and must survive a crash mid-write. Each writer fills a private temporary
name in the destination's folder and renames it into place, which is atomic on one file
system; a crash leaves only a temporary name, which readers ignore and
`remove_stale_temporaries` deletes once its writer is dead.

A write that cannot happen (folder not writable, a file where a folder should be, read-only
file system, disk full) raises `AtomicWriteError` naming the destination and the reason, not
the hidden temporary name or a bare `FileExistsError`.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

# Temporary names are `.<name>.tmp-<pid>-<host>-<random>`; files written before the host tag
# existed are `.<name>.tmp-<pid>-<random>` (no host).
_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
_TEMPORARY = re.compile(r"\..+\.tmp-(?P<pid>\d+)-(?:(?P<host>[0-9a-f]{8})-)?[0-9a-f]{8}")


class AtomicWriteError(OSError):
    """An atomic write that could not happen, naming the destination (not the temporary)."""

    def __init__(self, destination: Path, reason: str, code: int | None = None) -> None:
        self.destination = Path(destination)
        self.reason = reason
        super().__init__(f"cannot write {self.destination}: {reason}")
        self.errno = code  # keeps `except OSError` callers able to test the cause

    def __reduce__(self) -> tuple:
        """Rebuild from its parts (the OSError default would pass the message as errno)."""
        return type(self), (self.destination, self.reason, self.errno)


def _reason(error: OSError, destination: Path) -> str:
    """What went wrong, in terms of the destination and its folders."""
    # the path the failing call created or renamed (a folder or the temporary); the folder
    # that refused it is its parent
    blocker = Path(error.filename) if error.filename else destination
    detail = f"{type(error).__name__}: {error.strerror or error}"
    if error.errno in (errno.EEXIST, errno.ENOTDIR):
        file = next((p for p in (blocker, *blocker.parents) if p.is_file()), None)
        if file is not None:
            return f"{file} is a file, not a folder ({detail}); move it or choose another folder"
    if error.errno == errno.EISDIR:
        return f"{destination} is a folder, not a file ({detail}); move it or choose another name"
    if error.errno in (errno.EACCES, errno.EPERM):
        return (
            f"this user may not write in {blocker.parent} ({detail}); fix its permissions "
            "or choose a writable folder"
        )
    if error.errno == errno.EROFS:
        return f"{blocker.parent} is on a read-only file system; choose a writable folder"
    if error.errno == errno.ELOOP:
        return (
            f"{destination} is a symbolic link ({detail}); rouser never writes through a link "
            "in a shared folder: remove it"
        )
    if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return (
            f"no space left for it in {destination.parent} ({detail}); nothing half-written "
            "was kept: free space on that file system (finished runs' checkpoints *.ckpt.pt "
            "and unused binned caches can go) and run again, which resumes where it stopped"
        )
    return detail


@contextlib.contextmanager
def named_write_errors(destination: Path) -> Iterator[None]:
    """Turn an OSError inside into an `AtomicWriteError` about `destination` (not about a
    temporary name); also for writers outside this module, such as `rouser.runs.lock`."""
    try:
        yield
    except AtomicWriteError:
        raise
    except OSError as error:
        raise AtomicWriteError(destination, _reason(error, destination), error.errno) from error


def temporary_name(path: Path) -> Path:
    """A private name beside `path` that `remove_stale_temporaries` recognises."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{_HOST}-{uuid.uuid4().hex[:8]}")


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces `path`, on error it vanishes.

    The temporary file is created (empty) before it is yielded, so an unwritable folder is
    reported here, naming `path`, rather than by the caller's `open` of the hidden name.
    """
    path = Path(path)
    temporary = temporary_name(path)
    with named_write_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield temporary
        with named_write_errors(path):
            os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder to fill; on success it becomes `path` unless another writer
    got there first (then its identical result is kept and this one discarded)."""
    path = Path(path)
    temporary = temporary_name(path)
    with named_write_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.mkdir()
    try:
        yield temporary
        try:
            os.rename(temporary, path)
        except OSError as error:
            if not path.is_dir():  # not the "another writer finished first" case
                raise AtomicWriteError(path, _reason(error, path), error.errno) from error
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], object]) -> None:
    """Write a file through `write(handle)`, flushed and fsynced before the rename.

    If `write` raises (or the process is interrupted), `path` keeps its previous content. An
    OSError while writing (disk full) names `path`.
    """
    path = Path(path)
    with (
        atomic_file(path) as temporary,
        named_write_errors(path),
        # the temporary was just created exclusively; O_NOFOLLOW refuses a link swapped in
        open(
            temporary, "wb", opener=lambda name, flags: os.open(name, flags | os.O_NOFOLLOW)
        ) as handle,
    ):
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())


def _pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this host (unsure counts as alive)."""
    if pid <= 0:
        return True  # not a real writer's id: never delete on its account
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, owned by another user
        return True
    return True


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files and folders in `folder` whose writer process is dead.

    Why: a writer killed with SIGKILL cannot clean up, and cache temporaries reach 10 MB.
    Only names this module makes are considered; one is removed when it was written on this
    host (names without a host tag predate it and are taken as this host's) by a process
    that no longer exists. A live writer's temporary is never touched (a reused PID keeps a
    stale one, which is the safe side). Not recursive; a missing or unreadable folder, or a
    temporary another process removes first, is skipped. Returns what was removed.
    """
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return []
    removed = []
    for entry in entries:
        match = _TEMPORARY.fullmatch(entry.name)
        if match is None or match["host"] not in (None, _HOST) or _pid_alive(int(match["pid"])):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        except OSError:
            continue
        removed.append(Path(entry.path))
    return removed
