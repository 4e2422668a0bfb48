"""Records are proven before they are drawn: a tampered, copied or malformed record is an
error naming its file, in `read_record`, in `load_records` and in the book's build.

Each variant below is a way a committed record was once edited or copied and still drawn
(Table I showed "95.00 +- 2.83 (3 seeds)" for a record whose summary had been removed).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from toy_task import DATASET, toy_loaders, toy_settings

from rouser import paths
from rouser.config import resolve_run
from rouser.runs.epochs import LATER_MEASUREMENTS
from rouser.runs.records import (
    RecordError,
    load_records,
    read_record,
    record_digest,
    record_path,
    run_of,
    write_record,
)
from rouser.runs.train import train

REPO = paths.REPO_ROOT
COMMITTED = paths.RECORDS_DIR / "cpu"
# two committed Table I records
SEED0, SEED1 = (resolve_run("nmnist", "rouser", "cpu", seed=seed).run_id for seed in (0, 1))


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    """A copy of the committed records, to tamper with."""
    folder = tmp_path / "runs"
    shutil.copytree(COMMITTED, folder)
    return folder


def _edit(path: Path, change: Callable[[dict], None]) -> None:
    """Edit a record file by hand (its digest left as it was)."""
    record = json.loads(path.read_text())
    change(record)
    path.write_text(json.dumps(record, indent=1))


def _restamp(path: Path, change: Callable[[dict], None]) -> None:
    """Edit a record and write it as training does, digest recomputed: the checks that are
    not the digest must still catch the edit."""
    record = json.loads(path.read_text())
    change(record)
    write_record(record, path)


def _set_first_accuracy(value: object) -> Callable[[dict], None]:
    return lambda record: record["history"][1].update(test_accuracy=value)


def test_committed_records_are_valid_and_stamped() -> None:
    files = sorted(COMMITTED.glob("*.json"))
    assert len(files) >= 65
    frame = load_records(COMMITTED)
    assert frame["run_id"].nunique() == len(files)
    for path in files:
        assert json.loads(path.read_text())["digest"].startswith("sha256:"), path.name


def test_committed_records_come_from_committed_code() -> None:
    """A record trained from a modified working tree (`env.git.dirty`) is not published:
    its numbers come from code no commit holds. Records made before `env.git` lack it."""
    for path in sorted(COMMITTED.glob("*.json")):
        git = read_record(path)["env"].get("git", {"dirty": False})
        assert git["dirty"] is False, f"{path.name} was trained from modified code: {git}"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.pop("summary"), r"lacks the field 'summary'"),
        (lambda r: r.pop("history"), r"lacks the field 'history'"),
        (lambda r: r.update(summary=None), r"summary None is not the one its history gives"),
        (lambda r: r["config"].update(threshold=0.75), r"config hashes to run id"),
        (lambda r: r["config"].pop("threshold"), r"config lacks settings \['threshold'\]"),
        (lambda r: r.update(run_id=SEED1), r"holds run 'nmnist-rouser-seed1-"),
        (_set_first_accuracy(57.0), r"history\[1\]\.test_accuracy is 57\.0, outside"),
        (_set_first_accuracy("0.57"), r"history\[1\]\.test_accuracy is '0\.57', not a finite"),
        (lambda r: r["history"][1].pop("thresholds"), r"history\[1\] lacks \['thresholds'\]"),
        (lambda r: r.update(status="non-convergent"), r"status 'non-convergent' contradicts"),
        (lambda r: r["history"].reverse(), r"history epochs \[20, 19, .*\] are not increasing"),
    ],
    ids=[
        "summary removed",
        "history removed",
        "summary null",
        "config value edited",
        "config key missing",
        "run id of another file",
        "accuracy in percent",
        "accuracy a string",
        "thresholds missing",
        "status contradicts summary",
        "history reordered",
    ],
)
@pytest.mark.parametrize("write", [_edit, _restamp], ids=["hand edit", "restamped"])
def test_tampered_record_is_refused_naming_its_file(
    runs: Path, change: Callable[[dict], None], message: str, write: Callable
) -> None:
    path = runs / f"{SEED0}.json"
    write(path, change)
    expected = message if write is _restamp else "does not match its digest|" + message
    with pytest.raises(RecordError, match=expected) as caught:
        load_records(runs)
    assert str(path) in str(caught.value)


def test_record_copied_over_another_is_refused(runs: Path) -> None:
    shutil.copy(runs / f"{SEED0}.json", runs / f"{SEED1}.json")
    with pytest.raises(RecordError, match=rf"{SEED1}.json: holds run '{SEED0}'"):
        load_records(runs)


def test_copy_with_rewritten_identity_is_a_duplicate(runs: Path) -> None:
    """Copied, then made consistent (seed, run id, digest): the same history twice."""
    record = json.loads((runs / f"{SEED0}.json").read_text())
    record["config"]["seed"] = 7
    record["run_id"] = run_of(record["config"]).run_id
    write_record(record, runs / f"{record['run_id']}.json")
    with pytest.raises(RecordError, match=rf"same history as .*{SEED0}\.json"):
        load_records(runs)


def test_invalid_json_names_the_file(runs: Path) -> None:
    path = runs / f"{SEED0}.json"
    path.write_text(path.read_text()[:-10])
    with pytest.raises(RecordError, match=rf"{SEED0}\.json: not valid JSON"):
        read_record(path)


def test_stamping_only_adds_the_digest_and_checks_first(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO / "workflow" / "scripts"))
    try:
        import stamp_records
    finally:
        sys.path.remove(str(REPO / "workflow" / "scripts"))
    committed = json.loads((COMMITTED / f"{SEED0}.json").read_text())
    unstamped = {key: value for key, value in committed.items() if key != "digest"}
    path = tmp_path / f"{SEED0}.json"
    path.write_text(json.dumps(unstamped, indent=1))
    assert stamp_records.main([str(path)]) == [path]
    stamped = json.loads(path.read_text())
    assert stamped == {**unstamped, "digest": record_digest(unstamped)} == committed
    assert path.read_text() == (COMMITTED / f"{SEED0}.json").read_text()  # byte for byte
    assert stamp_records.main([str(path)]) == []  # stamped already: left as it is
    unstamped.pop("summary")  # a record with its summary removed is never stamped
    path.write_text(json.dumps(unstamped, indent=1))
    with pytest.raises(RecordError, match="lacks the field 'summary'"):
        stamp_records.main([str(path)])
    assert "digest" not in json.loads(path.read_text())


TINY_NOTEBOOK = {
    "cells": [
        {
            "cell_type": "code",
            "execution_count": None,
            "metadata": {},
            "outputs": [],
            "source": "from rouser.runs.records import load_records\nload_records(RUNS)",
        }
    ],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    "nbformat": 4,
    "nbformat_minor": 5,
}


@pytest.mark.slow
def test_book_build_fails_on_an_invalid_record(tmp_path: Path, runs: Path) -> None:
    """The README's plain `jupyter-book build` under the book's execute settings, on a
    one-page book that loads a folder holding a record with its summary removed."""
    _edit(runs / f"{SEED0}.json", lambda record: record.pop("summary"))
    book = tmp_path / "book"
    book.mkdir()
    execute = yaml.safe_load((REPO / "book" / "_config.yml").read_text())["execute"]
    config = {"title": "t", "execute": execute, "only_build_toc_files": True}
    (book / "_config.yml").write_text(yaml.safe_dump(config))
    (book / "_toc.yml").write_text("format: jb-book\nroot: page\n")
    notebook = json.loads(json.dumps(TINY_NOTEBOOK).replace("RUNS", repr(str(runs))))
    (book / "page.ipynb").write_text(json.dumps(notebook))
    done = subprocess.run(
        ["jupyter-book", "build", str(book)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode != 0, done.stdout[-3000:]
    assert f"{SEED0}.json: lacks the field 'summary'" in done.stdout + done.stderr


def test_sparse_history_with_newer_measurements_is_valid(tmp_path: Path) -> None:
    """Records written now: history entries only at recorded epochs (`history_every`) and
    with the measurements added since the committed records (`LATER_MEASUREMENTS`)."""
    run = resolve_run(DATASET, "rouser", "smoke", **toy_settings(epochs=5, history_every=4))
    record = train(run, tmp_path, "cpu", loaders=toy_loaders(), progress=False)
    assert [entry["epoch"] for entry in record["history"]] == [0, 1, 2, 4, 5]
    assert set(LATER_MEASUREMENTS) <= set(record["history"][-1])
    assert read_record(record_path(run, tmp_path)) == record
