"""Training samples/s on real N-MNIST batches: the fast step (`fast_step`) against today's.

The `cpu` profile's data (NMNIST-1k, 300 bins of 1 ms, augmented batches of 32) through
`make_loaders`, and the paper's network (2,312-500-500-10, learnable thresholds). For each
batch the loader serves, interleaved so that machine load hits all alike:

* `before`: the step as it was when issue 19 was filed: events into the first layer, dense
  products in the hidden layers, torch's default (per-tensor) Adam;
* `default`: the step of a run without `fast_step` (the same bits as `before`: Adam's
  ``foreach`` implementation, `rouser.optim`);
* `fast`: ``fast_step=True``: hidden spikes read as events where sparse
  (`rouser.network.HIDDEN_EVENTS_BELOW`) and torch's fused Adam;
* `fast+onednn`: `fast` with ``onednn_products=True``: the dense products left (the hidden
  layers' input gradients, the output layer) by oneDNN instead of MKL
  (`rouser.kernels.dense_product`);
* `floor`: the dense batch through the three `nn.Linear` layers alone (no neuron at all), the
  matrix-product cost of any dense implementation;
* with ``--paths``, also `dense+scan` (the batch made dense, its non-zeros scanned for) and
  `dense` (the dense batch through the dense product), the first layer's older peers.

Each timing includes making the dense tensor where a path needs one; the loader's own time
(gather, augment, collate to events) is printed once, since every path pays it; then a
paper epoch (60,000 samples) per path with its loader, `before`'s with the loader as it was
when issue 19 was filed (today's plus what `bench_data.py`'s torch reference of the batch
making takes over its numba passes, measured here too). Beside the wall time, the CPU time
of the process per step (all threads; with ``OMP_WAIT_POLICY=PASSIVE`` idle threads sleep
instead of spinning, and it is then the work done, which a loaded machine's waits for a
core do not inflate). Then, in the same process: one batch through `default`, `fast` and
`fast+onednn` from the same weights (spikes equal? gradients' largest difference), the
breakdown by layer (synapse and neuron, forward and backward, and Adam; each part timed
alone on the first batch's real spikes, interleaved), and the crossover: the spike density
at which the events-only product of the 500 x 500 layer (forward and weight gradient; the
input gradient is the same dense product in both) takes as long as the dense one.

With ``--keep-freed-memory`` the process keeps freed blocks as a training run does
(`rouser.runs.allocator`); it applies to every path, so compare a run without it (today's
``before`` as it was) with one with it for what a run gains.

    OMP_WAIT_POLICY=PASSIVE NUMBA_NUM_THREADS=2 \
        python benchmarks/bench_event_input.py --data-root ../shared/data
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numba
import torch
from bench_data import batch_making
from bench_training_step import MatmulFloor
from torch import nn
from torch.nn import functional

from rouser import paths
from rouser.config import RunConfig, resolve_run
from rouser.data import make_loaders
from rouser.events import EventBatch
from rouser.kernels.event_product import spike_linear
from rouser.loss import spike_rate_loss
from rouser.network import HIDDEN_EVENTS_BELOW, SpikingMLP
from rouser.optim import make_optimizer
from rouser.runs.allocator import keep_freed_memory
from rouser.runs.train import build_model

PATHS = ("before", "default", "fast", "fast+onednn", "floor", "dense+scan", "dense")
EVENT_PATHS = ("before", "default", "fast", "fast+onednn")  # those fed the served events
BREAKDOWN = ("default", "fast", "fast+onednn")  # compared once, and layer by layer
PAPER_EPOCH = 60_000  # N-MNIST's training samples
DENSITIES = (0.005, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3)


def median_ms(values: list[float]) -> float:
    return 1e3 * statistics.median(values)


def interleaved(closures: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Median ms of each closure, one call of each per round (after one warm-up round)."""
    times: dict[str, list[float]] = {name: [] for name in closures}
    for index in range(rounds + 1):
        for name, closure in closures.items():
            start = time.perf_counter()
            closure()
            if index:
                times[name].append(time.perf_counter() - start)
    return {name: median_ms(values) for name, values in times.items()}


