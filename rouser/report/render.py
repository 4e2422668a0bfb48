"""From a registry entry to a page: select the runs, draw, save, display.

Notebooks call `render(name)` only. It reads the runs of result `name` (``rouser.runs.results``)
from the committed records (or any runs folder), lists missing runs with the command that
makes them instead of failing obscurely, draws with the entry's function, saves vector
files under ``data/results/<profile>/figures/`` and displays the result with a footer that
names the notebook, links every record it was drawn from and gives the command that
regenerates it.
"""

from __future__ import annotations

import io
import numbers
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import matplotlib as mpl
import pandas as pd
from matplotlib.figure import Figure

from rouser import paths
from rouser.atomic import atomic_write
from rouser.report import claims, curves, figures, studies, tables, verdicts
from rouser.report.plotting import runs_provenance
from rouser.report.style import _METADATA, DONE_STATUSES, STYLE
from rouser.runs.experiments import missing_runs
from rouser.runs.records import load_records, record_path
from rouser.runs.results import RESULTS, result, result_runs

# ---------------------------------------------------------------------------- saving


def default_figures_dir(profile: str) -> Path:
    """`data/results/<profile>/figures/`: git-ignored, one folder per profile."""
    return paths.results_dir(profile) / "figures"


def _savefig(figure: Figure, handle: IO[bytes], fmt: str) -> None:
    with mpl.rc_context(STYLE):
        figure.savefig(handle, format=fmt, metadata=_METADATA[fmt])


def save(result: Figure | pd.DataFrame, name: str, figures_dir: str | os.PathLike) -> list[Path]:
    """Write a figure as SVG and PDF (vector, reproducible bytes) or a table as CSV, atomically."""
    figures_dir = Path(figures_dir)
    if isinstance(result, pd.DataFrame):
        targets = {"csv": figures_dir / f"{name}.csv"}
    elif isinstance(result, Figure):
        targets = {fmt: figures_dir / f"{name}.{fmt}" for fmt in ("svg", "pdf")}
    else:
        raise TypeError(
            f"save() takes a matplotlib Figure or a pandas DataFrame, not {type(result).__name__}"
        )
    for fmt, path in targets.items():
        if fmt == "csv":
            data = result.to_csv(index=False).encode()
            atomic_write(path, lambda handle, data=data: handle.write(data))
        else:
            atomic_write(path, lambda handle, fmt=fmt: _savefig(result, handle, fmt))
    return list(targets.values())


# ---------------------------------------------------------------------------- notebooks' entry


@dataclass(frozen=True)
class Rendered:
    """What `render` made: the figure or table (None when no run is there yet), and why not."""

    name: str
    profile: str
    output: Figure | pd.DataFrame | None
    runs_dir: Path | None = None
    missing: list[str] = field(default_factory=list)
    unfinished: dict[str, str] = field(default_factory=dict)
    paths: list[Path] = field(default_factory=list)
    provenance: str = ""
    drawn_from: list[str] = field(default_factory=list)
    opening: str = ""

    @property
    def message(self) -> str:
        """Markdown naming the runs not drawn and what to do about them ('' if none)."""
        if not self.missing and not self.unfinished:
            return ""
        title = f"{RESULTS[self.name].title} (profile `{self.profile}`)"
        if self.output is None:
            lines = [f"**{title}: none of its runs has a finished record yet; nothing to draw.**"]
        else:
            lines = [f"**{title} is incomplete: it shows only the runs that are there.**"]
        if self.missing:
            listed = ", ".join(f"`{run_id}`" for run_id in self.missing)
            lines += [
                "",
                f"{len(self.missing)} run(s) have no record in `{shown(self.runs_dir)}` yet: "
                f"{listed}. Train them from the repository root with `{self.command}` (runs "
                "that have a record are not recomputed), then run this notebook again.",
            ]
        for run_id, status in self.unfinished.items():
            advice = {
                "failed": "its record's `error` says why; remove the record to train it again",
                "running": "not finished yet (or interrupted: training again resumes it)",
            }.get(status, "not finished")
            lines += ["", f"`{run_id}` is {status}: {advice}."]
        return "\n".join(lines)

    @property
    def config_args(self) -> str:
        """Snakemake's `--config` for this profile and runs folder."""
        args = f"--config profile={self.profile}"
        entry = RESULTS[self.name]
        reads_data = bool(entry.experiments) or entry.study is not None  # Table II: config only
        if self.profile != "smoke" and reads_data:
            args += " data_root=<your data folder>"
        if self.runs_dir is not None and (
            self.runs_dir.resolve() != paths.runs_dir(self.profile).resolve()
        ):
            folder = shown(self.runs_dir) if _in_repository(self.runs_dir) else "<your runs folder>"
            args += f" runs_dir={folder}"
        return args

    @property
    def command(self) -> str:
        """The workflow command that trains this profile's runs into `runs_dir`."""
        return f"snakemake runs --cores 2 {self.config_args}"

    @property
    def footer(self) -> str:
        """Markdown: the notebook that drew the page, its records, the command that remakes it."""
        lines = [f"**Behind this page.** Drawn by `notebooks/{self.name}.ipynb`"]
        if self.drawn_from and self.runs_dir is not None:
            folder = shown(self.runs_dir)
            inside = _in_repository(self.runs_dir)
            links = ", ".join(
                f"[{run_id}](../{folder}/{run_id}.json)" if inside else f"`{run_id}`"
                for run_id in self.drawn_from
            )
            lines[0] += f" from {len(self.drawn_from)} run record(s) in `{folder}/`: {links}."
        elif RESULTS[self.name].study is not None:
            record, module = RESULTS[self.name].study
            lines[0] += (
                f" from the study record [{record}](../{record}), which "
                f"`python -m {module} --data-root <your data folder>` makes."
            )
        else:
            lines[0] += " from `_config.yml` and the paper's values."
        target = f"{shown(paths.results_dir(self.profile))}/{self.name}.ipynb"
        lines += [
            "",
            f"Regenerate it (training only the runs without a record) with "
            f"`snakemake {target} --cores 2 {self.config_args}`.",
        ]
        return "\n".join(lines)

    def _ipython_display_(self) -> None:
        from IPython.display import SVG, Markdown, display

        if self.opening:
            display(Markdown(self.opening))
        if self.message:
            display(Markdown(self.message))
        if isinstance(self.output, Figure):
            buffer = io.StringIO()
            with mpl.rc_context(STYLE):
                self.output.savefig(buffer, format="svg", metadata=_METADATA["svg"])
            display(SVG(buffer.getvalue()))
        elif isinstance(self.output, pd.DataFrame):
            table = self.output
            if table.attrs.get("summary"):
                display(Markdown(table.attrs["summary"]))
            display(styled_table(table, self.name))
            if table.attrs.get("note"):
                display(Markdown(table.attrs["note"]))
        if self.provenance:
            display(Markdown(self.provenance))
        display(Markdown(self.footer))


