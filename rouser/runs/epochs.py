"""One epoch: the training pass, the evaluation pass, and the measurements of the record.

Split from `rouser.runs.train` (which orchestrates a run: seeds, checkpoints, resume, records)
so that each module has one job. Why the measurements are taken here and this way:

* Epoch 0 is the untrained network, evaluated before any update, because Figs. 3-5 start
  there. Train accuracy and loss of later epochs are running values over the epoch's
  batches (the network changes while they are counted), as is usual.
* The measurements read the spikes the forward pass already returns
  (`SpikingMLP.forward_layers`) during evaluation only, so training itself does no extra work.
* Progress bars are plain `tqdm.tqdm` (see `rouser.runs.train`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from tqdm import tqdm

from rouser.config import RunConfig
from rouser.loss import predict, spike_rate_loss
from rouser.network import SpikingMLP
from rouser.runs.metrics import ActivityMeter, threshold_stats, weight_change

if TYPE_CHECKING:  # rouser.data pulls in tonic, which the report pages never need
    from rouser.data.loaders import Loader, Loaders

# History keys measured since records were first committed: an older record lacks them
# (its steps and samples follow from its epochs: `rouser.runs.records.training_progress`).
LATER_MEASUREMENTS = ("dead_per_batch", "steps", "samples")


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
    on_step: Callable[[torch.Tensor, float], None] | None = None,
) -> dict:
    """One pass of updates; returns running train accuracy and loss, samples, steps, seconds.

    A non-finite loss stops at once (FloatingPointError) instead of corrupting the model.
    `on_step(output, loss)` is called after each update with the batch's output spikes and
    per-sample loss (a study of single steps reads them there; training needs none).
    """
    model.train()
    start = time.perf_counter()
    correct, loss_sum, samples, steps = 0, 0.0, 0, 0
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
        if on_step is not None:
            on_step(output.detach(), loss_value)
        correct += int((predict(output) == labels).sum())
        loss_sum += loss_value * labels.shape[0]
        samples += labels.shape[0]
        steps += 1
    return {
        "train_accuracy": correct / samples,
        "train_loss": loss_sum / samples,
        "epoch_seconds": time.perf_counter() - start,
        "samples": samples,
        "steps": steps,
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


def records_epoch(epoch: int, every: int, last: int) -> bool:
    """Whether `epoch` is measured into the history: 0, every power of two, every `every`-th
    epoch and the `last`. Powers of two keep the early, fast changes (dead neurons jump in
    the first tens of steps) dense on a log axis; `every` (one paper epoch of steps for a
    subset) spaces the rest evenly, so a run of a thousand short epochs keeps a short record.
    """
    return epoch == last or epoch % every == 0 or epoch & (epoch - 1) == 0


def new_counts() -> dict:
    """Counters a run carries (and its checkpoint saves): optimizer steps and training samples
    since the start, and training seconds and samples since the last history entry."""
    return {"steps": 0, "samples": 0, "span_seconds": 0.0, "span_samples": 0}


def run_epoch(
    epoch: int,
    model: SpikingMLP,
    optimizer: torch.optim.Optimizer,
    loaders: Loaders,
    initial: dict[str, torch.Tensor],
    run: RunConfig,
    device: torch.device,
    progress: bool,
    counts: dict,
) -> dict | None:
    """Train one epoch (none for epoch 0), then, if it enters the history, measure it.

    `counts` (`new_counts`) is updated in place. A history entry's `steps` and `samples`
    count from the start of the run, so results can be drawn over the paper's own axis;
    its `epoch_seconds` and `samples_per_second` cover the training since the previous entry
    (one epoch when every epoch is recorded); train accuracy and loss are the last epoch's.
    Returns the entry, or None for an epoch left out of the history.
    """
    train_loader, test_loader, _ = loaders
    if epoch == 0:
        start = time.perf_counter()
        accuracy, loss = evaluate(model, train_loader, run, device, None, "train 0", progress)
        train = {"train_accuracy": accuracy, "train_loss": loss}
        extra_eval = time.perf_counter() - start
    else:
        train = train_epoch(model, optimizer, train_loader, run, device, epoch, progress)
        check_finite(model, epoch)
        counts["steps"] += train["steps"]
        counts["samples"] += train["samples"]
        counts["span_seconds"] += train["epoch_seconds"]
        counts["span_samples"] += train["samples"]
        extra_eval = 0.0
    if not records_epoch(epoch, run.history_every, run.epochs):
        return None
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
        "steps": counts["steps"],
        "samples": counts["samples"],
    }
    entry["epoch_seconds"] = counts["span_seconds"]  # 0.0 at epoch 0: nothing is trained
    entry["eval_seconds"] = extra_eval + time.perf_counter() - start
    span = counts["span_samples"]
    entry["samples_per_second"] = span / counts["span_seconds"] if span else None
    counts["span_seconds"], counts["span_samples"] = 0.0, 0
    return entry
