"""The book: its table of contents (unit tests) and the smoke book the workflow builds.

The `smoke_book` fixture runs `snakemake --cores 2 --config profile=smoke` once, which trains
every smoke run, executes every result notebook and builds the book with warnings as errors;
runs and pages already up to date are not redone. The tests then read the built HTML.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import nbformat
import pytest

from rouser.book import (
    RESULT_NOTEBOOKS,
    result_notebook,
    run_notebook,
    run_title,
    table_of_contents,
    write_toc,
)
from rouser.config import PROFILES, REPO_ROOT
from rouser.experiments import all_runs, experiment_runs

HTML = REPO_ROOT / "book" / "_build" / "html"
FIGURES = [stem for stem in RESULT_NOTEBOOKS if not stem.startswith("table")]
TABLES = [stem for stem in RESULT_NOTEBOOKS if stem.startswith("table")]


def _touch_notebook(path: Path, input_path: str = "notebooks/nmnist.ipynb") -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["papermill"] = {"input_path": input_path}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)


def _files(toc: dict) -> list[str]:
    """Every file the table of contents names, depth first."""

    def walk(entries: list[dict]) -> list[str]:
        return [
            name for entry in entries for name in [entry["file"], *walk(entry.get("sections", []))]
        ]

    return [toc["root"], *(name for part in toc["parts"] for name in walk(part["chapters"]))]


# ---------------------------------------------------------------------------- table of contents


def test_toc_lists_only_executed_notebooks(tmp_path: Path) -> None:
    runs = experiment_runs("table1", "smoke")
    nmnist = next(run for run in runs if run.dataset == "nmnist")
    _touch_notebook(run_notebook(nmnist.run_id, "smoke", tmp_path))
    _touch_notebook(result_notebook("fig4_dead_neurons", "smoke", tmp_path))
    toc = table_of_contents("smoke", tmp_path)
    files = _files(toc)
    assert f"generated/smoke/runs/{nmnist.run_id}" in files
    assert "generated/smoke/results/fig4_dead_neurons" in files
    assert "generated/smoke/results/table1" not in files  # not executed: not listed
    assert "datasets/nmnist" in files and "datasets/shd" not in files  # a chapter needs runs
    assert {"intro", "paper", "reproduce", "results", "nmnist1k", "api", "cite"} <= set(files)


def test_real_data_chapter_shows_cpu_results_when_they_exist(tmp_path: Path) -> None:
    assert not any("generated/cpu" in f for f in _files(table_of_contents("smoke", tmp_path)))
    _touch_notebook(result_notebook("table1", "cpu", tmp_path))
    toc = table_of_contents("smoke", tmp_path)
    real = next(part for part in toc["parts"] if part["caption"] == "Real data")
    assert real["chapters"][0]["sections"] == [
        {"file": "generated/cpu/results/table1", "title": RESULT_NOTEBOOKS["table1"][1]}
    ]


def test_captions_name_the_profile(tmp_path: Path) -> None:
    _touch_notebook(result_notebook("table1", "paper", tmp_path))
    captions = [part["caption"] for part in table_of_contents("paper", tmp_path)["parts"]]
    assert "Results (paper profile)" in captions


def test_run_titles_say_what_sets_a_run_apart() -> None:
    fig6 = experiment_runs("fig6", "smoke")
    off = next(run for run in fig6 if run.threshold == 0.25 and run.lr_th == 0)
    assert (
        run_title(off, ["Fig. 6"]) == "Rouser, seed 0, Th_init 0.25, tau 3, s 3, lr_Th 0 (Fig. 6)"
    )
    table1 = experiment_runs("table1", "smoke")[0]
    assert run_title(table1) == f"{'baseline' if table1.method == 'baseline' else 'Rouser'}, seed 0"


def test_write_toc_writes_valid_yaml(tmp_path: Path) -> None:
    import yaml

    path = write_toc("smoke", tmp_path)
    assert yaml.safe_load(path.read_text())["root"] == "intro"
    assert path.read_text().startswith("# Written by `python -m rouser.book --profile smoke`")


@pytest.mark.parametrize("profile", PROFILES)
def test_reproduce_page_counts_the_runs_of_each_profile(profile: str) -> None:
    """The profile table of reproduce.md is prose: keep its run counts true to _config.yml."""
    page = (REPO_ROOT / "book" / "reproduce.md").read_text()
    row = next(line for line in page.splitlines() if line.startswith(f"| `{profile}` |"))
    assert int(row.split("|")[4]) == len(all_runs(profile))


# ---------------------------------------------------------------------------- the smoke book


@pytest.fixture(scope="module")
def smoke_book() -> Path:
    """Regenerate the smoke profile and build its book (a no-op when already up to date)."""
    result = subprocess.run(
        ["snakemake", "--cores", "2", "--config", "profile=smoke"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    return HTML


def test_a_second_workflow_run_recomputes_nothing(smoke_book: Path) -> None:
    """Runs whose record exists, and pages newer than their inputs, are not redone."""
    result = subprocess.run(
        ["snakemake", "--dry-run", "--config", "profile=smoke"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Nothing to be done" in result.stdout + result.stderr


def _page(html: Path, name: str) -> str:
    path = html / f"{name}.html"
    assert path.is_file(), f"{path} was not built"
    return path.read_text()


def _svg_images(html: Path, page: str, name: str) -> list[Path]:
    """The SVG files a page shows (myst-nb writes notebook SVG outputs to _images/)."""
    base = (html / name).parent
    sources = re.findall(r'<img[^>]+src="([^"]+\.svg)"', page)
    return [(base / source).resolve() for source in sources]


@pytest.mark.parametrize("stem", FIGURES)
def test_every_figure_is_in_the_book(smoke_book: Path, stem: str) -> None:
    name = f"generated/smoke/results/{stem}"
    page = _page(smoke_book, name)
    images = _svg_images(smoke_book, page, name)
    assert images, f"{name} shows no figure"
    assert all(image.is_file() and image.stat().st_size > 1000 for image in images)
    assert "is incomplete" not in page  # every run of the figure was there


@pytest.mark.parametrize("stem", TABLES)
def test_both_tables_are_in_the_book(smoke_book: Path, stem: str) -> None:
    page = _page(smoke_book, f"generated/smoke/results/{stem}")
    assert "<table" in page
    assert "is incomplete" not in page


def test_table1_shows_ours_beside_the_paper(smoke_book: Path) -> None:
    page = _page(smoke_book, "generated/smoke/results/table1")
    assert "99.21" in page  # the paper's Rouser NMNIST accuracy, from paper_values.yml
    assert "synthetic" in page and "smoke" in page


def test_every_run_has_its_executed_notebook(smoke_book: Path) -> None:
    for run in all_runs("smoke"):
        name = f"generated/smoke/runs/{run.run_id}"
        page = _page(smoke_book, name)
        assert _svg_images(smoke_book, page, name), f"{name} shows no curves"
        for fact in ("profile", "smoke", "synthetic", "hardware", "run time"):
            assert fact in page, f"{name} does not state {fact}"


def test_launch_buttons_open_the_source_notebook(smoke_book: Path) -> None:
    run = experiment_runs("table1", "smoke")[0]
    page = _page(smoke_book, f"generated/smoke/runs/{run.run_id}")
    assert "colab.research.google.com/github/" in page
    assert f"/blob/main/notebooks/{run.dataset}.ipynb" in page
    assert "blob/main/book/generated" not in page


def test_paper_page_renders_equations_1_to_5(smoke_book: Path) -> None:
    page = _page(smoke_book, "paper")
    for label in ("eq-spike", "eq-surrogate", "eq-threshold", "eq-weights", "eq-update-threshold"):
        assert f'id="equation-{label}"' in page, label
    assert "sampson2024rouser" in _page(smoke_book, "cite")


def test_api_page_documents_the_entry_points(smoke_book: Path) -> None:
    page = _page(smoke_book, "api")
    for name in (
        "rouser.config.resolve_run",
        "rouser.experiments.experiment_runs",
        "rouser.data.make_loaders",
        "rouser.train.train",
        "rouser.records.load_records",
        "rouser.figures.render",
        "rouser.neuron.CubaLIF",
    ):
        assert f'id="{name}"' in page, name


def test_executed_notebooks_record_their_source(smoke_book: Path) -> None:
    """The launch buttons and the book's provenance rely on papermill's input_path."""
    run = all_runs("smoke")[0]
    notebook = json.loads(run_notebook(run.run_id, "smoke").read_text())
    assert notebook["metadata"]["papermill"]["input_path"] == f"notebooks/{run.dataset}.ipynb"
