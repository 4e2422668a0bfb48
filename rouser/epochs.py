"""One epoch: the training pass, the evaluation pass, and the measurements of the record.

Split from `rouser.train` (which orchestrates a run: seeds, checkpoints, resume, records)
so that each module has one job. Why the measurements are taken here and this way:

* Epoch 0 is the untrained network, evaluated before any update, because Figs. 3-5 start
  there. Train accuracy and loss of later epochs are running values over the epoch's
  batches (the network changes while they are counted), as is usual.
* The measurements read the spikes the forward pass already returns
  (`SpikingMLP.forward_layers`) during evaluation only, so training itself does no extra work.
* Progress bars are plain `tqdm.tqdm` (see `rouser.train`).
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

import torch
from tqdm import tqdm

from rouser.checkpoint import Loaders
from rouser.config import RunConfig
from rouser.loss import predict, spike_rate_loss
from rouser.metrics import ActivityMeter, threshold_stats, weight_change
from rouser.network import SpikingMLP

if TYPE_CHECKING:  # rouser.data pulls in tonic, which the report pages never need
    from rouser.data.loaders import Loader


def _batches(loader: Loader, desc: str, progress: bool) -> tqdm:
    return tqdm(loader, desc=desc, leave=False, disable=not progress, dynamic_ncols=True)


def train_epoch(
    model: SpikingMLP,
    optimizer: torch.optim.Optimizer,
    loader: Loader,
    run: RunConfig,
    device: torch.device,
    epoch: int,
    progress: bool = False,
) -> dict:
    """One pass of updates; returns running train accuracy and loss, samples and seconds.

    A non-finite loss stops at once (FloatingPointError) instead of corrupting the model.
    """
    model.train()
    start = time.perf_counter()
    correct, loss_sum, samples = 0, 0.0, 0
    reduction = "sum" if run.loss_sum_over_batch else "mean"  # "sum": lava-dl's SpikeRate
    for batch, (spikes, labels) in enumerate(_batches(loader, f"train {epoch}", progress)):
        spikes = spikes.to(device, non_blocking=True)
        labels = labels.to(device, non_blocking=True)
        output = model(spikes)
        loss = spike_rate_loss(output, labels, run.true_rate, run.false_rate, reduction)
        # recorded per sample whatever the reduction, so that runs stay comparable
        loss_value = loss.item() / (labels.shape[0] if reduction == "sum" else 1)
        if not math.isfinite(loss_value):
            raise FloatingPointError(
                f"training loss became {loss_value} at epoch {epoch}, batch {batch}; "
                f"the run diverged (lr_w={run.lr_w}, lr_th={run.lr_th})"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        correct += int((predict(output) == labels).sum())
        loss_sum += loss_value * labels.shape[0]
        samples += labels.shape[0]
    seconds = time.perf_counter() - start
    return {
        "train_accuracy": correct / samples,
        "train_loss": loss_sum / samples,
        "epoch_seconds": seconds,
        "samples_per_second": samples / seconds,
    }


@torch.no_grad()
def evaluate(
    model: SpikingMLP,
    loader: Loader,
    run: RunConfig,
    device: torch.device,
    meter: ActivityMeter | None = None,
    desc: str = "eval",
    progress: bool = False,
) -> tuple[float, float]:
    """(accuracy, loss) over `loader` without updates; feeds every layer's spikes to `meter`."""
    model.eval()
    correct, loss_sum, samples = 0, 0.0, 0
    for spikes, labels in _batches(loader, desc, progress):
        spikes = spikes.to(device, non_blocking=True)
        labels = labels.to(device, non_blocking=True)
        layers = model.forward_layers(spikes)
        if meter is not None:
            meter.update(layers)
        output = layers[-1]
        correct += int((predict(output) == labels).sum())
        loss_sum += spike_rate_loss(output, labels, run.true_rate, run.false_rate).item() * len(
            labels
        )
        samples += len(labels)
    if not samples:
        raise ValueError(f"{desc}: the data loader yielded no batches")
    return correct / samples, loss_sum / samples


def check_finite(model: SpikingMLP, epoch: int) -> None:
    """Raise FloatingPointError naming the first parameter or buffer that is NaN or infinite."""
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        if not torch.isfinite(tensor).all():
            raise FloatingPointError(f"{name} became NaN or infinite during epoch {epoch}")


def run_epoch(
    epoch: int,
    model: SpikingMLP,
    optimizer: torch.optim.Optimizer,
    loaders: Loaders,
    initial: dict[str, torch.Tensor],
    run: RunConfig,
    device: torch.device,
    progress: bool,
) -> dict:
    """Train one epoch (none for epoch 0), then measure everything the record holds."""
    train_loader, test_loader, _ = loaders
    if epoch == 0:
        start = time.perf_counter()
        accuracy, loss = evaluate(model, train_loader, run, device, None, "train 0", progress)
        train = {
            "train_accuracy": accuracy,
            "train_loss": loss,
            "epoch_seconds": 0.0,  # nothing is trained in epoch 0
            "samples_per_second": None,
        }
        extra_eval = time.perf_counter() - start
    else:
        train = train_epoch(model, optimizer, train_loader, run, device, epoch, progress)
        check_finite(model, epoch)
        extra_eval = 0.0
    start = time.perf_counter()
    meter = ActivityMeter()
    test_accuracy, test_loss = evaluate(
        model, test_loader, run, device, meter, f"test {epoch}", progress
    )
    entry = {
        "epoch": epoch,
        "train_accuracy": train["train_accuracy"],
        "test_accuracy": test_accuracy,
        "train_loss": train["train_loss"],
        "test_loss": test_loss,
        **meter.result(),
        "weight_change": weight_change(model, initial),
        "thresholds": threshold_stats(model),
    }
    entry["epoch_seconds"] = train["epoch_seconds"]
    entry["eval_seconds"] = extra_eval + time.perf_counter() - start
    entry["samples_per_second"] = train["samples_per_second"]
    return entry