def _number_format(spec: str) -> Callable[[object], str]:
    """Format numbers with `spec` (as `format()` reads it) and anything else as text: the
    columns that take a per-column format mix numbers with words ("fixed in code")."""

    def formatted(value: object) -> str:
        if isinstance(value, numbers.Number) and not isinstance(value, bool):
            return format(value, spec)
        return str(value)

    return formatted


def styled_table(table: pd.DataFrame, uuid: str) -> pd.io.formats.style.Styler:
    """A result table as the page shows it: caption, no index, its own number format and,
    where `attrs["cell_colors"]` maps a column's values to colours, coloured cells.

    `attrs["precision"]` sets the decimals of every float (default 2); `attrs["formats"]`
    maps a column to a `format()` spec of its own ("g" for 0.001 or 100, never "0.00" or
    "100.0000"), because one precision cannot suit a learning rate and a percentage alike.
    `attrs["nowrap"]` names columns whose cells must not break across lines ("92.33 ± 3.06",
    "34x34x2-500-500-10" cut at a space or hyphen misreads).
    """
    styled = table.style.set_uuid(uuid)  # stable HTML ids: reproducible pages
    styled = styled.set_caption(table.attrs.get("title", "")).hide(axis="index")
    styled = styled.hide(table.attrs.get("hidden_columns", []), axis="columns")
    for column, colors in table.attrs.get("cell_colors", {}).items():
        styled = styled.map(
            lambda value, colors=colors: (
                f"background-color: {colors[value]}" if value in colors else ""
            ),
            subset=[column],
        )
    nowrap = table.attrs.get("nowrap", [])
    if nowrap:
        styled = styled.set_properties(subset=nowrap, **{"white-space": "nowrap"})
    styled = styled.format(precision=table.attrs.get("precision", 2), na_rep="-")
    for column, spec in table.attrs.get("formats", {}).items():
        styled = styled.format(_number_format(spec), subset=[column], na_rep="-")
    return styled


def _in_repository(path: Path) -> bool:
    return Path(path).resolve().is_relative_to(paths.REPO_ROOT)


def shown(path: Path) -> str:
    """`path` as a page may show it: relative to the repository, else its name only (never
    a local absolute path)."""
    if _in_repository(path):
        return Path(path).resolve().relative_to(paths.REPO_ROOT).as_posix()
    return Path(path).name


