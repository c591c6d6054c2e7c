"""Fused kernels: the elementwise and row-wise work of a step in one pass over memory each, compiled by numba.

Why: numpy runs an expression like the exact GELU as a dozen separate passes over the activations, each
allocating a temporary; on the shakespeare-cpu recipe the non-matmul work took 40% of a step. Each kernel here
is the same maths as its reference (``numpy_engine/ops.py``; Adam: ``engines/optim.py``) and keeps the same
cache, so either backward accepts either forward. The matmuls stay with BLAS.

numba is optional: without it (or with ``TINYLM_KERNELS=numpy``) the numpy reference runs. The two agree to
float32 rounding, not bit for bit (exp, sums in another order), so a run's bytes depend on which is active;
``kernels()`` names it (``tinylm bench --json`` reports it). Kernels are generic over float32 and float64:
float64 uses libm's exp/erfc, so the float64 gradient checks test these kernels exactly as they run.
"""
from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

import numpy as np

_enabled = True           # fused.disabled() turns it off for the whole process (both halves of a step)
_disabled_depth = 0
_probe: list[int] | None = None     # see probe()
_lock = threading.Lock()
_kernels = None            # the compiled module's namespace once loaded; False when numba is unavailable
_why_not = ""


def _load():
    global _kernels, _why_not
    if _kernels is not None:                 # every op asks: no lock once decided
        return _kernels
    with _lock:
        if _kernels is None:
            if os.environ.get("TINYLM_KERNELS", "").strip().lower() == "numpy":
                _kernels, _why_not = False, "TINYLM_KERNELS=numpy"
            else:
                try:
                    from . import compiled
                    _kernels = compiled
                except ImportError as err:      # numba missing or broken on this platform: the numpy reference
                    _kernels, _why_not = False, f"numba unavailable ({err})"
                except Exception as err:        # e.g. numba finds no writable cache folder (a read-only install)
                    _kernels, _why_not = False, f"numba could not set up its kernels ({type(err).__name__}: {err})"
    return _kernels


def kernels() -> str:
    """Which kernels a numpy-engine step runs: "numba" or "numpy (why)"."""
    return "numba" if _load() else f"numpy ({_why_not})"


def active() -> bool:
    """Whether large enough arrays run on the compiled kernels now (numba loaded, not disabled)."""
    return _enabled and bool(_load())


# Kernels only for models whose activations are at least this many elements per sequence (the array's size over
# its first axis, the batch): loading numba and its first kernel costs a process ~1.1 s (measured here), which
# a tiny model never earns back, and a lab run must start at once. Per sequence, not per array, so that an
# evaluation's larger batch does not switch a small model onto the kernels. microgpt (16 positions x 16 wide;
# 4 heads x 16 x 16 scores) stays below; shakespeare-tiny (64 x 64) and shakespeare-cpu (64 x 128) are above.
MIN_PER_SEQUENCE = 2_048


def ready(*arrays: np.ndarray) -> bool:
    """Whether the fused kernels take these arrays (large enough, float32/float64, kernels on)."""
    first = arrays[0]
    per_sequence = first.size // max(first.shape[0], 1) if first.ndim > 1 else first.size
    if _probe is not None:
        _probe.append(per_sequence)
    if per_sequence < MIN_PER_SEQUENCE or not _enabled or not _load():
        return False
    dtype = first.dtype
    return dtype in (np.float32, np.float64) and all(a.dtype == dtype for a in arrays)


# Adam's kernel gives the reference's bytes, so which of the two runs never changes a result. It runs on every
# parameter of 2,048 elements or more once numba is loaded (by the other kernels); a parameter of this size or
# more is worth loading numba for. Below it, a small model's few thousand weights (an mlp, rnn or names-gpt
# preset, which have no other kernel to run) never load numba.
MIN_PARAMETER = 65_536


def ready_in_place(*arrays: np.ndarray) -> bool:
    """``ready``, for a kernel that writes into the arrays themselves: only on contiguous storage (a reshape
    of anything else would be a copy, and the result lost)."""
    return all(a.flags.c_contiguous for a in arrays) and ready(*arrays)


def ready_update(p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray) -> bool:
    """Whether Adam's kernel takes parameter ``p`` (see MIN_PARAMETER; p, m and v contiguous: it updates them
    in place)."""
    in_place = p.flags.c_contiguous and m.flags.c_contiguous and v.flags.c_contiguous
    if not in_place or (p.size < MIN_PARAMETER and not _kernels):      # numba not loaded: not worth it here
        return False
    return ready(p.reshape(-1), g, m, v)


def on_disk() -> bool | None:
    """Whether numba has compiled kernels into its on-disk cache before (the first run compiles them, ~7 s here;
    a model that later needs one more, rmsnorm after layernorm say, compiles it in ~1 s without a word). None
    when it cannot tell (numba's cache layout is not a public API)."""
    if not _load():
        return None
    try:
        kernels = [getattr(_kernels, name) for name in _kernels.KERNELS]
        return any(os.path.exists(k._cache._cache_file._index_path) for k in kernels)
    except AttributeError:
        return None


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """Run the numpy reference ops meanwhile, in every thread (tests compare the two). Nests."""
    global _disabled_depth, _enabled
    with _lock:
        _disabled_depth += 1
        _enabled = False
    try:
        yield
    finally:
        with _lock:
            _disabled_depth -= 1
            _enabled = _disabled_depth == 0


