"""The compiled loops behind ``fused`` (imported only when numba is installed).

Every kernel is generic over float32 and float64 and releases the GIL, so the two halves of a step
(``numpy_engine/parallel.py``) run them on two cores. Fast-math is limited to fused multiply-adds and
reassociated row sums (see the decorators), so a kernel's float64 result matches the numpy reference to a few
ulps and its gradient check means what it says.

exp: float64 calls libm. float32 uses ``_exp32`` below, which LLVM vectorises (libm's scalar expf would
cost 3x numpy's exp; this costs a third of it): exp(x) = 2^k exp(r) with k = round(x / ln 2), so
|r| <= ln(2)/2, and exp(r) by its Taylor series to r^7 (truncation < 6e-9 relative). Measured against
float64 over [-87, 88] (2.1M points): at most 0.89 ulp, with the fused multiply-adds (numpy's float32
exp: 2.41).
"""
from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

# error_model="numpy": a division by zero gives inf/nan as in numpy, without the branch that raises
# ZeroDivisionError (which would stop LLVM vectorising the loops). "contract" lets a multiply and an add become
# one fused multiply-add (one rounding instead of two: 1.6x faster on the GELU). Row sums may also be
# reassociated, so that they vectorise: a sum's order then depends on the machine's vector width (as numpy's and
# BLAS's own sums do), still the same bytes on every run on one machine. Adam stays strict: its bytes match the
# numpy reference's.
_jit = numba.njit(nogil=True, cache=True, error_model="numpy", fastmath={"contract"})
KERNELS = ("gelu_forward", "gelu_backward", "norm_forward", "norm_backward", "causal_softmax", "softmax_backward",
           "adam_update")
_jit_sums = numba.njit(nogil=True, cache=True, error_model="numpy", fastmath={"contract", "reassoc"})
_jit_strict = numba.njit(nogil=True, cache=True, error_model="numpy")

_LOG2E = np.float32(1.4426950408889634)
_LN2_HI = np.float32(0.693359375)          # ln 2 in 9 bits: k * _LN2_HI is exact for every k we meet
_LN2_LO = np.float32(-2.1219444005469057e-4)
_EXP_MIN = np.float32(-87.33654)           # below: the result would be subnormal; we return 0
_EXP_MAX = np.float32(88.72283)            # above: inf
_INV_FACT = tuple(np.float32(1.0 / math.factorial(i)) for i in range(8))
_F0, _F1, _F2, _F3, _F4, _F5, _F6, _F7 = _INV_FACT
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_HALF = math.sqrt(0.5)


