"""The `snakemake` commands the README, the book and the Snakefile header teach a reader.

Shared by the test that dry-runs each (tests/book/test_book.py) and the one that runs their
quoting through a shell (tests/workflow/test_workflow_quoting.py).
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def documented_commands() -> list[str]:
    """Every `snakemake` command of the README, the book and the Snakefile header: the lines
    of code blocks and comments that start with it, and inline code spans."""
    sources = [REPO / "README.md", *(REPO / "book").glob("*.md"), REPO / "workflow" / "Snakefile"]
    commands = []
    for source in sources:
        text = source.read_text().replace("\\\n", " ")
        commands += re.findall(r"`(snakemake [^`]+)`", text)
        for line in text.splitlines():
            line = line.lstrip("# ").split("  #")[0].strip()
            if line.startswith("snakemake "):
                commands.append(line)
    return list(dict.fromkeys(commands))
