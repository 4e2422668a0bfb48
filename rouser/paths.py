"""Where everything lives, decided once: config, data, caches, run records, results.

Why one module: the training code, the notebooks, the Snakefile and the book must find the
same files. Each location is "the argument, else an environment variable, else a folder of
the repository", and the repository is the clone this package was imported from.

* experiment settings: ``ROUSER_CONFIG``, else ``_config.yml``;
* datasets: ``ROUSER_DATA``, else ``data/``;
* binned caches: ``ROUSER_CACHE``, else ``<data root>/cache/``;
* run records and checkpoints: ``ROUSER_RUNS``, else ``records/<profile>/``;
* executed result notebooks and saved figures: ``data/results/<profile>/``.

``records/<profile>/`` is committed for the profiles whose results the book shows (``cpu``;
``paper`` once someone with the full datasets and a GPU has run it); ``records/smoke/`` and
every checkpoint are git-ignored. ``DEFAULT_PROFILE`` is the profile the book shows, so
that a bare command regenerates what a reader sees.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_PATH = REPO_ROOT / "_config.yml"
RECORDS_DIR = REPO_ROOT / "records"
BOOK_DIR = REPO_ROOT / "book"
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
DEFAULT_PROFILE = "cpu"


def config_path(path: str | os.PathLike | None = None) -> Path:
    """The experiment settings file: `path`, else `$ROUSER_CONFIG`, else `_config.yml`."""
    return Path(path or os.environ.get("ROUSER_CONFIG") or CONFIG_PATH)


def data_root(path: str | os.PathLike | None = None) -> Path:
    """Where datasets live: `path`, else `$ROUSER_DATA`, else `<repo>/data`."""
    return Path(path or os.environ.get("ROUSER_DATA") or REPO_ROOT / "data").expanduser()


def cache_dir(root: Path, path: str | os.PathLike | None = None) -> Path:
    """Where binned caches live: `path`, else `$ROUSER_CACHE`, else `<data root>/cache`."""
    return Path(path or os.environ.get("ROUSER_CACHE") or root / "cache").expanduser()


def runs_dir(profile: str = DEFAULT_PROFILE, path: str | os.PathLike | None = None) -> Path:
    """Run records of `profile`: `path`, else `$ROUSER_RUNS`, else `<repo>/records/<profile>`."""
    return Path(path or os.environ.get("ROUSER_RUNS") or RECORDS_DIR / profile).expanduser()


def results_dir(profile: str) -> Path:
    """Executed result notebooks and saved figures of `profile` (git-ignored)."""
    return REPO_ROOT / "data" / "results" / profile
