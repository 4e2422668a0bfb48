"""The command line a researcher types: typed flags, one-line errors, where runs go, SIGTERM.

Flags take the types of `rouser.config.SETTINGS` (not YAML 1.1, which read "010" as 8 and
refused "1e-3" as a string); a bad value is one line and exit status 2; a run typed at a
prompt does not land among the book's committed records; SIGTERM leaves a failed record and
a checkpoint to resume from, as Ctrl-C does.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
from toy_task import DATASET, toy_loaders, toy_settings

import rouser
import rouser.runs.cli as cli_module
import rouser.runs.train as train_module
from rouser import paths
from rouser.config import SETTINGS, resolve_run
from rouser.runs.cli import _count_or_none, _integer, _parser, _real, _shown, _sizes, main
from rouser.runs.interrupts import EXIT_TERMINATED, Terminated, terminate_as_exception
from rouser.runs.records import checkpoint_path, read_record, record_path
from rouser.runs.train import TIMING_KEYS, train

REPO = paths.REPO_ROOT


@pytest.fixture
def fake_train(monkeypatch):
    """Replace the training by a recorder of its arguments: the CLI alone is under test."""
    calls = []

    def record_call(run, **kwargs):
        calls.append({"run": run, **kwargs})
        return {"status": "finished", "summary": None}

    monkeypatch.setattr(cli_module, "train", record_call)
    return calls


def test_values_parse_as_their_setting_types():
    assert _integer("010") == 10 and _integer("-3") == -3 and _integer(" 7 ") == 7
    for text in ("1e3", "1.0", "0x10", "ten", "", "٣"):
        with pytest.raises(Exception, match="is not a decimal integer"):
            _integer(text)
    assert _real("1e-3") == 0.001 and _real("2") == 2.0
    with pytest.raises(Exception, match="is not a number"):
        _real("1e-3x")
    assert _sizes("64,64") == _sizes("[64, 64]") == _sizes("64 64") == [64, 64]
    assert _sizes("200") == [200]
    with pytest.raises(Exception, match="not a list of integers"):
        _sizes("[]")
    assert _count_or_none("None") is None and _count_or_none("null") is None
    assert _count_or_none("0100") == 100


def test_every_setting_has_a_typed_flag():
    actions = {action.dest: action for action in _parser()._actions}
    for name, (kind, *_) in SETTINGS.items():
        action = actions[name]
        assert f"--{name.replace('_', '-')}" in action.option_strings
        if kind == "true or false":  # FLAG: --x and --no-x, no value
            assert f"--no-{name.replace('_', '-')}" in action.option_strings
            assert action.nargs == 0
        else:
            assert action.type is not None and action.type.__module__ == "rouser.runs.cli"


def test_lr_th_1e_3_and_seed_010_train_from_the_command_line(tmp_path):
    """The issue's own command, as a researcher runs it: a real process, a real record."""
    nir_file = tmp_path / "net.nir"
    command = [
        sys.executable, "-m", "rouser", "train", "--dataset", "shd", "--method", "rouser",
        "--profile", "smoke", "--lr-th", "1e-3", "--seed", "010", "--epochs", "1",
        "--train-subset", "16", "--test-subset", "8", "--time-bins", "10", "--hidden", "8",
        "--no-progress", "--device", "cpu", "--data-root", str(tmp_path / "data"),
        "--runs-dir", str(tmp_path / "runs"), "--export-nir", str(nir_file),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    (path,) = (tmp_path / "runs").glob("*.json")
    record = json.loads(path.read_text())
    assert record["status"] in ("finished", "non-convergent")
    assert record["config"]["lr_th"] == 0.001 and record["config"]["seed"] == 10
    assert record["config"]["hidden"] == [8]
    assert f"{record['status']}: {path}" in result.stdout
    assert nir_file.stat().st_size > 0


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--lr-th", "1e-3x"], "argument --lr-th: '1e-3x' is not a number"),
        (["--seed", "1.5"], "argument --seed: '1.5' is not a decimal integer"),
        (["--epochs", "0"], "epochs=0 is not allowed: it must be integer >= 1"),
        (["--tau", "0"], "tau=0.0 is not allowed: it must be finite number > 0"),
        (["--lr-w", "inf"], "lr_w=inf is not allowed"),
        (["--fixed-point", "true"], "unrecognized arguments: true"),
        (["--profile", "laptop"], "invalid choice: 'laptop'"),
        (["--method", "slayer"], "argument --method: invalid choice: 'slayer'"),
        (["--augment"], "augment=True is only defined for"),  # found by make_loaders
        (["--false-rate", "0.5"], "false_rate=0.5 must not exceed true_rate"),
    ],
)
def test_a_bad_value_is_one_line_and_exit_status_2(args, named, tmp_path, capsys):
    argv = ["--dataset", "shd", "--method", "rouser", "--profile", "smoke", "--no-progress"]
    argv += ["--runs-dir", str(tmp_path), "--data-root", str(tmp_path / "data"), *args]
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("python -m rouser train: error: ")
    assert named in err
    assert not list(tmp_path.glob("*.json"))  # refused before any run started


