"""`make_optimizer`: torch's foreach Adam gives the default Adam's bits; fused Adam is close."""

from __future__ import annotations

import torch

from rouser.network import build_network
from rouser.optim import make_optimizer


def trained_copies(**optimizers) -> dict[str, list[torch.Tensor]]:
    """The parameters of one network after 30 Adam steps of each optimizer on the same
    gradients: random, spanning seven decades of size, a tenth of them exactly zero (the
    gradients of silent neurons)."""
    generator = torch.Generator().manual_seed(0)
    results = {}
    for name, make in optimizers.items():
        torch.manual_seed(0)
        model = build_network((60,), (40, 30), 10)
        optimizer = make(model)
        generator.manual_seed(1)
        for _ in range(30):
            for parameter in model.parameters():
                size = 10.0 ** torch.randint(-6, 1, parameter.shape, generator=generator)
                grad = torch.randn(parameter.shape, generator=generator) * size
                keep = torch.rand(parameter.shape, generator=generator) > 0.1
                parameter.grad = grad * keep
            optimizer.step()
        results[name] = [parameter.detach().clone() for parameter in model.parameters()]
    return results


def torch_default(model: torch.nn.Module) -> torch.optim.Adam:
    """Adam as torch picks it on the CPU when not told (the per-tensor loop), same groups."""
    groups = make_optimizer(model, 1e-3, 2e-3).param_groups
    return torch.optim.Adam([{k: v for k, v in g.items() if k != "foreach"} for g in groups])


def test_foreach_adam_is_bit_identical_to_the_default() -> None:
    results = trained_copies(
        default=torch_default, rouser=lambda model: make_optimizer(model, 1e-3, 2e-3)
    )
    assert torch_default(build_network((6,), (4,), 2)).param_groups[0]["foreach"] is None
    for default, rouser in zip(results["default"], results["rouser"], strict=True):
        assert torch.equal(default, rouser)


def test_fused_adam_agrees_to_float32_rounding() -> None:
    results = trained_copies(
        default=torch_default, fused=lambda model: make_optimizer(model, 1e-3, 2e-3, fused=True)
    )
    for default, fused in zip(results["default"], results["fused"], strict=True):
        # 30 steps of at most lr each: parameters of size ~0.1, rounding ~1e-8 per step
        torch.testing.assert_close(fused, default, rtol=0, atol=1e-6)
    assert make_optimizer(build_network((6,), (4,), 2), 1e-3, 0.0, fused=True).defaults["fused"]


def test_fused_adam_resumes_from_its_state_dict_bit_for_bit() -> None:
    """A checkpointed `fast_step` run continues as if never interrupted."""

    def network() -> torch.nn.Module:
        torch.manual_seed(0)
        return build_network((12,), (8,), 3)

    def steps(model: torch.nn.Module, optimizer: torch.optim.Optimizer, seeds: range) -> None:
        for seed in seeds:
            generator = torch.Generator().manual_seed(seed)
            for parameter in model.parameters():
                parameter.grad = torch.randn(parameter.shape, generator=generator)
            optimizer.step()

    whole = network()
    steps(whole, make_optimizer(whole, 1e-3, 1e-3, fused=True), range(4))
    first = network()
    optimizer = make_optimizer(first, 1e-3, 1e-3, fused=True)
    steps(first, optimizer, range(2))
    resumed = network()
    resumed.load_state_dict(first.state_dict())
    again = make_optimizer(resumed, 1e-3, 1e-3, fused=True)
    again.load_state_dict(optimizer.state_dict())
    steps(resumed, again, range(2, 4))
    for a, b in zip(whole.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(a, b)
