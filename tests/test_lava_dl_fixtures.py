"""rouser's CubaLIF against reference vectors computed by lava-dl's own code.

Why a fixture and not lava-dl: lava-dl does not install on Python 3.11, and rouser must not
vendor it. `workflow/scripts/lava_dl_fixtures.py` executes lava-dl's unmodified source (its
`cuba.Neuron`, `_li_dynamics_fwd`, `right_shift_to_zero`) at a recorded commit and stores
inputs, lava-dl's pre-reset voltages and spikes in `tests/fixtures/lava_dl_cuba.npz`. These
tests hold `CubaLIF(..., fixed_point=True)` to them exactly (voltages to the bit: both sides
are integers in units of 1/4096 divided by 4096 in float32, so there is no rounding to
forgive), on every backend, and measure how far the float path is from them.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import torch

import rouser

FIXTURE = Path(__file__).parent / "fixtures" / "lava_dl_cuba.npz"
BACKENDS = ("numba", "torch", "reference")
UNITS = 4096  # lava-dl's state scale s_scale: one unit is 1/4096
# rouser states decays as fractions KEPT; lava-dl's 0.25 / 0.03 are fractions LOST.
CURRENT_DECAY, VOLTAGE_DECAY = 0.75, 0.97
# Float path vs lava-dl on the random cases: at most this fraction of [T, B, N] elements may
# differ (measured 0.9%, 3.1% and 0.3% at Th = 1.25, 0.25, 0; see `test_float_path_near_lava`).
FLOAT_MISMATCH_BOUND = 0.05


@cache
def fixture() -> dict[str, np.ndarray]:
    """The npz's arrays (loaded once; 0.3 MB)."""
    with np.load(FIXTURE, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def case_names() -> list[str]:
    return [str(name) for name in fixture()["case_names"]]


def case(name: str) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """(input [T, B, N] float32, threshold, lava-dl voltage float32, lava-dl spikes uint8)."""
    data = fixture()
    return (
        data[f"{name}__input"],
        float(data[f"{name}__threshold"]),
        data[f"{name}__voltage"],
        data[f"{name}__spikes"],
    )


def run_rouser(
    x: np.ndarray, threshold: float, backend: str, fixed_point: bool
) -> tuple[np.ndarray, np.ndarray]:
    """rouser's (spikes, pre-reset voltage), both [T, B, N], for the fixture's parameters."""
    neuron = rouser.CubaLIF(
        x.shape[-1],
        threshold=threshold,
        current_decay=CURRENT_DECAY,
        voltage_decay=VOLTAGE_DECAY,
        learn_threshold=False,
        fixed_point=fixed_point,
        backend=backend,
    )
    neuron.record_voltage = True
    with torch.no_grad():
        spikes = neuron(torch.from_numpy(x))
    assert neuron.voltage is not None
    return spikes.numpy(), neuron.voltage.numpy()


def first_difference(name: str, x: np.ndarray, ours: np.ndarray, theirs: np.ndarray) -> str:
    """Where and by how many 1/4096 units two [T, B, N] arrays first differ (earliest t)."""
    t, b, n = (int(i) for i in np.argwhere(ours != theirs)[0])
    return (
        f"{name}: {int((ours != theirs).sum())} of {ours.size} elements differ; first at "
        f"t={t}, b={b}, n={n}: rouser {ours[t, b, n]!r} ({ours[t, b, n] * UNITS:.4f} units), "
        f"lava-dl {theirs[t, b, n]!r} ({theirs[t, b, n] * UNITS:.4f} units); input there "
        f"{x[t, b, n]!r} ({x[t, b, n] * UNITS:.4f} units, lava-dl truncates it toward zero)"
    )


def test_fixture_is_lava_dl_semantics() -> None:
    """The fixture says what the rest relies on: its provenance and lava-dl's arithmetic."""
    data = fixture()
    meta = json.loads(str(data["meta"]))
    assert len(meta["lava_dl_commit"]) == 40
    assert meta["script"] == "workflow/scripts/lava_dl_fixtures.py"
    assert float(data["current_decay_lost"]) == pytest.approx(1 - CURRENT_DECAY)
    assert float(data["voltage_decay_lost"]) == pytest.approx(1 - VOLTAGE_DECAY)
    assert (int(data["current_decay_int"]), int(data["voltage_decay_int"])) == (1024, 123)
    assert {case(name)[1] for name in case_names()} == {1.25, 0.25, 0.0}
    for name in case_names():
        x, th, voltage, spikes = case(name)
        assert x.dtype == voltage.dtype == np.float32 and x.shape == voltage.shape == spikes.shape
        # States are whole units of 1/4096; the comparison is strict (V > Th, not >=).
        assert np.array_equal(voltage * UNITS, np.round(voltage * UNITS))
        assert np.array_equal(spikes, (voltage > th).astype(np.uint8)), name
    assert not case("rest_th0.0")[3].any(), "a resting neuron fires in lava-dl at Th = 0?"
    for th in (1.25, 0.25, 0.0):
        spikes = case(f"random_th{th}")[3]
        fired = spikes.max(axis=0)  # [B, N]
        assert 0.05 < fired.mean() < 0.95, "want neurons that fire and neurons that stay silent"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", case_names())
def test_fixed_point_equals_lava_dl(name: str, backend: str) -> None:
    """fixed_point=True reproduces lava-dl's voltages to the bit and its spikes exactly."""
    x, th, voltage, spikes = case(name)
    ours_spikes, ours_voltage = run_rouser(x, th, backend, fixed_point=True)
    assert ours_voltage.dtype == np.float32
    assert np.array_equal(ours_voltage, voltage), first_difference(name, x, ours_voltage, voltage)
    assert np.array_equal(ours_spikes, spikes.astype(ours_spikes.dtype)), first_difference(
        name, x, ours_spikes, spikes.astype(ours_spikes.dtype)
    )


@pytest.mark.parametrize("th", [1.25, 0.25, 0.0])
def test_float_path_near_lava(th: float) -> None:
    """The float path differs from lava-dl's fixed point only in a small fraction of spikes.

    Why not zero: lava-dl truncates inputs to 1/4096, keeps 3973/4096 (not 0.97) of the
    voltage and rounds each decayed state toward zero, so a neuron's voltage drifts by a few
    units and a spike near threshold moves by a step (two mismatched elements per move).
    """
    name = f"random_th{th}"
    x, _, _, spikes = case(name)
    ours, _ = run_rouser(x, th, "auto", fixed_point=False)
    mismatch = float((ours != spikes).mean())
    count = abs(float(ours.sum()) - float(spikes.sum())) / float(spikes.sum())
    assert mismatch <= FLOAT_MISMATCH_BOUND, (
        f"{name}: float path differs from lava-dl in {mismatch:.2%} of elements "
        f"({int((ours != spikes).sum())} for {int(spikes.sum())} lava-dl spikes)"
    )
    assert count <= FLOAT_MISMATCH_BOUND, f"{name}: spike counts differ by {count:.2%}"


def test_float_path_rest_is_silent() -> None:
    """At Th = 0 a neuron at rest stays silent on the float path too (strict threshold)."""
    x, th, _, _ = case("rest_th0.0")
    ours, voltage = run_rouser(x, th, "auto", fixed_point=False)
    assert not ours.any() and not voltage.any()
