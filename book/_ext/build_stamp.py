"""Put the commit and the UTC date a page was built from into every page's footer.

Why: the book's numbers come from committed records and the code at one commit; a reader
who finds a page (or a printout of it) must be able to tell which commit and when, and
whether the build had changes that no commit holds. The stamp reads
``Built 2026-12-03 09:41 UTC from commit abc1234`` (the hash links to the commit on the
repository of ``_config.yml``), with ``plus uncommitted changes`` when tracked files
differ from that commit, or ``outside a git checkout`` where there is none. The date is
``SOURCE_DATE_EPOCH`` where that is set (reproducible builds), else the build's own time.
"""

from __future__ import annotations

import datetime as dt
import html
import os
import subprocess
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.config import Config


def _git(root: Path, *args: str) -> str | None:
    """One git command's output in `root`, or None where git or the checkout is missing."""
    try:
        result = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip()


def build_date() -> dt.datetime:
    """`SOURCE_DATE_EPOCH` (seconds, UTC) where set, else now, in UTC."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        return dt.datetime.fromtimestamp(int(epoch), tz=dt.UTC)
    return dt.datetime.now(dt.UTC)


def stamp(root: Path, repository_url: str, when: dt.datetime) -> str:
    """The footer's HTML line for the checkout at `root`, built at `when` (UTC)."""
    date = when.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    commit = _git(root, "rev-parse", "--short", "HEAD")
    if not commit:
        return f'<p class="build-stamp">Built {date}, outside a git checkout.</p>'
    full = _git(root, "rev-parse", "HEAD") or commit
    shown = f"<code>{html.escape(commit)}</code>"
    if repository_url:
        url = f"{repository_url.rstrip('/')}/commit/{full}"
        shown = f'<a href="{html.escape(url)}">{shown}</a>'
    dirty = _git(root, "status", "--porcelain", "--untracked-files=no")
    changes = " plus uncommitted changes" if dirty else ""
    return f'<p class="build-stamp">Built {date} from commit {shown}{changes}.</p>'


def add_stamp(app: Sphinx, config: Config) -> None:
    """Append the stamp to the theme's extra footer (kept if the book set one)."""
    options = config.html_theme_options
    root = Path(app.srcdir).resolve()
    line = stamp(root, options.get("repository_url", ""), build_date())
    options["extra_footer"] = options.get("extra_footer", "") + line


def setup(app: Sphinx) -> dict[str, bool]:
    """Stamp once per build, before the theme reads its options."""
    app.connect("config-inited", add_stamp)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
