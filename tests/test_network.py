"""Dense blocks, the paper's architectures, the spike-rate loss and prediction."""

from __future__ import annotations

import math

import pytest
import torch

from rouser.kernels.event_product import sparse_input_linear
from rouser.loss import predict, spike_rate_loss, target_rates
from rouser.network import build_network


def test_network_flattens_each_step_and_returns_every_layer() -> None:
    net = build_network((34, 34, 2), (500, 500), 10)
    layers = net.forward_layers(torch.zeros(3, 2, 34, 34, 2))
    assert [tuple(s.shape) for s in layers] == [(3, 2, 500), (3, 2, 500), (3, 2, 10)]
    assert torch.equal(net(torch.zeros(3, 2, 2312)), layers[-1])
    assert net.sizes == (2312, 500, 500, 10) and len(net.neurons) == 3


def test_weights_are_kaiming_uniform_without_bias() -> None:
    torch.manual_seed(0)
    synapse = build_network((700, 1, 1), (200, 200), 20).blocks[0].synapse
    assert synapse.bias is None
    bound = 1 / math.sqrt(700)
    assert synapse.weight.abs().max().item() <= bound
    assert synapse.weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.05)


def test_wrong_input_size_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="expects 700 input features per step, got 600"):
        build_network((700,), (20,), 20)(torch.zeros(4, 2, 600))


def test_neuron_options_reach_every_layer() -> None:
    net = build_network((10,), (8,), 3, threshold=0.5, learn_threshold=False)
    assert all(n.threshold[0].item() == 0.5 and not n.learn_threshold for n in net.neurons)


def test_target_rates_and_loss_vanish_at_the_target() -> None:
    labels = torch.tensor([2, 0])
    targets = target_rates(labels, 4, 0.2, 0.03)
    assert targets.tolist()[0] == pytest.approx([0.03, 0.03, 0.2, 0.03])
    steps = 100
    spikes = torch.zeros(steps, 2, 4)
    for b, row in enumerate(targets):
        for c, rate in enumerate(row):
            spikes[: round(rate.item() * steps), b, c] = 1.0
    assert spike_rate_loss(spikes, labels).item() == pytest.approx(0.0, abs=1e-12)
    silent = torch.zeros(steps, 2, 4)
    assert spike_rate_loss(silent, labels).item() == pytest.approx(0.2**2 + 3 * 0.03**2)


def test_prediction_is_the_output_with_most_spikes() -> None:
    spikes = torch.zeros(5, 2, 3)
    spikes[:3, 0, 1] = 1
    spikes[:, 1, 2] = 1
    assert predict(spikes).tolist() == [1, 2]


def test_loss_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="expected output spikes"):
        spike_rate_loss(torch.zeros(5, 3, 4), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="reduction='none' must be 'mean' or 'sum'"):
        spike_rate_loss(torch.zeros(5, 2, 4), torch.zeros(2, dtype=torch.long), reduction="none")


def test_summed_loss_is_the_batch_size_times_the_mean_and_so_are_its_gradients() -> None:
    """lava-dl's reduction='sum': with a power-of-two batch, exactly B x the mean."""
    generator = torch.Generator().manual_seed(0)
    rates = torch.rand(20, 8, 4, generator=generator, requires_grad=True)
    labels = torch.randint(0, 4, (8,), generator=generator)
    gradients = {}
    for reduction in ("mean", "sum"):
        loss = spike_rate_loss(rates, labels, reduction=reduction)
        (gradients[reduction],) = torch.autograd.grad(loss, rates)
        gradients[reduction + " loss"] = loss.detach()
    assert torch.equal(gradients["sum loss"], 8 * gradients["mean loss"])
    assert torch.equal(gradients["sum"], 8 * gradients["mean"])


def test_sparse_first_layer_equals_the_dense_product_and_weight_gradient() -> None:
    generator = torch.Generator().manual_seed(0)
    x = (torch.rand(30, 4, 50, generator=generator) < 0.05).float()
    x[3] = 0.0  # an empty time step
    x[5, 1, 7] = 3.0  # a bin holding several events
    weight = torch.randn(20, 50, generator=generator, requires_grad=True)
    grad_out = torch.randn(30, 4, 20, generator=generator)
    dense = x @ weight.t()
    (dense_grad,) = torch.autograd.grad(dense, weight, grad_out)
    sparse = sparse_input_linear(x, weight)
    (sparse_grad,) = torch.autograd.grad(sparse, weight, grad_out)
    torch.testing.assert_close(sparse, dense)
    torch.testing.assert_close(sparse_grad, dense_grad)


def test_network_uses_the_sparse_path_only_for_its_first_layer() -> None:
    net = build_network((10,), (8, 6), 3)
    assert [block.sparse_input for block in net.blocks] == [True, False, False]
    torch.manual_seed(1)
    x = (torch.rand(20, 2, 10) < 0.3).float()
    sparse_out = net(x)
    net.blocks[0].sparse_input = False
    assert torch.equal(net(x), sparse_out)