def make_model(name: str, run: RunConfig) -> tuple[nn.Module, torch.optim.Optimizer]:
    """The named path's network and optimizer, from the run's seed."""
    if name == "floor":
        torch.manual_seed(0)
        model: nn.Module = MatmulFloor((2312, *run.hidden, run.n_classes))
        return model, torch.optim.Adam(model.parameters(), 1e-3)
    fast = name.startswith("fast")
    onednn = name == "fast+onednn"
    model = build_model(
        resolve_run("nmnist", "rouser", "cpu", fast_step=fast, onednn_products=onednn)
    )
    model.blocks[0].sparse_input = name == "dense+scan"
    optimizer = make_optimizer(model, run.lr_w, run.lr_th, fused=fast)
    if name == "before":  # torch picks the per-tensor loop when foreach is not given
        groups = [{k: v for k, v in g.items() if k != "foreach"} for g in optimizer.param_groups]
        optimizer = torch.optim.Adam(groups)
    return model, optimizer


def make_step(
    model: nn.Module, optimizer: torch.optim.Optimizer, name: str
) -> Callable[[EventBatch, torch.Tensor], list[torch.Tensor]]:
    """One optimizer step of the named path on a served batch; returns every layer's output."""

    def step(events: EventBatch, labels: torch.Tensor) -> list[torch.Tensor]:
        x = events if name in EVENT_PATHS else events.dense().flatten(2)
        optimizer.zero_grad(set_to_none=True)
        layers = model.forward_layers(x) if isinstance(model, SpikingMLP) else [model(x)]
        spike_rate_loss(layers[-1], labels).backward()
        optimizer.step()
        return layers

    return step


def compare_once(run: RunConfig, events: EventBatch, labels: torch.Tensor) -> str:
    """One batch through `default` and each faster path from the same initial weights."""
    results = {}
    for name in BREAKDOWN:
        model, _ = make_model(name, run)
        layers = model.forward_layers(events)
        spike_rate_loss(layers[-1], labels).backward()
        results[name] = (layers, {n: p.grad for n, p in model.named_parameters()})
    dense_layers, dense_grads = results.pop("default")
    lines = []
    for name, (layers, grads) in results.items():
        equal = all(torch.equal(a, b) for a, b in zip(dense_layers, layers, strict=True))
        worst = max(
            float((grads[n] - g).abs().max() / g.abs().max()) for n, g in dense_grads.items()
        )
        lines.append(
            f"first batch, same weights, {name} against default: spikes of every layer equal: "
            f"{equal}; largest gradient difference {worst:.1e} of its tensor's largest gradient"
        )
    return "\n".join(lines)


def layer_breakdown(run: RunConfig, events: EventBatch, labels: torch.Tensor, rounds: int) -> None:
    """ms of each layer's synapse and neuron, forward and backward, and of Adam, per path."""
    parts: dict[str, Callable[[], object]] = {}
    for name in BREAKDOWN:
        model, optimizer = make_model(name, run)
        with torch.no_grad():
            inputs = [events, *model.forward_layers(events)[:-1]]
        for index, block in enumerate(model.blocks):
            x = inputs[index]
            if index:
                x = x.detach().requires_grad_()
            current = block.current(x)
            grad_current = torch.randn_like(current)
            leaf = current.detach().requires_grad_()
            spikes = block.neuron(leaf)
            grad_spikes = torch.randn_like(spikes)
            wanted = [block.synapse.weight, *([x] if index else [])]
            label = f"layer {index + 1}"
            parts[f"{label} synapse fwd|{name}"] = lambda b=block, x=x: b.current(x)
            parts[f"{label} synapse bwd|{name}"] = lambda b=block, x=x, g=grad_current, w=wanted: (
                torch.autograd.grad(b.current(x), w, g)
            )
            parts[f"{label} neuron fwd|{name}"] = lambda b=block, c=leaf: b.neuron(c)
            parts[f"{label} neuron bwd|{name}"] = lambda b=block, c=leaf, g=grad_spikes: (
                torch.autograd.grad(b.neuron(c), [c, b.neuron.threshold], g)
            )
        spike_rate_loss(model(events), labels).backward()
        parts[f"Adam step|{name}"] = optimizer.step
    measured = interleaved(parts, rounds)
    # a backward part was timed with its forward: report the backward alone
    for key in [key for key in measured if " bwd|" in key]:
        measured[key] -= measured[key.replace(" bwd|", " fwd|")]
    print(f"\nbreakdown on the first batch (median of {rounds}; ms)")
    print(f"{'part':>22}" + "".join(f"{name:>12}" for name in BREAKDOWN))
    for key in [key for key in measured if key.endswith("|default")]:
        part = key.split("|")[0]
        print(f"{part:>22}" + "".join(f"{measured[f'{part}|{name}']:12.1f}" for name in BREAKDOWN))


