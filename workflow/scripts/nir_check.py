"""Check the NIR export of trained NMNIST-1k networks against peer simulators.

The numbers behind the book's "Deploy" page, written to `records/nir_check.json`, so that
none is typed by hand. Steps, and why:

1. Train (or find, when its record exists) two short cpu-profile runs on the real N-MNIST
   recordings: Rouser, whose neurons each learn their own threshold, and the baseline, whose
   threshold stays 1.25 for all (snnTorch's importer reads only uniform thresholds).
2. Export each run's checkpoint with `rouser.runs.train.export_run` (one 1 ms bin = dt), read
   the `.nir` file back with `rouser.from_nir`, and check that it is the same network.
3. Run each network in rouser and in the peers, norse (per-neuron thresholds) and snnTorch
   (baseline only, from a graph exported at its fixed dt of 1e-4 s), on the 100 held-out test
   recordings and on as many random inputs at the recordings' mean event rate, and count
   how many output spike values (step x sample x neuron) and predicted classes agree.

    python workflow/scripts/nir_check.py --data-root /path/to/data
"""

from __future__ import annotations

import argparse
import json
import subprocess
import warnings
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import nir
import torch

from rouser import from_nir, to_nir
from rouser.atomic import atomic_write
from rouser.config import RunConfig, resolve_run
from rouser.data import make_loaders
from rouser.loss import predict
from rouser.network import SpikingMLP
from rouser.nir_peers import SNNTORCH_DT, peer_spikes
from rouser.runs.checkpoint import load_checkpoint
from rouser.runs.records import checkpoint_path
from rouser.runs.train import build_model, export_run, train

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("torch", "nir", "nirtorch", "norse", "snntorch")
RANDOM_SEED = 0


def trained(
    method: str, epochs: int, data_root: Path, runs_dir: Path
) -> tuple[RunConfig, dict, SpikingMLP, Path, torch.utils.data.DataLoader]:
    """The finished run, its checkpoint's network, its exported `.nir` file, its test loader."""
    run = resolve_run("nmnist", method, "cpu", epochs=epochs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no test split": the held-out 10% is the test set
        loaders = make_loaders(run, data_root, cache_dir=runs_dir / "cache", progress=False)
    record = train(run, runs_dir, device="cpu", loaders=loaders, progress=False)
    model = build_model(run)
    model.load_state_dict(
        load_checkpoint(checkpoint_path(run, runs_dir), run, record["data"])["model"]
    )
    model.eval()
    path = runs_dir / f"{run.run_id}.nir"
    export_run(run, runs_dir, path)
    return run, record, model, path, loaders[1]


def real_inputs(test_loader: torch.utils.data.DataLoader) -> Iterator[torch.Tensor]:
    for events, _ in test_loader:
        yield events.dense()  # the peers take dense tensors


def random_inputs(like: torch.utils.data.DataLoader, rate: float) -> Iterator[torch.Tensor]:
    """As many random samples as `like` holds, batch for batch, each bin firing at `rate`."""
    generator = torch.Generator().manual_seed(RANDOM_SEED)
    for spikes, _ in like:
        yield (torch.rand(spikes.shape, generator=generator) < rate).float()


def compare(
    model: SpikingMLP, graph: nir.NIRGraph, peer: str, dt: float, inputs: Iterator[torch.Tensor]
) -> dict:
    """How far the peer's output spikes agree with rouser's on every batch of `inputs`."""
    counts = dict.fromkeys(("samples", "values", "agree", "rouser", "peer", "same_class"), 0)
    for spikes in inputs:
        with torch.no_grad():
            ours = model(spikes)
        theirs = peer_spikes(graph, spikes, peer, dt)
        counts["samples"] += spikes.shape[1]
        counts["values"] += ours.numel()
        counts["agree"] += int((ours == theirs).sum())
        counts["rouser"] += int(ours.sum())
        counts["peer"] += int(theirs.sum())
        counts["same_class"] += int((predict(ours) == predict(theirs)).sum())
    return {
        "samples": counts["samples"],
        "output_values": counts["values"],
        "agreement": counts["agree"] / counts["values"],
        "differing_values": counts["values"] - counts["agree"],
        "rouser_spikes": counts["rouser"],
        "peer_spikes": counts["peer"],
        "same_prediction": counts["same_class"] / counts["samples"],
    }


def mean_rate(test_loader: torch.utils.data.DataLoader) -> float:
    """Events per input bin of the real test recordings, for random inputs like them."""
    total, size = 0.0, 0
    for spikes, _ in test_loader:
        total += float(spikes.sum())
        size += spikes.numel()
    return total / size


def git_state() -> dict:
    """The commit the numbers were computed at, and whether the work tree differed from it."""

    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return result.stdout.strip()

    return {
        "git_commit": git("rev-parse", "HEAD") or None,
        "git_dirty": bool(git("status", "--porcelain")),
    }


def check(data_root: Path, runs_dir: Path, epochs: int, output: Path) -> dict:
    """Train or find both runs, run every check, write and return the JSON."""
    runs, checks = {}, []
    for method in ("rouser", "baseline"):
        run, record, model, path, test_loader = trained(method, epochs, data_root, runs_dir)
        graph = nir.read(path)
        again = from_nir(graph, dt=run.bin_us * 1e-6)
        thresholds = torch.cat([neuron.threshold.detach() for neuron in model.neurons])
        runs[method] = {
            "run_id": run.run_id,
            "epochs": run.epochs,
            "final_test_accuracy": record["summary"]["final_test_accuracy"],
            "sizes": list(model.sizes),
            "thresholds": {
                "distinct": int(thresholds.unique().numel()),
                "min": float(thresholds.min()),
                "max": float(thresholds.max()),
            },
            "nir_bytes": path.stat().st_size,
            "round_trip_identical": all(
                torch.equal(tensor, model.state_dict()[name])
                for name, tensor in again.state_dict().items()
            ),
        }
        rate = mean_rate(test_loader)
        peers = [("norse", graph, run.bin_us * 1e-6)]
        if method == "baseline":
            peers.append(("snntorch", to_nir(model, dt=SNNTORCH_DT), SNNTORCH_DT))
        for peer, peer_graph, dt in peers:
            for name, inputs in (
                ("real", real_inputs(test_loader)),
                ("random", random_inputs(test_loader, rate)),
            ):
                result = compare(model, peer_graph, peer, dt, inputs)
                checks.append({"peer": peer, "network": method, "inputs": name, "dt": dt, **result})
                print(f"{peer} / {method} / {name}: agreement {result['agreement']:.6f}")
    result = {
        "script": "workflow/scripts/nir_check.py",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        **git_state(),
        "versions": {package: version(package) for package in PACKAGES},
        "data": {
            "dataset": "nmnist",
            "profile": "cpu",
            "test_recordings": checks[0]["samples"],
            "time_bins": run.time_bins,
            "bin_us": run.bin_us,
            "random_input_rate": rate,
        },
        "runs": runs,
        "checks": checks,
    }
    encoded = (json.dumps(result, indent=1) + "\n").encode()
    atomic_write(output, lambda handle: handle.write(encoded))
    return result


def main(argv: Sequence[str] | None = None) -> dict:
    """Command line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, required=True, help="holds NMNIST/Train")
    parser.add_argument(
        "--runs-dir", type=Path, default=REPO / "data" / "nir_check", help="records, checkpoints"
    )
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--output", type=Path, default=REPO / "records" / "nir_check.json")
    args = parser.parse_args(argv)
    return check(args.data_root, args.runs_dir, args.epochs, args.output)


if __name__ == "__main__":
    main()