def experiment_records(
    name: str, profile: str, runs_dir: str | os.PathLike | None = None, config: dict | None = None
) -> tuple[pd.DataFrame, list[str], dict[str, str]]:
    """The records of result `name`'s finished runs, the ids without a record, and the
    ids whose record is not finished (with their status)."""
    runs_dir = paths.runs_dir(profile, runs_dir)
    runs = result_runs(name, profile, config)
    wanted = [run.run_id for run in runs]
    missing = [run.run_id for run in missing_runs(runs, runs_dir)]
    present = [run_id for run_id in wanted if run_id not in missing]
    records = (
        load_records([record_path(run_id, runs_dir) for run_id in present])
        if present
        else pd.DataFrame()
    )
    unfinished: dict[str, str] = {}
    if not records.empty:
        status = records.groupby("run_id")["status"].first()
        unfinished = {run_id: s for run_id, s in status.items() if s not in DONE_STATUSES}
        records = records[~records["run_id"].isin(unfinished)].reset_index(drop=True)
    return records, missing, unfinished


# The modules whose functions the registry's `draw` names.
DRAWERS = (tables, figures, curves, claims, studies)

# The committed profiles a book page may show, best first: the paper's full setup where
# someone has committed its records, else NMNIST-1k.
BOOK_PROFILES = ("paper", "cpu")


def book_profile(name: str, config: dict | None = None) -> str:
    """The profile whose committed records result `name` shows: the first of `BOOK_PROFILES`
    with at least one of its records in `records/<profile>/` (Table II follows Table I)."""
    probe = name if result(name).experiments else "table1"
    for profile in BOOK_PROFILES:
        folder = paths.RECORDS_DIR / profile
        if any(record_path(run, folder).is_file() for run in result_runs(probe, profile, config)):
            return profile
    return paths.DEFAULT_PROFILE


def render(
    name: str,
    profile: str | None = None,
    runs_dir: str | os.PathLike | None = None,
    figures_dir: str | os.PathLike | None = None,
    config: dict | None = None,
) -> Rendered:
    """Draw one result of the registry (`rouser.runs.results`) from its runs' records, save it,
    and return it for display.

    `profile=None` shows the committed records (`book_profile`). Missing or unfinished runs
    are listed with the command that makes them; whatever is there is still drawn.
    """
    entry = result(name)
    profile = profile or book_profile(name, config)
    figures_dir = Path(figures_dir) if figures_dir is not None else default_figures_dir(profile)
    draw = next(getattr(m, entry.draw) for m in DRAWERS if hasattr(m, entry.draw))
    if not entry.experiments:
        output = draw(profile, config)
        return Rendered(name, profile, output, paths=save(output, name, figures_dir))
    runs_dir = paths.runs_dir(profile, runs_dir)
    records, missing, unfinished = experiment_records(name, profile, runs_dir, config)
    if records.empty:
        return Rendered(name, profile, None, runs_dir, missing, unfinished)
    output = draw(records)
    return Rendered(
        name,
        profile,
        output,
        runs_dir,
        missing,
        unfinished,
        save(output, name, figures_dir),
        runs_provenance(records),
        list(dict.fromkeys(records["run_id"])),
        page_opening(name, profile, runs_dir, config),
    )


def page_opening(
    name: str, profile: str, runs_dir: str | os.PathLike | None, config: dict | None = None
) -> str:
    """What a result page says first: the verdict rows whose evidence it is, with the
    paper's value, ours at the horizon and the verdict, from the same records as the
    verdict page ('' for the verdict page itself and pages that judge no claim)."""
    if name == "reproduce":
        return ""
    records, _, _ = experiment_records("reproduce", profile, runs_dir, config)
    if records.empty:
        return ""
    table = claims.claims(records)
    rows = table[table["evidence"].str.contains(f'href="{name}.html"', regex=False)]
    return "\n".join(
        f"- **{row['claim']}** ({verdicts.badge(row['verdict'])}). Paper: {row['paper']}. "
        f"Ours: {row['ours']}. Horizon in paper epochs: {row['horizon (paper epochs)']}."
        for _, row in rows.iterrows()
    )


def low_threshold_recovery(
    profile: str | None = None,
    runs_dir: str | os.PathLike | None = None,
    config: dict | None = None,
) -> str:
    """The first-steps page's last word: whether the baseline at Th 0.25 leaves chance
    where Fig. 2's grid stops (`studies.recovery`), from the grid's records."""
    profile = profile or book_profile("fig2_threshold_grid", config)
    records, _, _ = experiment_records("fig2_threshold_grid", profile, runs_dir, config)
    return studies.recovery(records)


def bottom_line(profile: str | None = None, config: dict | None = None) -> str:
    """The verdict page's summary, for the front page: how many of the paper's claims
    agree, disagree, were not reached or cannot be tested here, and which (Markdown)."""
    profile = profile or book_profile("reproduce", config)
    records, _, _ = experiment_records("reproduce", profile, None, config)
    if records.empty:
        return f"No finished run records of profile `{profile}` yet: nothing is judged."
    return claims.claims(records).attrs["summary"]
