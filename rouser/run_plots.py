"""One run's curves and provenance, drawn from its record, for the training notebooks.

Why separate from `rouser.figures`: those functions compare runs (methods, seeds, the
paper's values) for one paper result; these show a single run as it trained, so that an
executed training notebook is a complete report of that run. They use the same style and
labels as `rouser.figures`, and every figure title states the profile and the data source
("synthetic" included), as every output of the project does.
"""

from __future__ import annotations

from datetime import datetime

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from rouser.figures import DATASET_LABELS, METHOD_LABELS, STYLE, layer_names


def history_frame(record: dict) -> pd.DataFrame:
    """The record's per-epoch history as a DataFrame with "."-flattened columns."""
    if not record.get("history"):
        raise ValueError(
            f"run {record.get('run_id')!r} has no epoch in its history (status "
            f"{record.get('status')!r}, error {record.get('error')!r}): nothing to plot"
        )
    return pd.json_normalize(record["history"], sep=".")


def provenance(record: dict) -> str:
    """'profile smoke, synthetic data': the line every figure of a run carries."""
    return f"profile {record['config']['profile']}, {record['data']['source']} data"


def _seconds(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def run_summary(record: dict) -> pd.DataFrame:
    """What a reader needs to trust one run: settings, data, hardware, time and results.

    A two-column table (item, value), so the executed notebook states its profile, data
    source, hardware and run time where a reader looks.
    """
    config, data, env = record["config"], record["data"], record["env"]
    summary = record.get("summary") or {}
    history = record.get("history") or []
    compute = sum(
        entry.get("epoch_seconds", 0.0) + entry.get("eval_seconds", 0.0) for entry in history
    )
    wall = _seconds(record.get("started"), record.get("ended"))
    rows = {
        "run id": record["run_id"],
        "status": record["status"] + (f" ({record['error']})" if record.get("error") else ""),
        "dataset": DATASET_LABELS[config["dataset"]],
        "method": METHOD_LABELS[config["method"]],
        "profile": config["profile"],
        "data source": data["source"],
        "train / test samples": f"{data['n_train']} / {data['n_test']} ({data['test_split']} split)",
        "architecture": "-".join(
            str(n)
            for n in (int(np.prod(config["sensor_size"])), *config["hidden"], config["n_classes"])
        ),
        "time bins x bin": f"{config['time_bins']} x {config['bin_us'] / 1000:g} ms",
        "epochs, batch size": f"{config['epochs']}, {config['batch_size']}",
        "Th_init, tau, s": f"{config['threshold']:g}, {config['tau']:g}, {config['scale']:g}",
        "lr_W, lr_Th": f"{config['lr_w']:g}, {config['lr_th']:g}"
        + ("" if config["method"] == "rouser" else " (thresholds frozen)"),
        "seed": config["seed"],
        "hardware": f"{env['device']} ({env['device_name']}), torch {env['torch']}",
        "run time": (f"{wall:.1f} s wall" if wall is not None else "unfinished")
        + f", {compute:.1f} s training and evaluation",
        "git commit": env.get("git_commit") or "unknown",
    }
    if summary:
        rows |= {
            "final test accuracy": f"{100 * summary['final_test_accuracy']:.2f}%",
            "best test accuracy": f"{100 * summary['best_test_accuracy']:.2f}% "
            f"(epoch {summary['best_epoch']})",
            "training latency": f"epoch {summary['latency_epoch']} "
            f"({summary['latency_seconds']:.1f} s)",
            "converged": "yes" if summary["converged"] else "no (accuracy stays near chance)",
        }
    return pd.DataFrame({"item": list(rows), "value": [str(value) for value in rows.values()]})


def plot_accuracy(ax: Axes, history: pd.DataFrame) -> None:
    """Train and test top-1 accuracy (%) per epoch; epoch 0 is the untrained network."""
    for split in ("train", "test"):
        ax.plot(history["epoch"], 100 * history[f"{split}_accuracy"], marker=".", label=split)
    ax.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy", ylim=(0, 100))
    ax.legend()


def plot_loss(ax: Axes, history: pd.DataFrame) -> None:
    """Train and test spike-rate MSE loss per epoch."""
    for split in ("train", "test"):
        ax.plot(history["epoch"], history[f"{split}_loss"], marker=".", label=split)
    ax.set(xlabel="epoch", ylabel="spike-rate MSE", title="loss")
    ax.legend()


def plot_dead_neurons(ax: Axes, history: pd.DataFrame) -> None:
    """Dead neurons per hidden layer (%, Fig. 4's measure); dotted: silent for every input."""
    for index, layer in enumerate(layer_names(history, "dead_neurons")):
        color = f"C{index}"
        ax.plot(
            history["epoch"],
            100 * history[f"dead_neurons.{layer}"],
            marker=".",
            color=color,
            label=layer,
        )
        never = f"never_firing.{layer}"
        if never in history:
            ax.plot(history["epoch"], 100 * history[never], ls=":", color=color)
    ax.set(
        xlabel="epoch",
        ylabel="dead neurons (%)",
        title="dead neurons (dotted: never fire)",
        ylim=(0, 100),
    )
    ax.legend()


def plot_spike_rates(ax: Axes, history: pd.DataFrame) -> None:
    """Mean spikes per neuron per time step, every layer including the output (Fig. 5)."""
    layers = layer_names(history, "spike_rate")
    for layer in layers:
        label = f"{layer} (output)" if layer == layers[-1] else layer
        ax.plot(history["epoch"], 100 * history[f"spike_rate.{layer}"], marker=".", label=label)
    ax.set(xlabel="epoch", ylabel="spike rate (% of steps)", title="spike rate")
    ax.legend()


def plot_thresholds(ax: Axes, history: pd.DataFrame) -> None:
    """Median threshold per layer with its 5-95% band: flat for the frozen baseline."""
    for index, layer in enumerate(layer_names(history, "thresholds", ".q50")):
        column = f"thresholds.{layer}"
        color = f"C{index}"
        ax.fill_between(
            history["epoch"],
            history[f"{column}.q05"],
            history[f"{column}.q95"],
            color=color,
            alpha=0.2,
            lw=0,
        )
        ax.plot(history["epoch"], history[f"{column}.q50"], marker=".", color=color, label=layer)
    ax.set(xlabel="epoch", ylabel="threshold", title="thresholds (median, 5-95%)")
    ax.legend()


def plot_weight_change(ax: Axes, history: pd.DataFrame) -> None:
    """||W_e - W_0||_F per layer and in total (Fig. 3 normalises the total)."""
    for layer in [*layer_names(history, "weight_change"), "total"]:
        column = f"weight_change.{layer}"
        ax.plot(
            history["epoch"],
            history[column],
            marker=".",
            label=layer,
            ls="--" if layer == "total" else "-",
        )
    ax.set(xlabel="epoch", ylabel="||W - W0||_F", title="weight change")
    ax.legend()


def plot_run(record: dict) -> Figure:
    """All six curves of one run in one figure, titled with the run and its provenance."""
    history = history_frame(record)
    config = record["config"]
    panels = (
        plot_accuracy,
        plot_loss,
        plot_dead_neurons,
        plot_spike_rates,
        plot_thresholds,
        plot_weight_change,
    )
    with mpl.rc_context(STYLE):
        figure = Figure(figsize=(13.5, 7.5), layout="constrained")
        for ax, panel in zip(figure.subplots(2, 3).flat, panels, strict=True):
            panel(ax, history)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        figure.suptitle(
            f"{DATASET_LABELS[config['dataset']]}, {METHOD_LABELS[config['method']]}, "
            f"seed {config['seed']} ({record['status']})\n{provenance(record)}",
            fontsize="medium",
        )
    return figure
