"""The training notebooks' papermill interface (executing them is nbval's job, see pyproject)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import papermill
import pytest

from rouser.config import DATASETS, REPO_ROOT
from rouser.experiments import NOTEBOOK_PARAMETERS

NOTEBOOKS = REPO_ROOT / "notebooks"
PATH_PARAMETERS = ("data_root", "runs_dir", "device")


@pytest.mark.parametrize("dataset", DATASETS)
def test_parameters_cell_exposes_every_run_setting(dataset: str) -> None:
    parameters = papermill.inspect_notebook(str(NOTEBOOKS / f"{dataset}.ipynb"))
    assert set(parameters) == {*NOTEBOOK_PARAMETERS, *PATH_PARAMETERS}
    # opening or nbval-executing a notebook trains the quick smoke run
    assert parameters["profile"]["default"] == '"smoke"'
    assert parameters["method"]["default"] == '"rouser"'
    others = set(parameters) - {"profile", "method"}
    assert {parameters[name]["default"] for name in others} == {"None"}


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_committed_notebooks_carry_no_outputs(path: Path) -> None:
    """Outputs belong to executed copies (book/generated), never to the sources in git."""
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, path.name


def test_a_bad_parameter_names_the_parameter_and_the_choices(tmp_path: Path) -> None:
    with pytest.raises(papermill.PapermillExecutionError) as error:
        papermill.execute_notebook(
            str(NOTEBOOKS / "shd.ipynb"),
            str(tmp_path / "bad.ipynb"),
            parameters={"method": "slayer", "runs_dir": str(tmp_path)},
            cwd=str(NOTEBOOKS),
            progress_bar=False,
        )
    assert "method='slayer' is not allowed; choose one of ['rouser', 'baseline']" in str(
        error.value
    )
    assert not list(tmp_path.glob("*.json"))  # nothing was trained
