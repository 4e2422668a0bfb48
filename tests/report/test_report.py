"""Figures and tables drawn from run records: what they draw must be what the records say.

Records are built here with the schema's layout, written with `write_record` and read back
with the real `load_records`, so the figure functions see exactly the DataFrame a notebook
would. Values are simple known functions of (method, seed, epoch) so every bar height and
line point can be checked against them.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure
from toy_task import CHANNELS, STEPS, toy_loaders

from rouser import paths
from rouser.config import deep_merge, load_config, resolve_run
from rouser.report import axis, claims, curves, figures, tables
from rouser.report.plotting import training_seconds
from rouser.report.render import Rendered, book_profile, render, save
from rouser.report.style import duration, load_paper_values
from rouser.report.verdicts import (
    ACCURACY,
    AGREES,
    DISAGREES,
    INCONCLUSIVE,
    NOT_REACHED,
    NOT_TESTABLE,
    ONE_SEED,
    RULED_OUT,
    SO_FAR,
    SO_FAR_WITHIN,
    TOO_SMALL,
    VERDICT_COLORS,
    Evidence,
    compare,
    sampling_noise,
    so_far,
    verdict,
)
from rouser.runs.experiments import experiment_runs, run_labels
from rouser.runs.metrics import summarize
from rouser.runs.provenance import numerics
from rouser.runs.records import load_records, record_path, write_record
from rouser.runs.results import RESULTS, result_runs
from rouser.runs.train import train

PAPER_MD = Path(__file__).resolve().parents[3] / "shared" / "paper.md"
QUANTILES = ("min", "q05", "q25", "q50", "q75", "q95", "max")


def accuracy(
    method: str, seed: int, epoch: int, threshold: float = 1.25, lr_th: float = 0.001
) -> float:
    """A known test accuracy (fraction) for a fake run at an epoch."""
    return min(
        0.99,
        0.1 + 0.04 * epoch + 0.01 * seed + 0.05 * (method == "rouser") + 0.1 * threshold + lr_th,
    )


def history_entry(run, epoch: int) -> dict:
    """One epoch of a fake record with every key the schema names."""
    hidden = [f"layer{i + 1}" for i in range(len(run.hidden))]
    layers = [*hidden, f"layer{len(run.hidden) + 1}"]
    shift = 0.01 * epoch * (1 + run.lr_th * 100)
    return {
        "epoch": epoch,
        "train_accuracy": accuracy(run.method, run.seed, epoch, run.threshold, run.lr_th),
        "test_accuracy": accuracy(run.method, run.seed, epoch, run.threshold, run.lr_th),
        "train_loss": 1.0 / (1 + epoch),
        "test_loss": 1.0 / (1 + epoch),
        "dead_neurons": {
            name: 0.7 - 0.02 * epoch - 0.1 * i - 0.01 * run.seed for i, name in enumerate(hidden)
        },
        "never_firing": {name: 0.1 for name in hidden},
        "spike_rate": {
            name: 0.05 * (i + 1) + 0.001 * epoch + 0.002 * run.seed for i, name in enumerate(layers)
        },
        "weight_change": {
            **{name: 0.5 * epoch for name in layers},
            "total": epoch * (1 + run.seed),
        },
        "thresholds": {
            name: {
                "mean": run.threshold + shift,
                "std": shift,
                **{q: run.threshold + shift * (k - 3) for k, q in enumerate(QUANTILES)},
                "hist_counts": [1, 2, 1],
                "hist_edges": [0.0, 1.0, 2.0, 3.0],
            }
            for name in layers
        },
        # unlike a copied record, two runs never take the same time
        "epoch_seconds": 1.0 + int(run.run_id[-6:], 16) % 1000 / 1e6,
        "samples_per_second": 64.0,
    }


def make_record(run, status: str = "finished") -> dict:
    history = [history_entry(run, epoch) for epoch in range(run.epochs + 1)]
    if status == "non-convergent":  # at chance throughout, as summarize() requires
        for entry in history:
            entry["test_accuracy"] = 1.0 / run.n_classes
    if status == "non-convergent":  # rouser.runs.records checks the status against the history
        for entry in history:
            entry["test_accuracy"] = 1.0 / run.n_classes
    return {
        "schema": 1,
        "run_id": run.run_id,
        "status": status,
        "error": None,
        "config": run.to_dict(),
        "data": {
            "dataset": run.dataset,
            "source": "synthetic" if run.synthetic else "real",
            "n_train": 64,
            "n_test": 32,
            "test_split": "test",
            "time_bins": run.time_bins,
            "bin_us": run.bin_us,
        },
        "env": {
            "device": "cpu",
            "device_name": "cpu",
            "numerics": {**numerics(torch.device("cpu")), "torch": "x"},
            "torch": "x",
            "rouser": "0.1.0",
            "python": "3.11",
            "git_commit": None,
        },
        "started": "2024-01-01T00:00:00",
        "ended": "2024-01-01T00:01:00",
        "history": history,
        # what training would have written: the summary its history gives
        "summary": summarize(history, run.n_classes, run.latency_target, run.chance_margin),
    }


def write_runs(runs_dir: Path, runs, status: str = "finished") -> list[Path]:
    paths = []
    for run in runs:
        paths.append(record_path(run, runs_dir))
        write_record(make_record(run, status), paths[-1])
    return paths


def records_of(tmp_path: Path, runs) -> pd.DataFrame:
    return load_records(write_runs(tmp_path, runs))


def labelled(ax, label: str):
    """The bar container (or line) of `ax` with legend label `label`."""
    found = [c for c in ax.containers if c.get_label() == label] + [
        ln for ln in ax.get_lines() if ln.get_label() == label
    ]
    assert len(found) == 1, f"expected one artist labelled {label!r}, found {len(found)}"
    return found[0]


def heights(container) -> np.ndarray:
    return np.array([bar.get_height() for bar in container])


@pytest.fixture(scope="module")
def paper() -> dict:
    return load_paper_values()


@pytest.fixture
def table1_runs():
    """NMNIST, both methods, two seeds, 5 epochs (smoke sizes, synthetic)."""
    return [
        resolve_run("nmnist", m, "smoke", seed=s, epochs=5)
        for m in ("baseline", "rouser")
        for s in (0, 1)
    ]


# ---------------------------------------------------------------------------- the paper's values


@pytest.mark.skipif(not PAPER_MD.is_file(), reason=f"the paper's summary is not at {PAPER_MD}")
def test_paper_values_match_paper_md(paper):
    text = PAPER_MD.read_text()
    for dataset, label in (("nmnist", "NMNIST"), ("dvs128", "DVS128"), ("shd", "SHD")):
        for method, name in (("baseline", "baseline"), ("rouser", "Rouser")):
            row = re.search(rf"\| {label} \| {name} \| (\S+) \| ([^|]+) \|", text)
            assert row, f"Table I row {label}/{name} not found in paper.md"
            assert paper["table1"][dataset]["architecture"] == row.group(1)
            number = re.match(r"([\d.]+)%", row.group(2).strip())
            if number:
                assert paper["table1"][dataset][method] == pytest.approx(float(number.group(1)))
            else:
                assert paper["table1"][dataset][method] is None
                assert paper["table1"]["notes"][f"{dataset}.{method}"] == row.group(2).strip()
    for dataset, label in (("nmnist", "NMNIST"), ("dvs128", "DVS128")):
        listed = re.search(rf"{label}: ([\d, ]+)%", text).group(1)
        assert paper["fig2"]["accuracy"][dataset] == [int(v) for v in listed.split(",")]
    fig4 = re.search(r"Rouser \(L1, L2\): (.*?)\. Baseline: (.*?)\.", text, re.S)
    for method, found in zip(("rouser", "baseline"), fig4.groups(), strict=True):
        pairs = [tuple(map(int, p)) for p in re.findall(r"\((\d+), (\d+)\)", found)]
        assert list(zip(*pairs, strict=True)) == [
            tuple(paper["fig4"]["dead_neurons"][method][f"layer{i}"]) for i in (1, 2)
        ]
    for row in paper["table2"]["rows"]:
        assert re.search(
            rf"\| {re.escape(row['meaning'])} \| {re.escape(str(row['value']))} \|", text
        ), row
    for dataset, label in (("nmnist", "NMNIST"), ("dvs128", "DVS128 Gesture"), ("shd", "SHD")):
        sizes = re.search(rf"- {label}\b.*?([\d,]+) train /\s+([\d,]+) test", text, re.S)
        found = [int(sizes.group(i).replace(",", "")) for i in (1, 2)]
        assert found == [paper["datasets"][dataset][split] for split in ("train", "test")]
    reduction = paper["latency"]["max_reduction"]["v1"]
    assert f"v1: up to {reduction}% lower training latency" in text
    fig6 = paper["fig6"]["settings"]
    assert "lr_Th = 0.001 ends near 96.8%, lr_Th = 0 near\n  96.3%" in text
    assert (fig6["a"]["end"][0.001], fig6["a"]["end"][0.0]) == (96.8, 96.3)
    assert "lr_Th = 0.01 climbs to about 90%" in text and fig6["b"]["end"][0.01] == 90
    assert "about 0.3 at\n  epoch 4 vs 0.05 for the baseline" in text
    assert (
        paper["fig3"]["points"]["rouser"][4] == 0.3
        and paper["fig3"]["points"]["baseline"][4] == 0.05
    )
    assert "layer 2\n  climbs to about 68%, layer 1 to about 15%, layer 3 stays near 5%" in text
    assert paper["fig5"]["final_spike_rate"]["baseline"] == {
        "layer1": 15,
        "layer2": 68,
        "layer3": 5,
    }


# ---------------------------------------------------------------------------- tables


def test_table1_is_mean_and_sd_over_seeds_beside_the_paper(tmp_path, paper, table1_runs):
    shd = [resolve_run("shd", "baseline", "smoke", seed=s) for s in (0, 1)]
    paths = write_runs(tmp_path, table1_runs) + write_runs(tmp_path, shd, status="non-convergent")
    records = load_records(paths)
    table = tables.table1(records, paper).set_index(["dataset", "method"])
    expected = [accuracy("rouser", s, 5) * 100 for s in (0, 1)]
    rouser = table.loc[("NMNIST (synthetic)", "Rouser")]
    assert rouser["ours mean"] == pytest.approx(np.mean(expected))
    assert rouser["ours sd"] == pytest.approx(np.std(expected, ddof=1))
    assert rouser["seeds"] == 2 and rouser["paper"] == 99.21
    assert rouser["architecture (ours)"] == "34x34x2-64-64-10"
    assert rouser["architecture (paper)"] == "34x34x2-500-500-10"
    shd_row = table.loc[("SHD (synthetic)", "baseline")]
    assert shd_row["ours (%)"].startswith("did not converge")
    assert shd_row["paper (%)"] == "failed: training does not converge"
    assert "smoke" in table.attrs["title"] and "synthetic" in table.attrs["title"]


def test_table2_compares_config_with_paper(paper):
    table = tables.table2("smoke", paper=paper)
    settings = table[table["where"].str.startswith("_config.yml")]
    assert len(settings) == 7 and settings["matches paper"].all()
    assert table["matches paper"].isna().sum() == len(table) - 7  # code, not settings: no claim
    assert len(table) == len(paper["table2"]["rows"])
    changed = deep_merge(load_config(), {"neuron": {"threshold": 0.5}})
    table = tables.table2("cpu", config=changed, paper=paper).set_index("symbol")
    assert not table.loc["Th_init", "matches paper"] and table.loc["Th_init", "ours"] == 0.5


# ---------------------------------------------------------------------------- figures


def test_fig2_bars_are_the_records_accuracies(tmp_path, paper):
    runs = [
        resolve_run(d, "baseline", "smoke", seed=s, threshold=t)
        for d in ("nmnist", "dvs128")
        for t in (0.0, 0.5, 1.0)
        for s in (0, 1)
    ]
    fig = figures.fig2_threshold_grid(records_of(tmp_path, runs), paper)
    assert isinstance(fig, Figure)
    ax_nmnist, ax_dvs = fig.axes
    assert ax_dvs.get_title() == "DVS128 Gesture (synthetic)"
    ours = heights(labelled(ax_nmnist, "ours, 0.0021 paper epochs"))  # 2 x 64 / 60,000
    expected = {
        t: np.mean([accuracy("baseline", s, 2, t, 0.001) * 100 for s in (0, 1)])
        for t in (0.0, 0.5, 1.0)
    }
    # the paper's thresholds 0.25 and 0.75 we did not run show as empty (NaN) bars
    np.testing.assert_allclose(ours, [expected[0.0], np.nan, expected[0.5], np.nan, expected[1.0]])
    paper_bars = heights(labelled(ax_dvs, "paper (≈, 10 epochs)"))
    np.testing.assert_allclose(paper_bars, paper["fig2"]["accuracy"]["dvs128"])
    assert "smoke" in fig._suptitle.get_text() and "synthetic" in fig._suptitle.get_text()


def test_fig3_draws_change_over_paper_epochs_and_normalised_over_the_run(
    tmp_path, paper, table1_runs
):
    fig = curves.fig3_weight_change(records_of(tmp_path, table1_runs), paper=paper)
    absolute, normalised = fig.axes
    line = labelled(absolute, "ours: Rouser")
    # x: samples seen (64 a fake epoch) / the paper's 60,000; y: the recorded total change
    np.testing.assert_allclose(line.get_xdata(), np.arange(6) * 64 / 60000)
    np.testing.assert_allclose(line.get_ydata(), np.arange(6))  # seed 0: epoch x 1
    # normalised: every seed's change grows linearly, so it is epoch / 5 at fraction epoch / 5
    for ln in normalised.get_lines()[:2]:
        np.testing.assert_allclose(ln.get_ydata(), np.asarray(ln.get_xdata()), atol=1e-12)
    paper_line = labelled(normalised, "paper (≈): Rouser")
    np.testing.assert_allclose(paper_line.get_xdata(), [0.0, 5 / 22, 1.0])
    assert list(paper_line.get_ydata()) == [0.0, 0.3, 1.0]


def test_fig4_places_the_papers_epoch_k_at_k_plus_one_paper_epochs(tmp_path, paper):
    runs = [resolve_run("nmnist", m, "smoke", seed=0, epochs=20) for m in ("baseline", "rouser")]
    fig = curves.fig4_dead_neurons(records_of(tmp_path, runs), paper=paper)
    ax1, ax2 = fig.axes
    assert ax1.get_xscale() == "symlog" and ax2.get_title() == "hidden layer 2"
    ours = labelled(ax2, "ours, per input: Rouser")
    np.testing.assert_allclose(ours.get_ydata(), [(0.6 - 0.02 * e) * 100 for e in range(21)])
    theirs = labelled(ax1, "paper (≈): baseline")
    assert list(theirs.get_xdata()) == [1, 6, 11, 16, 21]
    np.testing.assert_allclose(theirs.get_ydata(), [71, 66, 48, 23, 11])


def test_fig4_draws_the_per_batch_reading_where_recorded(tmp_path, paper, table1_runs):
    records = records_of(tmp_path, table1_runs)
    records["dead_per_batch.layer1"] = 0.25
    fig = curves.fig4_dead_neurons(records, paper=paper)
    line = labelled(fig.axes[0], "ours, per batch: Rouser")
    assert line.get_linestyle() == "--" and set(line.get_ydata()) == {25.0}


@pytest.mark.parametrize(
    ("per_batch_slope", "expected"),
    [(None, SO_FAR[AGREES]), (-0.02, SO_FAR[AGREES]), (0.02, SO_FAR_WITHIN)],
)
def test_fig4_claim_holds_only_where_both_readings_of_dead_say_so(
    tmp_path, paper, table1_runs, per_batch_slope, expected
):
    """The paper's dead neuron is silent for "an input or input batch". Per input these
    records fall 10 points over their 5 epochs against a seeds' spread of ~1: the paper's
    way. Per batch (where recorded) falling too keeps that; rising makes the readings differ,
    which decides nothing. Records without the per-batch reading are judged per input."""
    records = records_of(tmp_path, table1_runs)
    if per_batch_slope is not None:
        for layer in ("layer1", "layer2"):
            records[f"dead_per_batch.{layer}"] = (
                0.5 + per_batch_slope * records["epoch"] + 0.01 * records["config.seed"]
            )
    rows = axis.trajectories(records, paper)
    evidence = Evidence(rows, {"table1": set(rows["run_id"])}, {}, paper)
    falls, _ = claims.claim_fig4(evidence)
    assert falls["verdict"] == NOT_REACHED and falls["so far"] == expected
    assert ("per batch of 32: baseline layer 1: 50 → " in falls["ours"]) == (
        per_batch_slope is not None
    )
    assert falls["ours"].startswith("per input: baseline layer 1: 70 → 60%")


def test_fig5_lines_are_the_spike_rates_on_a_log_axis(tmp_path, paper, table1_runs):
    fig = curves.fig5_spike_rates(records_of(tmp_path, table1_runs), paper=paper)
    ax_baseline, ax_rouser = fig.axes
    assert ax_rouser.get_title() == "Rouser" and ax_rouser.get_yscale() == "log"
    lines = [ln for ln in ax_rouser.get_lines() if ln.get_label() == "ours: layer 3 (output)"]
    assert lines
    np.testing.assert_allclose(
        lines[0].get_ydata(), [(0.15 + 0.001 * e + 0.002 * 0) * 100 for e in range(6)]
    )
    settle = [c for c in ax_baseline.containers if "paper (≈, epoch 25): layer 2" in c.get_label()]
    assert len(settle) == 1
    (x,), (y,) = settle[0].lines[0].get_data()
    assert (x, y) == (26.0, 68.0)  # the paper's epoch 25 at 26 paper epochs


def test_fig6_one_panel_per_setting_with_both_arms(tmp_path, paper):
    runs = [
        resolve_run("nmnist", "rouser", "smoke", seed=0, threshold=th, tau=tau, scale=s, lr_th=lr)
        for th, tau, s, lrs in ((1.25, 3.75, 1.5, (0.001, 0.0)), (0.25, 3.0, 3.0, (0.01, 0.0)))
        for lr in lrs
    ]
    fig = curves.fig6_ablation(records_of(tmp_path, runs), paper)
    ax_a, ax_b = fig.axes
    assert ax_a.get_title() == "(Th_init, tau, s) = (1.25, 3.75, 1.5)"
    line = labelled(ax_b, "ours: learning on (lr_Th = 0.01)")
    np.testing.assert_allclose(
        line.get_ydata(), [accuracy("rouser", 0, e, 0.25, 0.01) * 100 for e in range(3)]
    )
    off = labelled(ax_b, "paper (≈): learning off")
    assert list(off.get_xdata()) == [1, 51] and list(off.get_ydata()) == [10, 10]
    on = labelled(ax_a, "paper (≈): learning on (lr_Th = 0.001)")
    assert list(on.get_xdata()) == [1, 51] and list(on.get_ydata()) == [85, 96.8]


def test_shorter_runs_of_one_trajectory_are_drawn_once(tmp_path, paper):
    """A run that differs from another only in its length is that run's prefix."""
    short, long = (resolve_run("nmnist", "rouser", "smoke", seed=0, epochs=e) for e in (2, 5))
    records = records_of(tmp_path, [short, long])
    kept = axis.trajectories(records, paper)
    assert set(kept["run_id"]) == {long.run_id}
    other_seed = resolve_run("nmnist", "rouser", "smoke", seed=1, epochs=2)
    both = axis.trajectories(records_of(tmp_path, [short, long, other_seed]), paper)
    assert set(both["run_id"]) == {long.run_id, other_seed.run_id}