@intrinsic
def _float32_from_bits(typingctx, bits):
    """The float32 whose IEEE bits are the int32 ``bits`` (a free reinterpretation, as C's memcpy)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())
    return types.float32(types.int32), codegen


@numba.njit(inline="always", error_model="numpy")
def _exp32(x):
    xc = min(max(x, _EXP_MIN), _EXP_MAX)
    k = np.floor(xc * _LOG2E + np.float32(0.5))
    r = xc - k * _LN2_HI
    r = r - k * _LN2_LO
    p = _F7 * r + _F6
    p = p * r + _F5
    p = p * r + _F4
    p = p * r + _F3
    p = p * r + _F2
    p = p * r + _F1
    p = p * r + _F0
    ki = np.int32(k)
    # 2^k as two factors so that k = 128 (results in [2^127.5, FLT_MAX]) stays finite
    half = ki >> np.int32(1)
    scaled = p * _float32_from_bits((half + np.int32(127)) << np.int32(23))
    scaled = scaled * _float32_from_bits((ki - half + np.int32(127)) << np.int32(23))
    if x < _EXP_MIN:
        return np.float32(0.0)
    if x > _EXP_MAX:
        return np.float32(np.inf)
    if x != x:
        return x                             # NaN stays NaN (a diverged run must show it)
    return scaled


def exp(x):
    """exp in the dtype of ``x``: the vectorisable _exp32 for float32, libm for float64."""
    raise NotImplementedError    # compiled only, through the overload below


@overload(exp, inline="always")
def _exp_overload(x):
    if x == types.float32:
        return lambda x: _exp32(x)
    return lambda x: math.exp(x)


def normal_cdf(x):
    """Phi(x) in the dtype of ``x``."""
    raise NotImplementedError


@overload(normal_cdf, inline="always")
def _normal_cdf_overload(x):
    if x == types.float32:
        def cdf32(x):
            # Phi(-|x|) = erfc(|x|/sqrt 2)/2 by the Numerical Recipes fit (fractional error < 1.2e-7), as in
            # special.py's float32 branch; then Phi(x) = 1 - Phi(-|x|) for x >= 0
            y = abs(x) * np.float32(_SQRT_HALF)
            t = np.float32(1.0) / (np.float32(1.0) + np.float32(0.5) * y)
            p = t * np.float32(0.17087277)
            p = (p + np.float32(-0.82215223)) * t
            p = (p + np.float32(1.48851587)) * t
            p = (p + np.float32(-1.13520398)) * t
            p = (p + np.float32(0.27886807)) * t
            p = (p + np.float32(-0.18628806)) * t
            p = (p + np.float32(0.09678418)) * t
            p = (p + np.float32(0.37409196)) * t
            p = (p + np.float32(1.00002368)) * t
            p = p - np.float32(1.26551223) - y * y
            tail = np.float32(0.5) * t * _exp32(p)
            return tail if x < np.float32(0.0) else np.float32(1.0) - tail
        return cdf32
    return lambda x: 0.5 * math.erfc(-x * _SQRT_HALF)


# --- GELU: out = x Phi(x);  dx = dout (Phi(x) + x phi(x)) -------------------------------------------
@_jit
def gelu_forward(x, out, cdf):
    for i in range(x.size):
        c = normal_cdf(x[i])
        cdf[i] = c
        out[i] = x[i] * c


@_jit
def gelu_backward(dout, x, cdf, dx):
    half = x.dtype.type(-0.5)
    k = x.dtype.type(_INV_SQRT_2PI)
    for i in range(x.size):
        xi = x[i]
        pdf = exp(half * xi * xi) * k
        dx[i] = dout[i] * (cdf[i] + xi * pdf)


# --- layernorm and rmsnorm, one pair of kernels: rmsnorm is layernorm without the centring ----------------------
#   xhat = (x - mean) rstd, rstd = 1/sqrt(mean((x - mean)^2) + eps);  out = xhat w + b   (mean = 0 if not center)
@_jit_sums
def norm_forward(x, eps, center, weight, bias, affine, xhat, rstd, out):
    n, C = x.shape
    inv_c = x.dtype.type(1.0 / C)
    one = x.dtype.type(1.0)
    for row in range(n):
        mean = x.dtype.type(0.0)
        if center:
            for j in range(C):
                mean += x[row, j]
            mean *= inv_c
        sq = x.dtype.type(0.0)
        for j in range(C):
            d = x[row, j] - mean
            xhat[row, j] = d
            sq += d * d
        r = one / np.sqrt(sq * inv_c + eps)
        rstd[row, 0] = r
        for j in range(C):
            xhat[row, j] *= r
        if affine:
            for j in range(C):
                out[row, j] = xhat[row, j] * weight[j] + bias[j]


#   dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat))  (no mean(dxhat) if not center), dxhat = dout w;
#   dw = sum dout xhat, db = sum dout
@_jit_sums
def norm_backward(dout, xhat, rstd, weight, center, dx, dweight, dbias):
    n, C = xhat.shape
    inv_c = xhat.dtype.type(1.0 / C)
    for row in range(n):
        s1 = xhat.dtype.type(0.0)
        s2 = xhat.dtype.type(0.0)
        for j in range(C):
            g = dout[row, j]
            dweight[j] += g * xhat[row, j]
            dbias[j] += g
            dxh = g * weight[j]
            dx[row, j] = dxh
            s1 += dxh
            s2 += dxh * xhat[row, j]
        m1 = s1 * inv_c if center else xhat.dtype.type(0.0)
        m2 = s2 * inv_c
        r = rstd[row]
        for j in range(C):
            dx[row, j] = (dx[row, j] - m1 - xhat[row, j] * m2) * r


# --- causal softmax over scores [N, T, T]: row i sees positions 0..i -----------------------------------------
@_jit_sums
def causal_softmax(att):
    N, T, _ = att.shape
    zero = att.dtype.type(0.0)
    one = att.dtype.type(1.0)
    for b in range(N):
        for i in range(T):
            row = att[b, i]
            top = row[0]
            for j in range(1, i + 1):
                top = max(top, row[j])
            for j in range(i + 1):               # separate loops: each one vectorises
                row[j] = exp(row[j] - top)
            total = zero
            for j in range(i + 1):
                total += row[j]
            inv = one / total
            for j in range(i + 1):
                row[j] *= inv
            for j in range(i + 1, T):
                row[j] = zero


# dS = P (dP - sum(dP P)) per row, in place on dP
@_jit_sums
def softmax_backward(datt, att):
    n, T = att.shape
    for row in range(n):
        dot = att.dtype.type(0.0)
        for j in range(T):
            dot += datt[row, j] * att[row, j]
        for j in range(T):
            datt[row, j] = att[row, j] * (datt[row, j] - dot)


# --- Adam(W): the reference's operations in its order, so the bytes match it ---------------------------------
@_jit_strict
def adam_update(p, g, m, v, b1, one_minus_b1, b2, one_minus_b2, eps, step_size, inv_sqrt_bc2, keep):
    for i in range(p.size):
        gi = g[i]
        mi = m[i] * b1 + gi * one_minus_b1
        vi = v[i] * b2 + gi * gi * one_minus_b2
        m[i] = mi
        v[i] = vi
        p[i] = p[i] * keep - mi / (np.sqrt(vi) * inv_sqrt_bc2 + eps) * step_size
