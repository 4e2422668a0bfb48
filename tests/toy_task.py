"""The in-memory toy task that training and report tests train on.

Each class raises the spike rate of its own group of input channels, so a tiny network
learns it in a few epochs; `toy_loaders` returns (train, test, info) shaped exactly like
`rouser.data.make_loaders`. It has NMNIST's 10 classes, because a run's `n_classes` must be
its dataset's (`rouser.config.resolve_run` refuses another): toy runs are NMNIST-shaped
runs (`toy_settings`) with a 12-step, 20-channel input.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

DATASET, CLASSES = "nmnist", 10  # the dataset whose class count the toy task has
GROUP = 2  # input channels per class
CHANNELS, STEPS = CLASSES * GROUP, 12


def toy_settings(**overrides) -> dict:
    """`resolve_run` overrides that make a `DATASET` run fit the toy task."""
    return {
        "sensor_size": [CHANNELS, 1, 1],
        "hidden": [16, 16],
        "time_bins": STEPS,
        "augment": False,
        "lr_w": 0.01,
        "lr_th": 0.01,
        **overrides,
    }


def toy_dataset(n: int, seed: int) -> TensorDataset:
    """Class k fires channels [2k, 2k+2) at rate 0.5, every other channel at 0.03."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % CLASSES
    rates = torch.full((CLASSES, CHANNELS), 0.03)
    for k in range(CLASSES):
        rates[k, k * GROUP : (k + 1) * GROUP] = 0.5
    spikes = (torch.rand(n, STEPS, CHANNELS, generator=generator) < rates[labels][:, None]).float()
    return TensorDataset(spikes, labels)


class Jittered(Dataset):
    """Augmentation with a private generator that persists across epochs (like NMNIST's
    shift/rotation): each item drops a random 20% of its spikes. Exposes its state the
    torch way, so a checkpoint can carry it."""

    def __init__(self, base: TensorDataset, seed: int) -> None:
        self.base, self.rng = base, np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        spikes, label = self.base[index]
        keep = torch.from_numpy(self.rng.random(spikes.shape) >= 0.2)
        return spikes * keep, label

    def state_dict(self) -> dict:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]


def time_first(batch: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    spikes, labels = zip(*batch, strict=True)
    return torch.stack(spikes).transpose(0, 1), torch.stack(labels)


def toy_loaders(seed: int = 0, n_train: int = 80, n_test: int = 40, augment: bool = False):
    """(train, test, info) as `make_loaders` returns them: [T, B, N] float spikes, int64 labels.

    `info` is the data description a run record keeps (`rouser.runs.provenance.portable_data` of
    it): like `make_loaders`', it names a local `root` that records must not keep, and a
    `fingerprint` of the recordings that `rouser.runs.train.check_reusable` compares.
    """
    order = torch.Generator().manual_seed(seed)
    train_set = toy_dataset(n_train, 1)
    train_loader = DataLoader(
        Jittered(train_set, seed) if augment else train_set,
        batch_size=8,
        shuffle=True,
        generator=order,
        collate_fn=time_first,
    )
    test_loader = DataLoader(toy_dataset(n_test, 2), batch_size=8, collate_fn=time_first)
    info = {
        "dataset": DATASET,
        "source": "synthetic",
        "root": "/nowhere/toy",
        "n_train": n_train,
        "n_test": n_test,
        "test_split": "holdout",
        "time_bins": STEPS,
        "bin_us": 1000,
        "fingerprint": {"recordings": {"train": n_train, "test": n_test}, "sha256": "toy"},
    }
    return train_loader, test_loader, info


@contextlib.contextmanager
def killed_after_checkpoint(monkeypatch: pytest.MonkeyPatch, epoch: int) -> Iterator[list[int]]:
    """Training inside the block is killed (KeyboardInterrupt, expected) right after it
    writes the checkpoint of `epoch`; yields the epochs checkpointed. The real save is back
    once the block ends, so the next `train` resumes."""
    from rouser.runs import train as train_module

    real_save = train_module.save_checkpoint
    saved: list[int] = []

    def save_then_die(path, checkpoint):
        real_save(path, checkpoint)
        saved.append(checkpoint["epoch"])
        if checkpoint["epoch"] == epoch:
            raise KeyboardInterrupt(f"simulated kill after epoch {epoch}")

    monkeypatch.setattr(train_module, "save_checkpoint", save_then_die)
    try:
        with pytest.raises(KeyboardInterrupt):
            yield saved
    finally:
        monkeypatch.setattr(train_module, "save_checkpoint", real_save)
