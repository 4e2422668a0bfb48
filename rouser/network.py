r"""Dense spiking blocks and the paper's fully connected networks (Table I).

A block is SLAYER's split of synapse and neuron: one `nn.Linear` applied to all time steps
at once (a single [T*B, in] x [in, out] matrix product), then the `CubaLIF` recurrence.
The first block reads raw event bins, ~99% zeros. Given an `EventBatch` (what the
`rouser.data` loaders serve) it sums the weight columns of the inputs that spiked, on any
device, and no dense input exists; given a dense CPU tensor it multiplies only the non-zeros
(`rouser.kernels.event_product`).

The hidden layers read spikes too: ~1% of a trained NMNIST network's hidden neurons fire per
step. With ``hidden_events`` (the run setting ``fast_step``) a hidden block's forward product
and weight gradient visit the previous layer's spikes alone, through the first layer's event
product, wherever at most `HIDDEN_EVENTS_BELOW` of them are non-zero; denser batches (a
network at Th 0.25 fires at 20-45%) and narrow blocks (the output layer) keep the dense
product. The input gradient stays dense: the surrogate gives every neuron one. On the CPU
only: a GPU's dense product is fast enough, and choosing per batch would make it wait for
the spike count. Sums run in another order than the dense product's, so results differ in
the last bits: hence a run setting. With ``onednn_products`` (the run setting of that name)
the dense CPU products that remain go through oneDNN instead of MKL
(`rouser.kernels.dense_product`: faster on AMD CPUs, where MKL takes no AVX-512 code).

Four options reproduce parts of lava-dl's NMNIST tutorial network, the code base the paper
was built on, so that their effect can be measured (the book's fidelity study); all are off
by default, where the paper's text is silent:

* ``delay_shift``: every block's output spikes are delayed by one step, as lava-dl's blocks
  do by default (``delay_shift=True``; one step of axonal delay per layer, as on Loihi);
* ``weight_norm``: the synapse is weight-normalised per output neuron (``weight_norm=True``
  in the tutorial), :math:`W = g \, v / \lVert v \rVert`;
* ``dropout``: hidden neurons are dropped with this probability during training, for the
  whole sequence at once (lava-dl's ``neuron.Dropout(p=0.05)``, a ``dropout3d``);
* ``quantize_weights``: the synapse multiplies with 8-bit weights, steps of 1/32 in
  [-4, 3.97], gradients passed straight through (`rouser.fixed_point.quantize_weight`, what
  every lava-dl CUBA ``Dense`` block does by default). With PyTorch's init the first layer's
  weights lie within +-0.021, so most of them start at 0 and the rest at +-1/32.

lava-dl's learnable axonal delays and learnable decays are not reproduced (lava-dl stores a
decay as 4096 x the fraction lost and steps it with Adam at lr 0.001: <= ~2/4096 per paper epoch).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional

from rouser.events import EventBatch
from rouser.fixed_point import quantize_weight
from rouser.kernels.dense_product import onednn_linear
from rouser.kernels.event_product import event_linear, sparse_input_linear, spike_linear
from rouser.neuron import CubaLIF

# Spike density (non-zeros over all inputs of a batch) up to which a hidden block reads its
# input as events. Measured for NMNIST's 500 x 500 layer (T = 300, B = 32), 2 threads, a
# loaded machine (`benchmarks/bench_event_input.py`): the events-only forward product and
# weight gradient, spike finding included, took as long as the dense ones at 8-11% (three
# runs); at 1% they were 2.1-2.3x faster, at 20% 1.5-1.7x slower. On an AMD EPYC (Zen 4),
# where MKL's dense product is slower, the crossover lay at 16-20% (four runs). Trained
# networks fire at ~1%, a network at Th 0.25 at 20-45%: both far from it. Changing it
# changes the results of `fast_step` runs.
HIDDEN_EVENTS_BELOW = 0.08
# Narrower blocks keep the dense product: finding the spikes reads the whole input twice,
# which costs what the dense product of a narrow layer does. Measured at 1% spikes, [9600,
# 500] inputs, forward and both gradients, 2 threads: dense / events 0.89x for 10 outputs,
# 0.97x for 50, 1.01x for 100, 1.04x for 200 (the input gradient, dense in both, dominates).
HIDDEN_EVENTS_MIN_OUTPUTS = 200


class DenseBlock(nn.Module):
    """Fully connected synapse (no bias, Kaiming-uniform weights) followed by CUBA LIF neurons.

    The weights are Kaiming-uniform with a = sqrt(5), i.e. U(-1/sqrt(in), 1/sqrt(in)): PyTorch's
    default for Linear and Conv layers, which lava-dl's Dense synapse (a Conv3d) inherits.
    The relu-gain Kaiming-normal draw is 2.4x wider; with the CUBA integrator's DC gain of
    1 / ((1 - 0.75) (1 - 0.97)) = 133, the first Adam steps then silenced the output layer
    and it stayed silent (measured on NMNIST-1k: 9% test accuracy, chance, after 10 epochs,
    against 51% after one epoch with this init).

    An `EventBatch` input always goes through the events-only product. `sparse_input=True`
    lets a dense CPU input that needs no gradient (event data) go through the non-zeros-only
    product too; the result is the same up to float summation order.
    `hidden_events=True` makes a CPU input with a gradient (hidden spikes) go through the
    events-only product where sparse (`spike_linear`). `onednn_products=True` makes the dense
    products of a CPU input oneDNN's (`onednn_linear`). `delay_shift`, `weight_norm`,
    `dropout` and `quantize_weights` are lava-dl's options (module docstring); `weight` is
    what the synapse multiplies with.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        sparse_input: bool = False,
        delay_shift: bool = False,
        weight_norm: bool = False,
        dropout: float = 0.0,
        quantize_weights: bool = False,
        hidden_events: bool = False,
        onednn_products: bool = False,
        **neuron_kwargs,
    ) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout={dropout!r} must lie in [0, 1)")
        self.synapse = nn.Linear(in_features, out_features, bias=False)
        nn.init.kaiming_uniform_(self.synapse.weight, a=math.sqrt(5))
        if weight_norm:
            # g starts at each row's norm, so the initial weights are unchanged.
            nn.utils.parametrizations.weight_norm(self.synapse, name="weight", dim=0)
        self.neuron = CubaLIF(out_features, **neuron_kwargs)
        self.sparse_input = sparse_input
        self.hidden_events = hidden_events
        self.onednn_products = onednn_products
        self.delay_shift = delay_shift
        self.dropout = dropout
        self.quantize_weights = quantize_weights

    @property
    def weight(self) -> torch.Tensor:
        """The weights the synapse multiplies with: the trained ones, or their 8-bit values."""
        weight = self.synapse.weight
        return quantize_weight(weight) if self.quantize_weights else weight

    def current(self, x: torch.Tensor | EventBatch) -> torch.Tensor:
        """The synaptic current [T, B, out] of spikes [T, B, in], by the product that fits."""
        weight = self.weight
        if isinstance(x, EventBatch):
            return event_linear(x, weight)
        if self.sparse_input and x.device.type == "cpu" and not x.requires_grad:
            return sparse_input_linear(x, weight)
        if self.hidden_events and x.device.type == "cpu":
            return spike_linear(x, weight, HIDDEN_EVENTS_BELOW, self.onednn_products)
        if self.onednn_products and x.device.type == "cpu":
            return onednn_linear(x, weight)
        return functional.linear(x, weight)

    def forward(self, x: torch.Tensor | EventBatch) -> torch.Tensor:
        """Spikes [T, B, in] (a tensor or an `EventBatch`) -> spikes [T, B, out]."""
        spikes = self.neuron(self.current(x))
        if self.dropout and self.training:
            # One draw per (sample, neuron), kept for every step, rescaled by 1 / (1 - p).
            keep = torch.empty_like(spikes[0]).bernoulli_(1.0 - self.dropout)
            spikes = spikes * keep.div_(1.0 - self.dropout)
        if self.delay_shift:
            spikes = torch.cat((torch.zeros_like(spikes[:1]), spikes[:-1]))
        return spikes


