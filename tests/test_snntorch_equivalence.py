"""`CubaLIF`'s forward pass is snnTorch's `Synaptic` neuron, spike for spike.

With rouser's kept fractions as snnTorch's decay rates (``alpha = current_decay = 0.75``,
``beta = voltage_decay = 0.97``), a reset to zero on the step of the spike
(``reset_mechanism="zero", reset_delay=False``) and the same threshold, snnTorch 1.0's
``snn.Synaptic`` computes

    syn[t] = alpha syn[t-1] + x[t];  mem[t] = beta mem'[t-1] + syn[t];  spk[t] = mem[t] > th

which is eq. 1 of `rouser.neuron`. A researcher moving a network from snnTorch can rely on
it; this file holds every backend to it, per-neuron thresholds included. It skips, saying
so, where snntorch is not installed (`requirements-peers.txt`).
"""

from __future__ import annotations

import pytest
import torch

from rouser import CubaLIF

snn = pytest.importorskip("snntorch", reason="snntorch not installed (requirements-peers.txt)")

STEPS, BATCH, NEURONS = 100, 8, 32


def synaptic_spikes(
    x: torch.Tensor, threshold: float | torch.Tensor, reset_delay: bool = False
) -> torch.Tensor:
    """snnTorch's Synaptic neuron stepped over x [T, B, N] from a zero state."""
    neuron = snn.Synaptic(
        alpha=0.75,
        beta=0.97,
        threshold=threshold,
        reset_mechanism="zero",
        reset_delay=reset_delay,
    )
    syn, mem = neuron.init_synaptic()
    spikes = []
    for step in x:
        spike, syn, mem = neuron(step, syn, mem)
        spikes.append(spike)
    return torch.stack(spikes)


@pytest.mark.parametrize("backend", ["auto", "torch", "reference"])
@pytest.mark.parametrize("per_neuron", [False, True], ids=["uniform", "per-neuron"])
def test_cubalif_spikes_equal_snntorch_synaptic(backend: str, per_neuron: bool) -> None:
    x = torch.rand(STEPS, BATCH, NEURONS, generator=torch.Generator().manual_seed(0)) * 0.6
    neuron = CubaLIF(NEURONS, threshold=1.25, backend=backend)
    threshold: float | torch.Tensor = 1.25
    if per_neuron:
        # steady voltage under this input is ~40: the highest thresholds are never reached
        threshold = torch.linspace(0.2, 60.0, NEURONS)
        with torch.no_grad():
            neuron.threshold.copy_(threshold)
    with torch.no_grad():
        ours = neuron(x)
    theirs = synaptic_spikes(x, threshold)
    assert ours.sum() > 1000  # enough spikes for the test to bite
    assert (ours.sum(dim=(0, 1)) == 0).any() == per_neuron  # and silent neurons too
    assert torch.equal(ours, theirs)


def test_a_delayed_reset_is_not_rouser_s_neuron() -> None:
    """snnTorch's default (reset a step late) differs: the settings above are the match."""
    x = torch.rand(STEPS, BATCH, NEURONS, generator=torch.Generator().manual_seed(1)) * 0.6
    with torch.no_grad():
        ours = CubaLIF(NEURONS, threshold=1.25)(x)
    assert torch.equal(ours, synaptic_spikes(x, 1.25))
    assert not torch.equal(ours, synaptic_spikes(x, 1.25, reset_delay=True))
