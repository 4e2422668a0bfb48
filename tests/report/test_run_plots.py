"""One run's summary table and curves, drawn from a record that `rouser.runs.train` really wrote."""

from __future__ import annotations

import math

import pytest
import torch
from matplotlib.figure import Figure
from torch.utils.data import DataLoader, TensorDataset

from rouser.config import resolve_run
from rouser.report.run_plots import history_frame, plot_run, run_provenance, run_summary
from rouser.runs.train import train


def _time_first(
    batch: list[tuple[torch.Tensor, torch.Tensor]],
) -> tuple[torch.Tensor, torch.Tensor]:
    spikes, labels = zip(*batch, strict=True)
    return torch.stack(spikes, dim=1), torch.stack(labels)


@pytest.fixture(scope="module")
def record(tmp_path_factory) -> dict:
    """A two-epoch Rouser run of a tiny SHD-shaped network on random spikes."""
    torch.set_num_threads(1)
    run = resolve_run("shd", "rouser", "smoke", hidden=(8,), time_bins=10, epochs=2)
    generator = torch.Generator().manual_seed(0)
    n_inputs = math.prod(run.sensor_size)
    spikes = (torch.rand(16, run.time_bins, n_inputs, generator=generator) < 0.2).float()
    labels = torch.randint(0, run.n_classes, (16,), generator=generator)
    dataset = TensorDataset(spikes, labels)
    loaders = (
        DataLoader(
            dataset, batch_size=8, shuffle=True, collate_fn=_time_first, generator=generator
        ),
        DataLoader(dataset, batch_size=8, collate_fn=_time_first),
        {
            "dataset": "shd",
            "source": "synthetic",
            "root": "/nowhere/memory",
            "n_train": 16,
            "n_test": 16,
            "test_split": "holdout",
            "time_bins": run.time_bins,
            "bin_us": run.bin_us,
        },
    )
    return train(run, runs_dir=tmp_path_factory.mktemp("runs"), loaders=loaders, progress=False)


def test_history_frame_has_every_epoch(record: dict) -> None:
    history = history_frame(record)
    assert history["epoch"].tolist() == [0, 1, 2]
    assert {"dead_neurons.layer1", "spike_rate.layer2", "thresholds.layer1.q50"} <= set(history)


def test_summary_states_provenance_hardware_and_time(record: dict) -> None:
    table = run_summary(record).set_index("item")["value"]
    assert table["profile"] == "smoke"
    assert table["data source"].startswith("synthetic")
    assert table["hardware"].startswith("cpu")
    assert "s wall" in table["run time"]
    assert table["architecture"] == "700x1x1-8-20"  # the sensor shape, as Table I
    assert table["final test accuracy"].endswith("%")


def test_plot_run_draws_six_panels_titled_with_profile_and_source(record: dict) -> None:
    figure = plot_run(record)
    assert isinstance(figure, Figure)
    titles = [ax.get_title() for ax in figure.axes]
    assert titles[0] == "accuracy" and len(titles) == 6
    assert "profile smoke, synthetic data" in figure.get_suptitle()
    dead = figure.axes[2]
    assert len(dead.get_lines()) == 2  # one hidden layer: dead and never-firing
    spike_labels = [line.get_label() for line in figure.axes[3].get_lines()]
    assert spike_labels == ["layer1", "layer2 (output)"]


def test_a_run_without_history_is_a_clear_error(record: dict) -> None:
    broken = record | {"history": [], "status": "failed", "error": "RuntimeError: boom"}
    with pytest.raises(ValueError, match=r"no epoch.*failed.*boom"):
        plot_run(broken)


def test_provenance_line_and_record_without_local_paths(record: dict) -> None:
    assert run_provenance(record) == "profile smoke, synthetic data"
    assert "root" not in record["data"]  # dropped before the record is written
    real = record | {"data": record["data"] | {"source": "real"}}
    assert run_provenance(real) == "profile smoke, real data"
    assert "profile smoke, real data" in plot_run(real).get_suptitle()


def test_summary_of_an_unfinished_run_says_so(record: dict) -> None:
    running = record | {"status": "running", "ended": None, "summary": None}
    table = run_summary(running).set_index("item")["value"]
    assert table["run time"].startswith("unfinished")
    assert table["status"] == "running" and "final test accuracy" not in table
    baseline = record | {"config": record["config"] | {"method": "baseline"}}
    assert (
        run_summary(baseline)
        .set_index("item")["value"]["lr_W, lr_Th"]
        .endswith("(thresholds frozen)")
    )
