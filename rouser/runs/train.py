"""One training run: the loop, per-epoch measurements, checkpoints, resume, and the record.

`train(run)` trains one (dataset, method, hyperparameters, seed) and leaves
`<runs_dir>/<run_id>.json`, from which every figure is drawn; one epoch's work and
measurements are `rouser.runs.epochs`. Why it is built this way:

* `torch.manual_seed(run.seed)` is called right before the network is built: the same
  seed gives the same initial weights for every method and lr_Th (the Fig. 6 ablation).
  Data order comes from the train loader's own generator, not from this seed's stream.
* A checkpoint (model, optimizer, W_0, history, every RNG state) is written atomically
  after each epoch, so an interrupted run resumes and ends with the history an
  uninterrupted one would have had. A finished record is returned, not recomputed.
* Progress bars use plain `tqdm.tqdm` (text on stderr), not `tqdm.auto`: runs are mostly
  executed headless by papermill and Snakemake, where a notebook widget cannot render and
  leaves an empty widget view in the executed notebook (and, without ipywidgets, tqdm.auto
  warns "IProgress not found", which fails strict book builds). Text bars work in a
  terminal, a log file and a notebook alike.
"""

from __future__ import annotations

import dataclasses
import json
import random
import warnings
from datetime import UTC, datetime
from pathlib import Path

import nir
import numpy as np
import torch
from tqdm import tqdm

from rouser.atomic import remove_stale_temporaries
from rouser.config import (
    RunConfig,
)
from rouser.data.loaders import Loaders, make_loaders
from rouser.network import SpikingMLP, build_network
from rouser.nir_graph import to_nir
from rouser.optim import make_optimizer
from rouser.runs.allocator import keep_freed_memory
from rouser.runs.checkpoint import (
    environment_entry,
    load_checkpoint,
    resume_environments,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from rouser.runs.epochs import new_counts, records_epoch, run_epoch
from rouser.runs.interrupts import terminate_as_exception
from rouser.runs.lock import run_lock
from rouser.runs.metrics import (
    summarize,
    synapse_weights,
)
from rouser.runs.provenance import environment, numerics, portable_data
from rouser.runs.records import SCHEMA, checkpoint_path, read_record, record_path, write_record

# History keys that measure wall time: they differ between otherwise identical runs.
TIMING_KEYS = ("epoch_seconds", "eval_seconds", "samples_per_second")


def now() -> str:
    """Current UTC time, ISO 8601, for the record's "started" and "ended"."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """`device`, or CUDA when available, else CPU; an unusable device is a clear error."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as error:
        raise ValueError(
            f"device={device!r} is not a torch device (e.g. 'cpu', 'cuda:0')"
        ) from error
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} asked for CUDA, but torch sees no CUDA device")
    return resolved


def build_model(run: RunConfig) -> SpikingMLP:
    """The run's network, seeded so that the same seed gives the same initial weights."""
    torch.manual_seed(run.seed)
    return build_network(
        run.sensor_size,
        run.hidden,
        run.n_classes,
        delay_shift=run.delay_shift,
        weight_norm=run.weight_norm,
        dropout=run.dropout,
        quantize_weights=run.quantize_weights,
        hidden_events=run.fast_step,
        onednn_products=run.onednn_products,
        threshold=run.threshold,
        current_decay=run.current_decay,
        voltage_decay=run.voltage_decay,
        tau=run.tau,
        scale=run.scale,
        learn_threshold=run.learn_threshold,
        fixed_point=run.fixed_point,
    )


def export_run(run: RunConfig, runs_dir: str | Path | None, path: str | Path) -> nir.NIRGraph:
    """Write the trained network of a finished run to `path` (a `.nir` file); return it.

    The network is the run's last checkpoint (the final epoch's weights and thresholds),
    found and checked by the same helpers training uses. One time bin = `run.bin_us`.
    """
    record = read_record(record_path(run, runs_dir))
    if record["status"] not in ("finished", "non-convergent"):
        raise ValueError(
            f"run {run.run_id} is {record['status']!r}; only a finished run is exported "
            "(train it first: python -m rouser train)"
        )
    checkpoint = load_checkpoint(checkpoint_path(run, runs_dir), run, record["data"])
    with torch.random.fork_rng(devices=[]):  # build_model seeds torch: keep the caller's RNG
        model = build_model(run)
    model.load_state_dict(checkpoint["model"])
    graph = to_nir(model, dt=run.bin_us * 1e-6)
    nir.write(path, graph)
    return graph


def check_reusable(record: dict, data: dict, device: torch.device, path: Path) -> None:
    """Refuse a finished record made under other numerics or from other data than now.

    The run id hashes the settings; the record also states the device, torch version and
    thread count it ran under and the fingerprint of the recordings it read. Returning it
    for a run that would compute different numbers would be silently wrong.
    """
    differences = []
    recorded = record["env"].get("numerics", {})
    current = numerics(device)
    for key in ("device_type", "torch"):
        if recorded.get(key) != current[key]:
            differences.append(f"{key} {recorded.get(key)!r} (now {current[key]!r})")
    old, new = record["data"].get("fingerprint"), data.get("fingerprint")
    if old != new:
        differences.append(f"data fingerprint {old!r} (now {new!r})")
    if differences:
        raise RuntimeError(
            f"the finished record {path} was computed with {'; '.join(differences)}; "
            "rerun with --restart (train(..., resume=False)) to retrain it here, or use "
            "another --runs-dir"
        )


