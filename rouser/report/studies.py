"""Pages drawn from study records (`records/studies/`), not from training runs.

``first_steps``: why the baseline at a low fixed threshold fails at the start
(`rouser.runs.first_steps`), with the estimate of how far one Adam step moves the output voltage
computed from the recorded quantities, beside the measured change.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from rouser.loss import spike_rate_loss
from rouser.report import axis
from rouser.report.plotting import new_figure
from rouser.report.style import _PALETTE, METHOD_COLORS, STYLE, load_paper_values
from rouser.report.verdicts import at_text
from rouser.runs import first_steps as study

COLORS = {"0.25": _PALETTE[3], "1.25": METHOD_COLORS["baseline"]}


def load_study() -> dict:
    """The committed first-steps record, or a clear error saying how to make it."""
    path = study.DEFAULT_OUTPUT
    if not path.is_file():
        raise FileNotFoundError(
            f"no study record at {path}; make it with `python -m rouser.runs.first_steps "
            "--data-root <your data folder>`"
        )
    record = json.loads(path.read_text())
    if record.get("schema") != study.SCHEMA:
        raise ValueError(f"{path} is not a {study.SCHEMA} record (found {record.get('schema')!r})")
    return record


def adam_step_estimate(config: dict, hidden_spikes: float) -> float:
    """Steady-state output-voltage change when every output weight moves by lr_W against
    `hidden_spikes` active inputs per time step: lr_W x spikes / ((1 - a_I)(1 - a_V))."""
    gain = 1.0 / ((1.0 - config["current_decay"]) * (1.0 - config["voltage_decay"]))
    return config["lr_w"] * hidden_spikes * gain


def estimates(record: dict) -> pd.DataFrame:
    """Per threshold: step 0's output rate and voltage, the estimate of one Adam step's move
    and the measured change of the mean output voltage from step 0 to step 1."""
    rows = []
    for threshold, run in record["runs"].items():
        first, second = run["steps"][:2]
        rows.append(
            {
                "Th": float(threshold),
                "output rate, step 0 (%)": 100 * first["output_rate"],
                "mean output voltage, step 0": first["output_voltage"],
                "hidden spikes per time step, step 0": first["hidden_spikes_per_step"],
                "estimated move of one Adam step": adam_step_estimate(
                    run["config"], first["hidden_spikes_per_step"]
                ),
                "measured change, step 0 to 1": second["output_voltage"] - first["output_voltage"],
                "output rate, last step (%)": 100 * run["steps"][-1]["output_rate"],
            }
        )
    table = pd.DataFrame(rows)
    table.attrs["title"] = (
        "The first step at each threshold: the estimate of how far one Adam step moves the "
        "output's voltage, and the measured change of its mean"
    )
    table.attrs["precision"] = 1
    return table


def opening(record: dict) -> str:
    """The page's first sentences, from the record: what happens at Th 0.25, and why."""
    low, high = record["runs"]["0.25"], record["runs"]["1.25"]
    steps = pd.DataFrame(low["steps"])
    silent = steps.index[steps["output_rate"] == 0]
    config = low["config"]
    zeros = torch.zeros(1, 1, 10)
    silent_loss = float(
        spike_rate_loss(zeros, torch.tensor([0]), config["true_rate"], config["false_rate"])
    )
    table = estimates(record).set_index("Th")
    return (
        f"At a fixed threshold of 0.25 the untrained output layer fires at "
        f"{100 * steps['output_rate'][0]:.0f}% of time steps (mean voltage "
        f"{steps['output_voltage'][0]:.1f}); one Adam step later it fires at "
        f"{100 * steps['output_rate'][1]:.0f}% (voltage {steps['output_voltage'][1]:.1f}), "
        + (f"it is silent from step {int(silent[0])} on, " if len(silent) else "")
        + f"and by step {int(steps['step'].iloc[-1])} its voltage is "
        f"{steps['output_voltage'].iloc[-1]:.0f} and the loss {steps['loss'].iloc[-1]:.4f}, "
        f"the loss of a silent output ({silent_loss:.4f}). The last hidden layer sends "
        f"{steps['hidden_spikes_per_step'][0]:.0f} spikes per time step into it, so one Adam "
        f"step (each weight moved by about lr_W) shifts the output's steady-state voltage by "
        f"about {table.loc[0.25, 'estimated move of one Adam step']:.1f} against a threshold "
        f"of 0.25; measured, the mean voltage moved by "
        f"{table.loc[0.25, 'measured change, step 0 to 1']:.1f}. At Th 1.25 the output starts "
        f"below its targets ({100 * high['steps'][0]['output_rate']:.1f}%), the same estimate "
        f"is {table.loc[1.25, 'estimated move of one Adam step']:.1f}, and training proceeds."
    )


def recovery(grid: pd.DataFrame, paper: dict | None = None) -> str:
    """Whether the baseline at Th 0.25 ever leaves chance, from Fig. 2's grid (`grid`: its
    records, as `render.experiment_records` gives them): where its longest run stops."""
    runs = grid
    if not grid.empty:
        low = (grid["config.method"] == "baseline") & np.isclose(grid["config.threshold"], 0.25)
        runs = grid[low]
    if runs.empty:
        return "Whether it ever recovers is Fig. 2's question; its Th 0.25 run has no record yet."
    rows = axis.trajectories(runs, paper or load_paper_values())
    last = rows.loc[rows["paper_epochs"].idxmax()]
    accuracy, chance = 100 * last["test_accuracy"], 100 / last["config.n_classes"]
    left = last["test_accuracy"] > 1 / last["config.n_classes"] + last["config.chance_margin"]
    return (
        f"Does it ever recover? After {at_text(last['paper_epochs'])} of steps (Fig. 2's "
        f"grid, the longest run at Th 0.25) it scores {accuracy:.0f}% on the held-out "
        f"recordings, chance being {chance:.0f}%, with an output spike rate of "
        f"{100 * last['spike_rate.layer3']:.2f}%: "
        + ("it has left chance." if left else "it has not recovered.")
    )


def first_steps(profile: str, config: dict | None = None) -> Figure:
    """Loss, output spike rate and mean output voltage over the first training steps of the
    baseline at Th 0.25 and 1.25 (the study's record; `profile` names the page's profile)."""
    record = load_study()
    figure, axes = new_figure(3, width=4.2, height=3.6)
    panels = (
        ("loss", "training loss (per sample)", 1.0),
        ("output_rate", "output spike rate (%)", 100.0),
        ("output_voltage", "mean output voltage", 1.0),
    )
    for threshold, run in record["runs"].items():
        steps = pd.DataFrame(run["steps"])
        for ax, (column, label, scale) in zip(axes, panels, strict=True):
            ax.plot(
                steps["step"],
                steps[column] * scale,
                color=COLORS.get(threshold),
                marker=".",
                label=f"baseline, Th {threshold}",
            )
            ax.set(xlabel="optimizer step (batch of 32)", ylabel=label)
        axes[2].axhline(float(threshold), color=COLORS.get(threshold), ls=":", lw=1)
    axes[0].set_yscale("log")
    for ax in axes:
        ax.legend(fontsize=STYLE["legend.fontsize"])
    commit = (record["env"].get("git_commit") or "unknown")[:10]
    figure.suptitle(
        "The first training steps of the baseline on NMNIST-1k (real data, seed 0; "
        f"study record made by commit {commit}); dotted: the threshold",
        fontsize=STYLE["figure.titlesize"],
    )
    return figure
