"""What the book's pages state agrees with its sources: the records, `_config.yml`,
`data/README.md`, `CITATION.cff` and the paper's values.

A page is prose typed by hand; the records, the config and the data's own documentation
change under it. Each test here reads a count, a time or a setting a page states and
compares it with where it comes from, so that a change to one fails until the other
follows. No book build is needed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from rouser import paths
from rouser.config import load_config
from rouser.data.nmnist import ShiftRotate
from rouser.report import tables
from rouser.report.plotting import training_seconds
from rouser.report.render import experiment_records, styled_table
from rouser.report.style import load_paper_values
from rouser.runs.experiments import experiment_runs
from rouser.runs.records import load_records

REPO = paths.REPO_ROOT
BOOK = REPO / "book"
DATA_README = REPO / "data" / "README.md"
COMMITTED = "cpu"

sys.path.insert(0, str(BOOK / "_ext"))
import build_stamp  # noqa: E402  (the book's extensions are not a package)
import cff_bibtex  # noqa: E402

sys.path.remove(str(BOOK / "_ext"))


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def _page(name: str) -> str:
    """A page's text with its lines joined (a count may break across lines)."""
    return " ".join((BOOK / name).read_text().split())


# ---------------------------------------------------------------------------- datasets

# Where data/README.md states each dataset's training and test counts (the files tonic reads).
FILE_COUNTS = {
    "nmnist": (r"`Train/<digit>/<id>\.bin`, ([\d,]+) recordings", r"`Test/[^`]*`, ([\d,]+) rec"),
    "dvs128": (r"ibmGestureTrain/[^|]*?, ([\d,]+) gestures", r"ibmGestureTest/[^|]*?, ([\d,]+) g"),
    "shd": (r"SHD's README gives ([\d,]+) train", r"SHD's README gives [\d,]+ train and ([\d,]+)"),
}


def file_counts(dataset: str) -> tuple[int, int]:
    """(train, test) as `data/README.md` states them for `dataset`."""
    text = " ".join(DATA_README.read_text().split())
    found = [re.search(pattern, text) for pattern in FILE_COUNTS[dataset]]
    assert all(found), f"data/README.md no longer states {dataset}'s counts where expected"
    return _number(found[0].group(1)), _number(found[1].group(1))


@pytest.mark.parametrize("dataset", ["nmnist", "dvs128", "shd"])
def test_dataset_page_states_the_papers_and_the_files_counts(dataset: str) -> None:
    """Every 'N training and M test' on the dataset's page is the paper's count or the files'
    (`data/README.md`), and both are stated where they differ (DVS128: 1,176 / 288 in the
    paper, 1,077 / 264 in tonic's files)."""
    paper = load_paper_values()["datasets"][dataset]
    papers, files = (paper["train"], paper["test"]), file_counts(dataset)
    text = _page(f"datasets/{dataset}.md")
    stated = {
        (_number(train), _number(test))
        for train, test in re.findall(r"([\d,]+) training and ([\d,]+) test", text)
    }
    assert stated == {papers, files}, f"{dataset}: page {stated}, paper {papers}, files {files}"


def test_dvs128_counts_really_differ() -> None:
    """The check above is not vacuous: the paper's and tonic's DVS128 counts differ."""
    paper = load_paper_values()["datasets"]["dvs128"]
    assert file_counts("dvs128") != (paper["train"], paper["test"])


def test_nmnist_pages_describe_the_augmentation_the_config_runs() -> None:
    """`_config.yml` augments NMNIST with rouser's map (shifts in [-4, 4], +-10 degrees);
    lava-dl's exact map is `lava_dl_augment`, and a page says whether it is on."""
    config = load_config()
    assert config["datasets"]["nmnist"]["augment"]
    lava_dl = config["training"]["lava_dl_augment"]
    fields = {field.name: field.default for field in dataclasses.fields(ShiftRotate)}
    shift, degrees = fields["max_shift"], fields["max_degrees"]
    for name in ("datasets/nmnist.md", "nmnist1k.md"):
        text = _page(name)
        if not lava_dl:
            assert not re.search(r"(uses|with) lava-dl's (NMNIST |tutorial's )?augmentation", text)
            assert re.search(r"`lava_dl_augment`,? (is )?off", text), name
        assert f"{shift} pixels" in text and f"{degrees:g} degrees" in text, name