def train(
    run: RunConfig,
    runs_dir: str | Path | None = None,
    data_root: str | Path | None = None,
    device: str | torch.device | None = None,
    loaders: Loaders | None = None,
    resume: bool = True,
    progress: bool = True,
    cache_dir: str | Path | None = None,
) -> dict:
    """Train `run` for `run.epochs` epochs and return its record (also written to disk).

    Args:
        run: the resolved config (`rouser.config.resolve_run`).
        runs_dir: folder of records and checkpoints (default `rouser.paths.runs_dir`).
        data_root: passed to `rouser.data.make_loaders` when `loaders` is None.
        device: e.g. "cpu" or "cuda:0"; default CUDA when available, else CPU.
        loaders: (train, test, data_info) as `make_loaders` returns; built when None.
        resume: return a finished record as is, and continue an unfinished run from its
            last checkpoint; False trains from scratch and overwrites both.
        progress: show tqdm bars over epochs and batches (stderr).
        cache_dir: where binned samples are cached (default `$ROUSER_CACHE`, else
            `<data root>/cache`).

    A run whose best test accuracy stays <= chance + `run.chance_margin` ends with status
    "non-convergent" (a result). Any error, a NaN loss or state included, writes a record
    with status "failed" and the error, then propagates. Temporaries that killed runs left
    in the runs folder are removed first, and a lock per run id makes a second process
    training the same run wait for the first (then return its record).
    """
    folder = record_path(run, runs_dir).parent
    remove_stale_temporaries(folder)
    with terminate_as_exception(), run_lock(folder, run.run_id):
        return _train(run, folder, data_root, device, loaders, resume, progress, cache_dir)


def _warn_if_modified(run: RunConfig, env: dict) -> None:
    """Say, before training, that the code differs from its commit (`provenance.code_changes`).

    The run id hashes the settings, not the code: a run from a modified working tree has the
    clean commit's id. Its record states `git.dirty` and the diff's digest; this warning
    makes sure nobody learns that only from the record.
    """
    git = env.get("git") or {}
    if git.get("dirty"):
        changed = git["changed"]
        warnings.warn(
            f"training run {run.run_id} from a modified working tree ({len(changed)} file(s) "
            f"differ from commit {env['git_commit']}: {', '.join(changed[:5])}"
            f"{', ...' if len(changed) > 5 else ''}); its record states git.dirty = true and "
            f"the diff's digest {git['diff_sha256'][:12]}. Commit the changes to make the run "
            "reproducible from a commit",
            stacklevel=4,  # the caller of train()
        )


def shorter_run(run: RunConfig, runs_dir: Path) -> RunConfig | None:
    """The longest run in `runs_dir` that `run` extends: the same settings but fewer epochs,
    with a checkpoint, ending at an epoch that `run` records too (so its history is a prefix
    of `run`'s). Training does not depend on the number of epochs ahead, so `run` continues
    from that checkpoint exactly as if it had trained from the start (tested)."""
    best: RunConfig | None = None
    for path in runs_dir.glob("*.json"):
        try:
            config = json.loads(path.read_text()).get("config", {})
        except (OSError, ValueError, AttributeError):
            continue  # not a record of ours: nothing to extend
        epochs = config.get("epochs") if isinstance(config, dict) else None
        if not isinstance(epochs, int) or not 0 < epochs < run.epochs:
            continue
        candidate = dataclasses.replace(run, epochs=epochs)
        if (
            candidate.to_dict() == config
            and records_epoch(epochs, run.history_every, run.epochs)
            and checkpoint_path(candidate, runs_dir).is_file()
            and (best is None or epochs > best.epochs)
        ):
            best = candidate
    return best


