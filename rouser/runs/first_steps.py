"""Why low fixed thresholds fail at the start: the first optimizer steps, step by step.

The baseline at Th 0.25 falls silent within a few steps on N-MNIST and its loss then sits
at the loss of a silent output, while Th 1.25 learns. This study trains the `cpu`
profile's baseline at both thresholds (seed 0, Table II otherwise) for two NMNIST-1k epochs
(58 steps of 32) through the ordinary training loop and records, at every step, the loss,
the output layer's spike rate and mean membrane voltage, and the spikes the last hidden
layer sends per time step: the quantities behind an estimate of how far one Adam step
moves the output voltage,

    lr_W x (hidden spikes per time step) / ((1 - current_decay) (1 - voltage_decay)),

the steady-state voltage change when every weight of the output layer moves by lr_W
against active inputs (Adam's first step moves each weight by about lr_W). Run it with

    python -m rouser.runs.first_steps --data-root /path/to/data [--output records/studies/first_steps.json]

The record holds the settings, the data fingerprint, the environment and every step; the
book's page "Why low thresholds fail at the start" is drawn from it, and a test retrains
its first steps to prove it current.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from rouser.atomic import atomic_write
from rouser.config import RunConfig, resolve_run
from rouser.optim import make_optimizer
from rouser.paths import RECORDS_DIR
from rouser.runs.epochs import train_epoch
from rouser.runs.provenance import environment, portable_data

THRESHOLDS = (0.25, 1.25)
EPOCHS = 2
DEFAULT_OUTPUT = RECORDS_DIR / "studies" / "first_steps.json"
SCHEMA = "first_steps/1"


def study_run(threshold: float) -> RunConfig:
    """The baseline of the `cpu` profile at `threshold`, for as many epochs as studied."""
    return resolve_run("nmnist", "baseline", "cpu", threshold=threshold, epochs=EPOCHS, seed=0)


def trace(
    run: RunConfig, loaders: tuple, device: torch.device, epochs: int | None = None
) -> list[dict]:
    """Train `run` through `rouser.runs.epochs.train_epoch` for its epochs (or the first
    `epochs`: a test retraces the start), measuring every step."""
    from rouser.runs.train import build_model  # the run code, as training builds it

    torch.set_num_threads(run.threads)
    torch.set_flush_denormal(run.flush_denormal)
    model = build_model(run).to(device)
    optimizer = make_optimizer(model, run.lr_w, run.lr_th)
    output_neuron, hidden_neuron = model.neurons[-1], model.neurons[-2]
    output_neuron.record_voltage = True
    hidden: list[float] = []
    hidden_neuron.register_forward_hook(
        lambda _module, _inputs, spikes: hidden.append(
            float(spikes.detach().sum() / spikes[..., 0].numel())
        )
    )
    steps: list[dict] = []

    def measure(output: torch.Tensor, loss: float) -> None:
        steps.append(
            {
                "step": len(steps),
                "loss": loss,
                "output_rate": float(output.mean()),
                "output_voltage": float(output_neuron.voltage.mean()),
                "hidden_spikes_per_step": hidden[-1],
            }
        )

    for epoch in range(1, (epochs or run.epochs) + 1):
        train_epoch(model, optimizer, loaders[0], run, device, epoch, on_step=measure)
    return steps


def study(data_root: str | Path | None = None, cache_dir: str | Path | None = None) -> dict:
    """Both thresholds' traces, with what they were computed from and on."""
    from rouser.data import make_loaders

    device = torch.device("cpu")
    runs, data = {}, None
    for threshold in THRESHOLDS:
        run = study_run(threshold)
        loaders = make_loaders(run, data_root, device=device, progress=False, cache_dir=cache_dir)
        data = portable_data(loaders[2])
        runs[f"{threshold:g}"] = {"config": run.to_dict(), "steps": trace(run, loaders, device)}
    return {"schema": SCHEMA, "data": data, "env": environment(device), "runs": runs}


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(prog="python -m rouser.runs.first_steps", description=__doc__)
    parser.add_argument("--data-root", type=Path, help="default: $ROUSER_DATA or data")
    parser.add_argument("--cache-dir", type=Path, help="default: $ROUSER_CACHE or <data>/cache")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    text = json.dumps(study(args.data_root, args.cache_dir), indent=1) + "\n"
    atomic_write(args.output, lambda handle: handle.write(text.encode()))
    print(f"wrote {args.output}")
    return args.output


if __name__ == "__main__":
    main()
