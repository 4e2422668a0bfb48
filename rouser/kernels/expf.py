r"""The float32 exponential of eq. 2, written out so that numba can vectorise the loops using it.

The surrogate (eq. 2) takes one exponential per neuron, time step and sample. numba compiles
``math.exp`` on a float32 to a call of the C library's ``expf`` for every element, and a
loop holding a call is not vectorised: measured on one core, a ``[100, 128, 200]`` backward
pass took 18.3 ms, and 3.2 ms with the exponential removed.

`expf` computes what glibc's ``expf`` computes, operation for operation (the algorithm of
ARM's optimized-routines, which glibc ships): :math:`e^x = 2^{k/32} \, 2^{r/32}` with
:math:`k` the nearest integer to :math:`32 x / \ln 2`, :math:`2^{k/32}` from a 32-entry table
of doubles, and :math:`2^{r/32}` from a cubic in double precision, rounded once to float32.
The multiply-adds are fused, as glibc's x86-64 build runs them on every CPU with FMA. Its
results equal glibc's bit for bit: the tests compare all :math:`2^{32}` float32 inputs
where the C library is glibc on an x86-64 CPU with FMA. That is what keeps the
committed training records, computed with ``math.exp``, reproducible bit for bit, while the
backward loop now vectorises (on AVX2: 4 doubles per instruction and one gather
from the table, read from the compiled code). It is also independent of the C library, so
other platforms get glibc's values too.

Example::

    >>> import numpy as np
    >>> from rouser.kernels.expf import exp_array
    >>> exp_array(np.array([0.0, -1.0, -200.0], dtype=np.float32)).tolist()
    [1.0, 0.3678794503211975, 0.0]
"""

from __future__ import annotations

import decimal
import math

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

TABLE_BITS = 5
_N = 1 << TABLE_BITS


def _table() -> np.ndarray:
    """``bits(2^(i/32)) - (i << 47)``: the power of two in double, its exponent field
    pre-subtracted so that adding ``k << 47`` puts :math:`2^{\\lfloor k/32 \\rfloor}` back.

    Computed with 40 significant digits and converted once (correctly rounded), so every
    entry is the double nearest :math:`2^{i/32}`, the value glibc's table holds."""
    with decimal.localcontext() as context:
        context.prec = 40
        ln2 = decimal.Decimal(2).ln()
        powers = [float((decimal.Decimal(i) / _N * ln2).exp()) for i in range(_N)]
    bits = np.array(powers, dtype=np.float64).view(np.int64)
    return bits - (np.arange(_N, dtype=np.int64) << (52 - TABLE_BITS))


_TABLE = _table()
_INV_LN2_N = float.fromhex("0x1.71547652b82fep+0") * _N  # 32 / ln 2, rounded
_SHIFT = float.fromhex("0x1.8p+52")  # adding it rounds to an integer held in the low bits
# glibc's minimax cubic for 2^(r/32) - 1 on |r| <= 1/2, coefficients of r^3, r^2, r
_C0 = float.fromhex("0x1.c6af84b912394p-5") / _N**3
_C1 = float.fromhex("0x1.ebfce50fac4f3p-3") / _N**2
_C2 = float.fromhex("0x1.62e42ff0c52d6p-1") / _N
_UNDERFLOW = np.float32(float.fromhex("-0x1.9fe368p6"))  # below: e^x < 2^-150 rounds to 0
_OVERFLOW = np.float32(float.fromhex("0x1.62e42ep6"))  # above: e^x > largest float32


@intrinsic
def _bits(typingctx, value):  # pragma: no cover - compiled
    """The int64 holding a float64's bits (no conversion)."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _from_bits(typingctx, bits):  # pragma: no cover - compiled
    """The float64 whose bits an int64 holds."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def _fma(typingctx, a, b, c):  # pragma: no cover - compiled
    """``a * b + c`` rounded once (LLVM's fma: one instruction on CPUs with FMA)."""

    def codegen(context, builder, signature, args):
        double = ir.DoubleType()
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(double, [double] * 3), "llvm.fma.f64"
        )
        return builder.call(function, args)

    return types.float64(types.float64, types.float64, types.float64), codegen


@numba.njit(cache=True, inline="always")
def expf(x):  # pragma: no cover - compiled
    """:math:`e^x` of a float32, as a float32 equal to glibc's ``expf(x)``; branch-free."""
    xd = np.float64(x)
    shifted = _fma(_INV_LN2_N, xd, _SHIFT)  # k + SHIFT: k, the nearest integer, in low bits
    k = _bits(shifted)
    kd = shifted - _SHIFT
    r = _fma(_INV_LN2_N, xd, -kd)  # 32 x / ln 2 - k, in [-1/2, 1/2]
    scale = _from_bits(_TABLE[k & (_N - 1)] + (k << (52 - TABLE_BITS)))  # 2^(k/32)
    z = _fma(_C0, r, _C1)
    y = _fma(_C2, r, 1.0)
    y = _fma(z, r * r, y)
    result = np.float32(y * scale)
    result = np.float32(0.0) if x < _UNDERFLOW else result
    result = np.float32(np.inf) if x > _OVERFLOW else result
    return x if x != x else result  # NaN stays NaN


@numba.njit(cache=True)
def _exp_into(x, out):  # pragma: no cover - compiled
    for i in range(x.shape[0]):
        out[i] = expf(x[i])


def exp_array(x: np.ndarray) -> np.ndarray:
    """`expf` of every element of a 1-D float32 array (for tests and examples)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    out = np.empty_like(x)
    _exp_into(x, out)
    return out


def exp(x: float) -> float:
    """:math:`e^x` inside numba code: `expf` for a float32, the C library's for a float64."""
    return math.exp(x)


@overload(exp, inline="always")
def _exp_for(x):  # pragma: no cover - compiled
    if x == types.float32:
        return lambda x: expf(x)
    return lambda x: math.exp(x)
