"""Where everything lives, decided once: config, data, caches, run records, results.

Why one module: the training code, the notebooks, the Snakefile and the book must find the
same files. Each location is "the argument, else an environment variable, else a folder of
the repository", and the repository is the clone this package was imported from.

* experiment settings: ``ROUSER_CONFIG``, else ``_config.yml`` (an installed wheel carries
  its own copy, ``rouser/_config.yml``);
* datasets: ``ROUSER_DATA``, else ``data/``;
* binned caches: ``ROUSER_CACHE``, else ``<data root>/cache/``;
* run records and checkpoints: ``ROUSER_RUNS``, else ``records/<profile>/``;
* executed result notebooks and saved figures: ``data/results/<profile>/``.

``records/<profile>/`` is committed for the profiles whose results the book shows (``cpu``;
``paper`` once someone with the full datasets and a GPU has run it); ``records/smoke/`` and
every checkpoint are git-ignored. ``DEFAULT_PROFILE`` is the profile the book shows, so
that a bare command regenerates what a reader sees. The command line writes elsewhere by
default (``cli_runs_dir``): a run typed at a prompt must not land among the book's records.

Installed from a wheel, rouser has no repository around it: its folder's parent is
``site-packages``. There the data root and the runs folder have no default (records and
datasets would land among the installed packages) and asking for one without giving it is
an error that says how to give it.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
# A clone (or an unpacked source tree) holds the settings and the workflow beside the
# package; site-packages holds neither.
IN_CLONE = (REPO_ROOT / "_config.yml").is_file() and (REPO_ROOT / "workflow").is_dir()
CONFIG_PATH = (REPO_ROOT if IN_CLONE else PACKAGE_DIR) / "_config.yml"
RECORDS_DIR = REPO_ROOT / "records"
BOOK_DIR = REPO_ROOT / "book"
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
# The command line's runs folder in a clone: git-ignored (`/runs/`), beside the records.
CLI_RUNS_DIR = REPO_ROOT / "runs"
DEFAULT_PROFILE = "cpu"


def _in_clone(default: Path, what: str, give: str) -> Path:
    """`default` in a clone; installed, an error: `default` would be inside site-packages."""
    if IN_CLONE:
        return default
    raise ValueError(
        f"no {what} given: rouser is installed ({PACKAGE_DIR}), not imported from a clone, "
        f"so it has no default {what}; give one with {give}"
    )


def config_path(path: str | os.PathLike | None = None) -> Path:
    """The experiment settings file: `path`, else `$ROUSER_CONFIG`, else `_config.yml`."""
    return Path(path or os.environ.get("ROUSER_CONFIG") or CONFIG_PATH)


def data_root(path: str | os.PathLike | None = None) -> Path:
    """Where datasets live: `path`, else `$ROUSER_DATA`, else `<repo>/data` (clone only)."""
    given = path or os.environ.get("ROUSER_DATA")
    if given:
        return Path(given).expanduser()
    return _in_clone(REPO_ROOT / "data", "data root", "--data-root, data_root=... or $ROUSER_DATA")


def cache_dir(root: Path, path: str | os.PathLike | None = None) -> Path:
    """Where binned caches live: `path`, else `$ROUSER_CACHE`, else `<data root>/cache`."""
    return Path(path or os.environ.get("ROUSER_CACHE") or root / "cache").expanduser()


def _runs_dir(default: Path, path: str | os.PathLike | None) -> Path:
    given = path or os.environ.get("ROUSER_RUNS")
    if given:
        return Path(given).expanduser()
    return _in_clone(default, "runs folder", "--runs-dir, runs_dir=... or $ROUSER_RUNS")


def runs_dir(profile: str = DEFAULT_PROFILE, path: str | os.PathLike | None = None) -> Path:
    """Run records of `profile`: `path`, else `$ROUSER_RUNS`, else `<repo>/records/<profile>`."""
    return _runs_dir(RECORDS_DIR / profile, path)


def cli_runs_dir(profile: str, path: str | os.PathLike | None = None) -> Path:
    """Where `python -m rouser train` writes: `path`, else `$ROUSER_RUNS`, else
    `<repo>/runs/<profile>` (git-ignored).

    Not `runs_dir`'s committed `records/<profile>`: there a stray run would join the records
    the book is drawn from. `--runs-dir records/<profile>` writes there on purpose.
    """
    return _runs_dir(CLI_RUNS_DIR / profile, path)


def results_dir(profile: str) -> Path:
    """Executed result notebooks and saved figures of `profile` (git-ignored)."""
    return REPO_ROOT / "data" / "results" / profile
