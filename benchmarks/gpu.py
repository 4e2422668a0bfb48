"""Training-step time of the paper's three networks per CubaLIF backend, for a GPU.

One command (83 s on an NVIDIA H200 with ``--concurrent 1 2 4 8``), measuring in the same
process (interleaved round by round, so that clock and load changes hit every implementation
alike):

* `triton`: rouser with ``backend="triton"`` (one fused launch per layer and pass), fed an
  `EventBatch` as the loaders serve it (the first layer: torch's sparse CSR product);
* `triton-dense`: the same, the batch made dense inside the step (the first layer: a dense
  cuBLAS product), to tell whether the events-only first layer pays on this GPU (on an H200
  it did not: `results/h200-2026-12-04`, where the dense batch was made outside the step);
* `torch`: rouser with ``backend="torch"`` (~5 launches per time step and layer forward,
  one [T, T] GEMM backward): what a GPU ran before the Triton kernels;
* `snntorch`: snntorch ``Synaptic`` neurons stepped over time (when snntorch is installed);
* `floor`: the networks' ``nn.Linear`` layers alone, all steps at once: the matrix-product
  cost any implementation pays.

for the paper's networks (``_config.yml`` ``datasets``: NMNIST 2312-500-500-10 at T = 300,
DVS128 32768-64-11 at T = 150, SHD 700-200-200-20 at T = 100; batch 32, Adam, spike-rate
loss, random event inputs at each dataset's density), then one synthetic NMNIST-size epoch
(60,000 samples) end to end with ``backend="auto"``: event batches drawn on the device,
forward, backward, Adam, accuracy. Prints ms/step, samples/s, peak memory
(``torch.cuda.max_memory_allocated`` of one step; on the CPU the bytes autograd saves) and
each implementation's ratios to the floor and to the triton backend. Before each table it
checks the compiled Triton kernels against the torch loop on the same weights and batch
(every layer's spikes identical, the largest relative gradient error).

Then, with ``--concurrent``, several runs on one GPU, as the workflow places them with
``--resources gpu_slots=N``: 1, 2, 4 and 8 processes each training the NMNIST network
(``backend="auto"``, a fixed event batch) at once; each warms up, waits until all are ready,
then times its steps. Prints every count's total samples/s and its gain over one run.

    python benchmarks/gpu.py [--rounds 10] [--json results.json] [--concurrent 1 2 4 8]
    python benchmarks/gpu.py --device cpu --quick     # tiny sizes in seconds: a smoke test

On the CPU the triton backend runs in Triton's interpreter (``TRITON_INTERPRET=1``, set
here): that checks the code path, not the speed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from bench_training_step import MatmulFloor, SnnTorchNet, saved_bytes, synchronize
from torch import nn

from rouser.config import load_config
from rouser.dynamics import triton_unavailable
from rouser.events import EventBatch
from rouser.loss import predict, spike_rate_loss
from rouser.network import build_network
from rouser.optim import make_optimizer

# Fraction of (step, input) bins holding an event. NMNIST: ~150k events in a batch of
# 32 x 300 x 2,312 bins; DVS128 and SHD as in bench_training_step.py.
DENSITY = {"nmnist": 0.007, "dvs128": 0.01, "shd": 0.02}
NMNIST_TRAIN_SAMPLES = 60_000
# rouser's own implementations (fed events); `<backend>-dense` is one fed the dense batch
ROUSER_BACKENDS = ("triton", "numba", "torch", "auto")
BATCH = 32


def networks(quick: bool) -> dict[str, tuple[tuple[int, ...], int]]:
    """Layer sizes and time steps of each dataset's network; tiny ones with ``quick``."""
    result = {}
    for name, dataset in load_config()["datasets"].items():
        inputs = 1
        for extent in dataset["sensor_size"]:
            inputs *= extent
        sizes = (inputs, *dataset["hidden"], dataset["n_classes"])
        steps = dataset["time_bins"]
        if quick:
            sizes = (min(inputs, 48), *(min(h, 16) for h in sizes[1:-1]), sizes[-1])
            steps = 6
        result[name] = (sizes, steps)
    return result


def implementations(device: torch.device) -> list[str]:
    """The implementations that can run here, fastest expected first."""
    names = [] if triton_unavailable() else ["triton", "triton-dense"]
    names += ["numba"] if device.type == "cpu" else []
    names += ["torch"]
    try:
        import snntorch  # noqa: F401
    except ImportError:
        print("snntorch is not installed: its row is skipped (pip install snntorch==1.0.0)")
    else:
        names.append("snntorch")
    return [*names, "floor"]