def crossover(run: RunConfig, rounds: int) -> None:
    """Forward + weight gradient of the 500 x 500 layer, events against dense, by density."""
    rows, width = run.time_bins * run.batch_size, run.hidden[0]
    generator = torch.Generator().manual_seed(0)
    weight = (torch.rand(width, width, generator=generator) - 0.5).mul_(0.09).requires_grad_()
    grad_out = torch.randn(rows, width, generator=generator)
    print(f"\ncrossover: [{rows}, {width}] spikes x [{width}, {width}] weights, forward + weight")
    print(f"gradient (median of {rounds}; ms); HIDDEN_EVENTS_BELOW = {HIDDEN_EVENTS_BELOW}")
    previous = None
    for density in DENSITIES:
        x = (torch.rand(rows, width, generator=generator) < density).float()

        def events(x: torch.Tensor = x) -> None:
            torch.autograd.grad(spike_linear(x, weight, 1.0), weight, grad_out)

        def dense(x: torch.Tensor = x) -> None:
            torch.autograd.grad(functional.linear(x, weight), weight, grad_out)

        measured = interleaved({"events": events, "dense": dense}, rounds)
        ratio = measured["dense"] / measured["events"]
        print(
            f"density {100 * density:5.1f}%: events {measured['events']:7.1f}  dense "
            f"{measured['dense']:7.1f}  dense/events {ratio:5.2f}x"
        )
        if previous is not None and previous[1] >= 1.0 > ratio:
            # linear in density between the two measurements around ratio 1
            (d0, r0), (d1, r1) = previous, (density, ratio)
            print(f"  -> crossover ~{100 * (d0 + (r0 - 1) * (d1 - d0) / (r0 - r1)):.1f}%")
        previous = (density, ratio)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=None, help="default: $ROUSER_DATA")
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--rounds", type=int, default=7, help="for breakdown and crossover (0: skip them)"
    )
    parser.add_argument(
        "--paths",
        nargs="+",
        choices=PATHS,
        default=["before", "default", "fast", "fast+onednn", "floor"],
    )
    parser.add_argument(
        "--keep-freed-memory",
        action="store_true",
        help="as a training run does (rouser.runs.allocator); process-wide, so all paths get it",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.keep_freed_memory and not keep_freed_memory():
        parser.error("--keep-freed-memory needs glibc's malloc (Linux)")
    run = resolve_run("nmnist", "rouser", "cpu")
    with tempfile.TemporaryDirectory() as cache, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the hold-out warning, expected here
        train, _, _ = make_loaders(
            run, paths.data_root(args.data_root), cache_dir=cache, progress=False
        )
        steps = {name: make_step(*make_model(name, run), name) for name in args.paths}
        times: dict[str, list[float]] = {name: [] for name in args.paths}
        cpu_times: dict[str, list[float]] = {name: [] for name in args.paths}
        rates: list[list[float]] = []  # of the hidden layers, in a path with neurons
        spiking = [name for name in args.paths if name != "floor"]
        loading, events_per_batch = [], []
        batches = (batch for _ in itertools.count() for batch in train)  # epoch after epoch
        first = next(batches)
        for index in range(args.batches + 2):  # two warm-up batches (numba, allocator)
            start = time.perf_counter()
            events, labels = first if index == 0 else next(batches)
            loading.append(time.perf_counter() - start)
            events_per_batch.append(events.n_events)
            for name, step in steps.items():
                start, cpu = time.perf_counter(), time.process_time()
                layers = step(events, labels)
                if index >= 2:
                    times[name].append(time.perf_counter() - start)
                    cpu_times[name].append(time.process_time() - cpu)
                    if name in spiking[-1:]:  # outside the timing
                        rates.append([float(layer.detach().mean()) for layer in layers[:-1]])
        # the loader as it was: its batch making the torch way, timed on the same recordings
        plain = resolve_run("nmnist", "rouser", "cpu", augment=False)
        unaugmented, _, _ = make_loaders(
            plain, paths.data_root(args.data_root), cache_dir=cache, progress=False
        )
        made = batch_making(
            unaugmented.dataset,
            run.time_bins,
            unaugmented.collate.frame_shape,
            run.batch_size,
            args.batches,
        )
    batch = run.batch_size
    print(
        f"NMNIST-1k, {args.batches} training batches of {batch} x {run.time_bins} bins, "
        f"{args.threads} threads (numba's pool: {numba.config.NUMBA_NUM_THREADS}); "
        f"{statistics.mean(events_per_batch):,.0f} spikes per batch; "
        f"loader {median_ms(loading[2:]):.1f} ms per batch (all paths, serial)"
    )
    if rates:
        per_layer = [statistics.mean(layer) for layer in zip(*rates, strict=True)]
        print(f"hidden spike rates ({spiking[-1]}): " + ", ".join(f"{r:.2%}" for r in per_layer))
    medians = {name: statistics.median(values) for name, values in times.items()}
    means = {name: statistics.mean(values) for name, values in times.items()}
    cpu = {name: statistics.median(values) for name, values in cpu_times.items()}
    reference = "before" if "before" in medians else args.paths[0]
    print(
        "median (and mean: a run's throughput, which the median hides when only some steps "
        "pay page faults) over the batches; CPU time: median"
    )
    for name in args.paths:
        line = (
            f"{name:>11} {1e3 * medians[name]:8.1f} ms/step {batch / medians[name]:7.1f} "
            f"samples/s   speed-up over {reference} {medians[reference] / medians[name]:5.2f}x"
            f"   (mean {1e3 * means[name]:6.1f} ms/step, {means[reference] / means[name]:4.2f}x)"
            f"   CPU {1e3 * cpu[name]:7.1f} ms/step ({cpu[reference] / cpu[name]:4.2f}x)"
        )
        if "floor" in medians:
            line += f"   time / floor {medians[name] / medians['floor']:5.2f}x"
        print(line, flush=True)
    loader = median_ms(loading[2:])
    older = made["torch reference"] - made["numba"]
    print(
        f"a paper epoch ({PAPER_EPOCH:,} samples) with the loader ({loader:.1f} ms per batch; "
        f"before's as it was: +{older:.1f} ms, the torch batch making's over the numba one):"
    )
    epoch = {
        name: PAPER_EPOCH / batch * (medians[name] + (loader + older * (name == "before")) / 1e3)
        for name in args.paths
        if name in EVENT_PATHS
    }
    base = reference if reference in epoch else next(iter(epoch), None)
    for name, seconds in epoch.items():
        print(
            f"{name:>11} {seconds / 60:6.2f} min   {PAPER_EPOCH / seconds:6.1f} samples/s   "
            f"speed-up over {base} {epoch[base] / seconds:5.2f}x"
        )
    print(compare_once(run, *first))
    if args.rounds:
        layer_breakdown(run, *first, args.rounds)
        crossover(run, args.rounds)


if __name__ == "__main__":
    main()
