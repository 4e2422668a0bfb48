"""Training samples/s on real N-MNIST batches: the event-native input against dense batches.

The `cpu` profile's data (NMNIST-1k, 300 bins of 1 ms, augmented batches of 32) through
`make_loaders`, and the paper's network (2,312-500-500-10, learnable thresholds). For each
batch the loader serves, interleaved so that machine load hits all alike:

* `events`: the `EventBatch` as served, into the network (the first layer sums the weight
  columns at the spike positions; no dense tensor anywhere);
* `dense+scan`: the same batch made dense first (as loaders did before events: an 89 MB
  tensor), whose non-zeros the first layer scans for;
* `dense`: the dense batch through the plain dense product (`nn.Linear`);
* `floor`: the dense batch through the three `nn.Linear` layers alone (no neuron at all), the
  matrix-product cost of any dense implementation.

Each timing includes making the dense tensor where a path needs one; the loader's own time
(gather, augment, collate to events) is printed once, since every path pays it. Prints
samples/s of each path and its time over `events` and over `floor`.

    python benchmarks/bench_event_input.py --data-root ../shared/data [--batches 20]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from bench_training_step import MatmulFloor
from torch import nn

from rouser import paths
from rouser.config import RunConfig, resolve_run
from rouser.data import make_loaders
from rouser.events import EventBatch
from rouser.loss import spike_rate_loss
from rouser.optim import make_optimizer
from rouser.train import build_model


def make_step(name: str, run: RunConfig) -> Callable[[EventBatch, torch.Tensor], None]:
    """One optimizer step of the named path on a served batch."""
    torch.manual_seed(0)
    if name == "floor":
        model: nn.Module = MatmulFloor((2312, *run.hidden, run.n_classes))
        optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    else:
        model = build_model(run)
        model.blocks[0].sparse_input = name == "dense+scan"
        optimizer = make_optimizer(model, run.lr_w, run.lr_th)

    def step(events: EventBatch, labels: torch.Tensor) -> None:
        x = events if name == "events" else events.dense().flatten(2)
        optimizer.zero_grad(set_to_none=True)
        spike_rate_loss(model(x), labels).backward()
        optimizer.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=None, help="default: $ROUSER_DATA")
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    run = resolve_run("nmnist", "rouser", "cpu")
    with tempfile.TemporaryDirectory() as cache, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the hold-out warning, expected here
        train, _, _ = make_loaders(run, paths.data_root(args.data_root), cache_dir=cache)
        names = ["events", "dense+scan", "dense", "floor"]
        steps = {name: make_step(name, run) for name in names}
        times: dict[str, list[float]] = {name: [] for name in names}
        loading, events_per_batch = [], []
        batches = iter(train)
        for index in range(args.batches + 2):  # two warm-up batches (numba, allocator)
            start = time.perf_counter()
            events, labels = next(batches)
            loading.append(time.perf_counter() - start)
            events_per_batch.append(events.n_events)
            for name, step in steps.items():
                start = time.perf_counter()
                step(events, labels)
                if index >= 2:
                    times[name].append(time.perf_counter() - start)
    batch = run.batch_size
    print(
        f"NMNIST-1k, {args.batches} training batches of {batch} x {run.time_bins} bins, "
        f"{args.threads} threads; {statistics.mean(events_per_batch):,.0f} spikes per batch; "
        f"loader {1e3 * statistics.median(loading[2:]):.1f} ms per batch (all paths)"
    )
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name in names:
        print(
            f"{name:>11} {1e3 * medians[name]:8.1f} ms/step {batch / medians[name]:7.1f} samples/s"
            f"   time / events = {medians[name] / medians['events']:.2f}x"
            f"   time / floor = {medians[name] / medians['floor']:.2f}x"
        )


if __name__ == "__main__":
    main()