class SpikingMLP(nn.Module):
    """A stack of dense spiking blocks, e.g. sizes (700, 200, 200, 20) for SHD.

    Inputs of shape [T, B, ...] are flattened per time step. `forward` returns the output
    layer's spikes; `forward_layers` returns every layer's spikes, which is what the
    dead-neuron and spike-rate measurements read (no extra pass, no hooks).
    `hidden_events` is every block's but the first (which reads the data itself) and those
    narrower than `HIDDEN_EVENTS_MIN_OUTPUTS`; `onednn_products` is every block's.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        delay_shift: bool = False,
        weight_norm: bool = False,
        dropout: float = 0.0,
        quantize_weights: bool = False,
        hidden_events: bool = False,
        onednn_products: bool = False,
        **neuron_kwargs,
    ) -> None:
        super().__init__()
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"sizes={list(sizes)!r} needs an input and an output size, all >= 1")
        self.sizes = tuple(int(size) for size in sizes)
        last = len(self.sizes) - 2
        self.blocks = nn.ModuleList(
            DenseBlock(
                n_in,
                n_out,
                sparse_input=index == 0,
                delay_shift=delay_shift,
                weight_norm=weight_norm,
                dropout=dropout if index < last else 0.0,  # lava-dl: hidden layers only
                quantize_weights=quantize_weights,
                hidden_events=hidden_events and index > 0 and n_out >= HIDDEN_EVENTS_MIN_OUTPUTS,
                onednn_products=onednn_products,
                **neuron_kwargs,
            )
            for index, (n_in, n_out) in enumerate(itertools.pairwise(self.sizes))
        )

    def forward_layers(self, x: torch.Tensor | EventBatch) -> list[torch.Tensor]:
        """Spikes of every block, input excluded, each [T, B, size]."""
        if len(x.shape) < 3:
            raise ValueError(f"SpikingMLP expects input [T, B, ...], got shape {list(x.shape)}")
        if not isinstance(x, EventBatch):
            x = x.reshape(x.shape[0], x.shape[1], -1)
        features = math.prod(x.shape[2:])
        if features != self.sizes[0]:
            raise ValueError(
                f"SpikingMLP expects {self.sizes[0]} input features per step, got {features}"
            )
        layers = []
        for block in self.blocks:
            x = block(x)
            layers.append(x)
        return layers

    def forward(self, x: torch.Tensor | EventBatch) -> torch.Tensor:
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
    **kwargs,
) -> SpikingMLP:
    """The paper's architecture for a sensor: e.g. (34, 34, 2), (500, 500), 10 for NMNIST.

    `kwargs` go to `SpikingMLP` (lava-dl options) and on to every `CubaLIF`.

    >>> import torch
    >>> from rouser import build_network
    >>> net = build_network((34, 34, 2), (500, 500), 10, threshold=1.25)
    >>> [block.synapse.in_features for block in net.blocks]
    [2312, 500, 500]
    >>> spikes = net(torch.zeros(300, 4, 2, 34, 34))  # [T, B, *sensor] -> [T, B, classes]
    >>> tuple(spikes.shape), float(spikes.detach().sum())
    ((300, 4, 10), 0.0)
    """
    return SpikingMLP([math.prod(sensor_size), *hidden, n_classes], **kwargs)
