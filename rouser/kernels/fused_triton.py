r"""Fused Triton kernels of the CUBA neuron: the whole sequence in one launch per pass.

The CUDA kernel family (`rouser.kernels`): ``forward`` and ``backward`` compute the forward
and backward recurrences stated in `rouser.dynamics`, tested against the torch family
(`rouser.kernels.torch_loops`) and the per-step autograd ``dynamics.cuba_lif_reference``.
On a GPU the torch loop launches ~5 small kernels per time step and layer, so a
training step is launch-bound; here one program owns a block of ``BLOCK`` columns of the
flattened ``[B * N]`` axis (contiguous in memory) and loops over time with the state in
registers, so each pass is one launch reading and writing every element once, the way
SpikingJelly's multi-step Triton neurons and lava-dl's CUDA integrator work.

The threshold gradient is summed over time inside each column's program (a fixed order),
written to a ``[B, N]`` buffer and summed over the batch by ``torch.sum``: no atomics, so
the result is identical from run to run.

Inputs may be float32, float16 or bfloat16; the states and every product are float32 and
only the stored outputs take the input's dtype. A half-precision input therefore gives the
spikes of the float32 neuron on the same (half-rounded) values, not those of a neuron whose
states are rounded to half at every step as the torch loop's would be. float64 is refused:
a Triton kernel receives Python floats (the decays, ``s / tau``) as float32 arguments.

The decays are applied as two roundings (multiply, then add), exactly as the torch loop
does, and the launch disables the compiler's fused multiply-add (``enable_fp_fusion=False``)
so that on a GPU the voltages, and hence the spikes, are bit-identical to the torch loop's
(the tests check this under the interpreter; ``benchmarks/gpu.py`` checks it on a GPU).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

# Columns per program: each program is one chain of T dependent steps, so the GPU's
# parallelism is the B * N columns; 128 columns on 4 warps (one column per thread) gives
# 50-125 programs for the paper's layers (B = 32, N = 200-500: 6,400-16,000 columns).
BLOCK = 128
DTYPES = (torch.float32, torch.float16, torch.bfloat16)


@triton.jit
def _forward_kernel(
    x_ptr,
    th_ptr,
    spikes_ptr,
    voltage_ptr,
    steps,
    columns,
    neurons,
    current_decay,
    voltage_decay,
    BLOCK: tl.constexpr,
):
    column = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    inside = column < columns
    threshold = tl.load(th_ptr + column % neurons, mask=inside, other=0.0).to(tl.float32)
    current = tl.zeros([BLOCK], dtype=tl.float32)
    state = tl.zeros([BLOCK], dtype=tl.float32)
    # Pointers advance one time step (``columns`` elements) per iteration: 64-bit pointer
    # arithmetic, so T * B * N may exceed 2**31.
    x_ptrs = x_ptr + column
    spikes_ptrs = spikes_ptr + column
    voltage_ptrs = voltage_ptr + column
    for _ in range(steps):
        x = tl.load(x_ptrs, mask=inside, other=0.0).to(tl.float32)
        current = current_decay * current + x
        voltage = voltage_decay * state + current
        fire = voltage > threshold
        tl.store(voltage_ptrs, voltage.to(voltage_ptr.dtype.element_ty), mask=inside)
        spike = tl.where(fire, 1.0, 0.0)
        tl.store(spikes_ptrs, spike.to(spikes_ptr.dtype.element_ty), mask=inside)
        state = tl.where(fire, 0.0, voltage)
        x_ptrs += columns
        spikes_ptrs += columns
        voltage_ptrs += columns


@triton.jit
def _backward_kernel(
    grad_s_ptr,
    voltage_ptr,
    th_ptr,
    grad_x_ptr,
    grad_th_ptr,
    steps,
    columns,
    neurons,
    last_step,
    gain,
    inv_tau,
    current_decay,
    voltage_decay,
    BLOCK: tl.constexpr,
):
    column = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    inside = column < columns
    threshold = tl.load(th_ptr + column % neurons, mask=inside, other=0.0).to(tl.float32)
    grad_v = tl.zeros([BLOCK], dtype=tl.float32)
    grad_i = tl.zeros([BLOCK], dtype=tl.float32)
    grad_th = tl.zeros([BLOCK], dtype=tl.float32)
    # Start at step T - 1 (``last_step`` = (T - 1) * columns, computed on the host so that
    # it is a 64-bit integer when it needs to be) and walk back one step per iteration.
    grad_s_ptrs = grad_s_ptr + last_step + column
    voltage_ptrs = voltage_ptr + last_step + column
    grad_x_ptrs = grad_x_ptr + last_step + column
    for _ in range(steps):
        grad_s = tl.load(grad_s_ptrs, mask=inside, other=0.0).to(tl.float32)
        voltage = tl.load(voltage_ptrs, mask=inside, other=0.0).to(tl.float32)
        g = grad_s * gain * tl.exp(-tl.abs(voltage - threshold) * inv_tau)
        grad_th += g
        grad_v = g + voltage_decay * grad_v
        grad_i = grad_v + current_decay * grad_i
        tl.store(grad_x_ptrs, grad_i.to(grad_x_ptr.dtype.element_ty), mask=inside)
        grad_s_ptrs -= columns
        voltage_ptrs -= columns
        grad_x_ptrs -= columns
    tl.store(grad_th_ptr + column, -grad_th, mask=inside)


# ``triton.jit`` returns an interpreter (numpy on the host) instead of a compiled kernel when
# TRITON_INTERPRET=1 was set before this module was imported: how the tests run on a CPU.
INTERPRETED = not isinstance(_forward_kernel, triton.runtime.JITFunction)


def _check(x: torch.Tensor, th: torch.Tensor) -> None:
    """Raise a ValueError for what the kernels cannot take (they index raw memory)."""
    if x.device.type != "cuda" and not INTERPRETED:
        raise ValueError(
            f"backend='triton' runs on CUDA tensors, got device {x.device} "
            "(CPU tensors only under TRITON_INTERPRET=1, for testing)"
        )
    if x.dtype not in DTYPES:
        raise ValueError(
            f"backend='triton' takes float32, float16 or bfloat16 inputs, got {x.dtype}; "
            "use backend='torch' (or 'numba' on the CPU) for float64"
        )
    if x.dim() != 3 or not x.is_contiguous() or not th.is_contiguous():
        raise ValueError("the Triton kernels take a contiguous [T, B, N] input and [N] threshold")
    if th.shape != (x.shape[2],):
        raise ValueError(f"threshold has shape {list(th.shape)}, expected [{x.shape[2]}]")


def forward(
    x: torch.Tensor, th: torch.Tensor, cd: float, vd: float, block: int = BLOCK
) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward pass of ``x`` [T, B, N]: (spikes, pre-reset voltage), both in ``x``'s dtype.

    ``block`` (a power of two) is the number of columns per program; tests lower it to
    exercise several programs and a ragged last block on small tensors.
    """
    _check(x, th)
    spikes = torch.empty_like(x)
    voltage = torch.empty_like(x)
    steps, columns = x.shape[0], x.shape[1] * x.shape[2]
    if x.numel():
        _forward_kernel[(triton.cdiv(columns, block),)](
            x,
            th,
            spikes,
            voltage,
            steps,
            columns,
            x.shape[2],
            float(cd),
            float(vd),
            BLOCK=block,
            num_warps=max(1, block // 32),
            enable_fp_fusion=False,
        )
    return spikes, voltage


def backward(
    grad_s: torch.Tensor,
    voltage: torch.Tensor,
    th: torch.Tensor,
    cd: float,
    vd: float,
    tau: float,
    scale: float,
    block: int = BLOCK,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Backward pass from dL/dS [T, B, N]: (dL/dx [T, B, N] in its dtype, dL/dTh [N] float32)."""
    _check(grad_s, th)
    if voltage.shape != grad_s.shape or not voltage.is_contiguous():
        raise ValueError("voltage must be contiguous and shaped like grad_s")
    steps, batch, neurons = grad_s.shape
    grad_x = torch.empty_like(grad_s)
    grad_th = torch.zeros(batch, neurons, dtype=torch.float32, device=grad_s.device)
    if grad_s.numel():
        _backward_kernel[(triton.cdiv(batch * neurons, block),)](
            grad_s,
            voltage,
            th,
            grad_x,
            grad_th,
            steps,
            batch * neurons,
            neurons,
            (steps - 1) * batch * neurons,
            scale / tau,
            1.0 / tau,
            float(cd),
            float(vd),
            BLOCK=block,
            num_warps=max(1, block // 32),
            enable_fp_fusion=False,
        )
    return grad_x, grad_th.sum(0)
