"""Checkpoints of a run: everything needed to continue it as if it had never stopped.

A checkpoint holds the model, the optimizer, W_0, the history and every random stream the
run draws from: torch, CUDA, numpy, python, the data-order generators of the loaders, and
the private state of a dataset that has one (an augmentation generator), which a dataset
exposes the torch way, `state_dict()` / `load_state_dict()` (as torchdata's `Stateful`).
Restoring all of them is what makes a resumed run's history identical to an uninterrupted
one. Files are written atomically and read with `weights_only=True` (no arbitrary pickles).

Exactness needs the random state to live in this process: with persistent DataLoader
workers, each worker's generators are out of reach (`make_loaders` defaults to none).
"""

from __future__ import annotations

import io
import os
import pickle
import random
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from rouser.atomic import atomic_write
from rouser.config import RunConfig

if TYPE_CHECKING:  # rouser.data pulls in tonic, which the report pages never need
    from rouser.data.loaders import Loaders

# What must match for a checkpoint to continue on this data; paths may move (data root, cache).
DATA_IDENTITY = ("dataset", "source", "n_train", "n_test", "test_split", "time_bins", "bin_us")
# What torch.load raises for a file that is not a whole checkpoint (truncated zip: a
# RuntimeError or OSError EINVAL, foreign pickle, random bytes)
LOAD_ERRORS = (
    RuntimeError,
    OSError,
    EOFError,
    pickle.UnpicklingError,
    zipfile.BadZipFile,
    ValueError,
)
# ...except these, which say what is wrong with the path itself, naming it
PATH_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError)


class CorruptCheckpointError(ValueError):
    """A checkpoint file that cannot be read as one: the run cannot resume from it."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = Path(path)
        super().__init__(
            f"checkpoint {self.path} {reason}; delete it or pass --restart (resume=False) to "
            "train the run from the start"
        )


def _loader_generators(loaders: Loaders) -> list[torch.Generator]:
    """The generators that order the data (a shuffled loader's and its sampler's), once each."""
    found: dict[int, torch.Generator] = {}
    for loader in loaders[:2]:
        for generator in (loader.generator, getattr(loader.sampler, "generator", None)):
            if generator is not None:
                found.setdefault(id(generator), generator)
    return list(found.values())


def _stateful_datasets(loaders: Loaders) -> list:
    """The loaders' datasets that expose their own random state (`state_dict`)."""
    return [
        loader.dataset
        for loader in loaders[:2]
        if callable(getattr(loader.dataset, "state_dict", None))
        and callable(getattr(loader.dataset, "load_state_dict", None))
    ]


def _restore_each(kind: str, targets: list, saved: list, restore: str) -> None:
    if len(targets) != len(saved):
        raise ValueError(
            f"the checkpoint saved {len(saved)} {kind} but the loaders have {len(targets)}; "
            "resume with the loaders the run started with"
        )
    for target, state in zip(targets, saved, strict=True):
        getattr(target, restore)(state)


def rng_state(loaders: Loaders) -> dict:
    """Every random stream a run draws from, in a form `torch.load(weights_only=True)` reads."""
    name, keys, position, has_gauss, gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, gauss],
        "python": random.getstate(),
        "loaders": [generator.get_state() for generator in _loader_generators(loaders)],
        "datasets": [dataset.state_dict() for dataset in _stateful_datasets(loaders)],
    }


