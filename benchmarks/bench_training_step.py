"""One training step (forward, backward, Adam) of a paper network, rouser against its peers.

Peers, measured in the same process and interleaved round by round so that machine load
hits all of them alike:

* `rouser-events`: `rouser.network.build_network` with learnable thresholds, fed an
  `EventBatch` as the loaders serve it (the fused neuron, the events-only first layer);
* `rouser`: the same network fed the dense batch, whose non-zeros its first layer scans for;
* `rouser-dense`: the same with the first layer's dense product, to isolate the sparse gain;
* `rouser-fast`: `rouser-events` with the run setting ``fast_step`` (hidden spikes read as
  events where sparse, torch's fused Adam);
* `snntorch`: snntorch 1.0.0 `Synaptic` neurons (same decays, per-neuron learnable
  threshold, reset to zero) with `nn.Linear`, stepped over time the usual snntorch way;
* `floor`: the three `nn.Linear` layers alone over all time steps (no neuron at all): the
  matrix-product cost that any implementation of this network pays.

Prints ms/step (median of the rounds), samples/s, rouser's speed-up over snntorch, rouser's
time over the floor, and the bytes each keeps alive for backward. Targets (issue 2, 2 CPU
threads, SHD): >= 7x snntorch's samples/s at T=100, B=32, and <= 1.3x the floor's time.
The DVS128 network (32,768 inputs, ~1% active per 10 ms bin) shows the sparse first layer.

    python benchmarks/bench_training_step.py [--network shd|dvs128] [--threads 2] [--rounds 15]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from rouser.events import EventBatch
from rouser.loss import spike_rate_loss
from rouser.network import build_network
from rouser.optim import make_optimizer

# Layer sizes and the fraction of (step, input) bins holding an event at 10 ms bins.
NETWORKS = {"shd": ((700, 200, 200, 20), 0.02), "dvs128": ((128 * 128 * 2, 64, 11), 0.01)}


class SnnTorchNet(nn.Module):
    """The SHD network written the way snntorch's tutorials write it."""

    def __init__(self, sizes: tuple[int, ...]) -> None:
        super().__init__()
        import snntorch as snn

        self.fcs = nn.ModuleList(nn.Linear(a, b, bias=False) for a, b in itertools.pairwise(sizes))
        self.lifs = nn.ModuleList(
            snn.Synaptic(
                alpha=0.75,
                beta=0.97,
                threshold=torch.full((b,), 1.25),
                learn_threshold=True,
                reset_mechanism="zero",
            )
            for b in sizes[1:]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        states = [lif.init_synaptic() for lif in self.lifs]
        outputs = []
        for step in x:
            h = step
            for i, (fc, lif) in enumerate(zip(self.fcs, self.lifs, strict=True)):
                h, syn, mem = lif(fc(h), *states[i])
                states[i] = (syn, mem)
            outputs.append(h)
        return torch.stack(outputs)


class MatmulFloor(nn.Module):
    """The network's synapses alone, applied to all steps at once: no neuron dynamics."""

    def __init__(self, sizes: tuple[int, ...]) -> None:
        super().__init__()
        self.fcs = nn.ModuleList(nn.Linear(a, b, bias=False) for a, b in itertools.pairwise(sizes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for fc in self.fcs:
            x = fc(x)
        return x


def make_step(
    name: str, sizes: tuple[int, ...], x: torch.Tensor, labels: torch.Tensor
) -> Callable[[], None]:
    """A closure doing one optimizer step of the named implementation."""
    torch.manual_seed(0)
    if name in ("rouser-events", "rouser-fast"):  # what a loader hands over: spike positions
        x = EventBatch.from_dense(x)
    if name.startswith("rouser"):
        fast = name == "rouser-fast"
        model: nn.Module = build_network((sizes[0],), sizes[1:-1], sizes[-1], hidden_events=fast)
        model.blocks[0].sparse_input = name != "rouser-dense"
        optimizer = make_optimizer(model, 1e-3, 1e-3, fused=fast)
    else:
        model = SnnTorchNet(sizes) if name == "snntorch" else MatmulFloor(sizes)
        optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    model.to(x.device)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss = spike_rate_loss(model(x), labels)
        loss.backward()
        optimizer.step()

    return step


def saved_bytes(step: Callable[[], None]) -> int:
    """Bytes of the tensors autograd keeps for backward during one step."""
    total = 0

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal total
        total += tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        step()
    return total


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def bench(
    network: str, steps: int, batch: int, device: torch.device, rounds: int, names: list[str]
) -> dict:
    """Median ms/step of each implementation, interleaved over `rounds` rounds."""
    sizes, density = NETWORKS[network]
    generator = torch.Generator().manual_seed(0)
    x = (torch.rand(steps, batch, sizes[0], generator=generator) < density).float()
    labels = torch.randint(0, sizes[-1], (batch,), generator=generator)
    x, labels = x.to(device), labels.to(device)
    closures = {name: make_step(name, sizes, x, labels) for name in names}
    for closure in closures.values():  # warm-up: numba compilation, allocator, caches
        closure()
        closure()
    times: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(rounds):
        for name, closure in closures.items():
            synchronize(device)
            start = time.perf_counter()
            closure()
            synchronize(device)
            times[name].append(time.perf_counter() - start)
    return {
        name: {
            "ms": 1e3 * statistics.median(values),
            "samples_per_s": batch / statistics.median(values),
            "saved_mb": saved_bytes(closures[name]) / 2**20,
        }
        for name, values in times.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", choices=sorted(NETWORKS), default="shd")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, nargs="+", default=[100, 250])
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--no-snntorch", action="store_true", help="skip the slow peer")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    names = ["rouser-events", "rouser-fast", "rouser", "rouser-dense", "floor"] + (
        [] if args.no_snntorch else ["snntorch"]
    )
    sizes = NETWORKS[args.network][0]
    print(f"{args.network} network {sizes}, one training step, {args.threads} threads, {device}")
    header = f"{'T':>4} {'B':>4} {'impl':>13} {'ms/step':>9} {'samples/s':>10} {'saved MB':>9}"
    print(header + "   ratios")
    for steps in args.steps:
        for batch in args.batches:
            result = bench(args.network, steps, batch, device, args.rounds, names)
            for name in names:
                r = result[name]
                line = f"{steps:>4} {batch:>4} {name:>13} {r['ms']:>9.1f} {r['samples_per_s']:>10.0f} {r['saved_mb']:>9.1f}"
                if name.startswith("rouser"):
                    line += f"   time / floor = {r['ms'] / result['floor']['ms']:.2f}x"
                    if "snntorch" in result:
                        speedup = result["snntorch"]["ms"] / r["ms"]
                        line += f", speed-up over snntorch = {speedup:.1f}x"
                print(line, flush=True)


if __name__ == "__main__":
    main()
