"""Execute the result notebooks against the committed records and keep their outputs.

The result notebooks are committed with what they print (verdicts, tables, the opening
sentences, footers), so that `pytest` (nbval, on cells tagged ``nbval-check-output``)
fails when a change to the records or to the report code changes a published number,
until this script is run again:

    python workflow/scripts/refresh_notebooks.py [NAME ...]

Figures are kept as a placeholder, not as vector files of hundreds of kilobytes: the SVG a
cell displays is replaced by `PLACEHOLDER`, and `notebooks/nbval_sanitize.cfg` maps every
SVG to the same placeholder when nbval compares. Execution counts are numbered from 1 and
timings dropped, so that a refresh changes a notebook only where an output changed.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from rouser.paths import NOTEBOOKS_DIR
from rouser.runs.results import RESULTS

PLACEHOLDER = "<svg>drawn from the records; not compared</svg>"
SVG = re.compile(r"(<\?xml[\s\S]*?)?<svg[\s\S]*</svg>\s*")
CHECKED = "nbval-check-output"


def strip(notebook: nbformat.NotebookNode) -> None:
    """Figures to the placeholder; execution counts 1, 2, ... (nbval compares only cells
    that ran) and no timings."""
    code = (cell for cell in notebook.cells if cell.cell_type == "code")
    for count, cell in enumerate(code, start=1):
        cell.execution_count = count
        cell.metadata.pop("execution", None)
        for output in cell.outputs:
            if output.output_type == "execute_result":
                output.execution_count = count
            data = output.get("data", {})
            if "image/svg+xml" in data:
                data["image/svg+xml"] = SVG.sub(PLACEHOLDER, data["image/svg+xml"])
            data.pop("image/png", None)


def refresh(name: str) -> Path:
    """Execute `notebooks/<name>.ipynb` in place (kernel python3, from notebooks/)."""
    path = NOTEBOOKS_DIR / f"{name}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS_DIR)}},
    ).execute()
    strip(notebook)
    nbformat.write(notebook, path)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "names", nargs="*", help=f"result notebooks (default: all of {list(RESULTS)})"
    )
    names = parser.parse_args(argv).names or list(RESULTS)
    for name in names:
        print(f"refreshed {refresh(name)}")


if __name__ == "__main__":
    main()