def test_thresholds_median_is_the_stored_q50(tmp_path, table1_runs, paper):
    fig = curves.thresholds(records_of(tmp_path, table1_runs), paper=paper)
    assert len(fig.axes) == 3 and fig.axes[2].get_title() == "layer 3 (output)"
    median = labelled(fig.axes[0], "median, each run")
    np.testing.assert_allclose(median.get_ydata(), np.full(6, 1.25))
    # the stored max is Th_init + 3 x the epoch's spread; rouser's spread is 0.011 per epoch
    (upper,) = [ln for ln in fig.axes[0].get_lines() if ln.get_label().startswith("_")][:1]
    np.testing.assert_allclose(upper.get_ydata(), [1.25 + 0.033 * e for e in range(6)])
    with pytest.raises(ValueError, match="method='nope'"):
        curves.thresholds(load_records(tmp_path), method="nope")


def test_figures_name_the_dataset_they_lack(tmp_path, table1_runs):
    records = records_of(tmp_path, table1_runs)
    with pytest.raises(ValueError, match=r"dataset='shd'.*\['nmnist'\]"):
        curves.fig4_dead_neurons(records, dataset="shd")
    with pytest.raises(ValueError, match="no records"):
        curves.fig5_spike_rates(records.iloc[0:0])


# ---------------------------------------------------------------------------- saving and rendering


