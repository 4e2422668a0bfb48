r"""The first layer's synapse for event inputs, exploiting that ~99% of input bins are empty.

Event-camera and cochlea inputs are almost all zeros (NMNIST at 1 ms: ~0.6% of the 2,312
inputs per step hold a spike; SHD at 10 ms: ~2% of 700; DVS128 at 10 ms: ~1% of 32,768), and
the first layer's weights are the largest. A dense ``x @ W.T`` multiplies all the zeros; this
path finds the non-zeros once (compressed rows) and does the forward product and the weight
gradient over them alone. Measured on 2 CPU cores (numba, one thread): NMNIST-sized layer
(9,600 x 2,312 -> 500) forward + weight gradient ~100 ms instead of ~600 ms dense; SHD
(3,200 x 700 -> 200) ~6 ms instead of ~25 ms (``benchmarks/bench_training_step.py``).

For an input :math:`x` ``[R, C]`` with non-zeros :math:`\mathcal{N} = \{(r, c) : x_{rc} \ne 0\}`
and weights :math:`W` ``[J, C]``, both passes visit :math:`\mathcal{N}` only:

.. math::

    y_{rj} = \sum_{c : (r, c) \in \mathcal{N}} x_{rc} W_{jc}, \qquad
    \frac{\partial L}{\partial W_{jc}} = \sum_{r : (r, c) \in \mathcal{N}} x_{rc}
        \frac{\partial L}{\partial y_{rj}}

The first layer's input never needs a gradient (it is data), so only the weight gradient
is computed. Hidden layers read spikes too (~1% of a trained network's neurons fire per
step): `spike_linear` gives them the same two passes over the previous layer's spikes, and
the input gradient :math:`\partial L / \partial y \, W` as the dense product it is (every
neuron gets a surrogate gradient), wherever the spikes are sparse enough to gain.

The input arrives in one of two forms. An `EventBatch` (what `rouser.data` loaders serve)
already is the list of non-zeros: its compressed rows are a `searchsorted` away
(`event_linear`), and no dense tensor exists at any point. A dense tensor is scanned once
(`sparse_input_linear`); torch's own conversions (``to_sparse_csr``, ``nonzero``) cost
more than the dense product here (151 ms for the NMNIST batch), which is why that scan is
written out. The products themselves run in numba on the CPU (bit-identical to the dense
scan's path, so records trained before events existed retrain identically) and in torch's
sparse CSR product (cuSPARSE) on a GPU.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numba
import numpy as np
import torch
from torch.nn import functional

from rouser.events import EventBatch
from rouser.kernels.dense_product import input_gradient, onednn_linear
from rouser.kernels.threads import follow_torch


# Both passes give each of numba's threads whole rows: the compressed rows are the same at any
# thread count. Split in two so that the hidden layers' choice (`spike_linear`) reads the
# spike count from the first pass and makes the second only where the events are used.
@numba.njit(cache=True, parallel=True)
def _row_pointers(x):  # pragma: no cover - compiled
    """CSR row pointers of a dense 2-D array: where each row's non-zeros start."""
    rows, features = x.shape
    pointers = np.empty(rows + 1, np.int64)
    pointers[0] = 0
    for r in numba.prange(rows):
        count = 0
        for c in range(features):
            count += x[r, c] != 0
        pointers[r + 1] = count
    for r in range(rows):
        pointers[r + 1] += pointers[r]
    return pointers


@numba.njit(cache=True, parallel=True)
def _fill_rows(x, pointers):  # pragma: no cover - compiled
    """CSR column indices and values of a dense 2-D array, given its `_row_pointers`."""
    rows, features = x.shape
    columns = np.empty(pointers[rows], np.int64)
    values = np.empty(pointers[rows], x.dtype)
    for r in numba.prange(rows):
        k = pointers[r]
        for c in range(features):
            v = x[r, c]
            if v != 0:
                columns[k] = c
                values[k] = v
                k += 1
    return columns, values


# The forward product gives each of numba's threads (`rouser.kernels.threads.follow_torch`) whole
# rows, so every output element sums in the order one thread would: results do not depend
# on the thread count. The weight gradient stays serial: many input rows add to each of its
# rows, and splitting its columns between threads instead measured 7x slower (and a counting
# sort by input column, each thread owning whole rows of the gradient, same bits: 1.5-2.8x
# slower at 2 threads on a loaded machine, for NMNIST's first and hidden layers).
@numba.njit(cache=True, parallel=True)
def _sparse_times_dense(pointers, columns, values, weight_t, out):  # pragma: no cover
    """``out[r] = sum over non-zeros (r, c) of x[r, c] * weight_t[c]``; out is overwritten."""
    for r in numba.prange(pointers.shape[0] - 1):
        out[r] = 0.0
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