def make_model(name: str, sizes: tuple[int, ...]) -> tuple[nn.Module, torch.optim.Optimizer]:
    """The named implementation of the network and its Adam optimizer, seeded alike."""
    torch.manual_seed(0)
    backend = name.removesuffix("-dense")
    if backend in ROUSER_BACKENDS:
        model: nn.Module = build_network((sizes[0],), sizes[1:-1], sizes[-1], backend=backend)
        return model, make_optimizer(model, 1e-3, 1e-3)
    model = SnnTorchNet(sizes) if name == "snntorch" else MatmulFloor(sizes)
    return model, torch.optim.Adam(model.parameters(), 1e-3)


def make_step(
    name: str, sizes: tuple[int, ...], batch: EventBatch, labels: torch.Tensor
) -> Callable[[], torch.Tensor]:
    """A closure doing one optimizer step; returns the output spikes (or currents).

    rouser's backends take the events as its loaders serve them, and `triton-dense` makes
    them dense in the step (what rouser would do to feed a dense product); the peers take
    the dense batch, made once outside the step (as their loaders would).
    """
    model, optimizer = make_model(name, sizes)
    model.to(batch.device)
    densify = name == "triton-dense"
    x = batch if name in ROUSER_BACKENDS or densify else batch.dense().flatten(2)

    def step() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        output = model(x.dense().flatten(2) if densify else x)
        spike_rate_loss(output, labels).backward()
        optimizer.step()
        return output

    return step


def agreement(sizes: tuple[int, ...], x: EventBatch, labels: torch.Tensor) -> str:
    """Triton against the torch loop on the same weights and batch: the GPU check the CPU
    tests cannot make (compiled kernels, not the interpreter)."""
    runs = []
    for backend in ("torch", "triton"):
        model, _ = make_model(backend, sizes)
        model.to(x.device)
        layers = model.forward_layers(x)
        spike_rate_loss(layers[-1], labels).backward()
        runs.append((layers, [p.grad for p in model.parameters()]))
    (torch_layers, torch_grads), (triton_layers, triton_grads) = runs
    same = all(torch.equal(a, b) for a, b in zip(torch_layers, triton_layers, strict=True))
    error = max(
        float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))
        for a, b in zip(triton_grads, torch_grads, strict=True)
    )
    return (
        f"triton vs torch loop: spikes identical {same}, gradients max relative error {error:.1e}"
    )


def peak_mb(step: Callable[[], torch.Tensor], device: torch.device) -> float:
    """Peak allocated memory of one step on CUDA; on the CPU the bytes saved for backward."""
    if device.type != "cuda":
        return saved_bytes(step) / 2**20
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    step()
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) / 2**20


def events(steps: int, batch: int, inputs: int, density: float, device: torch.device) -> EventBatch:
    """A random event batch [T, B, inputs], each bin spiking with `density`, drawn on the
    device."""
    return EventBatch.from_dense(torch.rand(steps, batch, inputs, device=device) < density)


def bench_network(
    name: str, sizes: tuple[int, ...], steps: int, batch: int, device, rounds: int, impls
) -> dict[str, dict[str, float]]:
    """Median ms/step and peak memory of every implementation on one network."""
    torch.manual_seed(0)
    x = events(steps, batch, sizes[0], DENSITY[name], device)
    labels = torch.randint(0, sizes[-1], (batch,), device=device)
    closures = {impl: make_step(impl, sizes, x, labels) for impl in impls}
    for closure in closures.values():  # warm-up: compilation, allocator, caches
        closure()
        closure()
    times: dict[str, list[float]] = {impl: [] for impl in impls}
    for _ in range(rounds):
        for impl, closure in closures.items():
            synchronize(device)
            start = time.perf_counter()
            closure()
            synchronize(device)
            times[impl].append(time.perf_counter() - start)
    return {
        impl: {
            "ms": 1e3 * statistics.median(values),
            "samples_per_s": batch / statistics.median(values),
            "peak_mb": peak_mb(closures[impl], device),
        }
        for impl, values in times.items()
    }


def epoch(sizes: tuple[int, ...], steps: int, batch: int, samples: int, device) -> dict:
    """One epoch of synthetic NMNIST-size batches with ``backend="auto"``, end to end."""
    model, optimizer = make_model("auto", sizes)
    model.to(device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    batches = samples // batch
    synchronize(device)
    start = time.perf_counter()
    for _ in range(batches):
        x = events(steps, batch, sizes[0], DENSITY["nmnist"], device)
        labels = torch.randint(0, sizes[-1], (batch,), device=device)
        optimizer.zero_grad(set_to_none=True)
        output = model(x)
        spike_rate_loss(output, labels).backward()
        optimizer.step()
        correct += (predict(output) == labels).sum()  # stays on the device: no sync per batch
    accuracy = correct.item() / (batches * batch)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "samples_per_s": batches * batch / seconds, "accuracy": accuracy}


