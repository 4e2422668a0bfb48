"""`rouser.kernels.expf.expf`: glibc's float32 exponential, written out so that numba vectorises it.

The neuron's CPU backward pass (and so every committed training record) depends on each bit
of this function; it must equal the C library's ``expf`` that the records were trained with.
"""

from __future__ import annotations

import math
import platform
from pathlib import Path

import numba
import numpy as np
import pytest

from rouser.kernels.expf import exp_array, expf


def _glibc_with_fma() -> bool:
    """Whether libm's expf is glibc's fused-multiply-add build (the one `expf` mirrors)."""
    if platform.libc_ver()[0] != "glibc" or platform.machine() != "x86_64":
        return False
    cpuinfo = Path("/proc/cpuinfo")
    return cpuinfo.exists() and " fma " in cpuinfo.read_text()


needs_glibc_fma = pytest.mark.skipif(
    not _glibc_with_fma(), reason="the C library is not glibc on an x86-64 CPU with FMA"
)


@numba.njit(parallel=True)
def _count_differences(first: int, stop: int, stride: int) -> int:  # pragma: no cover
    """Float32 bit patterns ``first, first + stride, ... < stop`` where `expf` and the C
    library's ``expf`` (numba's ``math.exp`` on a float32) differ; NaN equals NaN."""
    chunks = 256
    counts = np.zeros(chunks, np.int64)
    per_chunk = (stop - first) // stride // chunks + 1
    for chunk in numba.prange(chunks):
        cell = np.empty(1, np.uint32)
        for i in range(chunk * per_chunk, min((chunk + 1) * per_chunk, (stop - first) // stride)):
            cell[0] = first + i * stride
            x = cell.view(np.float32)[0]
            ours, libm = expf(x), math.exp(x)
            counts[chunk] += not (ours == libm or (ours != ours and libm != libm))
    return counts.sum()


def test_special_values_and_the_ends_of_the_range() -> None:
    x = np.array([0.0, -0.0, 1.0, -1.0, -np.inf, np.inf, np.nan, -200.0, 200.0], np.float32)
    got = exp_array(x)
    assert got[:2].tolist() == [1.0, 1.0]
    assert got[2] == np.float32(math.e) and got[3] == np.float32(math.exp(-1.0))
    assert got[4] == 0.0 and got[5] == np.inf and np.isnan(got[6])
    assert got[7] == 0.0 and got[8] == np.inf
    # the smallest subnormal survives just above glibc's cut-off; just below, 0
    cut = np.float32(float.fromhex("-0x1.9fe368p6"))
    above, below = np.nextafter(cut, np.float32(0)), np.nextafter(cut, np.float32(-np.inf))
    assert exp_array(np.array([above, below], np.float32)).tolist() == [
        float(np.float32(math.exp(float(above)))),
        0.0,
    ]


def test_within_one_float32_step_of_the_exact_value() -> None:
    """Every 4,099th float32 in [-104, 88.7]: within one unit in the last place of e^x."""
    x = np.concatenate(
        [
            -np.arange(0, 0x42D00000, 4099, dtype=np.uint32).view(np.float32),
            np.arange(0, 0x42B17000, 4099, dtype=np.uint32).view(np.float32),
        ]
    )
    exact = np.exp(x.astype(np.float64))
    got = exp_array(x).astype(np.float64)
    spacing = np.spacing(exact.astype(np.float32)).astype(np.float64)
    assert np.all(np.abs(got - exact) <= spacing)


@needs_glibc_fma
def test_equals_the_c_library_on_every_float32_sampled() -> None:
    """Every 4,099th float32 bit pattern (a million inputs): bit for bit glibc's expf."""
    assert _count_differences(0, 2**32, 4099) == 0


@pytest.mark.slow
@needs_glibc_fma
def test_equals_the_c_library_on_all_float32() -> None:
    """All 2^32 float32 bit patterns (~20 s on 2 cores): bit for bit glibc's expf."""
    assert _count_differences(0, 2**32, 1) == 0