class Csr(NamedTuple):
    """A `[n_rows, n_columns]` input in compressed rows: row `r`'s non-zeros are
    `columns[pointers[r]:pointers[r + 1]]` with `values` there. All torch tensors."""

    pointers: torch.Tensor  # int64 [n_rows + 1]
    columns: torch.Tensor  # int64 [nnz], ascending within a row
    values: torch.Tensor  # [nnz], the weight's dtype
    n_columns: int

    @property
    def n_rows(self) -> int:
        """Rows of the input (T * B for a batch)."""
        return self.pointers.numel() - 1


class _NumbaCsrLinear(torch.autograd.Function):
    """``x @ W.T`` for a CPU input in `Csr` form, by the numba scans above.

    `dense` is the same input as a tensor where it needs a gradient (hidden spikes): that
    gradient, ``dL/dy @ W``, is the dense product autograd computes for ``nn.Linear``, since
    the surrogate gives every neuron a gradient (by oneDNN with `onednn`:
    `rouser.kernels.dense_product`). A data input passes None.
    """

    @staticmethod
    def forward(ctx, weight, csr, dense=None, onednn=False):  # type: ignore[override]
        """Sums the weight rows each input row's non-zeros select."""
        weight_t = weight.detach().t().contiguous()
        out = torch.empty(csr.n_rows, weight.shape[0], dtype=weight.dtype)
        arrays = (csr.pointers.numpy(), csr.columns.numpy(), csr.values.numpy())
        follow_torch()
        _sparse_times_dense(*arrays, weight_t.numpy(), out.numpy())
        ctx.arrays, ctx.n_columns = arrays, csr.n_columns
        ctx.dense_shape = None if dense is None else dense.shape
        ctx.onednn = onednn
        ctx.save_for_backward(weight)
        return out

    @staticmethod
    def backward(ctx, grad_out):  # type: ignore[override]
        """The weight gradient over the kept non-zeros; the input's, when it has one, dense."""
        grad_out = grad_out.contiguous()
        grad_w = grad_dense = None
        if ctx.needs_input_grad[0]:
            grad_w_t = torch.zeros(ctx.n_columns, grad_out.shape[1], dtype=grad_out.dtype)
            _sparse_transpose_times_dense(*ctx.arrays, grad_out.numpy(), grad_w_t.numpy())
            grad_w = grad_w_t.t()
        if ctx.dense_shape is not None and ctx.needs_input_grad[2]:
            (weight,) = ctx.saved_tensors
            product = input_gradient(grad_out, weight) if ctx.onednn else grad_out @ weight
            grad_dense = product.view(ctx.dense_shape)
        return grad_w, None, grad_dense, None


class _TorchCsrLinear(torch.autograd.Function):
    """``x @ W.T`` for an input in `Csr` form on any device, by torch's sparse CSR product
    (cuSPARSE on a GPU). The weight gradient multiplies the transposed input, rebuilt in
    compressed rows too, so neither pass scatters with atomics."""

    @staticmethod
    def forward(ctx, weight, csr):  # type: ignore[override]
        """One sparse x dense product."""
        ctx.csr = csr
        return _sparse_matrix(csr) @ weight.detach().t()

    @staticmethod
    def backward(ctx, grad_out):  # type: ignore[override]
        """``dL/dW = (x.T @ dL/dy).T`` with ``x.T`` in compressed rows."""
        csr = ctx.csr
        lengths, device = csr.pointers.diff(), csr.columns.device
        # sizes given, so that no step waits for the GPU to report one
        rows = torch.repeat_interleave(
            torch.arange(csr.n_rows, device=device), lengths, output_size=csr.columns.numel()
        )
        order = torch.argsort(csr.columns, stable=True)  # rows already ascend within a column
        counts = torch.zeros(csr.n_columns, dtype=torch.int64, device=device)
        counts.index_add_(0, csr.columns, torch.ones_like(csr.columns))
        transposed = Csr(
            torch.cat((counts.new_zeros(1), counts.cumsum(0))),
            rows[order],
            csr.values[order],
            csr.n_rows,
        )
        return (_sparse_matrix(transposed) @ grad_out.contiguous()).t(), None


