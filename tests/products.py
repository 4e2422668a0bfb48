"""What the tests of a synapse's product compare: its output and both gradients, and the
tolerance of sums run in another order.

Shared by the event-product and oneDNN tests (`tests/kernels`), which check faster products
against torch's `linear`.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


def product_and_gradients(linear, x, weight, grad_out) -> tuple[torch.Tensor, ...]:
    """``linear(x, weight)`` and the gradients of ``x`` and ``weight`` for ``grad_out``."""
    x, weight = x.clone().requires_grad_(), weight.clone().requires_grad_()
    out = linear(x, weight)
    return (out, *torch.autograd.grad(out, (x, weight), grad_out))


def assert_float32_close(mine: Iterable[torch.Tensor], theirs: Iterable[torch.Tensor]) -> None:
    """Every element within 1e-6 of its reference tensor's largest: ~8 float32 steps there,
    what sums run in another order may differ by (measured on real recordings: <= 4e-7)."""
    for a, b in zip(mine, theirs, strict=True):
        a, b = a.detach(), b.detach()
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6 * float(b.abs().max()))