# ---------------------------------------------------------------------------- runs and times


def _run_hours(folder: Path) -> float:
    """The committed records' training time (`training_seconds`: each trajectory once)."""
    total, _ = training_seconds(load_records(sorted(folder.glob("*.json"))))
    return total / 3600


def test_retraining_time_is_the_records_time() -> None:
    """reproduce.md's time to retrain every committed record, against the records."""
    text = _page("reproduce.md")
    stated = re.search(r"adds up to ([\d.]+) h, so .*?--cores 2` takes at least ([\d.]+) h", text)
    assert stated, "reproduce.md no longer states the records' total run time"
    total, wall = float(stated.group(1)), float(stated.group(2))
    hours = _run_hours(paths.RECORDS_DIR / COMMITTED)
    assert total == pytest.approx(hours, abs=0.051), f"the records add up to {hours:.2f} h"
    assert wall == pytest.approx(hours / 2, abs=0.051)
    assert "about an hour" not in text


def test_reproduce_page_states_the_cpu_profiles_sizes() -> None:
    """The cpu row of reproduce.md's profile table: epochs and seeds as `_config.yml` has them."""
    row = re.search(r"^\| `cpu`.*$", (BOOK / "reproduce.md").read_text(), re.M).group(0)

    def sizes(name: str) -> tuple[list[int], list[int]]:
        runs = experiment_runs(name, COMMITTED)
        return sorted({run.seed for run in runs}), sorted({run.epochs for run in runs})

    seeds, epochs = sizes("table1")
    assert f"{epochs[0]} epochs; Table I over {len(seeds)} seeds" in row
    seeds, epochs = sizes("fidelity")
    listed = " and ".join(map(str, seeds))
    assert f"the fidelity study ({epochs[0]} epochs) on seeds {listed}" in row
    seeds, epochs = sizes("paper_epoch")
    assert f"one paper epoch of steps ({epochs[0]} epochs) for both methods on {len(seeds)}" in row
    for name in ("fig2", "fig6"):
        assert sizes(name)[0] == [0], name  # "Fig. 2's grid and Fig. 6's ablation on seed 0"
    assert "Fig. 2's grid and Fig. 6's ablation on seed 0" in row


# ---------------------------------------------------------------------------- tables


@pytest.fixture(scope="module")
def table1() -> pd.DataFrame:
    records, missing, unfinished = experiment_records("table1", COMMITTED)
    assert not missing and not unfinished
    return tables.table1(records)


def test_table1_has_every_row_of_the_papers_table(table1: pd.DataFrame) -> None:
    """Six rows, as the paper's Table I; those the cpu profile does not train say so, keep
    the paper's value and name the command that trains them."""
    paper = load_paper_values()["table1"]
    assert list(zip(table1["dataset"], table1["method"], strict=True)) == [
        (dataset, method)
        for dataset in ("NMNIST", "DVS128 Gesture", "SHD")
        for method in ("baseline", "Rouser")
    ]
    trained = {run.dataset for run in experiment_runs("table1", COMMITTED)}
    assert trained == {"nmnist"}
    not_run = table1[table1["seeds"] == 0]
    assert len(not_run) == 4
    assert (not_run["ours (%)"] == "not run here: needs the full data").all()
    assert list(not_run["paper"].dropna()) == [
        paper["dvs128"]["baseline"],
        paper["dvs128"]["rouser"],
        paper["shd"]["rouser"],
    ]
    assert tables.PAPER_TABLE1_COMMAND in table1.attrs["note"]
    assert "mean ± sd over seeds" in table1.attrs["title"]  # three seeds per NMNIST row


def test_table1_says_one_seed_when_there_is_one(table1: pd.DataFrame) -> None:
    records, _, _ = experiment_records("table1", COMMITTED)
    one = tables.table1(records[records["config.seed"] == 0])
    assert "one seed" in one.attrs["title"] and "sd" not in one.attrs["title"]
    assert "±" not in "".join(one["ours (%)"])


def test_table1_cells_keep_their_numbers_whole(table1: pd.DataFrame) -> None:
    html = styled_table(table1, "table1").to_html()
    assert "92.33\u00a0±\u00a03.06" in html or re.search(r"\d\.\d\d\u00a0±\u00a0\d", html)
    assert re.search(r"white-space: nowrap", html)  # architectures never break at a hyphen


