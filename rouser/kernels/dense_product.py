r"""A synapse's dense products on the CPU through oneDNN (the run setting ``onednn_products``).

What is left dense in a training step once spikes are read as events (`event_product`) is
the input gradient :math:`\partial L / \partial y \; W` of the hidden layers (the surrogate
gives every neuron a gradient) and the narrow output layer's products. torch runs a dense
CPU product with MKL's ``sgemm``, which picks its code by CPU vendor and takes no AVX-512
code on AMD CPUs (there the product below took 35 ms whether MKL was limited to AVX2, to
SSE4.2 or not at all). oneDNN's inner product, which torch ships, dispatches by instruction
set alone: on an AMD EPYC (Zen 4) its verbose log names ``brg_matmul:avx512_core``.
Measured there, [9600, 500] x [500, 500], median of 20 (`benchmarks/bench_event_input.py`
measures the whole step): 34.0 ms with MKL and 26.6 ms with oneDNN at 2 threads, 58.2 and
48.0 ms at 1 thread.

The weight gradient of a dense input is :math:`(\partial L / \partial y)^\top x`, computed in
that orientation: autograd's ``linear`` computes :math:`x^\top \, \partial L / \partial y`
and transposes it, which for the output layer's [9600, 500] x [9600, 10] took 9.5 ms
against 2.2 ms at 2 threads on the same CPU (both MKL). The narrow layer's input gradient
stays with MKL, which is faster for that shape (3.3 against 4.5 ms).

The sums run in another order than MKL's, so results differ in the last bits from a run
without the setting (within float32 rounding: tested), and oneDNN splits them by thread
count as MKL does (a run's ``threads`` is part of its id). On other devices the products
are torch's own.

Example::

    >>> import torch
    >>> from rouser.kernels.dense_product import onednn_linear
    >>> x, w = torch.ones(3, 4), torch.full((2, 4), 0.5)
    >>> onednn_linear(x, w).tolist()
    [[2.0, 2.0], [2.0, 2.0], [2.0, 2.0]]
"""

from __future__ import annotations

import torch

# Narrower layers keep MKL's product for the input gradient: [9600, 10] x [10, 500] took
# 3.3 ms with MKL and 4.5 ms with oneDNN at 2 threads on the AMD EPYC above.
ONEDNN_MIN_OUTPUTS = 200


def onednn_available() -> bool:
    """Whether this torch build has oneDNN (every x86 and ARM CPU wheel of PyPI does)."""
    return torch.backends.mkldnn.is_available()


def _inner_product(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``x @ weight.T`` for a 2-D ``x`` ``[R, in]`` and ``weight`` ``[out, in]``, by oneDNN."""
    return torch.ops.mkldnn._linear_pointwise(x, weight, None, "none", [], "")


def input_gradient(grad_out: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """:math:`\\partial L / \\partial y \\; W` ``[R, in]`` for a 2-D ``grad_out`` ``[R, out]``:
    oneDNN for wide layers, MKL for narrow ones (`ONEDNN_MIN_OUTPUTS`)."""
    if weight.shape[0] < ONEDNN_MIN_OUTPUTS:
        return grad_out @ weight
    return _inner_product(grad_out, weight.t().contiguous())


class _OneDnnLinear(torch.autograd.Function):
    """``x @ W.T`` with every product in the form that is fastest on the CPU (module doc)."""

    @staticmethod
    def forward(ctx, x, weight):  # type: ignore[override]
        """oneDNN's inner product over all rows (time steps and samples) at once."""
        flat = x.detach().reshape(-1, x.shape[-1]).contiguous()
        ctx.save_for_backward(flat, weight)
        ctx.input_shape = x.shape
        out = _inner_product(flat, weight.detach())
        return out.view(*x.shape[:-1], weight.shape[0])

    @staticmethod
    def backward(ctx, grad_out):  # type: ignore[override]
        """The input's gradient (`input_gradient`) and the weight's, as dL/dy^T x."""
        flat, weight = ctx.saved_tensors
        grad = grad_out.reshape(-1, weight.shape[0]).contiguous()
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            grad_x = input_gradient(grad, weight.detach()).view(ctx.input_shape)
        if ctx.needs_input_grad[1]:
            grad_w = grad.t() @ flat
        return grad_x, grad_w


def onednn_linear(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``x @ weight.T`` ``[..., out]`` of a CPU ``x`` ``[..., in]``, gradients for both."""
    if x.device.type != "cpu" or weight.device.type != "cpu":
        raise ValueError(f"onednn_linear runs on the CPU, got tensors on {x.device}")
    if not onednn_available():
        raise RuntimeError(
            "onednn_products=True needs torch built with oneDNN (torch.backends.mkldnn); "
            "this build has none: set onednn_products to false"
        )
    return _OneDnnLinear.apply(x, weight)
