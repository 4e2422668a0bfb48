"""rouser's numba loops run on as many threads as torch is told to use, and their results
do not depend on how many that is (each thread owns whole samples or rows, so every
element's arithmetic runs in the same order as on one thread)."""

from __future__ import annotations

import numba
import pytest
import torch

from rouser.events import EventBatch
from rouser.kernels import numba_loops as kernels
from rouser.kernels.event_product import event_linear


@pytest.fixture
def torch_threads():
    """Set torch's thread count inside a test and restore it afterwards."""
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


def _all_passes(seed: int = 0) -> list[torch.Tensor]:
    """Outputs of every numba kernel on one random float32 case (odd sizes, 9 samples)."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(37, 9, 13, generator=generator)
    th = torch.rand(13, generator=generator) + 0.5
    spikes, voltage = kernels.forward(x, th, 0.75, 0.97)
    fixed = kernels.forward_fixed(x, th, 3072, 3973)
    grad_s = torch.randn(37, 9, 13, generator=generator)
    grad_x, grad_th = kernels.backward(grad_s, voltage, th, 0.75, 0.97, 3.75, 1.5)
    events = EventBatch.from_dense(torch.rand(37, 9, 40, generator=generator) < 0.1)
    weight = torch.randn(11, 40, generator=generator, requires_grad=True)
    current = event_linear(events, weight, "numba")
    current.sum().backward()
    return [spikes, voltage, *fixed, grad_x, grad_th, current, weight.grad]


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="numba has one thread here")
def test_results_are_bit_identical_on_one_and_two_threads(torch_threads):
    torch_threads(1)
    serial = _all_passes()
    torch_threads(2)
    parallel = _all_passes()
    assert numba.get_num_threads() == 2
    for one, two in zip(serial, parallel, strict=True):
        assert torch.equal(one, two)


def test_numba_follows_torch_thread_count(torch_threads):
    for count in (numba.config.NUMBA_NUM_THREADS, 1):
        torch_threads(count)
        kernels.forward(torch.zeros(2, 1, 3), torch.ones(3), 0.5, 0.5)
        assert numba.get_num_threads() == count
