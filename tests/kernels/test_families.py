"""The kernel families of `rouser.kernels.FAMILIES`: the same functions in each, equal results."""

from __future__ import annotations

import pytest
import torch

from rouser import kernels


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_each_cpu_family_has_the_contract_and_agrees(backend: str) -> None:
    """forward, forward_fixed and backward, named alike, against the torch family."""
    family, reference = kernels.family(backend), kernels.family("torch")
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(20, 3, 7, generator=generator)
    th = torch.rand(7, generator=generator) + 0.5
    spikes, voltage = family.forward(x, th, 0.75, 0.97)
    expected = reference.forward(x, th, 0.75, 0.97)
    assert torch.equal(spikes, expected[0]) and torch.equal(voltage, expected[1])
    fixed = family.forward_fixed(x, th, 3072, 3973)
    assert all(
        torch.equal(a, b)
        for a, b in zip(fixed, reference.forward_fixed(x, th, 3072, 3973), strict=True)
    )
    grad_s = torch.randn(20, 3, 7, generator=generator)
    grads = family.backward(grad_s, voltage, th, 0.75, 0.97, 3.75, 1.5)
    for got, want in zip(
        grads, reference.backward(grad_s, voltage, th, 0.75, 0.97, 3.75, 1.5), strict=True
    ):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_triton_family_has_forward_and_backward() -> None:
    pytest.importorskip("triton")
    family = kernels.family("triton")
    assert callable(family.forward) and callable(family.backward)


def test_unknown_backend_names_the_families() -> None:
    with pytest.raises(
        ValueError,
        match=r"backend='cuda' has no kernel family; choose one of \['numba', 'torch', 'triton'\]",
    ):
        kernels.family("cuda")