def test_sparse_path_refuses_inputs_that_need_gradients() -> None:
    with pytest.raises(ValueError, match="requires no gradient"):
        sparse_input_linear(torch.zeros(2, 3, requires_grad=True), torch.zeros(4, 3))


# ---------------------------------------------------------------------------- lava-dl options


def spiking_input(steps: int = 20, batch: int = 3, features: int = 10) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return (torch.rand(steps, batch, features, generator=generator) < 0.5).float()


def test_strict_threshold_a_resting_network_never_fires_at_zero_threshold() -> None:
    net = build_network((10,), (8,), 3, threshold=0.0, learn_threshold=False)
    assert all(layer.sum() == 0 for layer in net.forward_layers(torch.zeros(6, 2, 10)))


def test_delay_shift_delays_every_block_by_one_step() -> None:
    x = spiking_input()
    torch.manual_seed(0)
    plain = build_network((10,), (8,), 4, threshold=0.5)
    torch.manual_seed(0)
    shifted = build_network((10,), (8,), 4, threshold=0.5, delay_shift=True)
    block_plain, block_shifted = plain.blocks[0], shifted.blocks[0]
    assert torch.equal(block_plain.synapse.weight, block_shifted.synapse.weight)
    one, two = block_plain(x), block_shifted(x)
    assert one.sum() > 0  # something to shift
    assert torch.equal(two[0], torch.zeros_like(two[0]))  # nothing at t = 0
    assert torch.equal(two[1:], one[:-1])  # the same spikes, one step later
    # every layer is delayed: the output of a two-block net is two steps late
    assert shifted(x)[:2].sum() == 0


def test_weight_norm_keeps_the_initial_weights_and_learns_g_and_v() -> None:
    torch.manual_seed(3)
    plain = build_network((10,), (8,), 4)
    torch.manual_seed(3)
    normed = build_network((10,), (8,), 4, weight_norm=True)
    for a, b in zip(plain.blocks, normed.blocks, strict=True):
        torch.testing.assert_close(b.synapse.weight, a.synapse.weight)
    names = {name for name, _ in normed.named_parameters()}
    assert "blocks.0.synapse.parametrizations.weight.original0" in names  # g, per output row
    assert "blocks.0.synapse.weight" not in names
    g = normed.blocks[0].synapse.parametrizations.weight.original0
    assert tuple(g.shape) == (8, 1)
    x = spiking_input()
    torch.testing.assert_close(normed(x), plain(x))


def test_dropout_only_in_training_and_only_on_hidden_layers() -> None:
    torch.manual_seed(0)
    net = build_network((10,), (32, 32), 4, threshold=0.2, dropout=0.5)
    assert [block.dropout for block in net.blocks] == [0.5, 0.5, 0.0]
    x = spiking_input(batch=4)
    net.eval()
    first, second = net.forward_layers(x), net.forward_layers(x)
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))  # no dropout
    reference = net.blocks[0](x)
    net.train()
    torch.manual_seed(1)
    dropped = net.blocks[0](x)
    assert reference.sum() > 0
    # whole neurons (per sample) are dropped for every step, the rest rescaled by 1 / (1 - p)
    silenced = (dropped.sum(0) == 0) & (reference.sum(0) > 0)
    assert silenced.any()
    kept = dropped.sum(0) > 0
    torch.testing.assert_close(dropped[:, kept], 2 * reference[:, kept])
    # the output layer has no dropout: in training, its block is deterministic
    hidden = net.blocks[1](net.blocks[0](x)).detach()
    torch.testing.assert_close(net.blocks[2](hidden), net.blocks[2](hidden))


def test_dropout_outside_zero_one_is_refused() -> None:
    with pytest.raises(ValueError, match=r"dropout=1\.0 must lie in \[0, 1\)"):
        build_network((10,), (8,), 3, dropout=1.0)


def test_quantized_weights_are_lava_dls_8_bit_grid_with_straight_through_gradients() -> None:
    torch.manual_seed(0)
    net = build_network((40,), (12,), 3, threshold=0.1, quantize_weights=True)
    block = net.blocks[0]
    steps = block.weight / (1 / 32)
    assert torch.equal(steps, steps.round()) and block.weight.abs().max() <= 4
    # PyTorch's init (+-1/sqrt(40) = +-0.158) rounds to whole steps of 1/32
    torch.testing.assert_close(block.weight, (block.synapse.weight * 32).round() / 32)
    x = (torch.rand(9, 2, 40) < 0.3).float()
    expected = net.blocks[0].neuron(x @ block.weight.t())
    assert torch.equal(net.forward_layers(x)[0], expected)
    net(x).sum().backward()
    assert block.synapse.weight.grad.abs().sum() > 0  # straight through the rounding
    with torch.no_grad():
        block.synapse.weight[0, 0] = 9.0  # beyond the 8-bit range: clipped, no gradient
    block.synapse.weight.grad = None
    (block.weight * torch.randn(12, 40)).sum().backward()
    assert block.weight[0, 0] == 254 / 64 and block.synapse.weight.grad[0, 0] == 0
