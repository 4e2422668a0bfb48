"""The notebooks' papermill interface (executing them is the smoke workflow's and nbval's job)."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill
import pytest

from rouser.datasets import DATASET_SPECS
from rouser.paths import NOTEBOOKS_DIR
from rouser.runs.experiments import NOTEBOOK_OPTIONS, NOTEBOOK_PARAMETERS
from rouser.runs.results import RESULTS

ALL = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))


@pytest.mark.parametrize("dataset", list(DATASET_SPECS))
def test_training_parameters_cell_exposes_every_run_setting(dataset: str) -> None:
    parameters = papermill.inspect_notebook(str(NOTEBOOKS_DIR / f"{dataset}.ipynb"))
    assert set(parameters) == {*NOTEBOOK_PARAMETERS, *NOTEBOOK_OPTIONS}
    # opening a notebook trains the book's profile (None -> rouser.paths.DEFAULT_PROFILE)
    assert parameters["profile"]["default"] == "None"
    assert parameters["method"]["default"] == '"rouser"'
    others = set(parameters) - {"method"}
    assert {parameters[name]["default"] for name in others} == {"None"}


@pytest.mark.parametrize("name", RESULTS)
def test_result_notebook_takes_profile_and_runs_dir_and_renders_itself(name: str) -> None:
    path = NOTEBOOKS_DIR / f"{name}.ipynb"
    parameters = papermill.inspect_notebook(str(path))
    assert {key: value["default"] for key, value in parameters.items()} == {
        "profile": "None",
        "runs_dir": "None",
    }
    source = "\n".join(cell.source for cell in nbformat.read(path, as_version=4).cells)
    assert f'render("{name}", profile, runs_dir)' in source


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_committed_notebooks_carry_only_their_published_text(path: Path) -> None:
    """A training notebook is committed without outputs (its executed copies are logs). A
    result notebook keeps what nbval compares: the outputs of its tagged cells, with every
    figure a placeholder of a few bytes, never a vector file or a picture."""
    notebook = nbformat.read(path, as_version=4)
    training = path.stem in DATASET_SPECS
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        tags = cell.metadata.get("tags", [])
        if training or "nbval-check-output" not in tags:
            assert not cell.outputs, f"{path.name}: outputs in an uncompared cell"
            continue
        for output in cell.outputs:
            data = output.get("data", {})
            assert "image/png" not in data, path.name
            assert len(data.get("image/svg+xml", "")) < 100, f"{path.name}: a whole figure"
    if not training:
        tagged = [c for c in notebook.cells if "nbval-check-output" in c.metadata.get("tags", [])]
        assert tagged and all(cell.outputs for cell in tagged), f"{path.name}: not refreshed"


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_every_rouser_import_of_a_notebook_resolves(path: Path) -> None:
    """A module moved (rouser.figures -> rouser.report.figures) must not leave a notebook
    that fails at its first import."""
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        code = "\n".join(line for line in cell.source.splitlines() if not line.startswith("%"))
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("rouser"):
                module = importlib.import_module(node.module)
                for alias in node.names:
                    assert hasattr(module, alias.name), f"{path.name}: {node.module}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("rouser"):
                        importlib.import_module(alias.name)


def test_training_notebook_calls_notebook_run_first() -> None:
    for dataset in DATASET_SPECS:
        cells = nbformat.read(NOTEBOOKS_DIR / f"{dataset}.ipynb", as_version=4).cells
        code = [cell.source for cell in cells if cell.cell_type == "code"]
        assert "parameters" in next(
            cell.metadata.get("tags", []) for cell in cells if cell.cell_type == "code"
        )
        assert f'notebook_run("{dataset}", globals())' in code[1], dataset


def test_a_bad_parameter_names_the_parameter_and_the_choices(tmp_path: Path) -> None:
    with pytest.raises(papermill.PapermillExecutionError) as error:
        papermill.execute_notebook(
            str(NOTEBOOKS_DIR / "shd.ipynb"),
            str(tmp_path / "bad.ipynb"),
            parameters={"method": "slayer", "runs_dir": str(tmp_path)},
            cwd=str(NOTEBOOKS_DIR),
            progress_bar=False,
        )
    assert "method='slayer' is not allowed; choose one of ['rouser', 'baseline']" in str(
        error.value
    )
    assert not list(tmp_path.glob("*.json"))  # nothing was trained


def test_a_misspelt_parameter_is_refused_by_name(tmp_path: Path) -> None:
    """papermill injects `epoch = 1` for `-p epoch 1`; the notebook must not train defaults."""
    with pytest.raises(papermill.PapermillExecutionError) as error:
        papermill.execute_notebook(
            str(NOTEBOOKS_DIR / "shd.ipynb"),
            str(tmp_path / "bad.ipynb"),
            parameters={"epoch": 1, "profile": "smoke", "runs_dir": str(tmp_path)},
            cwd=str(NOTEBOOKS_DIR),
            progress_bar=False,
        )
    assert "unknown notebook parameter(s) ['epoch']" in str(error.value)
    assert "'epochs'" in str(error.value)
    assert not list(tmp_path.glob("*.json"))


@pytest.mark.slow
def test_nbval_compares_the_committed_outputs(tmp_path: Path) -> None:
    """A result notebook as committed passes nbval; the same notebook with one published
    number changed in its committed output fails: a change in the records or the report
    code that changes a number fails until `workflow/scripts/refresh_notebooks.py` runs."""
    committed = NOTEBOOKS_DIR / "table2.ipynb"
    notebook = json.loads(committed.read_text())
    checked = [
        output
        for cell in notebook["cells"]
        if "nbval-check-output" in cell["metadata"].get("tags", [])
        for output in cell.get("outputs", [])
    ]
    html = [o["data"]["text/html"] for o in checked if "text/html" in o.get("data", {})]
    assert html, "table2.ipynb is committed without a table to compare"

    def nbval(path: Path) -> subprocess.CompletedProcess:
        options = ["--nbval-lax", "--nbval-current-env", "--nbval-sanitize-with"]
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *options]
        command += [str(NOTEBOOKS_DIR / "nbval_sanitize.cfg"), str(path)]
        return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)

    same = tmp_path / "same.ipynb"
    same.write_text(committed.read_text())
    assert nbval(same).returncode == 0, nbval(same).stdout[-2000:]
    lines = html[0]
    index = next(i for i, line in enumerate(lines) if "1.25" in line)
    lines[index] = lines[index].replace("1.25", "1.35")
    changed = tmp_path / "changed.ipynb"
    changed.write_text(json.dumps(notebook))
    result = nbval(changed)
    assert result.returncode != 0 and "1.35" in result.stdout