def set_rng_state(state: dict, loaders: Loaders) -> None:
    """Restore what `rng_state` saved, so a resumed run draws the same numbers."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    name, keys, position, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, gauss))
    random.setstate(state["python"])
    _restore_each(
        "data-order generators", _loader_generators(loaders), state["loaders"], "set_state"
    )
    _restore_each(
        "dataset states", _stateful_datasets(loaders), state["datasets"], "load_state_dict"
    )


def save_checkpoint(path: Path, checkpoint: dict) -> None:
    """Write the checkpoint atomically (a kill mid-write keeps the previous epoch's).

    Serialised in memory first (a few MB): torch's own file writer reports a full disk as
    "RuntimeError: [enforce fail at inline_container.cc]", naming no file, while a plain
    write's OSError becomes an `AtomicWriteError` naming the checkpoint and what to free.
    """
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    atomic_write(path, lambda handle: handle.write(buffer.getbuffer()))


# Set to 1 to continue a checkpoint under other numerics than it was trained under.
ALLOW_OTHER_NUMERICS = "ROUSER_ALLOW_OTHER_NUMERICS"


def environment_entry(env: dict, from_epoch: int) -> dict:
    """What a checkpoint keeps of a record's "env" (`rouser.runs.provenance.environment`): the
    numerics and the code identity that epochs from `from_epoch` on were trained under."""
    git = env.get("git") or {}
    return {
        "from_epoch": from_epoch,
        "numerics": env["numerics"],
        "git_commit": env.get("git_commit"),
        "git_dirty": git.get("dirty"),
        "git_diff_sha256": git.get("diff_sha256"),
    }


def resume_environments(checkpoint: dict, env: dict, path: Path, from_epoch: int) -> list[dict]:
    """The environments a resumed run has trained under, with this one appended if it
    differs; resuming under other numerics is refused unless `$ROUSER_ALLOW_OTHER_NUMERICS`
    is 1.

    Why: a run interrupted under torch 2.12 and resumed under 2.13 (or on another CPU level,
    or from changed code) used to record only the last environment, as if all its epochs
    came from it. A checkpoint written before environments were kept counts as unknown
    (numerics None) and is continued, the unknown stated.
    """
    known = checkpoint.get("environments") or [
        {"from_epoch": 0, "numerics": None, "git_commit": None}
    ]
    current = environment_entry(env, from_epoch)
    last = known[-1]
    if last["numerics"] is not None and last["numerics"] != current["numerics"]:
        changed = {
            key: (last["numerics"].get(key), value)
            for key, value in current["numerics"].items()
            if last["numerics"].get(key) != value
        }
        if os.environ.get(ALLOW_OTHER_NUMERICS) != "1":
            raise RuntimeError(
                f"checkpoint {path} was trained under other numerics (then, now: {changed}); "
                "continuing it here would mix them in one run. Resume where it was trained, "
                f"pass --restart (resume=False), or set {ALLOW_OTHER_NUMERICS}=1 to continue "
                "and have the record list both environments"
            )
    same = all(last.get(key) == current[key] for key in current if key != "from_epoch")
    return known if same else [*known, current]


def load_checkpoint(path: Path, run: RunConfig, data: dict) -> dict:
    """Read a checkpoint (onto the CPU) and check it belongs to this run and the same data.

    CPU, whatever the training device: RNG states must be CPU byte tensors, and
    `load_state_dict` moves weights and optimizer state to the model's device anyway.

    The data must match on `DATA_IDENTITY` and, when the checkpoint has one, on the
    `fingerprint` (checkpoints written before fingerprints existed are checked on the rest).
    An unreadable file is a `CorruptCheckpointError` naming it (PyTorch's own message for a
    truncated file names neither the file nor the way out).
    """
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except PATH_ERRORS:
        raise
    except LOAD_ERRORS as err:
        first = str(err).splitlines()[0].split(". ")[0] if str(err) else ""  # torch's advice
        raise CorruptCheckpointError(  # (weights_only=False) does not apply here
            path, f"cannot be read ({type(err).__name__}: {first}); it is truncated or damaged"
        ) from err
    if not isinstance(checkpoint, dict) or not {"config", "data"} <= checkpoint.keys():
        raise CorruptCheckpointError(path, "is not a rouser checkpoint")
    if checkpoint["config"] != run.to_dict():
        raise ValueError(
            f"checkpoint {path} was written for another config; delete it or pass --restart"
        )
    identity = DATA_IDENTITY + (("fingerprint",) if "fingerprint" in checkpoint["data"] else ())
    if any(checkpoint["data"].get(key) != data.get(key) for key in identity):
        raise ValueError(
            f"checkpoint {path} was trained on other data ({checkpoint['data']}, now {data}); "
            "pass --restart (resume=False) to start the run again"
        )
    return checkpoint
