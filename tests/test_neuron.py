"""The CUBA LIF neuron: fused paths against the per-step reference, and hand-computed cases."""

from __future__ import annotations

import math

import pytest
import torch

from rouser import CubaLIF
from rouser.dynamics import cuba_lif, cuba_lif_reference
from rouser.optim import make_optimizer

TABLE_II = {"current_decay": 0.75, "voltage_decay": 0.97, "tau": 3.75, "scale": 1.5}


def random_case(seed: int) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Inputs and thresholds that leave some neurons spiking often and some silent."""
    generator = torch.Generator().manual_seed(seed)
    steps = int(torch.randint(1, 60, (1,), generator=generator))
    batch = int(torch.randint(1, 5, (1,), generator=generator))
    neurons = int(torch.randint(1, 9, (1,), generator=generator))
    bias = torch.linspace(-0.3, 0.4, neurons, dtype=torch.float64)
    x = torch.randn(steps, batch, neurons, generator=generator, dtype=torch.float64) * 0.4 + bias
    threshold = torch.rand(neurons, generator=generator, dtype=torch.float64) * 2.0
    params = {
        "current_decay": float(torch.rand(1, generator=generator)),
        "voltage_decay": float(torch.rand(1, generator=generator)),
        "tau": float(torch.rand(1, generator=generator)) * 4 + 0.2,
        "scale": float(torch.rand(1, generator=generator)) * 3 + 0.1,
    }
    return x, threshold, params


def outputs_and_grads(fn, x, threshold, params, grad_spikes, **kw):
    x = x.clone().requires_grad_()
    threshold = threshold.clone().requires_grad_()
    spikes, voltage = fn(x, threshold, *params.values(), **kw)
    grad_x, grad_th = torch.autograd.grad((spikes * grad_spikes).sum(), (x, threshold))
    return spikes, voltage, grad_x, grad_th


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_fused_matches_reference_on_random_cases(backend: str) -> None:
    spiking_cases = silent_neurons = 0
    for seed in range(60):
        x, threshold, params = random_case(seed)
        grad_spikes = torch.randn(
            x.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)
        )
        ref = outputs_and_grads(cuba_lif_reference, x, threshold, params, grad_spikes)
        fused = outputs_and_grads(cuba_lif, x, threshold, params, grad_spikes, backend=backend)
        for name, expected, got in zip(
            ("spikes", "voltage", "grad_x", "grad_th"), ref, fused, strict=True
        ):
            torch.testing.assert_close(
                got, expected, rtol=1e-10, atol=1e-12, msg=f"{name}, seed {seed}"
            )
        spiking_cases += int(ref[0].sum() > 0)
        silent_neurons += int((ref[0].sum((0, 1)) == 0).sum())
    # The cases must exercise both regimes, or the comparison proves little.
    assert spiking_cases > 40 and silent_neurons > 20


def test_module_backends_agree_in_float32() -> None:
    torch.manual_seed(0)
    x = torch.randn(40, 3, 16) * 0.5 + 0.1
    results = []
    for backend in ("reference", "numba", "torch"):
        neuron = CubaLIF(16, backend=backend)
        xi = x.clone().requires_grad_()
        spikes = neuron(xi)
        (spikes * torch.arange(16.0)).sum().backward()
        results.append((spikes, xi.grad, neuron.threshold.grad))
    for other in results[1:]:
        for expected, got in zip(results[0], other, strict=True):
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_constant_input_spike_times_follow_the_closed_form() -> None:
    """No leak (cd=0, vd=1): V grows by c per step, so it fires every ceil(Th/c) steps."""
    c, threshold, steps = 0.3, 1.25, 40
    neuron = CubaLIF(1, threshold=threshold, current_decay=0.0, voltage_decay=1.0)
    spikes = neuron(torch.full((steps, 1, 1), c)).flatten()
    period = math.ceil(threshold / c)
    expected = [t for t in range(steps) if (t + 1) % period == 0]
    assert torch.nonzero(spikes).flatten().tolist() == expected


def test_first_spike_of_leaky_neuron_matches_formula() -> None:
    """With leak, V[t] = sum_s vd^(t-s) I[s], I[s] = c (1 - cd^(s+1)) / (1 - cd) until the first spike."""
    c, cd, vd, threshold = 0.05, 0.75, 0.97, 1.25
    current = [c * (1 - cd ** (s + 1)) / (1 - cd) for s in range(200)]
    voltage = [sum(vd ** (t - s) * current[s] for s in range(t + 1)) for t in range(200)]
    first = next(t for t, v in enumerate(voltage) if v >= threshold)
    neuron = CubaLIF(1, threshold=threshold, current_decay=cd, voltage_decay=vd)
    spikes = neuron(torch.full((200, 1, 1), c, dtype=torch.float64)).flatten()
    assert int(torch.nonzero(spikes)[0]) == first


def test_reset_sets_voltage_to_zero_after_a_spike() -> None:
    x = torch.zeros(6, 1, 1, dtype=torch.float64)
    x[0] = 2.0  # one large input: fires at t = 0, then only the decaying current remains
    spikes, voltage = cuba_lif(x, torch.tensor([1.25], dtype=torch.float64), 0.5, 0.9, 3.75, 1.5)
    assert spikes.flatten().tolist()[:2] == [1.0, 0.0]
    current = [2.0 * 0.5**t for t in range(6)]
    # After the reset at t = 0 the voltage restarts from 0: V[1] = I[1], V[2] = 0.9 V[1] + I[2].
    assert voltage[1].item() == pytest.approx(current[1])
    assert voltage[2].item() == pytest.approx(0.9 * current[1] + current[2])


def test_surrogate_gradient_matches_eq2_and_vanishes_far_below_threshold() -> None:
    threshold = torch.tensor([1.25], dtype=torch.float64, requires_grad=True)
    for v in (1.0, 1.25, 3.0, -200.0):
        x = torch.tensor([[[v]]], dtype=torch.float64, requires_grad=True)
        spikes, _ = cuba_lif(x, threshold, **TABLE_II)
        grad_x, grad_th = torch.autograd.grad(spikes.sum(), (x, threshold))
        expected = 1.5 / 3.75 * math.exp(-abs(v - 1.25) / 3.75)
        assert grad_x.item() == pytest.approx(expected)
        assert grad_th.item() == pytest.approx(-expected)  # eq. 3
    assert expected < 1e-20  # the last case, V = -200: effectively no gradient


def test_gradient_step_lowers_threshold_when_loss_wants_more_spikes() -> None:
    neuron = CubaLIF(8)
    optimizer = torch.optim.SGD(neuron.parameters(), lr=0.1)
    x = torch.rand(30, 4, 8) * 0.2  # mostly sub-threshold
    before = neuron.threshold.detach().clone()
    loss = -neuron(x).mean()  # more spikes = lower loss
    loss.backward()
    optimizer.step()
    assert (neuron.threshold.detach() < before).all()


def two_layer_net(learn_threshold: bool) -> torch.nn.Sequential:
    torch.manual_seed(3)
    return torch.nn.Sequential(
        torch.nn.Linear(5, 6, bias=False), CubaLIF(6, learn_threshold=learn_threshold)
    )


def train_steps(model: torch.nn.Module, lr_th: float, steps: int = 5) -> None:
    optimizer = make_optimizer(model, lr_w=0.01, lr_th=lr_th)
    x = torch.rand(20, 4, 5, generator=torch.Generator().manual_seed(0))
    for _ in range(steps):
        optimizer.zero_grad()
        (model(x).mean() - 0.3).pow(2).backward()
        optimizer.step()


@pytest.mark.parametrize(("learn_threshold", "lr_th"), [(False, 0.01), (True, 0.0)])
def test_frozen_thresholds_never_change_while_weights_do(
    learn_threshold: bool, lr_th: float
) -> None:
    model = two_layer_net(learn_threshold)
    weights, thresholds = model[0].weight.detach().clone(), model[1].threshold.detach().clone()
    train_steps(model, lr_th)
    assert torch.equal(model[1].threshold, thresholds)
    assert not torch.equal(model[0].weight, weights)


def test_learning_rate_zero_reproduces_the_baseline_exactly() -> None:
    baseline, rouser_off, rouser_on = two_layer_net(False), two_layer_net(True), two_layer_net(True)
    train_steps(baseline, lr_th=0.01)
    train_steps(rouser_off, lr_th=0.0)
    train_steps(rouser_on, lr_th=0.05)
    assert torch.equal(baseline[0].weight, rouser_off[0].weight)
    assert not torch.equal(rouser_on[1].threshold.detach(), torch.full((6,), 1.25))


def test_threshold_is_a_parameter_for_rouser_and_a_buffer_for_the_baseline() -> None:
    rouser_neuron, baseline = CubaLIF(7, threshold=0.5), CubaLIF(7, learn_threshold=False)
    assert isinstance(rouser_neuron.threshold, torch.nn.Parameter)
    assert rouser_neuron.threshold.shape == (7,) and rouser_neuron.threshold[0].item() == 0.5
    assert list(baseline.parameters()) == [] and "threshold" in baseline.state_dict()


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (torch.zeros(10, 4), r"\[T, B, 5\], got \[10, 4\]"),
        (torch.zeros(10, 4, 6), r"\[T, B, 5\], got \[10, 4, 6\]"),
        (torch.zeros(10, 4, 5, dtype=torch.int64), "floating-point input, got dtype torch.int64"),
        (torch.full((10, 4, 5), float("nan")), "NaN"),
    ],
)
def test_bad_input_raises_a_clear_error(x: torch.Tensor, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CubaLIF(5)(x)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"current_decay": 1.5}, "current_decay=1.5 must lie in"),
        ({"tau": 0.0}, "tau=0.0 must be > 0"),
        ({"backend": "cuda"}, "backend='cuda' is not allowed"),
    ],
)
def test_bad_parameters_name_the_parameter(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CubaLIF(5, **kwargs)


def test_record_voltage_keeps_the_pre_reset_voltage_only_when_asked() -> None:
    neuron = CubaLIF(3)
    x = torch.rand(10, 2, 3)
    neuron(x)
    assert neuron.voltage is None
    neuron.record_voltage = True
    spikes = neuron(x)
    assert neuron.voltage is not None and neuron.voltage.shape == (10, 2, 3)
    assert torch.equal(spikes, (neuron.voltage >= neuron.threshold).float())


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_unsupported_dtype_on_the_numba_loop_is_named(dtype):
    neuron = CubaLIF(4)
    with pytest.raises(
        ValueError, match=rf"float32 or float64 input, not {dtype}.*backend='torch'"
    ):
        neuron(torch.zeros(3, 2, 4, dtype=dtype))
    torch_neuron = CubaLIF(4, backend="torch").to(dtype)
    assert torch_neuron(torch.ones(3, 2, 4, dtype=dtype)).dtype == dtype  # runs in that dtype