def test_save_writes_vector_files_atomically_and_reproducibly(tmp_path, table1_runs):
    records = records_of(tmp_path / "runs", table1_runs)
    paths = save(curves.fig3_weight_change(records), "fig3", tmp_path / "out")
    assert [p.name for p in paths] == ["fig3.svg", "fig3.pdf"]
    assert paths[0].read_text().lstrip().startswith("<?xml") and paths[1].read_bytes().startswith(
        b"%PDF"
    )
    first = [p.read_bytes() for p in paths]
    save(curves.fig3_weight_change(records), "fig3", tmp_path / "out")
    assert [p.read_bytes() for p in paths] == first
    (csv,) = save(tables.table1(records), "table1", tmp_path / "out")
    assert pd.read_csv(csv)["seeds"].tolist() == [2, 2, 0, 0, 0, 0]  # the paper's six rows
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "fig3.pdf",
        "fig3.svg",
        "table1.csv",
    ]
    with pytest.raises(TypeError, match="Figure or a pandas DataFrame"):
        save("not a figure", "x", tmp_path)


FIG3 = "fig3_weight_change"
TWO_RUNS = "thresholds"  # a page of two smoke runs: Table I's NMNIST pair


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    """A stand-in repository root: records under `<repo>/records/<profile>/` as in git."""
    monkeypatch.delenv("ROUSER_RUNS", raising=False)
    root = tmp_path / "repo"
    monkeypatch.setattr(paths, "REPO_ROOT", root)
    monkeypatch.setattr(paths, "RECORDS_DIR", root / "records")
    return root