def test_a_bad_value_from_a_real_process_is_one_line():
    command = [
        sys.executable,
        "-m",
        "rouser",
        "train",
        "--dataset",
        "nmnist",
        "--method",
        "rouser",
    ]
    result = subprocess.run(
        [*command, "--threads", "0"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert result.stderr == (
        "python -m rouser train: error: threads=0 is not allowed: it must be integer >= 1\n"
    )


def test_help_shows_profiles_and_the_chosen_profiles_defaults(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["--help"])
    assert stopped.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "--profile {paper,cpu,smoke}" in text and "(default cpu)" in text
    assert "--lr-th X >= 0; default 0.001" in text
    assert "--fixed-point, --no-fixed-point default false" in text
    assert "--hidden N,N,... a non-empty list of integers >= 1; default nmnist 500,500" in text
    assert "--train-subset N|none null (all recordings) or an integer >= 1; default 1000" in text
    with pytest.raises(SystemExit):
        main(["--profile", "smoke", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "defaults of profile smoke" in text and "default nmnist 64,64, dvs128 64" in text
    assert "--train-subset N|none null (all recordings) or an integer >= 1; default 64" in text


def test_version_flags():
    for command in (["rouser", "train"], ["rouser"]):
        result = subprocess.run(
            [sys.executable, "-m", *command, "--version"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert (result.returncode, result.stdout) == (0, f"rouser {rouser.__version__}\n")


def test_python_m_rouser_train_is_the_train_command(fake_train, tmp_path):
    from rouser.__main__ import main as rouser_main

    rouser_main(["train", "--dataset", "shd", "--method", "baseline", "--profile", "smoke",
                 "--runs-dir", str(tmp_path), "--seed", "2"])  # fmt: skip
    (call,) = fake_train
    assert (call["run"].method, call["run"].seed, call["runs_dir"]) == ("baseline", 2, tmp_path)


def test_runs_go_to_the_git_ignored_runs_folder_unless_told(fake_train, monkeypatch, tmp_path):
    monkeypatch.delenv("ROUSER_RUNS", raising=False)
    base = ["--dataset", "nmnist", "--method", "rouser"]
    main(base)
    assert fake_train[-1]["runs_dir"] == REPO / "runs" / "cpu"  # not records/cpu
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "runs/cpu/x.json"], cwd=REPO, check=False
    )
    assert ignored.returncode == 0, "runs/ must be git-ignored"
    main([*base, "--runs-dir", "records/cpu"])  # on purpose: among the book's records
    assert fake_train[-1]["runs_dir"].as_posix() == "records/cpu"
    monkeypatch.setenv("ROUSER_RUNS", str(tmp_path))
    main(base)
    assert fake_train[-1]["runs_dir"] == tmp_path
    # the library's default (notebooks, Snakefile, book) is still the committed folder
    monkeypatch.delenv("ROUSER_RUNS")
    assert paths.runs_dir("cpu") == REPO / "records" / "cpu"


def test_export_nir_destination_is_checked_before_training(
    fake_train, tmp_path, capsys, monkeypatch
):
    exported = []
    monkeypatch.setattr(cli_module, "export_run", lambda *args: exported.append(args))
    base = ["--dataset", "shd", "--method", "rouser", "--profile", "smoke"]
    base += ["--runs-dir", str(tmp_path)]
    for destination, says in [
        (tmp_path / "missing" / "net.nir", "does not exist"),
        (tmp_path, "is a folder"),
    ]:
        with pytest.raises(SystemExit):
            main([*base, "--export-nir", str(destination)])
        assert says in capsys.readouterr().err
    # a finished record whose checkpoint is absent (a committed record) cannot be exported
    run = toy_run(epochs=1)
    train(run, tmp_path, "cpu", loaders=toy_loaders(), progress=False)  # the real one
    checkpoint_path(run, tmp_path).unlink()
    toy = [as_flag(name, value) for name, value in toy_settings().items()]
    base = ["--dataset", DATASET, "--method", "rouser", "--profile", "smoke", "--epochs", "1"]
    base += ["--runs-dir", str(tmp_path), *toy]
    assert record_path(run, tmp_path).is_file()
    with pytest.raises(SystemExit):
        main([*base, "--export-nir", str(tmp_path / "net.nir")])
    err = capsys.readouterr().err
    assert "is finished and its checkpoint" in err and "--restart" in err
    assert fake_train == []  # none of these reached the training
    main([*base, "--export-nir", str(tmp_path / "net.nir"), "--restart"])
    assert len(fake_train) == len(exported) == 1


def as_flag(name: str, value: object) -> str:
    """A setting as its command-line flag: `--x`/`--no-x` for a switch, else `--x=value`."""
    flag = name.replace("_", "-")
    if isinstance(value, bool):
        return f"--{flag}" if value else f"--no-{flag}"
    return f"--{flag}={_shown(value)}"


def toy_run(**overrides):
    return resolve_run(DATASET, "rouser", "smoke", **toy_settings(**{"epochs": 3, **overrides}))


def untimed(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in entry.items() if k not in TIMING_KEYS} for entry in history]


def test_sigterm_mid_epoch_fails_the_record_and_a_rerun_resumes(tmp_path, monkeypatch):
    run = toy_run()
    full = train_module.train(run, tmp_path / "full", "cpu", loaders=toy_loaders(), progress=False)
    real_epoch = train_module.run_epoch

    def epoch_then_sigterm(epoch, *args):
        if epoch == 2:  # mid-epoch: epochs 0 and 1 are checkpointed, 2 is under way
            os.kill(os.getpid(), signal.SIGTERM)
        return real_epoch(epoch, *args)

    monkeypatch.setattr(train_module, "run_epoch", epoch_then_sigterm)

    def caller_handler(signum, frame):  # where train() would not catch it: the run finishes
        pass

    before = signal.signal(signal.SIGTERM, caller_handler)  # nor would it kill pytest
    try:
        with pytest.raises(Terminated):
            train_module.train(run, tmp_path / "cut", "cpu", loaders=toy_loaders(), progress=False)
        assert signal.getsignal(signal.SIGTERM) is caller_handler  # the caller's is back
    finally:
        signal.signal(signal.SIGTERM, before)
    broken = read_record(record_path(run, tmp_path / "cut"))
    assert broken["status"] == "failed" and broken["ended"]
    assert broken["error"] == "Terminated: stopped by SIGTERM"
    assert [entry["epoch"] for entry in broken["history"]] == [0, 1]
    assert checkpoint_path(run, tmp_path / "cut").is_file()
    monkeypatch.setattr(train_module, "run_epoch", real_epoch)
    resumed = train_module.train(
        run, tmp_path / "cut", "cpu", loaders=toy_loaders(), progress=False
    )
    assert resumed["status"] == "finished" and resumed["started"] == broken["started"]
    assert untimed(resumed["history"]) == untimed(full["history"])


def test_sigterm_outside_a_run_keeps_its_meaning():
    before = signal.getsignal(signal.SIGTERM)
    with terminate_as_exception():
        assert signal.getsignal(signal.SIGTERM) != before
    assert signal.getsignal(signal.SIGTERM) == before


def test_cli_exits_143_on_sigterm(monkeypatch, tmp_path, capsys):
    def terminated(run, **kwargs):
        raise Terminated("stopped by SIGTERM")

    monkeypatch.setattr(cli_module, "train", terminated)
    with pytest.raises(SystemExit) as stopped:
        main(["--dataset", "shd", "--method", "rouser", "--profile", "smoke",
              "--runs-dir", str(tmp_path)])  # fmt: skip
    assert stopped.value.code == EXIT_TERMINATED == 143
    assert "stopped by SIGTERM" in capsys.readouterr().err


def test_the_command_sizes_the_thread_pools_to_the_run(monkeypatch, fake_train, tmp_path):
    """`python -m rouser train` on a CPU starts itself again with numba's and OpenMP's pools
    of the run's threads, unless the environment sizes numba's pool already; a call from
    Python (a notebook, a test) never replaces its process."""
    started = []

    def fake_exec(path, argv, env):
        started.append((argv, env))
        raise SystemExit(0)

    monkeypatch.setattr(cli_module.os, "execve", fake_exec)
    monkeypatch.setattr(cli_module.numba.config, "NUMBA_NUM_THREADS", 4)
    monkeypatch.delenv("NUMBA_NUM_THREADS", raising=False)
    argv = ["--dataset", "shd", "--method", "rouser", "--profile", "smoke", "--threads", "2",
            "--device", "cpu", "--runs-dir", str(tmp_path)]  # fmt: skip
    main(argv)
    assert not started and len(fake_train) == 1
    with pytest.raises(SystemExit):
        main(argv, program=True)
    ((command, env),) = started
    assert command[1:] == ["-m", "rouser", "train", *argv]
    assert env["NUMBA_NUM_THREADS"] == env["OMP_NUM_THREADS"] == "2"
    monkeypatch.setenv("NUMBA_NUM_THREADS", "4")
    main(argv, program=True)
    assert len(started) == 1 and len(fake_train) == 2
