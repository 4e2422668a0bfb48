"""The book's table of contents for one profile, listing the notebooks the workflow executed.

Why generated: the book shows executed notebooks (papermill output under
`book/generated/<profile>/`), and which of them exist depends on the profile (the paper
profile has ~60 runs, smoke ~20, and run ids are hashes). A static `_toc.yml` could neither
name them nor give them readable titles, so the Snakefile's book rule writes `book/_toc.yml`
here from the same experiment expansion that decided which runs to train. The chapters
written by hand (`book/*.md`) are fixed; only the executed notebooks under them vary.

Run `python -m rouser.book --profile smoke` before `jupyter-book build book/` when not
building through Snakemake.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

import yaml

from rouser.atomic import atomic_write
from rouser.config import DATASETS, PROFILES, REPO_ROOT, RunConfig, check_choice, resolve_run
from rouser.experiments import all_runs, experiment_runs
from rouser.figures import METHOD_LABELS

BOOK_DIR = REPO_ROOT / "book"

# Result notebooks (notebooks/<stem>.ipynb), in the paper's order: the experiment whose runs
# each one reads, and its title in the table of contents.
RESULT_NOTEBOOKS = {
    "table1": ("table1", "Table I: top-1 accuracy"),
    "table2": ("table2", "Table II: hyperparameters"),
    "fig2_threshold_grid": ("fig2", "Fig. 2: threshold grid"),
    "fig3_weight_change": ("fig3", "Fig. 3: weight change"),
    "fig4_dead_neurons": ("fig4", "Fig. 4: dead neurons"),
    "fig5_spike_rates": ("fig5", "Fig. 5: spike rates"),
    "fig6_ablation": ("fig6", "Fig. 6: ablation"),
    "thresholds": ("thresholds", "Learned thresholds (new)"),
}
# The experiments that train runs, with the label a run's title shows for each.
TRAINING_EXPERIMENTS = {"table1": "Table I", "fig2": "Fig. 2", "fig6": "Fig. 6"}
# Settings a run may change from its profile's defaults, as the paper writes them.
VARIED = {"threshold": "Th_init", "tau": "tau", "scale": "s", "lr_th": "lr_Th", "epochs": "epochs"}
# The real-data chapter shows this profile's results (NMNIST-1k).
REAL_DATA_PROFILE = "cpu"


def generated_dir(profile: str, book_dir: str | os.PathLike = BOOK_DIR) -> Path:
    """`book/generated/<profile>/`: where the workflow puts the profile's executed notebooks."""
    check_choice("profile", profile, PROFILES)
    return Path(book_dir) / "generated" / profile


def run_notebook(run_id: str, profile: str, book_dir: str | os.PathLike = BOOK_DIR) -> Path:
    """The executed training notebook of run `run_id` (or a Snakemake pattern like "{run_id}")."""
    return generated_dir(profile, book_dir) / "runs" / f"{run_id}.ipynb"


def result_notebook(stem: str, profile: str, book_dir: str | os.PathLike = BOOK_DIR) -> Path:
    """The executed result notebook `stem` (e.g. "fig2_threshold_grid") of `profile`."""
    return generated_dir(profile, book_dir) / "results" / f"{stem}.ipynb"


def run_title(run: RunConfig, used_by: Sequence[str] = ()) -> str:
    """'Rouser, seed 0, Th_init 0.25, lr_Th 0 (Fig. 6)': what sets the run apart.

    Settings are shown where they differ from the profile's defaults for that dataset and
    method, so a grid of runs reads as the grid it is.
    """
    default = resolve_run(run.dataset, run.method, run.profile, seed=run.seed)
    changes = [
        f"{label} {getattr(run, name):g}"
        for name, label in VARIED.items()
        if getattr(run, name) != getattr(default, name)
    ]
    title = ", ".join([METHOD_LABELS[run.method], f"seed {run.seed}", *changes])
    return f"{title} ({', '.join(used_by)})" if used_by else title


def _entry(path: Path, book_dir: Path, title: str) -> dict:
    return {"file": path.relative_to(book_dir).with_suffix("").as_posix(), "title": title}


def _result_entries(profile: str, book_dir: Path) -> list[dict]:
    return [
        _entry(result_notebook(stem, profile, book_dir), book_dir, title)
        for stem, (_, title) in RESULT_NOTEBOOKS.items()
        if result_notebook(stem, profile, book_dir).is_file()
    ]


def table_of_contents(profile: str, book_dir: str | os.PathLike = BOOK_DIR) -> dict:
    """The Jupyter Book `_toc.yml` content for `profile`, from the notebooks that exist."""
    book_dir = Path(book_dir)
    used_by: dict[str, list[str]] = {}
    for name, label in TRAINING_EXPERIMENTS.items():
        for run in experiment_runs(name, profile):
            used_by.setdefault(run.run_id, []).append(label)
    runs = [
        run
        for run in all_runs(profile)
        if run_notebook(run.run_id, run.profile, book_dir).is_file()
    ]
    datasets = [
        {
            "file": f"datasets/{dataset}",
            "sections": [
                _entry(
                    run_notebook(run.run_id, run.profile, book_dir),
                    book_dir,
                    run_title(run, used_by[run.run_id]),
                )
                for run in runs
                if run.dataset == dataset
            ],
        }
        for dataset in DATASETS
    ]
    results = {"file": "results", "sections": _result_entries(profile, book_dir)}
    real_data = {"file": "nmnist1k"}
    if profile != REAL_DATA_PROFILE and (entries := _result_entries(REAL_DATA_PROFILE, book_dir)):
        real_data["sections"] = entries
    parts = [
        {"caption": "The paper", "chapters": [{"file": "paper"}, {"file": "reproduce"}]},
        {
            "caption": f"Training runs ({profile} profile)",
            "chapters": [chapter for chapter in datasets if chapter["sections"]],
        },
        {"caption": f"Results ({profile} profile)", "chapters": [results]},
        {"caption": "Real data", "chapters": [real_data]},
        {"caption": "Reuse", "chapters": [{"file": "api"}, {"file": "cite"}]},
    ]
    return {"format": "jb-book", "root": "intro", "parts": [p for p in parts if p["chapters"]]}


def write_toc(profile: str, book_dir: str | os.PathLike = BOOK_DIR) -> Path:
    """Write `<book_dir>/_toc.yml` for `profile` (atomically) and return its path."""
    path = Path(book_dir) / "_toc.yml"
    header = (
        f"# Written by `python -m rouser.book --profile {profile}` from the notebooks that the\n"
        "# workflow executed; edit rouser/book.py or the chapters in book/, not this file.\n"
    )
    text = header + yaml.safe_dump(table_of_contents(profile, book_dir), sort_keys=False)
    atomic_write(path, lambda handle: handle.write(text.encode()))
    return path


def main(argv: Sequence[str] | None = None) -> Path:
    """CLI: `python -m rouser.book --profile smoke [--book-dir book]`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="smoke", choices=PROFILES)
    parser.add_argument("--book-dir", default=BOOK_DIR, type=Path)
    args = parser.parse_args(argv)
    path = write_toc(args.profile, args.book_dir)
    print(f"wrote {path} for the {args.profile} profile")
    return path


if __name__ == "__main__":
    main()