def test_render_lists_missing_runs_and_draws_what_is_there(tmp_path):
    runs = result_runs(FIG3, "smoke")
    written = runs[: math.ceil(len(runs) / 2)]
    write_runs(tmp_path / "runs", written)
    result = render(FIG3, "smoke", tmp_path / "runs", tmp_path / "figs")
    absent = [r.run_id for r in runs if r not in written]
    assert absent and result.missing == absent
    assert "incomplete: it shows only the runs that are there" in result.message
    for run_id in absent:
        assert f"`{run_id}`" in result.message
    # the target comes before --config (after it, Snakemake reads it as a config value)
    assert result.command.startswith("snakemake runs --cores 2 --config profile=smoke")
    assert f"`{result.command}`" in result.message
    assert isinstance(result.output, Figure)
    assert [p.name for p in result.paths] == [f"{FIG3}.svg", f"{FIG3}.pdf"]
    assert result.drawn_from == [run.run_id for run in written]
    timed = [sum(e["epoch_seconds"] for e in make_record(run)["history"]) for run in written]
    assert result.provenance == (
        f"Drawn from {len(written)} run(s): profile smoke, synthetic data; trained on cpu (cpu); "
        f"training time {duration(sum(timed))} in total, {duration(max(timed))} for the longest "
        "run."
    )