def _sparse_matrix(csr: Csr) -> torch.Tensor:
    """`csr` as a torch sparse CSR tensor (the beta-status warning is expected and muted, as is
    torch 2.11's CUDA warning that invariant checks are off: they are, on purpose, below)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta")
        warnings.filterwarnings("ignore", "Sparse invariant checks are implicitly disabled")
        return torch.sparse_csr_tensor(
            csr.pointers,
            csr.columns,
            csr.values,
            (csr.n_rows, csr.n_columns),
            check_invariants=False,  # built here from sorted positions: valid by construction
        )


def csr_linear(csr: Csr, weight: torch.Tensor, kernel: str = "auto") -> torch.Tensor:
    """``x @ weight.T`` ``[n_rows, out]`` for an input `csr`: numba on the CPU, torch's sparse
    product elsewhere (`kernel` "numba" or "torch" forces one; tests compare them)."""
    if kernel == "auto":
        kernel = "numba" if weight.device.type == "cpu" else "torch"
    if kernel not in ("numba", "torch"):
        raise ValueError(f"kernel={kernel!r} must be 'auto', 'numba' or 'torch'")
    if kernel == "numba" and weight.device.type != "cpu":
        raise ValueError(f"kernel='numba' needs CPU tensors, got the weight on {weight.device}")
    function = _NumbaCsrLinear if kernel == "numba" else _TorchCsrLinear
    return function.apply(weight, csr)


def event_csr(events: EventBatch, dtype: torch.dtype) -> Csr:
    """The batch as the `[T * B, F]` 0/1 matrix in compressed rows (no dense tensor)."""
    rows, columns = events.rows_and_columns()
    n_rows = events.time_bins * events.batch_size
    pointers = torch.searchsorted(rows, torch.arange(n_rows + 1, device=rows.device))
    values = torch.ones(events.n_events, dtype=dtype, device=rows.device)
    return Csr(pointers, columns, values, events.n_features)


def event_linear(events: EventBatch, weight: torch.Tensor, kernel: str = "auto") -> torch.Tensor:
    """The first layer's synaptic current ``[T, B, out]`` of an `EventBatch`: per step and
    sample, the sum of the weight columns of the inputs that spiked."""
    if events.n_features != weight.shape[1]:
        raise ValueError(
            f"the weight takes {weight.shape[1]} inputs, the events have {events.n_features}"
        )
    if events.device != weight.device:
        raise ValueError(f"events on {events.device}, weight on {weight.device}: move one")
    out = csr_linear(event_csr(events, weight.dtype), weight, kernel)
    return out.view(events.time_bins, events.batch_size, weight.shape[0])


def _dense_csr(flat: torch.Tensor, pointers: np.ndarray | None = None) -> Csr:
    """A dense CPU ``[rows, in]`` tensor in compressed rows (`pointers` if already counted)."""
    array = flat.numpy()
    follow_torch()
    pointers = _row_pointers(array) if pointers is None else pointers
    columns, values = _fill_rows(array, pointers)
    return Csr(*(torch.from_numpy(a) for a in (pointers, columns, values)), flat.shape[1])


def sparse_input_linear(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``x @ weight.T`` over the non-zeros of a dense ``x`` ``[..., in]``; CPU, and ``x``
    needs no gradient. (An `EventBatch` skips the scan: `event_linear`.)"""
    if x.device.type != "cpu" or x.requires_grad:
        raise ValueError("sparse_input_linear needs a CPU input that requires no gradient")
    flat = x.detach().reshape(-1, x.shape[-1]).contiguous()
    out = csr_linear(_dense_csr(flat), weight, "numba")
    return out.reshape(*x.shape[:-1], weight.shape[0])


def spike_linear(
    x: torch.Tensor, weight: torch.Tensor, max_density: float, onednn: bool = False
) -> torch.Tensor:
    """``x @ weight.T`` for hidden spikes ``x`` ``[..., in]`` on the CPU, gradients for both.

    Where at most `max_density` of ``x`` is non-zero, the forward product and the weight
    gradient visit the spikes alone (the first layer's event product); denser spikes go
    through the dense product (`functional.linear`, or `onednn_linear` with `onednn`), which
    is then faster. The input's gradient is dense either way. The choice is made per call
    from the spike count, so it depends on the data alone (never on timing) and a run repeats
    bit for bit.
    """
    if x.device.type != "cpu":
        raise ValueError(f"spike_linear runs on the CPU, got the input on {x.device}")
    flat = x.detach().reshape(-1, x.shape[-1]).contiguous()
    follow_torch()
    pointers = _row_pointers(flat.numpy())
    if pointers[-1] > max_density * flat.numel():
        return onednn_linear(x, weight) if onednn else functional.linear(x, weight)
    out = _NumbaCsrLinear.apply(weight, _dense_csr(flat, pointers), x, onednn)
    return out.view(*x.shape[:-1], weight.shape[0])
