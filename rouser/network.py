"""Dense spiking blocks and the paper's fully connected networks (Table I).

A block is SLAYER's split of synapse and neuron: one `nn.Linear` applied to all time steps
at once (a single [T*B, in] x [in, out] matrix product), then the `CubaLIF` recurrence.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from rouser.neuron import CubaLIF


class DenseBlock(nn.Module):
    """Fully connected synapse (no bias, Kaiming-normal weights) followed by CUBA LIF neurons."""

    def __init__(self, in_features: int, out_features: int, **neuron_kwargs) -> None:
        super().__init__()
        self.synapse = nn.Linear(in_features, out_features, bias=False)
        nn.init.kaiming_normal_(self.synapse.weight, nonlinearity="relu")
        self.neuron = CubaLIF(out_features, **neuron_kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Spikes [T, B, in] -> spikes [T, B, out]."""
        return self.neuron(self.synapse(x))


class SpikingMLP(nn.Module):
    """A stack of dense spiking blocks, e.g. sizes (700, 200, 200, 20) for SHD.

    Inputs of shape [T, B, ...] are flattened per time step. `forward` returns the output
    layer's spikes; `forward_layers` returns every layer's spikes, which is what the
    dead-neuron and spike-rate measurements read (no extra pass, no hooks).
    """

    def __init__(self, sizes: Sequence[int], **neuron_kwargs) -> None:
        super().__init__()
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"sizes={list(sizes)!r} needs an input and an output size, all >= 1")
        self.sizes = tuple(int(size) for size in sizes)
        self.blocks = nn.ModuleList(
            DenseBlock(n_in, n_out, **neuron_kwargs)
            for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:], strict=True)
        )

    def forward_layers(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Spikes of every block, input excluded, each [T, B, size]."""
        if x.dim() < 3:
            raise ValueError(f"SpikingMLP expects input [T, B, ...], got shape {list(x.shape)}")
        x = x.reshape(x.shape[0], x.shape[1], -1)
        if x.shape[-1] != self.sizes[0]:
            raise ValueError(
                f"SpikingMLP expects {self.sizes[0]} input features per step, got {x.shape[-1]}"
            )
        layers = []
        for block in self.blocks:
            x = block(x)
            layers.append(x)
        return layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Output spikes [T, B, n_classes]."""
        return self.forward_layers(x)[-1]

    @property
    def neurons(self) -> list[CubaLIF]:
        """The CubaLIF layer of every block, input side first."""
        return [block.neuron for block in self.blocks]


def build_network(
    sensor_size: Sequence[int],
    hidden: Sequence[int],
    n_classes: int,
    **neuron_kwargs,
) -> SpikingMLP:
    """The paper's architecture for a sensor: e.g. (34, 34, 2), (500, 500), 10 for NMNIST."""
    return SpikingMLP([math.prod(sensor_size), *hidden, n_classes], **neuron_kwargs)