def test_training_time_counts_each_trajectory_once_and_no_waits(tmp_path):
    """A run continuing a shorter one holds that one's history: the two count once; the time
    between `started` and `ended` (a resumed run's waits) does not count."""
    short, long = (resolve_run("nmnist", "rouser", "smoke", seed=0, epochs=e) for e in (2, 5))
    other = resolve_run("nmnist", "rouser", "smoke", seed=1, epochs=2)
    records = records_of(tmp_path, [short, long, other])
    seconds = {
        run.run_id: sum(e["epoch_seconds"] for e in make_record(run)["history"])
        for run in (long, other)
    }
    total, longest = training_seconds(records)
    assert total == pytest.approx(sum(seconds.values()))
    assert longest == pytest.approx(max(seconds.values()))
    assert total < 60 * 3  # each record's started-ended says 60 s


def test_render_reports_unfinished_runs_and_skips_them(tmp_path):
    baseline, rouser = result_runs(TWO_RUNS, "smoke")
    write_runs(tmp_path, [baseline], status="failed")
    write_runs(tmp_path, [rouser], status="running")
    result = render(TWO_RUNS, "smoke", tmp_path, tmp_path / "figs")
    assert result.output is None and result.missing == []
    assert result.unfinished == {baseline.run_id: "failed", rouser.run_id: "running"}
    assert f"`{baseline.run_id}` is failed: its record's `error` says why" in result.message


def test_render_without_any_run_shows_only_the_message(tmp_path):
    result = render("fig2_threshold_grid", "smoke", tmp_path / "empty", tmp_path / "figs")
    assert result.output is None and result.paths == []
    assert "Fig. 2: threshold grid (profile `smoke`): none of its runs has a finished record" in (
        result.message
    )
    assert len(result.missing) == len(result_runs("fig2_threshold_grid", "smoke"))
    assert "`empty`" in result.message and str(tmp_path) not in result.message
    assert not (tmp_path / "figs").exists()
    with pytest.raises(ValueError, match=r"result='fig7'.*'table2'"):
        render("fig7")
    with pytest.raises(ValueError, match=r"result='fig2' is not allowed"):
        render("fig2", "smoke", tmp_path)  # registry names only


def test_render_table2_needs_no_runs(tmp_path):
    result = render("table2", "cpu", figures_dir=tmp_path)
    assert result.message == "" and result.output["matches paper"].any()
    assert (tmp_path / "table2.csv").is_file()
    assert "from `_config.yml` and the paper's values" in result.footer
    assert "snakemake data/results/cpu/table2.ipynb --cores 2 --config profile=cpu" in (
        result.footer
    )


def test_footer_names_the_notebook_links_the_records_and_gives_the_target(repo, tmp_path):
    runs = result_runs(FIG3, "smoke")
    write_runs(repo / "records" / "smoke", runs)
    result = render(FIG3, "smoke", figures_dir=tmp_path / "figs")
    footer = result.footer
    assert (
        f"Drawn by `notebooks/{FIG3}.ipynb` from {len(runs)} run record(s) in `records/smoke/`"
        in footer
    )
    for run in runs:
        assert f"[{run.run_id}](../records/smoke/{run.run_id}.json)" in footer
    command = f"snakemake data/results/smoke/{FIG3}.ipynb --cores 2 --config profile=smoke`"
    assert f"`{command}" in footer  # the default runs folder needs no runs_dir
    assert str(tmp_path) not in footer and "/" + "records" not in footer.split("`")[0]
    assert result.message == ""