def test_table2_shows_values_as_written() -> None:
    """0.001 is '0.001' (not '0.00', the precision of the rest), 1.25 '1.25', 0 '0'."""
    html = styled_table(tables.table2(COMMITTED), "table2").to_html()
    cells = re.findall(r'class="data row\d+ col(?:2|3)" >([^<]*)<', html)
    for row in load_paper_values()["table2"]["rows"]:
        value = row["value"]
        assert (value if isinstance(value, str) else f"{value:g}") in cells, value
    assert "0.001" in cells and "0.00" not in cells and "fixed in code" in cells


# ---------------------------------------------------------------------------- citing


def test_cite_page_bibtex_is_citation_cff() -> None:
    """The Cite page's entries come from CITATION.cff: its version, title, authors, DOI."""
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text())
    software = cff_bibtex.bibtex(cff, "software")
    assert software.startswith("@software{")
    assert re.search(rf"version\s+= {{{re.escape(str(cff['version']))}}}", software)
    assert cff["repository-code"] in software and "{The rouser developers}" in software
    paper = cff_bibtex.bibtex(cff, "preferred-citation")
    first = cff["preferred-citation"]["authors"][0]
    assert f"author        = {{{first['family-names']}, {first['given-names']}" in paper
    assert "10.48550/arXiv.2407.19566" in paper and "eprint        = {2407.19566}" in paper
    cite = (BOOK / "cite.md").read_text()
    assert "{cff-bibtex} preferred-citation" in cite and "{cff-bibtex} software" in cite
    assert "@article{" not in cite  # no hand-typed copy to drift
    with pytest.raises(ValueError):
        cff_bibtex.bibtex(cff, "paper")


def test_the_peers_are_in_the_references_and_cited() -> None:
    """NIR, lava-dl, snnTorch and norse: an entry each, cited from a page (so listed)."""
    bib = (BOOK / "references.bib").read_text()
    keys = dict(re.findall(r"@\w+\{(\w+),\s*title\s*=\s*\{(.*?)\},", bib, re.S))
    pages = " ".join(path.read_text() for path in BOOK.rglob("*.md") if "_build" not in path.parts)
    for key, word in [
        ("pedersen2024nir", "Neuromorphic intermediate representation"),
        ("lavadl", "lava-dl"),
        ("eshraghian2023snntorch", "Spiking Neural Networks"),
        ("pehle2021norse", "Norse"),
    ]:
        assert word in keys.get(key, ""), key
        assert f"{{cite}}`{key}`" in pages, f"{key} is cited nowhere"
    paper = re.search(r"@article\{sampson2024rouser,.*?\n\}", bib, re.S).group(0)
    assert "author        = {Takaghaj, Sanaz Mahmoodi and Sampson, Jack}" in paper  # arXiv's order


# ---------------------------------------------------------------------------- the footer


def test_build_stamp_names_the_commit_and_the_utc_date(tmp_path: Path) -> None:
    when = dt.datetime(2026, 12, 3, 9, 41, tzinfo=dt.UTC)
    line = build_stamp.stamp(REPO, "https://github.com/o/r", when)
    head = build_stamp._git(REPO, "rev-parse", "--short", "HEAD")
    assert head and "Built 2026-12-03 09:41 UTC from commit " in line
    assert f"<code>{head}</code>" in line and "https://github.com/o/r/commit/" in line
    outside = build_stamp.stamp(tmp_path, "", when)
    assert "outside a git checkout" in outside and "commit" not in outside


def test_build_stamp_honours_source_date_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1764754860")
    assert build_stamp.build_date() == dt.datetime(2025, 12, 3, 9, 41, tzinfo=dt.UTC)


def test_the_book_config_has_no_launch_buttons_and_one_search_field() -> None:
    config = yaml.safe_load((BOOK / "_config.yml").read_text())
    assert "launch_buttons" not in config
    assert "launch_sources" not in config["sphinx"]["local_extensions"]
    assert {"build_stamp", "cff_bibtex"} <= set(config["sphinx"]["local_extensions"])
    assert config["sphinx"]["config"]["html_theme_options"]["navbar_persistent"] == []
