"""rouser as a package: one version, an SPDX licence, a lean neuron, and a wheel that works
outside a clone.

Installed from a wheel, rouser has no repository around it: it must carry its experiment
settings, write only where it is told, say so when it is told nowhere, and never record
the commit of whatever repository its venv happens to sit in as its own.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

import rouser
from rouser import paths

REPO = paths.REPO_ROOT
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def test_the_version_is_written_once():
    project = PYPROJECT["project"]
    assert "version" not in project and "version" in project["dynamic"]
    dynamic = PYPROJECT["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "rouser.__version__"}
    citation = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert str(citation["version"]) == rouser.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+", rouser.__version__)


def test_metadata_states_licence_urls_and_extras():
    project = PYPROJECT["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert (REPO / "LICENSE").read_text().startswith("MIT License")
    assert {"Homepage", "Repository", "Issues"} <= set(project["urls"])
    assert project["scripts"] == {"rouser": "rouser.__main__:main"}
    # the neuron alone: torch, numpy, numba; torch is never pinned here (requirements.txt
    # pins it, with the CPU or CUDA build the user chose)
    assert [re.split("[<>=]", dep)[0] for dep in project["dependencies"]] == [
        "torch",
        "numpy",
        "numba",
    ]
    extras = project["optional-dependencies"]
    assert any(dep.startswith("triton") for dep in extras["gpu"])
    assert not any("triton" in dep for dep in extras["train"] + extras["report"])
    assert any(dep.startswith("matplotlib") for dep in extras["report"])
    assert set(PYPROJECT["tool"]["setuptools"]["package-data"]["rouser"]) >= {
        "_config.yml",
        "paper_values.yml",
        "py.typed",
    }
    assert (paths.PACKAGE_DIR / "py.typed").is_file()


def test_the_package_carries_the_repositorys_settings():
    packaged = paths.PACKAGE_DIR / "_config.yml"
    assert packaged.read_bytes() == (REPO / "_config.yml").read_bytes()
    assert paths.IN_CLONE and paths.CONFIG_PATH == REPO / "_config.yml"


def test_the_neuron_needs_neither_the_training_nor_the_report_stack():
    """What `pip install rouser` (no extras) gives must run the neuron and its optimizer."""
    code = """
import sys
for name in ("pandas", "nir", "tonic", "h5py", "matplotlib", "seaborn", "yaml", "tqdm"):
    sys.modules[name] = None  # importing it now fails, as where it is not installed
import torch
from rouser import CubaLIF
from rouser.loss import spike_rate_loss
from rouser.network import build_network
from rouser.optim import make_optimizer
model = build_network([4, 1, 1], [8], 3)
spikes = model(torch.rand(5, 2, 4))
make_optimizer(model, 1e-3, 1e-3)
print(type(CubaLIF(3)).__name__, tuple(spikes.shape))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "CubaLIF"


def test_installed_rouser_has_no_default_data_or_runs_folder(monkeypatch, tmp_path):
    monkeypatch.setattr(paths, "IN_CLONE", False)
    for variable in ("ROUSER_RUNS", "ROUSER_DATA"):
        monkeypatch.delenv(variable, raising=False)
    with pytest.raises(ValueError, match=r"no runs folder given: .* --runs-dir"):
        paths.runs_dir("cpu")
    with pytest.raises(ValueError, match=r"no runs folder given: .* --runs-dir"):
        paths.cli_runs_dir("cpu")
    with pytest.raises(ValueError, match=r"no data root given: .* --data-root"):
        paths.data_root()
    assert paths.runs_dir("cpu", tmp_path) == tmp_path
    monkeypatch.setenv("ROUSER_DATA", str(tmp_path))
    assert paths.data_root() == tmp_path


def _run(command: list, cwd: Path, env: dict, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if check:
        assert result.returncode == 0, f"{command}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.mark.slow
def test_a_wheel_installed_outside_a_clone_trains_a_smoke_run(tmp_path):
    """Build the wheel, install it into a fresh venv inside someone else's git repository,
    and train the smoke profile there, given a data root and a runs folder."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ROUSER_")}
    env.pop("PYTHONPATH", None)
    # a copy of the sources: the build writes build/ and *.egg-info beside them
    source = tmp_path / "source"
    shutil.copytree(
        REPO / "rouser",
        source / "rouser",
        symlinks=True,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    for name in ("pyproject.toml", "README.md", "LICENSE", "_config.yml"):
        shutil.copy(REPO / name, source / name)
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
          "-w", wheels, source], tmp_path, env)  # fmt: skip
    (wheel,) = wheels.glob("rouser-*.whl")
    assert wheel.name.startswith(f"rouser-{rouser.__version__}-")
    # the user's own project, a git repository, with a venv inside it
    project = tmp_path / "project"
    project.mkdir()
    (project / "notes.txt").write_text("someone else's work\n")
    git = ["git", "-c", "user.name=u", "-c", "user.email=u@example.org"]
    _run([*git, "init", "-q"], project, env)
    _run([*git, "add", "notes.txt"], project, env)
    _run([*git, "commit", "-q", "-m", "theirs"], project, env)
    theirs = _run(["git", "rev-parse", "HEAD"], project, env).stdout.strip()
    venv = project / ".venv"
    # system site packages: torch and the rest come from this interpreter, nothing downloads
    _run([sys.executable, "-m", "venv", "--system-site-packages", venv], project, env)
    python = venv / "bin" / "python"
    _run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel], project, env)
    where = _run([python, "-c", "import rouser; print(rouser.__file__)"], project, env).stdout
    assert Path(where.strip()).is_relative_to(venv), "rouser must come from the wheel"
    version = _run([venv / "bin" / "rouser", "--version"], project, env).stdout
    assert version == f"rouser {rouser.__version__}\n"

    train = [python, "-m", "rouser", "train", "--dataset", "shd", "--method", "rouser",
             "--profile", "smoke", "--epochs", "1", "--train-subset", "16", "--test-subset",
             "8", "--time-bins", "10", "--hidden", "8", "--device", "cpu", "--no-progress"]  # fmt: skip
    data, runs = tmp_path / "data", tmp_path / "runs"
    for given, missing in (([], "--runs-dir"), (["--runs-dir", runs], "--data-root")):
        refused = _run([*train, *given], project, env, check=False)
        assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
        assert "rouser is installed" in refused.stderr and missing in refused.stderr
    assert not runs.exists() or not list(runs.glob("*.json"))
    result = _run(
        [*train, "--data-root", data, "--runs-dir", runs, "--lr-th", "1e-3"], project, env
    )
    (record_file,) = runs.glob("*.json")
    assert f": {record_file}" in result.stdout
    record = yaml.safe_load(record_file.read_text())  # JSON is YAML
    assert record["status"] in ("finished", "non-convergent")
    assert record["config"]["lr_th"] == 0.001 and record["data"]["source"] == "synthetic"
    assert record["env"]["rouser"] == rouser.__version__
    assert record["env"]["git_commit"] is None  # not the project's commit
    assert theirs not in record_file.read_text()
    site_packages = Path(where.strip()).parent.parent
    for default in ("records", "data", "runs"):  # the clone's defaults, nothing there
        assert not (site_packages / default).exists()
