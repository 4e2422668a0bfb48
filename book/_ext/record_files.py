"""Publish the committed run records with the book, so every page can link the data it shows.

Why: a result page lists the records it was drawn from (`rouser.report.render`), as links
``../records/<profile>/<run_id>.json``. Sphinx copies only what pages reference as
downloads; this extension copies the record files themselves (JSON only: checkpoints and
lock files beside them are not published) into ``<html>/records/`` when the build ends.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sphinx.application import Sphinx


def copy_records(app: Sphinx, exception: Exception | None) -> None:
    """Copy `records/<profile>/*.json` (and `records/*.json`) next to the built pages."""
    if exception is not None or app.builder.format != "html":
        return
    source = Path(app.srcdir).resolve().parent / "records"
    target = Path(app.outdir) / "records"
    for record in sorted(source.rglob("*.json")):
        if any(part.startswith(".") for part in record.relative_to(source).parts):
            continue
        destination = target / record.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(record, destination)


def setup(app: Sphinx) -> dict[str, bool]:
    """Register the copy for the end of the build."""
    app.connect("build-finished", copy_records)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
