"""Atomic writes name the destination when they cannot happen; killed writers' temporaries
are cleaned up; a damaged checkpoint is named with the way out."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rouser.atomic import (
    AtomicWriteError,
    atomic_file,
    atomic_folder,
    atomic_write,
    remove_stale_temporaries,
)
from rouser.config import resolve_run
from rouser.runs.checkpoint import CorruptCheckpointError, load_checkpoint, save_checkpoint


def write_text(path: Path, text: str = "{}") -> None:
    atomic_write(path, lambda handle: handle.write(text.encode()))


def test_runs_folder_that_is_a_file_is_named(tmp_path):
    runs = tmp_path / "runs"
    runs.write_text("not a folder")
    with pytest.raises(AtomicWriteError, match="is a file, not a folder") as caught:
        write_text(runs / "run.json")
    assert str(caught.value).startswith(f"cannot write {runs / 'run.json'}: {runs} is a file")
    with pytest.raises(AtomicWriteError, match=f"{runs} is a file"):  # a folder below it too
        write_text(runs / "sub" / "run.json")


def test_destination_that_is_a_folder_is_named_and_no_temporary_is_left(tmp_path):
    (tmp_path / "run.json").mkdir()
    with pytest.raises(AtomicWriteError, match=r"run\.json is a folder, not a file"):
        write_text(tmp_path / "run.json")
    assert [path.name for path in tmp_path.iterdir()] == ["run.json"]


def test_read_only_runs_folder_names_the_destination_not_the_temporary(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir(mode=0o555)
    code = (
        "import sys; from rouser.atomic import atomic_write\n"
        "try: atomic_write(sys.argv[1], lambda handle: handle.write(b'{}'))\n"
        "except OSError as err: print(type(err).__name__, err)"
    )
    command = [sys.executable, "-c", code, str(runs / "run.json")]
    if os.geteuid() == 0:  # root writes anywhere unless its override capabilities are gone
        if not shutil.which("capsh"):
            pytest.skip("running as root without capsh: permissions cannot be enforced")
        drop = "--drop=cap_dac_override,cap_dac_read_search"
        command = ["capsh", drop, "--", "-c", shlex.join(command)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.startswith(f"AtomicWriteError cannot write {runs / 'run.json'}: ")
    assert f"this user may not write in {runs}" in done.stdout and ".tmp-" not in done.stdout
    assert list(runs.iterdir()) == []


def test_disk_full_while_writing_names_the_destination(tmp_path):
    def full(handle):
        raise OSError(28, "No space left on device")

    with pytest.raises(AtomicWriteError, match=r"run\.json: no space left") as caught:
        atomic_write(tmp_path / "run.json", full)
    assert caught.value.errno == 28 and list(tmp_path.iterdir()) == []


def test_successful_writes_still_replace(tmp_path):
    write_text(tmp_path / "a.json", "1")
    write_text(tmp_path / "a.json", "2")
    with atomic_file(tmp_path / "b.txt") as temporary:
        temporary.write_text("b")
    with atomic_folder(tmp_path / "c") as temporary:
        (temporary / "x").write_text("c")
    assert (tmp_path / "a.json").read_text() == "2" and (tmp_path / "b.txt").read_text() == "b"
    assert (tmp_path / "c" / "x").read_text() == "c"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.json", "b.txt", "c"]


@pytest.fixture(scope="module")
def dead_pid() -> int:
    """The id of a process that has exited (and, so soon after, not been reused)."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout)


def writer_temporary(folder: Path, name: str, killed: bool) -> tuple[Path, subprocess.Popen]:
    """The temporary a writer leaves when killed with SIGKILL (or, alive, still holds)."""
    code = (
        "import os, signal, sys; from rouser.atomic import atomic_file\n"
        "with atomic_file(sys.argv[1]):\n"
        "    print(flush=True)\n"
        "    os.kill(os.getpid(), signal.SIGKILL) if sys.argv[2] == 'kill' else sys.stdin.read()"
    )
    args = [sys.executable, "-c", code, str(folder / name), "kill" if killed else "wait"]
    writer = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    writer.stdout.readline()
    if killed:
        writer.wait(timeout=60)
    (temporary,) = folder.glob(f".{name}.tmp-{writer.pid}-*")
    return temporary, writer


def test_stale_temporaries_of_killed_writers_are_removed_live_ones_kept(tmp_path, dead_pid):
    stale, _ = writer_temporary(tmp_path, "a.ckpt.pt", killed=True)
    live, writer = writer_temporary(tmp_path, "b.json", killed=False)
    legacy = tmp_path / f".c.json.tmp-{dead_pid}-0123abcd"  # named before the host tag
    legacy.write_text("")
    legacy_folder = tmp_path / f".nmnist-real-train-10-abc.tmp-{dead_pid}-0123abcd"
    (legacy_folder / "part").mkdir(parents=True)
    other_host = tmp_path / f".d.json.tmp-{dead_pid}-ffffffff-0123abcd"
    other_host.write_text("")
    kept = [tmp_path / "e.json", tmp_path / f".f.tmp-{dead_pid}"]  # not our temporaries
    for path in kept:
        path.write_text("")
    try:
        removed = remove_stale_temporaries(tmp_path)
        assert sorted(removed) == sorted([stale, legacy, legacy_folder])
        assert live.exists() and other_host.exists() and all(path.exists() for path in kept)
    finally:
        writer.communicate("")
    assert not live.exists()  # its writer finished normally
    assert remove_stale_temporaries(tmp_path / "missing") == []


def test_truncated_checkpoint_is_named_with_restart(tmp_path):
    run = resolve_run("nmnist", "rouser", "smoke")
    path = tmp_path / "run.ckpt.pt"
    save_checkpoint(path, {"config": run.to_dict(), "data": {}, "weights": torch.zeros(1000)})
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CorruptCheckpointError, match="--restart") as caught:
        load_checkpoint(path, run, {})
    assert str(caught.value).startswith(f"checkpoint {path} cannot be read (")
    torch.save(torch.zeros(3), path)
    with pytest.raises(CorruptCheckpointError, match="is not a rouser checkpoint"):
        load_checkpoint(path, run, {})


def test_checkpoint_on_other_recordings_is_refused(tmp_path):
    run = resolve_run("nmnist", "rouser", "smoke")
    path = tmp_path / "run.ckpt.pt"
    data = {"dataset": "nmnist", "fingerprint": {"recordings": {"train": 9}, "sha256": "a"}}
    save_checkpoint(path, {"config": run.to_dict(), "data": data})
    assert load_checkpoint(path, run, data)["data"] == data
    other = data | {"fingerprint": {"recordings": {"train": 10}, "sha256": "b"}}
    with pytest.raises(ValueError, match="trained on other data"):
        load_checkpoint(path, run, other)
    save_checkpoint(path, {"config": run.to_dict(), "data": {"dataset": "nmnist"}})
    assert load_checkpoint(path, run, other)  # written before fingerprints: the rest must match