def _train(
    run: RunConfig,
    runs_dir: Path,
    data_root: str | Path | None,
    device: str | torch.device | None,
    loaders: Loaders | None,
    resume: bool,
    progress: bool,
    cache_dir: str | Path | None,
) -> dict:
    """`train` inside the run's lock."""
    path = record_path(run, runs_dir)
    ckpt_path = checkpoint_path(run, runs_dir)
    device = resolve_device(device)
    if device.type == "cpu":
        torch.set_num_threads(run.threads)  # part of the run's identity: see RunConfig
        # Both ways, explicitly: the flag is per thread and outlives the run in this process.
        torch.set_flush_denormal(run.flush_denormal)
        keep_freed_memory()  # the same numbers, without a step's page faults: see allocator
    existing = read_record(path) if resume and path.is_file() else None
    if loaders is None:
        loaders = make_loaders(
            run, data_root, device=device, progress=progress, cache_dir=cache_dir
        )
    data = portable_data(loaders[2])
    if existing is not None and existing["status"] in ("finished", "non-convergent"):
        check_reusable(existing, data, device, path)
        return existing
    random.seed(run.seed)
    np.random.seed(run.seed)
    model = build_model(run).to(device)
    optimizer = make_optimizer(model, run.lr_w, run.lr_th, fused=run.fast_step)
    env = environment(device)
    _warn_if_modified(run, env)
    prefix = None if ckpt_path.is_file() or not resume else shorter_run(run, runs_dir)
    if prefix is not None:  # extend a shorter run of the same trajectory from its end
        ckpt_path, checkpoint_run = checkpoint_path(prefix, runs_dir), prefix
        env["extended_from"] = {"run_id": prefix.run_id, "epoch": prefix.epochs}
    else:
        checkpoint_run = run
    state = (
        _resumed(ckpt_path, checkpoint_run, data, env, model, optimizer, loaders, device)
        if resume and ckpt_path.is_file()
        else _fresh(model, env)
    )
    if len(state.environments) > 1:  # resumed under another environment: the record lists each
        env["environments"] = state.environments
    if prefix is None and state.extended_from:  # an extension resumed from its own checkpoint
        env["extended_from"] = state.extended_from
    record = {
        "schema": SCHEMA,
        "run_id": run.run_id,
        "status": "running",
        "error": None,
        "config": run.to_dict(),
        "data": data,
        "env": env,
        "started": state.started,
        "ended": None,
        "history": state.history,
        "summary": None,
    }
    write_record(record, path)
    _epochs(run, runs_dir, model, optimizer, loaders, device, progress, data, state, record)
    summary = summarize(state.history, run.n_classes, run.latency_target, run.chance_margin)
    record.update(
        status="finished" if summary["converged"] else "non-convergent",
        summary=summary,
        ended=now(),
    )
    write_record(record, path)
    return record


@dataclasses.dataclass
class _State:
    """Where a run stands between epochs: what its checkpoint keeps besides model and optimizer."""

    initial: dict[str, torch.Tensor]  # W_0, for the weight change of Fig. 3
    history: list[dict]
    started: str
    done: int  # the last epoch finished; -1 before the untrained network's epoch 0
    counts: dict  # optimizer steps and samples seen so far
    environments: list[dict]  # the environments its epochs ran under
    extended_from: dict | None = None  # the shorter run it continues (env["extended_from"])


def _fresh(model: SpikingMLP, env: dict) -> _State:
    """A run from its first epoch."""
    return _State(synapse_weights(model), [], now(), -1, new_counts(), [environment_entry(env, 0)])


def _resumed(
    path: Path,
    run: RunConfig,
    data: dict,
    env: dict,
    model: SpikingMLP,
    optimizer: torch.optim.Optimizer,
    loaders: Loaders,
    device: torch.device,
) -> _State:
    """A run continued from the checkpoint at `path` (its own, or a shorter run's, `run`)."""
    checkpoint = load_checkpoint(path, run, data)
    done = checkpoint.get("epoch", len(checkpoint["history"]) - 1)
    environments = resume_environments(checkpoint, env, path, done + 1)
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    set_rng_state(checkpoint["rng"], loaders)
    initial = {name: weights.to(device) for name, weights in checkpoint["initial_weights"].items()}
    # checkpoints written while every epoch was recorded hold no "counts"
    counts = checkpoint.get("counts", new_counts())
    return _State(
        initial,
        checkpoint["history"],
        checkpoint["started"],
        done,
        counts,
        environments,
        checkpoint.get("extended_from"),
    )


def _epochs(
    run: RunConfig,
    runs_dir: Path,
    model: SpikingMLP,
    optimizer: torch.optim.Optimizer,
    loaders: Loaders,
    device: torch.device,
    progress: bool,
    data: dict,
    state: _State,
    record: dict,
) -> None:
    """Train the epochs after `state.done`, a checkpoint after each; a failure marks `record`."""
    path = record_path(run, runs_dir)
    epochs = tqdm(
        range(state.done + 1, run.epochs + 1),
        desc=run.run_id,
        initial=state.done + 1,
        total=run.epochs + 1,
        disable=not progress,
        dynamic_ncols=True,
    )
    try:
        for epoch in epochs:
            entry = run_epoch(
                epoch, model, optimizer, loaders, state.initial, run, device, progress, state.counts
            )
            if entry is not None:
                state.history.append(entry)
                epochs.set_postfix(test_accuracy=f"{entry['test_accuracy']:.3f}")
            save_checkpoint(
                checkpoint_path(run, runs_dir),
                {
                    "schema": SCHEMA,
                    "config": run.to_dict(),
                    "data": data,
                    "started": state.started,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "initial_weights": state.initial,
                    "history": state.history,
                    "epoch": epoch,
                    "counts": state.counts,
                    "rng": rng_state(loaders),
                    "environments": state.environments,
                    "extended_from": record["env"].get("extended_from"),
                },
            )
            if entry is not None:
                write_record(record, path)
    except BaseException as error:
        record.update(status="failed", error=f"{type(error).__name__}: {error}", ended=now())
        write_record(record, path)
        raise
    finally:
        epochs.close()