def concurrent_worker(args: argparse.Namespace) -> None:
    """One of the concurrent runs: warm up, say so, wait for "go" on stdin, time the steps,
    print samples/s as JSON."""
    device = torch.device(args.device)
    sizes, steps = networks(args.quick)["nmnist"]
    batch = 2 if args.quick else BATCH
    torch.manual_seed(0)
    x = events(steps, batch, sizes[0], DENSITY["nmnist"], device)
    labels = torch.randint(0, sizes[-1], (batch,), device=device)
    step = make_step("auto", sizes, x, labels)
    for _ in range(3):
        step()
    synchronize(device)
    print("ready", flush=True)
    sys.stdin.readline()
    start = time.perf_counter()
    for _ in range(args.worker_steps):
        step()
    synchronize(device)
    print(json.dumps({"samples_per_s": args.worker_steps * batch / (time.perf_counter() - start)}))


def concurrent(args: argparse.Namespace, counts: list[int]) -> dict[int, dict[str, float]]:
    """Total and per-run samples/s of `count` runs training at once, for each count."""
    command = [sys.executable, __file__, "--worker", "--device", args.device]
    command += ["--worker-steps", str(args.worker_steps), *(["--quick"] if args.quick else [])]
    env = os.environ | {"OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}  # as the workflow
    results = {}
    for count in counts:
        workers = [
            subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
            )
            for _ in range(count)
        ]
        for worker in workers:  # all warmed up before any starts timing
            if worker.stdout.readline().strip() != "ready":
                raise RuntimeError(f"a concurrent run failed: {worker.communicate()}")
        for worker in workers:
            worker.stdin.write("go\n")
            worker.stdin.flush()
        rates = [json.loads(worker.communicate()[0])["samples_per_s"] for worker in workers]
        results[count] = {"total": sum(rates), "per_run": statistics.mean(rates)}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, seconds on a CPU")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--epoch-samples", type=int, default=NMNIST_TRAIN_SAMPLES)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--concurrent",
        type=int,
        nargs="*",
        default=[],
        help="runs on one GPU at once, e.g. 1 2 4 8",
    )
    parser.add_argument("--worker-steps", type=int, default=50, help="timed steps per run")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        concurrent_worker(args)
        return
    device = torch.device(args.device)
    if device.type == "cpu":
        os.environ.setdefault("TRITON_INTERPRET", "1")  # before rouser.kernels.fused_triton loads
        torch.set_num_threads(args.threads)
    rounds, batch = (1, 2) if args.quick else (args.rounds, BATCH)
    impls = implementations(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"one training step (forward, backward, Adam), batch {batch}, {name}")
    results: dict = {"device": name, "batch": batch, "networks": {}}
    for network, (sizes, steps) in networks(args.quick).items():
        result = bench_network(network, sizes, steps, batch, device, rounds, impls)
        results["networks"][network] = {"sizes": sizes, "steps": steps, **result}
        print(f"\n{network} {'-'.join(map(str, sizes))}, T = {steps}")
        if "triton" in impls:
            torch.manual_seed(1)
            x = events(steps, batch, sizes[0], DENSITY[network], device)
            labels = torch.randint(0, sizes[-1], (batch,), device=device)
            results["networks"][network]["agreement"] = check = agreement(sizes, x, labels)
            print(check)
        print(
            f"{'impl':>12} {'ms/step':>9} {'samples/s':>10} {'peak MB':>9} {'/ floor':>8}  ratios"
        )
        for impl, r in result.items():
            line = f"{impl:>12} {r['ms']:>9.2f} {r['samples_per_s']:>10.0f} {r['peak_mb']:>9.2f}"
            line += f" {r['ms'] / result['floor']['ms']:>7.2f}x"
            if "triton" in result and impl not in ("triton", "floor"):
                line += f"  triton speed-up {r['ms'] / result['triton']['ms']:.2f}x"
            print(line, flush=True)
    sizes, steps = networks(args.quick)["nmnist"]
    samples = 2 * batch if args.quick else args.epoch_samples
    run = epoch(sizes, steps, batch, samples, device)
    results["epoch"] = {"samples": samples, **run}
    print(
        f"\nsynthetic NMNIST epoch, {samples} samples, backend='auto': {run['seconds']:.1f} s "
        f"({run['samples_per_s']:.0f} samples/s)"
    )
    if args.concurrent:
        results["concurrent"] = shared = concurrent(args, args.concurrent)
        print(f"\nruns on one {name} at once (NMNIST network, backend='auto'): samples/s")
        print(f"{'runs':>5} {'total':>9} {'per run':>9} {'total / one run':>16}")
        one = shared[min(shared)]["total"]
        for count, rates in shared.items():
            print(
                f"{count:>5} {rates['total']:>9.0f} {rates['per_run']:>9.0f} "
                f"{rates['total'] / one:>15.2f}x"
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