def test_footer_and_message_hold_no_absolute_path(repo, tmp_path):
    """A runs folder outside the repository is named, never with this machine's path."""
    runs = result_runs(FIG3, "cpu")
    outside = tmp_path / "elsewhere" / "runs"
    write_runs(outside, runs[:1])
    result = render(FIG3, "cpu", outside, tmp_path / "figs")
    assert result.missing == [run.run_id for run in runs[1:]]
    for text in (result.footer, result.message, result.command):
        assert str(tmp_path) not in text and not re.search(r"(^|[\s`(=])/", text), text
    assert "data_root=<your data folder>" in result.command  # real data: say where it is
    assert "](" not in result.footer  # no link that would resolve nowhere on the page
    assert f"snakemake data/results/cpu/{FIG3}.ipynb --cores 2 --config profile=cpu" in (
        result.footer
    )


def test_rendered_message_is_empty_when_complete() -> None:
    done = Rendered("table1", "smoke", None)
    assert done.message == "" and done.command == "snakemake runs --cores 2 --config profile=smoke"


def test_book_profile_is_the_best_committed_one(repo):
    assert book_profile("table1") == paths.DEFAULT_PROFILE == "cpu"  # nothing committed
    (cpu_run,) = [r for r in result_runs("table1", "cpu") if r.seed == 0 and r.method == "rouser"]
    write_runs(repo / "records" / "cpu", [cpu_run])
    assert book_profile("table1") == "cpu"
    labels = run_labels("fig6", "paper")
    # Fig. 6 (a) with learning on is Table I's NMNIST Rouser run: take a (b) run
    paper_run = next(r for r in result_runs("fig6_ablation", "paper") if labels[r.run_id][0] == "b")
    write_runs(repo / "records" / "paper", [paper_run])
    assert book_profile("fig6_ablation") == "paper"
    assert book_profile("table1") == "cpu"  # the paper profile has no Table I run yet
    assert book_profile("table2") == "cpu"  # Table II follows Table I


def test_every_registry_entry_renders_its_message_without_runs(tmp_path):
    for name, entry in RESULTS.items():
        result = render(name, "smoke", tmp_path / "none", tmp_path / "figs")
        assert result.name == name
        if entry.experiments:
            assert result.output is None and result.missing, name
            assert entry.title in result.message
        else:
            assert result.output is not None and result.message == ""


# ---------------------------------------------------------------------------- claims


@pytest.mark.parametrize(
    ("ours", "theirs", "sign", "resolution", "expected"),
    [
        ([90, 92, 91], [80, 81, 79], +1, 0.0, AGREES),  # 11 points apart, sd ~1
        ([90, 92, 91], [80, 81, 79], -1, 0.0, DISAGREES),  # the paper expected lower
        ([80, 81, 79], [90, 92, 91], +1, 0.0, DISAGREES),
        ([80, 81, 79], [90, 92, 91], -1, 0.0, AGREES),
        ([91, 80, 100], [85, 90, 88], +1, 0.0, INCONCLUSIVE),  # within the seeds' spread
        ([91.0], [90.0], +1, 0.0, ONE_SEED),  # one seed each, no resolution: no comparison
        ([91.0], [90.0], +1, 2.0, INCONCLUSIVE),  # ... unless it is below the resolution
        ([93.0], [90.0], +1, 2.0, AGREES),
        ([92.0], [90.0], +1, 2.0, INCONCLUSIVE),  # exactly the noise: not beyond it
        ([90.0], [90.0], +1, 0.0, ONE_SEED),
        ([90.0, 90.0], [90.0, 90.0], +1, 0.0, INCONCLUSIVE),
        ([], [90.0], +1, 0.0, NOT_TESTABLE),
        ([90.0], [np.nan], +1, 0.0, NOT_TESTABLE),
    ],
)
def test_verdict_rule(ours, theirs, sign, resolution, expected):
    assert verdict(
        pd.Series(ours, dtype=float), pd.Series(theirs, dtype=float), sign, resolution
    ) == (expected)


def test_verdict_noise_is_the_spreads_in_quadrature():
    ours, theirs = pd.Series([10.0, 12.0]), pd.Series([0.0, 2.0])  # sd sqrt(2) each
    # noise = hypot(sqrt 2, sqrt 2) = 2: a difference of 10 is beyond it
    assert verdict(ours, theirs, +1) == AGREES
    assert verdict(ours - 7.9, theirs, +1) == AGREES  # difference 2.1 > 2
    assert verdict(ours - 8.0, theirs, +1) == INCONCLUSIVE  # difference 2 = noise


@pytest.mark.parametrize(
    ("difference", "noise", "paper_effect", "expected"),
    [
        (5.0, 2.0, 1.0, AGREES),  # beyond the noise, the paper's sign
        (-5.0, 2.0, 1.0, DISAGREES),
        (0.5, 2.0, 0.32, TOO_SMALL),  # Table I's 0.32 pp under a 2 pp resolution
        (0.01, 0.02, 0.25, RULED_OUT),  # Fig. 3: 0.25 apart in the paper, 0.01 +- 0.02 here
        (1.0, 2.0, 2.5, INCONCLUSIVE),  # the paper's effect is within our noise of ours
        (1.0, 2.0, None, INCONCLUSIVE),  # the paper gives no size
        (1.0, None, 5.0, ONE_SEED),
    ],
)
def test_verdicts_weigh_size_as_well_as_noise(difference, noise, paper_effect, expected):
    assert compare(difference, noise, +1, paper_effect) == expected


def test_sampling_noise_is_the_binomial_error_of_a_difference():
    # 35% and 33% on 100 test inputs: sqrt((0.2275 + 0.2211) / 100) = 6.7 points
    assert sampling_noise(35.0, 33.0, 100) == pytest.approx(6.698, abs=1e-3)
    assert sampling_noise(100.0, 0.0, 100) == 0.0


