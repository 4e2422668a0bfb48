"""The book's result pages come from the results registry, not from a hand-kept list.

Why: adding a figure should be one registry entry (`rouser.runs.results.RESULTS`), its draw
function and its notebook, nothing else. `_toc.yml` marks where the result pages go with
`glob: results/*`. Before sphinx-external-toc reads the table of contents (`config-inited`,
its priority 900), this extension links `results/<name>.ipynb` to the notebook
`notebooks/<name>.ipynb` of every registry entry (removing links to entries that are gone)
and hands sphinx-external-toc a copy of `_toc.yml` in which that glob is replaced by the
entries in registry order. Pages the toc already names elsewhere (the verdict page opens
the book) stay where they are.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from sphinx.application import Sphinx
from sphinx.config import Config

from rouser.runs.results import RESULTS

PLACEHOLDER = {"glob": "results/*"}


def _files(entries: list[dict]) -> set[str]:
    """Every `file` a list of toc entries names, at any depth."""
    named = set()
    for entry in entries:
        if "file" in entry:
            named.add(entry["file"])
        for key in ("sections", "chapters"):
            named |= _files(entry.get(key, []))
    return named


def link_result_pages(results_dir: Path) -> None:
    """`results_dir/<name>.ipynb` -> `../../notebooks/<name>.ipynb` for every registry entry."""
    results_dir.mkdir(exist_ok=True)
    wanted = {f"{name}.ipynb" for name in RESULTS}
    for stale in results_dir.glob("*.ipynb"):
        if stale.is_symlink() and stale.name not in wanted:
            stale.unlink()
    for page in sorted(wanted):
        link, target = results_dir / page, Path("..", "..", "notebooks", page)
        if link.is_symlink() and Path(os.readlink(link)) == target:
            continue
        link.unlink(missing_ok=True)
        link.symlink_to(target)


def expand_results(app: Sphinx, config: Config) -> None:
    """Write the toc with the registry's result pages and point sphinx-external-toc at it."""
    source = Path(app.srcdir, config.external_toc_path)
    toc = yaml.safe_load(source.read_text())
    named = _files(toc.get("parts", [])) | {toc["root"]}
    pages = [{"file": f"results/{name}"} for name in RESULTS if f"results/{name}" not in named]
    for part in toc.get("parts", []):
        chapters = part["chapters"]
        if PLACEHOLDER in chapters:
            index = chapters.index(PLACEHOLDER)
            chapters[index : index + 1] = pages
    link_result_pages(Path(app.srcdir) / "results")
    generated = Path(app.doctreedir) / "_toc.generated.yml"
    generated.parent.mkdir(parents=True, exist_ok=True)
    generated.write_text(yaml.safe_dump(toc, sort_keys=False))
    config.external_toc_path = str(generated)


def setup(app: Sphinx) -> dict[str, bool]:
    """Run before sphinx-external-toc parses the toc (priority 900)."""
    app.connect("config-inited", expand_results, priority=850)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
