"""Dense blocks, the paper's architectures, the spike-rate loss and prediction."""

from __future__ import annotations

import math

import pytest
import torch

from rouser.loss import predict, spike_rate_loss, target_rates
from rouser.network import build_network
from rouser.sparse_input import sparse_input_linear


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
