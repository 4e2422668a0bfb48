"""The workflow's shell commands quote every value: a data path with a space or shell
characters is one argument, never code (`--config 'data_root=x;touch pwned;echo'` used to
run `touch pwned`, and a path with a space failed with "unrecognized arguments")."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml
from documented_commands import documented_commands

from rouser import paths
from rouser.config import NOTEBOOK_PARAMETERS, load_config, resolve_run
from rouser.runs.experiments import run_from_parameters
from rouser.runs.records import record_path

REPO = paths.REPO_ROOT
PLACEHOLDERS = ("/path/to/data", "<your data folder>")


def _shell_commands(command: str, data_root: Path) -> list[str]:
    """The shell commands `command` would run (a forced dry run), with `data_root` as data."""
    for placeholder in PLACEHOLDERS:
        command = command.replace(placeholder, "DATA_ROOT")
    # split the documented line first: the path is then one word, as a shell user quotes it
    args = [arg.replace("DATA_ROOT", str(data_root)) for arg in shlex.split(command)]
    result = subprocess.run(
        [*args, "-n", "-p", "--forceall"], cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, f"{command}\n{result.stderr[-3000:]}"
    return re.findall(r"^Shell command: (.*)$", result.stdout + result.stderr, re.M)


def _data_path(tmp_path: Path) -> Path:
    return tmp_path / "my data;touch pwned;echo"


def test_prepare_runs_with_a_data_path_of_spaces_and_semicolons(tmp_path: Path) -> None:
    """The prepare job's command, as Snakemake runs it through bash, on the smoke profile."""
    data_root = _data_path(tmp_path)
    target = "data/results/smoke/data/shd.json"
    (command,) = _shell_commands(
        f"snakemake {target} --cores 1 --config profile=smoke data_root=DATA_ROOT", data_root
    )
    words = shlex.split(command)
    assert words[words.index("--data-root") + 1] == str(data_root)
    # run it where its output cannot touch the checkout's results
    work = tmp_path / "work"
    work.mkdir()
    (work / "workflow").symlink_to(REPO / "workflow")
    done = subprocess.run(
        ["bash", "-c", command], cwd=work, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (work / target).is_file() and (data_root / "synthetic").is_dir()
    assert not list(tmp_path.rglob("pwned"))


@pytest.mark.slow
def test_documented_commands_quote_the_data_path(tmp_path: Path) -> None:
    """Every documented command that takes a data path: each job's command keeps it whole."""
    data_root = _data_path(tmp_path)
    commands = [
        command
        for command in documented_commands()
        if any(placeholder in command for placeholder in PLACEHOLDERS)
        and "--executor" not in command
    ]
    assert commands
    seen = 0
    for command in commands:
        for shell in _shell_commands(command, data_root):
            if str(data_root) in shell:
                seen += 1
                # the path stays whole: no part of it is left outside quotes as words
                assert "touch" not in shell.replace(str(data_root), ""), shell
                assert "pwned;echo" not in shlex.split(shell), shell
    assert seen


@pytest.mark.parametrize("lr_w", [1e-5, 1e36, 0.001])
def test_run_job_parameters_read_back_as_the_run(tmp_path: Path, lr_w: float) -> None:
    """The -y parameters of a run job, read as papermill reads them (PyYAML), rebuild the
    run exactly: JSON's 1e-05 was read as the string '1e-05' and the run refused."""
    config = load_config()
    config["profiles"]["smoke"].setdefault("training", {})["lr_w"] = lr_w
    settings = tmp_path / "config.yml"
    settings.write_text(yaml.safe_dump(config))
    run = resolve_run("shd", "rouser", "smoke", config)
    target = str(record_path(run, paths.runs_dir("smoke")))
    result = subprocess.run(
        ["snakemake", target, "--cores", "1", "--config", "profile=smoke", "-n", "-p",
         "--forceall"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env=os.environ | {"ROUSER_CONFIG": str(settings)},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    (command,) = [
        c for c in re.findall(r"^Shell command: (.*)$", result.stdout, re.M) if " -y " in c
    ]
    words = shlex.split(command)
    parameters = yaml.safe_load(words[words.index("-y") + 1])
    assert parameters["lr_w"] == lr_w and type(parameters["lr_w"]) is float
    settings = {name: parameters[name] for name in NOTEBOOK_PARAMETERS}
    assert run_from_parameters("shd", settings, config) == run
