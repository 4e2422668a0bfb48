"""A training step dispatches a number of ops that does not grow with the sequence length.

One step of ``nn.Linear`` + ``CubaLIF`` (forward, backward) is run under a
``TorchDispatchMode`` that counts every ATen op it sees. The fused paths loop over time
inside one kernel per pass (numba on the CPU, Triton on CUDA, here its interpreter on CPU
tensors), so the count is the same at T = 50 and T = 400; the torch loop issues ~5 ops per
step and its count grows linearly, which is why a GPU needs the Triton kernels (each op
there is a kernel launch). The interpreter's launch copies its arguments through a couple
of ATen ops that a compiled launch does not issue, so the Triton count here is an upper
bound of the GPU's.
"""

from __future__ import annotations

import os

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from rouser import CubaLIF

# Set before anything imports rouser.kernels.fused_triton (triton.jit reads it then).
os.environ["TRITON_INTERPRET"] = "1"


class OpCounter(TorchDispatchMode):
    """Counts the ATen ops dispatched while active."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        return func(*args, **(kwargs or {}))


def ops_per_step(
    backend: str, steps: int, batch: int = 2, inputs: int = 5, neurons: int = 6
) -> int:
    """Ops of one forward + backward of Linear + CubaLIF on a [steps, batch, inputs] input."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(inputs, neurons, bias=False), CubaLIF(neurons, backend=backend)
    )
    x = torch.rand(steps, batch, inputs)
    model(x).sum().backward()  # warm-up: numba compilation, lazy imports
    model.zero_grad(set_to_none=True)
    with OpCounter() as counter:
        model(x).sum().backward()
    return counter.count


@pytest.mark.parametrize("backend", ["numba", "triton"])
def test_fused_step_dispatches_the_same_ops_at_any_length(backend: str) -> None:
    if backend == "triton":
        pytest.importorskip("triton")
    assert ops_per_step(backend, 50) == ops_per_step(backend, 400)


def test_torch_loop_dispatches_ops_per_time_step() -> None:
    short, long = ops_per_step("torch", 50), ops_per_step("torch", 400)
    assert long - short >= 4 * 350  # at least 4 ops per extra step: launch-bound on a GPU
