"""The dense CPU products through oneDNN (`onednn_products`): the same products and gradients
as torch's `linear` to float32 rounding, repeatable, in every block of a run that asks, and
no other run's id changes."""

from __future__ import annotations

import pytest
import torch
from products import assert_float32_close, product_and_gradients
from torch.nn import functional

import rouser.kernels.dense_product as dense_product
from rouser.config import resolve_run
from rouser.kernels.dense_product import ONEDNN_MIN_OUTPUTS, onednn_linear
from rouser.kernels.event_product import spike_linear
from rouser.runs.train import build_model


def inputs(outputs: int, density: float = 1.0) -> tuple[torch.Tensor, ...]:
    """Spikes (or, at density 1, reals) [20, 3, 40], weights [outputs, 40], dL/dy."""
    generator = torch.Generator().manual_seed(outputs)
    x = torch.randn(20, 3, 40, generator=generator)
    if density < 1.0:
        x = (torch.rand(20, 3, 40, generator=generator) < density).float()
    weight = torch.randn(outputs, 40, generator=generator)
    return x, weight, torch.randn(20, 3, outputs, generator=generator)


@pytest.mark.parametrize("outputs", [ONEDNN_MIN_OUTPUTS, 10])
def test_onednn_linear_agrees_with_torch_linear(outputs: int) -> None:
    """A wide layer (input gradient by oneDNN) and a narrow one (by MKL)."""
    x, weight, grad_out = inputs(outputs)
    mine = product_and_gradients(onednn_linear, x, weight, grad_out)
    assert_float32_close(mine, product_and_gradients(functional.linear, x, weight, grad_out))
    again = product_and_gradients(onednn_linear, x, weight, grad_out)
    assert all(torch.equal(a, b) for a, b in zip(mine, again, strict=True))


@pytest.mark.parametrize("density", [0.03, 0.5])
def test_spike_linear_with_onednn_agrees_on_sparse_and_dense_spikes(density: float) -> None:
    """Sparse spikes: the event product, its input gradient by oneDNN; dense spikes: the
    oneDNN product throughout."""
    x, weight, grad_out = inputs(ONEDNN_MIN_OUTPUTS, density)
    out = spike_linear(x.requires_grad_(), weight.requires_grad_(), 0.05, onednn=True)
    product = out.grad_fn if density > 0.05 else out.grad_fn.next_functions[0][0]  # a view
    assert ("OneDnn" if density > 0.05 else "NumbaCsr") in type(product).__name__
    mine = product_and_gradients(lambda a, w: spike_linear(a, w, 0.05, True), x, weight, grad_out)
    assert_float32_close(mine, product_and_gradients(functional.linear, x, weight, grad_out))


def test_onednn_products_reach_every_block_and_keep_every_other_run_id() -> None:
    default = resolve_run("nmnist", "rouser", "cpu")
    fast = resolve_run("nmnist", "rouser", "cpu", fast_step=True)
    assert "onednn_products" not in default.to_dict()
    assert resolve_run("nmnist", "rouser", "cpu", onednn_products=False) == default
    chosen = resolve_run("nmnist", "rouser", "cpu", fast_step=True, onednn_products=True)
    assert chosen.run_id not in (default.run_id, fast.run_id)
    assert [block.onednn_products for block in build_model(chosen).blocks] == [True] * 3
    assert not any(block.onednn_products for block in build_model(fast).blocks)


def test_onednn_linear_refuses_other_devices_and_builds_without_onednn(monkeypatch) -> None:
    x, weight, _ = inputs(10)
    with pytest.raises(ValueError, match="runs on the CPU, got tensors on meta"):
        onednn_linear(x.to("meta"), weight.to("meta"))
    monkeypatch.setattr(dense_product, "onednn_available", lambda: False)
    with pytest.raises(RuntimeError, match="set onednn_products to false"):
        onednn_linear(x, weight)
