"""The Triton kernels against the reference neuron, run on the CPU by Triton's interpreter.

``TRITON_INTERPRET=1`` must be set before ``rouser.kernels.fused_triton`` is imported (``triton.jit``
decides then whether to compile or interpret), so it is set here before the import; the
module is skipped where triton is not installed. The interpreter executes each program with
numpy, one block at a time, so the cases are small: a few dozen steps and columns, with a
block of 8 or 16 columns so that several programs and a ragged last block run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

os.environ["TRITON_INTERPRET"] = "1"
kernels_triton = pytest.importorskip("rouser.kernels.fused_triton")

from rouser import CubaLIF  # noqa: E402
from rouser.dynamics import TRITON_FIXED_POINT, cuba_lif, resolve_backend  # noqa: E402
from rouser.kernels import torch_loops  # noqa: E402

TABLE_II = {"current_decay": 0.75, "voltage_decay": 0.97, "tau": 3.75, "scale": 1.5}


def max_relative_error(got: torch.Tensor, expected: torch.Tensor) -> float:
    """Largest error relative to the largest expected magnitude (threshold gradients are sums
    of terms of both signs, so an element-wise relative error would measure cancellation)."""
    scale = expected.abs().max().clamp_min(torch.finfo(torch.float32).tiny)
    return float((got.float() - expected.float()).abs().max() / scale)


def random_case(seed: int) -> tuple[torch.Tensor, torch.Tensor, dict, int]:
    """A float32 case with some neurons firing often and some silent, and a small block."""
    generator = torch.Generator().manual_seed(seed)
    steps = int(torch.randint(1, 25, (1,), generator=generator))
    batch = int(torch.randint(1, 4, (1,), generator=generator))
    neurons = int(torch.randint(1, 12, (1,), generator=generator))
    bias = torch.linspace(-0.3, 0.4, neurons)
    x = torch.randn(steps, batch, neurons, generator=generator) * 0.4 + bias
    threshold = torch.rand(neurons, generator=generator) * 2.0
    params = {
        "current_decay": float(torch.rand(1, generator=generator)),
        "voltage_decay": float(torch.rand(1, generator=generator)),
        "tau": float(torch.rand(1, generator=generator)) * 4 + 0.2,
        "scale": float(torch.rand(1, generator=generator)) * 3 + 0.1,
    }
    return x, threshold, params, 8 if seed % 2 else 16


def test_kernels_match_the_torch_kernels_on_random_shapes() -> None:
    """Spikes and voltages bit for bit; gradients to 1e-5 of their largest magnitude."""
    spiking = silent = ragged = 0
    for seed in range(24):
        x, th, p, block = random_case(seed)
        cd, vd = p["current_decay"], p["voltage_decay"]
        spikes, voltage = kernels_triton.forward(x, th, cd, vd, block=block)
        expected_spikes, expected_voltage = torch_loops.forward(x, th, cd, vd)
        assert torch.equal(spikes, expected_spikes), f"seed {seed}"
        assert torch.equal(voltage, expected_voltage), f"seed {seed}"
        grad_s = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))
        args = (cd, vd, p["tau"], p["scale"])
        grads = kernels_triton.backward(grad_s, voltage, th, *args, block=block)
        for got, expected in zip(
            grads, torch_loops.backward(grad_s, voltage, th, *args), strict=True
        ):
            assert max_relative_error(got, expected) < 1e-5, f"seed {seed}"
        spiking += int(spikes.sum() > 0)
        silent += int((spikes.sum((0, 1)) == 0).sum())
        ragged += int(x.shape[1] * x.shape[2] % block != 0 and x.shape[1] * x.shape[2] > block)
    assert spiking > 15 and silent > 5 and ragged > 5


@pytest.mark.parametrize(("batch", "neurons"), [(3, 50), (1, 7), (2, 128)])
def test_module_matches_the_reference_backend(batch: int, neurons: int) -> None:
    """``CubaLIF(n, backend="triton")`` against ``backend="reference"``, default block of 128:
    150 columns leave a ragged second program, 7 a mostly empty one, 256 two full ones."""
    torch.manual_seed(batch * neurons)
    x = torch.randn(16, batch, neurons) * 0.5 + torch.linspace(-0.4, 0.5, neurons)
    grad_spikes = torch.randn(x.shape)
    results = []
    for backend in ("reference", "triton"):
        neuron = CubaLIF(neurons, threshold=0.8, backend=backend, **TABLE_II)
        xi = x.clone().requires_grad_()
        spikes = neuron(xi)
        (spikes * grad_spikes).sum().backward()
        results.append((spikes, xi.grad, neuron.threshold.grad))
    (ref_spikes, ref_grad_x, ref_grad_th), (spikes, grad_x, grad_th) = results
    assert torch.equal(spikes, ref_spikes)
    firing = ref_spikes.sum((0, 1))
    assert (firing > 0).any() and (firing == 0).any()  # spiking and silent neurons
    assert max_relative_error(grad_x, ref_grad_x) < 1e-5
    assert max_relative_error(grad_th, ref_grad_th) < 1e-5


def test_voltage_equal_to_threshold_does_not_fire() -> None:
    """Strict comparison: without leak V climbs 0.25, 0.5, 0.75; Th = 0.5 fires at 0.75 only."""
    x = torch.full((3, 1, 1), 0.25)
    spikes, voltage = cuba_lif(x, torch.tensor([0.5]), 0.0, 1.0, 1.0, 1.0, backend="triton")
    assert voltage.flatten().tolist() == [0.25, 0.5, 0.75]
    assert spikes.flatten().tolist() == [0.0, 0.0, 1.0]


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_keeps_float32_state(dtype: torch.dtype) -> None:
    """A half input fires exactly like the float32 neuron fed the same (rounded) values;
    outputs are stored in half, so the input gradient agrees to half precision only."""
    torch.manual_seed(0)
    x = (torch.randn(20, 2, 9) * 0.5 + 0.2).to(dtype)
    th = torch.rand(9).to(dtype) + 0.5
    spikes, voltage = kernels_triton.forward(x, th, 0.75, 0.97, block=8)
    expected_spikes, expected_voltage = torch_loops.forward(x.float(), th.float(), 0.75, 0.97)
    assert spikes.dtype == voltage.dtype == dtype
    assert torch.equal(spikes.float(), expected_spikes)
    # One unit in the last place: Triton's interpreter truncates float32 to bfloat16 where a
    # GPU rounds to nearest.
    eps = torch.finfo(dtype).eps
    torch.testing.assert_close(voltage.float(), expected_voltage, rtol=eps, atol=0)
    grad_s = torch.randn(x.shape).to(dtype)
    grad_x, grad_th = kernels_triton.backward(grad_s, voltage, th, 0.75, 0.97, 3.75, 1.5)
    expected = torch_loops.backward(
        grad_s.float(), voltage.float(), th.float(), 0.75, 0.97, 3.75, 1.5
    )
    assert grad_x.dtype == dtype and grad_th.dtype == torch.float32
    assert max_relative_error(grad_x, expected[0]) < 2 * eps
    assert max_relative_error(grad_th, expected[1]) < 1e-5


def test_threshold_gradient_is_identical_run_to_run() -> None:
    x, th, p, _ = random_case(3)
    _, voltage = kernels_triton.forward(x, th, p["current_decay"], p["voltage_decay"])
    args = (voltage, th, *p.values())
    first = kernels_triton.backward(torch.ones_like(x), *args)
    second = kernels_triton.backward(torch.ones_like(x), *args)
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


def test_empty_sequence_gives_empty_outputs() -> None:
    x = torch.zeros(0, 2, 3)
    spikes, voltage = kernels_triton.forward(x, torch.ones(3), 0.75, 0.97)
    assert spikes.shape == voltage.shape == (0, 2, 3)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: CubaLIF(4, fixed_point=True, backend="triton"), "fixed_point=True has no"),
        (
            lambda: cuba_lif(
                torch.zeros(2, 1, 1), torch.ones(1), **TABLE_II, backend="triton", fixed_point=True
            ),
            "fixed_point=True has no",
        ),
        (
            lambda: kernels_triton.forward(
                torch.zeros(2, 1, 1, dtype=torch.float64),
                torch.ones(1, dtype=torch.float64),
                0.5,
                0.5,
            ),
            "float32, float16 or bfloat16 inputs, got torch.float64",
        ),
    ],
)
def test_what_the_kernels_cannot_run_raises_a_clear_error(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
    assert "torch" in TRITON_FIXED_POINT


def test_auto_picks_triton_on_cuda_and_falls_back_with_one_warning(monkeypatch) -> None:
    """The choice itself needs no GPU: it reads only the device type and whether triton imports."""
    cuda = torch.device("cuda")
    assert resolve_backend("auto", torch.device("cpu")) == "numba"
    assert resolve_backend("auto", cuda) == "triton"
    with pytest.warns(RuntimeWarning, match="torch loop on cuda.*fixed_point=True has no Triton"):
        assert resolve_backend("auto", cuda, fixed_point=True) == "torch"
    monkeypatch.setattr("rouser.dynamics.triton_unavailable", lambda: "triton does not import")
    with pytest.warns(RuntimeWarning, match="triton does not import") as record:
        assert resolve_backend("auto", cuda) == "torch"
        assert resolve_backend("auto", cuda) == "torch"
    assert len(record) == 1
    with pytest.raises(ValueError, match="backend='triton' cannot run: triton does not import"):
        resolve_backend("triton", cuda)


def test_gpu_benchmark_runs_on_the_cpu_in_seconds() -> None:
    """``benchmarks/gpu.py --device cpu --quick --concurrent 1 2``: every row, the epoch and
    two concurrent runs (worker processes, as on a GPU), tiny sizes."""
    root = Path(__file__).resolve().parents[2]
    script = str(root / "benchmarks" / "gpu.py")
    result = subprocess.run(
        [sys.executable, script, "--device", "cpu", "--quick", "--concurrent", "1", "2"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "triton" in result.stdout and "synthetic NMNIST epoch" in result.stdout
    assert re.search(r"^\s+2\s+\d+\s+\d+\s+[\d.]+x$", result.stdout, re.M), result.stdout
