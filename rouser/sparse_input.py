r"""The first layer's synapse for event inputs, exploiting that ~99% of input bins are empty.

Event-camera and cochlea inputs are almost all zeros (NMNIST at 1 ms: ~0.6% of the 2,312
inputs per step hold a spike; SHD at 10 ms: ~2% of 700; DVS128 at 10 ms: ~1% of 32,768), and
the first layer's weights are the largest. A dense ``x @ W.T`` multiplies all the zeros; this
path finds the non-zeros once (compressed rows) and does the forward product and the weight
gradient over them alone. Measured on 2 CPU cores (numba, serial): NMNIST-sized layer
(9,600 x 2,312 -> 500) forward + weight gradient ~100 ms instead of ~600 ms dense; SHD
(3,200 x 700 -> 200) ~6 ms instead of ~25 ms (``benchmarks/bench_training_step.py``).

For an input :math:`x` ``[R, C]`` with non-zeros :math:`\mathcal{N} = \{(r, c) : x_{rc} \ne 0\}`
and weights :math:`W` ``[J, C]``, both passes visit :math:`\mathcal{N}` only:

.. math::

    y_{rj} = \sum_{c : (r, c) \in \mathcal{N}} x_{rc} W_{jc}, \qquad
    \frac{\partial L}{\partial W_{jc}} = \sum_{r : (r, c) \in \mathcal{N}} x_{rc}
        \frac{\partial L}{\partial y_{rj}}

The input never needs a gradient (it is data), so only the weight gradient is computed.
torch's own sparse conversions (``to_sparse_csr``, ``nonzero``) cost more than the dense
product here (151 ms for the NMNIST batch), which is why the scan is written out.
"""

from __future__ import annotations

import numba
import numpy as np
import torch


@numba.njit(cache=True)
def _compress_rows(x):  # pragma: no cover - compiled
    """CSR (row pointers, column indices, values) of a dense 2-D array."""
    rows, features = x.shape
    count = 0
    for r in range(rows):
        for c in range(features):
            count += x[r, c] != 0
    pointers = np.empty(rows + 1, np.int64)
    columns = np.empty(count, np.int32)
    values = np.empty(count, x.dtype)
    k = 0
    for r in range(rows):
        pointers[r] = k
        for c in range(features):
            v = x[r, c]
            if v != 0:
                columns[k] = c
                values[k] = v
                k += 1
    pointers[rows] = k
    return pointers, columns, values


@numba.njit(cache=True)
def _sparse_times_dense(pointers, columns, values, weight_t, out):  # pragma: no cover
    """``out[r] = sum over non-zeros (r, c) of x[r, c] * weight_t[c]``; out starts at zero."""
    for r in range(pointers.shape[0] - 1):
        for k in range(pointers[r], pointers[r + 1]):
            c, v = columns[k], values[k]
            for j in range(weight_t.shape[1]):
                out[r, j] += v * weight_t[c, j]


@numba.njit(cache=True)
def _sparse_transpose_times_dense(
    pointers, columns, values, grad_out, grad_w_t
):  # pragma: no cover
    """``grad_w_t[c] = sum over non-zeros (r, c) of x[r, c] * grad_out[r]``; starts at zero."""
    for r in range(pointers.shape[0] - 1):
        for k in range(pointers[r], pointers[r + 1]):
            c, v = columns[k], values[k]
            for j in range(grad_out.shape[1]):
                grad_w_t[c, j] += v * grad_out[r, j]


class SparseInputLinearFunction(torch.autograd.Function):
    """``y = x @ W.T`` for a mostly-zero CPU input ``x`` that needs no gradient."""

    @staticmethod
    def forward(ctx, x, weight):  # type: ignore[override]
        """Compresses ``x`` once, multiplies its non-zeros, keeps them for backward."""
        pointers, columns, values = _compress_rows(x.detach().contiguous().numpy())
        weight_t = weight.detach().t().contiguous()
        out = torch.zeros(x.shape[0], weight.shape[0], dtype=x.dtype)
        _sparse_times_dense(pointers, columns, values, weight_t.numpy(), out.numpy())
        ctx.csr = (pointers, columns, values)
        ctx.in_features = x.shape[1]
        return out

    @staticmethod
    def backward(ctx, grad_out):  # type: ignore[override]
        """The weight gradient over the kept non-zeros; ``x`` gets none (it is data)."""
        grad_out = grad_out.contiguous()
        grad_w_t = torch.zeros(ctx.in_features, grad_out.shape[1], dtype=grad_out.dtype)
        _sparse_transpose_times_dense(*ctx.csr, grad_out.numpy(), grad_w_t.numpy())
        return None, grad_w_t.t()


def sparse_input_linear(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``x @ weight.T`` over the non-zeros of ``x`` ``[..., in]``; CPU, and ``x`` needs no gradient."""
    if x.device.type != "cpu" or x.requires_grad:
        raise ValueError("sparse_input_linear needs a CPU input that requires no gradient")
    flat = x.reshape(-1, x.shape[-1])
    return SparseInputLinearFunction.apply(flat, weight).reshape(*x.shape[:-1], weight.shape[0])