@pytest.mark.parametrize(
    ("accuracy", "expected"),
    [
        ({0.0: 70, 0.25: 10, 0.5: 70, 0.75: 70, 1.0: 99}, SO_FAR[AGREES]),
        # Th 0.25 below Th 0.5 by 3 points: within 32 test inputs' noise (~12)
        ({0.0: 70, 0.25: 33, 0.5: 36, 0.75: 70, 1.0: 99}, SO_FAR_WITHIN),
        ({0.0: 10, 0.25: 70, 0.5: 10, 0.75: 10, 1.0: 99}, SO_FAR[DISAGREES]),
    ],
)
def test_fig2_claim_weighs_each_comparison_against_the_test_sets_noise(
    tmp_path, paper, accuracy, expected
):
    """One seed per threshold: "best at 1, a dip at 0.25" holds only where every comparison
    is beyond the binomial noise of the test set (32 inputs in the smoke profile)."""
    grid = [r for r in result_runs("fig2_threshold_grid", "smoke") if r.dataset == "nmnist"]
    records = records_of(tmp_path, grid)
    records[ACCURACY] = records["config.threshold"].map(accuracy) / 100
    rows = axis.trajectories(records, paper)
    (row,) = claims.claim_fig2(Evidence(rows, {"fig2": set(rows["run_id"])}, {}, paper))
    assert row["verdict"] == NOT_REACHED and row["so far"] == expected
    assert ("within the sampling noise of 32 test inputs" in row["ours"]) == (
        expected == SO_FAR_WITHIN
    )


def test_table1_claim_reads_the_end_and_the_best_and_names_a_fall(tmp_path, paper, table1_runs):
    """Table I does not say at which epoch; lava-dl's tutorials keep the best network. A
    Rouser that ends at 5% after ~44% is below the baseline at the end and not at its best:
    the readings differ, so the claim is not decided, and the bottom line names the fall."""
    records = records_of(tmp_path, table1_runs)
    last = (records["config.method"] == "rouser") & (records["epoch"] == 5)
    records.loc[last, ACCURACY] = 0.05
    rows = axis.trajectories(records, paper)
    evidence = Evidence(rows, {"table1": set(rows["run_id"])}, {}, paper)
    (row,) = claims.claim_table1_nmnist(evidence)
    assert row["verdict"] == INCONCLUSIVE
    end, best = row["ours"].split("; best so far: ")
    assert end.startswith("at the end: Rouser 5.0 ± 0.0%") and end.endswith(f"({DISAGREES})")
    assert best.startswith("Rouser 44.1 ± 0.7%") and best.endswith(f"({TOO_SMALL})")
    fall = claims.falls_from_best(evidence)
    assert "Rouser, seed 0: best 44% (at 0.0043 paper epochs" in fall
    assert "Rouser, seed 1: best 45%" in fall and "baseline" not in fall
    # "still at" names a later entry within the noise, never the best's own
    for at_best, still_at in re.findall(r"\(at ([^;)]+); \d+% still at ([^)]+)\)", fall):
        assert at_best != still_at
    records.loc[last, ACCURACY] = 0.3  # 14 points down: within 3 x the noise of 32 inputs (36)
    rows = axis.trajectories(records, paper)
    assert claims.falls_from_best(Evidence(rows, {"table1": set(rows["run_id"])}, {}, paper)) == ""


def test_claims_table_from_synthetic_records(tmp_path, paper):
    """Claims of known synthetic numbers get the verdicts the rule gives, at their horizons."""
    table1 = [r for r in result_runs("table1", "smoke") if r.dataset == "nmnist"]
    fig6 = result_runs("fig6_ablation", "smoke")
    runs = {r.run_id: r for r in [*table1, *fig6]}  # Fig. 6 (a) on is Table I's Rouser run
    records = records_of(tmp_path, runs.values())
    table = claims.claims(records, paper).set_index("claim")
    assert list(table.columns) == ["paper", "horizon (paper epochs)", "ours", "verdict", "evidence"]
    assert set(table["verdict"]) <= set(VERDICT_COLORS)
    nmnist = table.loc["Table I, NMNIST: Rouser's accuracy is above the baseline's"]
    # one seed each, 5 points apart; 2 recordings of 32 are 6.25 points, and the paper's
    # 0.32-point effect is far below that: it could not have been seen
    assert nmnist["verdict"] == TOO_SMALL
    assert "(1 seed)" in nmnist["ours"] and nmnist["horizon (paper epochs)"].startswith(
        "paper not stated"
    )
    dvs = table.loc["Table I, DVS128 Gesture: Rouser's accuracy is above the baseline's"]
    assert dvs["verdict"] == NOT_TESTABLE and "needs the full data" in dvs["ours"]
    a = table.loc["Fig. 6a (Th 1.25, tau 3.75, s 1.5): learning on ends above learning off"]
    # 2 fake epochs of 64 samples are 0.002 of a paper epoch; the paper's curves end at 51
    assert a["verdict"] == NOT_REACHED and a["horizon (paper epochs)"] == "paper 51 · ours 0.0021"
    assert "at 0.0021 paper epochs" in a["ours"]
    # not reached, but the rule applied where the runs stop gives the direction so far,
    # in the row and in the bottom line
    trend = a["ours"].rsplit("; ", 1)[1]
    assert trend in (*SO_FAR.values(), SO_FAR_WITHIN)
    assert f"{a.name} ({trend})" in table.attrs["summary"]
    assert "(so far" not in table.attrs["summary"].split(NOT_REACHED)[0]  # reached claims: none
    assert (
        table.loc["Fig. 2, NMNIST: best at Th = 1, a dip at Th = 0.25", "verdict"] == NOT_TESTABLE
    )
    b = table.loc["Fig. 6b (Th 0.25, tau 3, s 3): learning on converges, learning off does not"]
    assert re.search(r"learning on ends with output thresholds of -?\d+\.\d on average", b["ours"])
    assert b["ours"].endswith("from 0.25")
    assert 'href="table1.html"' in nmnist["evidence"]
    assert table.attrs["summary"].startswith(f"**Of the paper's {len(table)} claims**")


