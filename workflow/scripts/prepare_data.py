"""Prepare one dataset of a profile before its runs: files on disk, binned cache, description.

Why a workflow step: every run of a dataset reads the same binned samples. Prepared once
here, the runs that Snakemake starts in parallel find the synthetic files (smoke) and the
cache ready instead of all writing them at the same time, a dataset that tonic must download
is downloaded once, and a missing dataset stops the workflow before any run starts, with
`rouser.data`'s message saying where to put it. The output is the data description of
`rouser.data.make_loaders` (what every run record stores under "data").

    python workflow/scripts/prepare_data.py --profile smoke --dataset shd --output info.json
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from rouser.atomic import atomic_write
from rouser.data import make_loaders
from rouser.datasets import DATASET_SPECS
from rouser.runs.experiments import all_runs


def prepare(profile: str, dataset: str, data_root: str | None, output: Path) -> dict:
    """Build the loaders of the profile's first run of `dataset` and write their description."""
    runs = [run for run in all_runs(profile) if run.dataset == dataset]
    if not runs:
        raise ValueError(f"profile {profile!r} has no run of dataset {dataset!r}")
    _, _, info = make_loaders(runs[0], data_root)
    data = json.dumps(info, indent=1).encode()
    atomic_write(output, lambda handle: handle.write(data))
    return info


def main(argv: Sequence[str] | None = None) -> dict:
    """Command line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", required=True, help="a profile of _config.yml")
    parser.add_argument("--dataset", required=True, choices=list(DATASET_SPECS))
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--output", required=True, type=Path)
    args = parser.parse_args(argv)
    return prepare(args.profile, args.dataset, args.data_root, args.output)


if __name__ == "__main__":
    main()
