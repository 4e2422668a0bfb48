"""The first-steps study (`rouser.runs.first_steps`) and its page (`rouser.report.studies`)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from rouser.report import studies
from rouser.runs import first_steps


def fake_record(hidden: float = 93.0) -> dict:
    config = first_steps.study_run(0.25).to_dict()
    steps = [
        {"step": 0, "loss": 2.9, "output_rate": 0.45, "output_voltage": -5.0,
         "hidden_spikes_per_step": hidden},
        {"step": 1, "loss": 0.2, "output_rate": 0.05, "output_voltage": -58.0,
         "hidden_spikes_per_step": 110.0},
        {"step": 2, "loss": 0.0481, "output_rate": 0.0, "output_voltage": -90.0,
         "hidden_spikes_per_step": 120.0},
    ]  # fmt: skip
    high = first_steps.study_run(1.25).to_dict()
    return {
        "schema": first_steps.SCHEMA,
        "env": {"git_commit": "abc"},
        "runs": {
            "0.25": {"config": config, "steps": steps},
            "1.25": {"config": high, "steps": steps},
        },
    }


def test_adam_step_estimate_is_lr_times_spikes_times_the_cuba_gain():
    config = {"lr_w": 0.001, "current_decay": 0.75, "voltage_decay": 0.97}
    # 1 / (0.25 x 0.03) = 133.3: 93 spikes per step move the voltage by about 12.4
    assert studies.adam_step_estimate(config, 93.0) == pytest.approx(0.001 * 93 / 0.0075)


def test_estimates_and_opening_state_the_records_numbers():
    record = fake_record()
    table = studies.estimates(record).set_index("Th")
    assert table.loc[0.25, "measured change, step 0 to 1"] == pytest.approx(-53.0)
    assert table.loc[0.25, "output rate, step 0 (%)"] == pytest.approx(45.0)
    text = studies.opening(record)
    assert "fires at 45% of time steps" in text and "silent from step 2 on" in text
    assert "the loss of a silent output (0.0481)" in text  # 0.2^2 + 9 x 0.03^2
    assert "by about 12.4 against a threshold of 0.25" in text


def _grid_rows(accuracy: float, rate: float) -> pd.DataFrame:
    """Two history rows of one baseline run at Th 0.25 on NMNIST-1k: epochs 0 and 670."""
    return pd.DataFrame(
        {
            "run_id": ["r", "r"], "config.dataset": ["nmnist"] * 2,
            "config.method": ["baseline"] * 2, "config.threshold": [0.25] * 2,
            "config.n_classes": [10] * 2, "config.chance_margin": [0.05] * 2,
            "epoch": [0, 670], "samples": [0.0, 603000.0], "data.n_train": [900] * 2,
            "test_accuracy": [0.09, accuracy], "spike_rate.layer3": [0.44, rate],
        }
    )  # fmt: skip


@pytest.mark.parametrize(
    ("accuracy", "verdict"), [(0.09, "it has not recovered."), (0.62, "it has left chance.")]
)
def test_recovery_says_where_the_grid_stops(accuracy, verdict):
    text = studies.recovery(_grid_rows(accuracy, 0.0))
    assert text.startswith("Does it ever recover? After 10.1 paper epochs of steps")
    assert f"it scores {100 * accuracy:.0f}% on the held-out recordings, chance being 10%" in text
    assert text.endswith(verdict)
    assert "no record yet" in studies.recovery(pd.DataFrame())


def test_the_committed_study_is_drawn():
    figure = studies.first_steps("cpu")
    assert [ax.get_ylabel() for ax in figure.axes][:3] == [
        "training loss (per sample)",
        "output spike rate (%)",
        "mean output voltage",
    ]


@pytest.mark.slow
def test_committed_study_retraces_identically(shared_data: Path, tmp_path: Path) -> None:
    """The first epoch of both thresholds, retrained from the real recordings, gives the
    committed record's steps (to float32 rounding where the CPU's SIMD level differs)."""
    from rouser.data import make_loaders

    committed = json.loads(first_steps.DEFAULT_OUTPUT.read_text())
    same_cpu = committed["env"]["numerics"].get("cpu_capability") == (
        torch.backends.cpu.get_cpu_capability()
    )
    for threshold, run_record in committed["runs"].items():
        run = first_steps.study_run(float(threshold))
        assert run.to_dict() == run_record["config"]
        loaders = make_loaders(run, shared_data, progress=False, cache_dir=tmp_path)
        steps = first_steps.trace(run, loaders, torch.device("cpu"), epochs=1)
        expected = run_record["steps"][: len(steps)]
        if same_cpu:
            assert steps == expected
        else:
            assert steps == [pytest.approx(step, rel=1e-5) for step in expected]