@pytest.mark.parametrize(
    ("difference", "noise", "expected"),
    [(5.0, 2.0, SO_FAR[AGREES]), (-5.0, 2.0, SO_FAR[DISAGREES]), (1.0, 2.0, SO_FAR_WITHIN)],
)
def test_so_far_is_the_rule_where_the_runs_stop(difference, noise, expected):
    assert so_far(compare(difference, noise, +1, None)) == expected


def test_every_record_of_an_experiment_counts_in_the_claims(paper):
    """A run that is the prefix of a longer one (same settings, fewer epochs) stands for that
    longer run: Fig. 2's Th 0.25 run (10 epochs) was dropped from the claims while a 4-epoch
    run of the same settings (the first-steps study) was listed after it."""
    profile = "cpu"
    records = load_records(paths.RECORDS_DIR / profile)
    ev = claims.evidence(records, paper)
    trajectory = dict(zip(records["run_id"], axis.trajectory_key(records), strict=True))
    for name, members in ev.members.items():
        for run in experiment_runs(name, profile):
            if run.run_id in trajectory:
                kept = {trajectory[m] for m in members}
                assert trajectory[run.run_id] in kept, (name, run.run_id)
    fig2 = ev.runs("fig2")
    assert set(fig2["config.threshold"]) == {0.0, 0.25, 0.5, 0.75, 1.0}


def test_every_claim_and_paper_point_uses_one_axis(tmp_path, paper):
    """A paper epoch is the paper's training-set size in samples, everywhere: the claims'
    horizons, the figures' paper points and the records' positions come from one module."""
    assert axis.paper_x(0) == 1.0 and axis.paper_x(20) == 21.0
    rows = pd.DataFrame(
        {
            "config.dataset": ["nmnist", "nmnist"],
            "epoch": [67, 670],
            "data.n_train": [900, 900],
            "samples": [np.nan, 603000.0],
        }
    )
    np.testing.assert_allclose(axis.paper_epochs(rows, paper), [60300 / 60000, 603000 / 60000])
    records = records_of(tmp_path, result_runs("fig4_dead_neurons", "smoke"))
    fig4 = curves.fig4_dead_neurons(records, paper=paper)
    placed = labelled(fig4.axes[0], "paper (≈): Rouser").get_xdata()
    assert list(placed) == [axis.paper_x(e) for e in paper["fig4"]["epochs"]]
    fig6 = curves.fig6_ablation(records, paper)
    end = labelled(fig6.axes[0], "paper (≈): learning off").get_xdata()
    assert list(end) == [axis.paper_x(0), axis.paper_x(paper["fig6"]["epochs"])]
    table = claims.claims(records, paper).set_index("claim")
    horizons = table["horizon (paper epochs)"]
    assert horizons.str.startswith("paper 21 ").sum() == 2  # Fig. 4: its epoch 20
    assert horizons.str.startswith("paper 26 ").sum() == 1  # Fig. 5: its epoch 25


# ---------------------------------------------------------------------------- real training


def test_figures_from_really_trained_tiny_runs(tmp_path):
    """Train Table I's smoke NMNIST runs at toy size, then draw every NMNIST view from them.

    This checks the figures against records that `rouser.runs.train` really writes (keys, layers,
    statuses), not only against the records built above.
    """
    torch.set_num_threads(1)
    config = deep_merge(load_config(), {"profiles": {"smoke": {
        "epochs": 2,
        "training": {"lr_w": 0.01, "lr_th": 0.01},
        "datasets": {"nmnist": {"sensor_size": [CHANNELS, 1, 1], "hidden": [10, 10], "time_bins": STEPS, "augment": False}},
    }}})  # fmt: skip
    runs = result_runs(FIG3, "smoke", config)
    for run in runs:
        train(run, tmp_path / "runs", device="cpu", loaders=toy_loaders(run.seed), progress=False)
    for name in (FIG3, "fig4_dead_neurons", "fig5_spike_rates", "thresholds"):
        result = render(name, "smoke", tmp_path / "runs", tmp_path / "figs", config)
        assert result.message == "" and isinstance(result.output, Figure), name
    thresholds_fig = render("thresholds", "smoke", tmp_path / "runs", None, config)
    assert [ax.get_title() for ax in thresholds_fig.output.axes] == [
        "layer 1",
        "layer 2",
        "layer 3 (output)",
    ]
    table = render("table1", "smoke", tmp_path / "runs", tmp_path / "figs", config)
    assert len(table.missing) == 4  # DVS128 and SHD were not trained
    records = load_records(tmp_path / "runs")
    finals = records.sort_values("epoch").groupby("config.method")["test_accuracy"].last() * 100
    ran = table.output[table.output["seeds"] > 0]  # DVS128 and SHD rows say "no record yet"
    assert ran.set_index("method")["ours mean"].to_dict() == pytest.approx(
        {"baseline": finals["baseline"], "Rouser": finals["rouser"]}
    )
    assert set(table.output.loc[table.output["seeds"] == 0, "ours (%)"]) == {"no record yet"}
    assert (tmp_path / "figs" / "table1.csv").is_file()
    assert table.provenance.startswith("Drawn from 2 run(s): profile smoke, synthetic data;")
    assert "trained on cpu (" in table.provenance and "training time" in table.provenance
    assert str(tmp_path) not in table.footer
