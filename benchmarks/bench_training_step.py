"""One training step (forward, backward, Adam) of the SHD network, rouser against its peers.

Peers, measured in the same process and interleaved round by round so that machine load
hits all of them alike:

* `rouser`: `rouser.network.build_network` with learnable thresholds (the fused neuron);
* `snntorch`: snntorch 1.0.0 `Synaptic` neurons (same decays, per-neuron learnable
  threshold, reset to zero) with `nn.Linear`, stepped over time the usual snntorch way;
* `floor`: the three `nn.Linear` layers alone over all time steps (no neuron at all): the
  matrix-product cost that any implementation of this network pays.

Prints ms/step (median of the rounds), samples/s, rouser's speed-up over snntorch, rouser's
time over the floor, and the bytes each keeps alive for backward. Targets (issue 2, 2 CPU
threads): >= 7x snntorch's samples/s at T=100, B=32, and <= 1.3x the floor's time.

    python benchmarks/bench_training_step.py [--threads 2] [--rounds 15] [--device cpu]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from rouser.loss import spike_rate_loss
from rouser.network import build_network
from rouser.optim import make_optimizer

SIZES = (700, 200, 200, 20)
INPUT_DENSITY = 0.02  # fraction of (step, channel) bins holding a spike, as SHD at 10 ms


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


def make_step(name: str, x: torch.Tensor, labels: torch.Tensor) -> Callable[[], None]:
    """A closure doing one optimizer step of the named implementation."""
    torch.manual_seed(0)
    if name == "rouser":
        model: nn.Module = build_network((SIZES[0],), SIZES[1:-1], SIZES[-1])
        optimizer = make_optimizer(model, 1e-3, 1e-3)
    else:
        model = SnnTorchNet(SIZES) if name == "snntorch" else MatmulFloor(SIZES)
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


def bench(steps: int, batch: int, device: torch.device, rounds: int, names: list[str]) -> dict:
    """Median ms/step of each implementation, interleaved over `rounds` rounds."""
    generator = torch.Generator().manual_seed(0)
    x = (torch.rand(steps, batch, SIZES[0], generator=generator) < INPUT_DENSITY).float()
    labels = torch.randint(0, SIZES[-1], (batch,), generator=generator)
    x, labels = x.to(device), labels.to(device)
    closures = {name: make_step(name, x, labels) for name in names}
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
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, nargs="+", default=[100, 250])
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--no-snntorch", action="store_true", help="skip the slow peer")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    names = ["rouser", "floor"] + ([] if args.no_snntorch else ["snntorch"])
    print(f"SHD network {SIZES}, one training step, {args.threads} threads, {device}")
    header = f"{'T':>4} {'B':>4} {'impl':>9} {'ms/step':>9} {'samples/s':>10} {'saved MB':>9}"
    print(header + "   ratios")
    for steps in args.steps:
        for batch in args.batches:
            result = bench(steps, batch, device, args.rounds, names)
            for name in names:
                r = result[name]
                line = f"{steps:>4} {batch:>4} {name:>9} {r['ms']:>9.1f} {r['samples_per_s']:>10.0f} {r['saved_mb']:>9.1f}"
                if name == "rouser":
                    line += f"   rouser/floor time = {r['ms'] / result['floor']['ms']:.2f}x"
                    if "snntorch" in result:
                        speedup = result["snntorch"]["ms"] / r["ms"]
                        line += f", speed-up over snntorch = {speedup:.1f}x"
                print(line, flush=True)


if __name__ == "__main__":
    main()