@contextlib.contextmanager
def probe() -> Iterator[list[int]]:
    """Meanwhile no kernel runs; the list receives the per-sequence size of every array an op offered the
    kernels (what ``ready`` would have judged), so a caller can tell whether a model will use them."""
    global _probe
    sizes: list[int] = []
    with _lock:
        _probe = sizes
    try:
        with disabled():
            yield sizes
    finally:
        with _lock:
            _probe = None


def _rows(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x)
    return x.reshape(-1, x.shape[-1])


# --- activations ------------------------------------------------------------------------------
def gelu_forward(x: np.ndarray) -> tuple[np.ndarray, tuple]:
    x = np.ascontiguousarray(x)
    out, cdf = np.empty_like(x), np.empty_like(x)
    _kernels.gelu_forward(x.reshape(-1), out.reshape(-1), cdf.reshape(-1))
    return out, (x, cdf)


def gelu_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    x, cdf = cache
    dx = np.empty(x.shape, dtype=x.dtype)          # C order whatever the cache's layout: the kernel fills it flat
    flat = [np.ascontiguousarray(a).reshape(-1) for a in (dout, x, cdf)]
    _kernels.gelu_backward(*flat, dx.reshape(-1))
    return dx


# --- layernorm and rmsnorm (one kernel pair; rmsnorm does not centre and has no bias) --------------------------
def _norm_forward(x: np.ndarray, center: bool, weight: np.ndarray | None, bias: np.ndarray | None,
                  eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(out, xhat, rstd) over the last axis; out is xhat itself without an affine."""
    x2 = _rows(x)
    n, C = x2.shape
    xhat = np.empty_like(x2)
    rstd = np.empty((n, 1), dtype=x2.dtype)
    affine = weight is not None or bias is not None
    out = np.empty_like(x2) if affine else xhat
    _kernels.norm_forward(x2, x2.dtype.type(eps), center, np.ones(C, dtype=x2.dtype) if weight is None else weight,
                          np.zeros(C, dtype=x2.dtype) if bias is None else bias, affine, xhat, rstd, out)
    return out.reshape(x.shape), xhat.reshape(x.shape), rstd.reshape(*x.shape[:-1], 1)


def _norm_backward(dout: np.ndarray, xhat: np.ndarray, rstd: np.ndarray, weight: np.ndarray | None,
                   center: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dx, dweight, dbias), the parameter sums in float64 before the cast back."""
    d2, xhat2 = _rows(dout), _rows(xhat)
    C = xhat2.shape[1]
    dx = np.empty_like(xhat2)
    dweight, dbias = np.zeros(C, dtype=np.float64), np.zeros(C, dtype=np.float64)
    _kernels.norm_backward(d2, xhat2, rstd.reshape(-1), np.ones(C, dtype=xhat2.dtype) if weight is None else weight,
                           center, dx, dweight, dbias)
    return dx.reshape(xhat.shape), dweight.astype(xhat2.dtype), dbias.astype(xhat2.dtype)


def layernorm_forward(x: np.ndarray, weight: np.ndarray | None, bias: np.ndarray | None,
                      eps: float) -> tuple[np.ndarray, tuple]:
    out, xhat, rstd = _norm_forward(x, True, weight, bias, eps)
    if weight is None and bias is None:
        return xhat, (xhat, rstd, None, False)
    return out, (xhat, rstd, weight, bias is not None)


def layernorm_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    xhat, rstd, weight, has_bias = cache
    dx, dweight, dbias = _norm_backward(dout, xhat, rstd, weight, True)
    return dx, dweight if weight is not None else None, dbias if has_bias else None


def rmsnorm_forward(x: np.ndarray, weight: np.ndarray | None, eps: float) -> tuple[np.ndarray, tuple]:
    _, xhat, rstd = _norm_forward(x, False, None, None, eps)
    return (xhat * weight if weight is not None else xhat), (xhat, rstd, weight)


def rmsnorm_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray | None]:
    xhat, rstd, weight = cache
    dx, dweight, _ = _norm_backward(dout, xhat, rstd, weight, False)
    return dx, dweight if weight is not None else None


# --- causal softmax (attention) ------------------------------------------------------------------
def causal_softmax_(att: np.ndarray) -> None:
    """att [..., T, T] of scores -> softmax over each row's positions 0..i (entries above the diagonal -> 0)."""
    T = att.shape[-1]
    _kernels.causal_softmax(att.reshape(-1, T, T))


def softmax_backward_(datt: np.ndarray, att: np.ndarray) -> None:
    """datt <- att * (datt - sum(datt * att)) per row, in place."""
    T = att.shape[-1]
    _kernels.softmax_backward(datt.reshape(-1, T), att.reshape(-1, T))


# --- Adam(W) ----------------------------------------------------------------------------------
def adam_update_(p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, b1: float, b2: float, eps: float,
                 step_size: float, inv_sqrt_bc2: float, keep: float) -> None:
    """One parameter's Adam step in one pass, in the reference's order of operations (same bits)."""
    f = p.dtype.type
    _kernels.adam_update(p.reshape(-1), np.ascontiguousarray(g).reshape(-1), m.reshape(-1), v.reshape(-1), f(b1),
                         f(1.0 - b1), f(b2), f(1.0 - b2), f(eps), f(step_size), f(inv_sqrt_bc2), f(keep))

