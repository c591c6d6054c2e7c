"""Every layer as a forward/backward pair with an explicit cache (llm.c style).

``*_forward`` returns ``(out, cache)``; ``*_backward(dout, cache)`` returns the gradients of the
inputs and parameters, in the order the forward took them. Arrays keep the dtype they come in
with: every constant is cast to it, so float32 stays float32 (numpy 2 / NEP 50) and float64 stays
exact enough to match torch to 1e-9.
"""
from __future__ import annotations

import math

import numpy as np

from .. import fused
from .special import normal_cdf, normal_pdf

# Row scatter: a one-hot matmul is fastest for small tables, sort + reduceat beyond (measured with
# 768 rows of 128: one-hot 0.15 ms vs sorted 0.13 ms at 65 rows, 1.9 vs 0.43 ms at 1000 rows;
# at 28 rows one-hot is 2x faster; np.add.at takes 0.85 ms throughout).
ONE_HOT_MAX_ROWS = 48


# Reductions as matrix-vector products: BLAS sums a row of 64-128 floats 3-6x faster than
# ufunc.reduce over the last axis (measured on the shakespeare-cpu shapes).
def row_mean(x: np.ndarray) -> np.ndarray:
    """Mean over the last axis, keepdims."""
    n = x.shape[-1]
    return x @ np.full((n, 1), 1.0 / n, dtype=x.dtype)


def row_sum(x: np.ndarray) -> np.ndarray:
    """Sum over the last axis, keepdims."""
    return x @ np.ones((x.shape[-1], 1), dtype=x.dtype)


def column_sum(x: np.ndarray) -> np.ndarray:
    """Sum over every axis but the last: [..., C] -> [C]."""
    x2 = x.reshape(-1, x.shape[-1])
    return np.ones(x2.shape[0], dtype=x.dtype) @ x2


# --- embedding --------------------------------------------------------------------------------
def embedding_forward(table: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, tuple]:
    """out[...] = table[idx[...]]   (a gather)."""
    return np.take(table, idx, axis=0), (idx, table.shape[0])


def scatter_add_rows(dout: np.ndarray, idx: np.ndarray, n_rows: int,
                     one_hot_max_rows: int | None = None) -> np.ndarray:
    """d_table[r] = sum of dout[n] over n with idx[n] == r, without np.add.at (slow, unbuffered)."""
    idx = idx.reshape(-1)
    dout = dout.reshape(idx.size, -1)
    if n_rows <= (ONE_HOT_MAX_ROWS if one_hot_max_rows is None else one_hot_max_rows):
        one_hot = np.zeros((n_rows, idx.size), dtype=dout.dtype)
        one_hot[idx, np.arange(idx.size)] = 1
        return one_hot @ dout
    order = np.argsort(idx, kind="stable")
    sorted_idx = idx[order]
    starts = np.flatnonzero(np.r_[True, sorted_idx[1:] != sorted_idx[:-1]])
    grad = np.zeros((n_rows, dout.shape[1]), dtype=dout.dtype)
    grad[sorted_idx[starts]] = np.add.reduceat(dout[order], starts, axis=0)
    return grad


def embedding_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    idx, n_rows = cache
    return scatter_add_rows(dout, idx, n_rows).reshape(n_rows, *dout.shape[idx.ndim:])


# --- linear -----------------------------------------------------------------------------------
def linear_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None) -> tuple[np.ndarray, tuple]:
    """out = x @ W.T + b, with W stored [out, in]; x may have any leading dims."""
    x2 = x.reshape(-1, x.shape[-1])
    out = x2 @ weight.T
    if bias is not None:
        out += bias
    return out.reshape(*x.shape[:-1], weight.shape[0]), (x2, weight, bias is not None, x.shape)


def linear_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """dx = dout @ W;  dW = dout.T @ x;  db = sum of dout over rows."""
    x2, weight, has_bias, x_shape = cache
    dout2 = dout.reshape(-1, weight.shape[0])
    dx = (dout2 @ weight).reshape(x_shape)
    dweight = dout2.T @ x2
    dbias = column_sum(dout2) if has_bias else None
    return dx, dweight, dbias


# --- normalisation ----------------------------------------------------------------------------
def layernorm_forward(x: np.ndarray, weight: np.ndarray | None, bias: np.ndarray | None,
                      eps: float) -> tuple[np.ndarray, tuple]:
    """xhat = (x - mean) / sqrt(var + eps);  out = xhat * w + b  (over the last axis)."""
    if fused.ready(x):
        return fused.layernorm_forward(x, weight, bias, eps)
    xhat = x - row_mean(x)
    var = row_mean(xhat * xhat)
    var += x.dtype.type(eps)
    rstd = np.sqrt(var, out=var)
    np.reciprocal(rstd, out=rstd)
    xhat *= rstd
    if weight is None and bias is None:
        return xhat, (xhat, rstd, None, False)      # no affine: out is xhat itself, as in rmsnorm
    out = xhat * weight if weight is not None else xhat.copy()
    if bias is not None:
        out += bias
    return out, (xhat, rstd, weight, bias is not None)


def layernorm_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)),  dxhat = dout * w."""
    if fused.ready(dout, cache[0]):
        return fused.layernorm_backward(dout, cache)
    xhat, rstd, weight, has_bias = cache
    dweight = column_sum(dout * xhat) if weight is not None else None
    dbias = column_sum(dout) if has_bias else None
    dxhat = dout * weight if weight is not None else dout
    mean_dxhat = row_mean(dxhat)
    mean_dxhat_xhat = row_mean(dxhat * xhat)
    dx = xhat * mean_dxhat_xhat
    np.subtract(dxhat, dx, out=dx)
    dx -= mean_dxhat
    dx *= rstd
    return dx, dweight, dbias


def rmsnorm_forward(x: np.ndarray, weight: np.ndarray | None, eps: float) -> tuple[np.ndarray, tuple]:
    """xhat = x / sqrt(mean(x^2) + eps);  out = xhat * w."""
    if fused.ready(x):
        return fused.rmsnorm_forward(x, weight, eps)
    ms = row_mean(x * x)
    ms += x.dtype.type(eps)
    rstd = np.sqrt(ms, out=ms)
    np.reciprocal(rstd, out=rstd)
    xhat = x * rstd
    out = xhat * weight if weight is not None else xhat
    return out, (xhat, rstd, weight)


def rmsnorm_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray | None]:
    """dx = rstd * (dxhat - xhat * mean(dxhat * xhat)),  dxhat = dout * w."""
    if fused.ready(dout, cache[0]):
        return fused.rmsnorm_backward(dout, cache)
    xhat, rstd, weight = cache
    dweight = column_sum(dout * xhat) if weight is not None else None
    dxhat = dout * weight if weight is not None else dout
    mean_dxhat_xhat = row_mean(dxhat * xhat)
    dx = xhat * mean_dxhat_xhat
    np.subtract(dxhat, dx, out=dx)
    dx *= rstd
    return dx, dweight


# --- activations ------------------------------------------------------------------------------
def relu_forward(x: np.ndarray) -> tuple[np.ndarray, tuple]:
    """out = max(x, 0);  local gradient 1 where x > 0."""
    return np.maximum(x, x.dtype.type(0)), (x,)


def relu_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    (x,) = cache
    return dout * (x > 0)                         # a 0/1 mask multiply (np.where is much slower)


def tanh_forward(x: np.ndarray) -> tuple[np.ndarray, tuple]:
    """out = tanh(x);  local gradient 1 - out^2."""
    out = np.tanh(x)
    return out, (out,)


def tanh_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    (out,) = cache
    dx = out * out
    np.subtract(out.dtype.type(1), dx, out=dx)
    dx *= dout
    return dx


def gelu_forward(x: np.ndarray) -> tuple[np.ndarray, tuple]:
    """Exact GELU: out = x Phi(x);  local gradient Phi(x) + x phi(x)."""
    if fused.ready(x):
        return fused.gelu_forward(x)
    cdf = normal_cdf(x)
    return x * cdf, (x, cdf)


def gelu_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    if fused.ready(dout, *cache):
        return fused.gelu_backward(dout, cache)
    x, cdf = cache
    dx = normal_pdf(x)
    dx *= x
    dx += cdf
    dx *= dout
    return dx


GELU_TANH_C = math.sqrt(2.0 / math.pi)
GELU_TANH_K = 0.044715


def gelu_tanh_forward(x: np.ndarray) -> tuple[np.ndarray, tuple]:
    """out = x/2 (1 + tanh(c (x + k x^3)));  local gradient (1 + t)/2 + x/2 (1 - t^2) c (1 + 3k x^2)."""
    f = x.dtype.type
    x2 = x * x
    inner = x2 * f(GELU_TANH_K)
    inner += f(1)
    inner *= x
    inner *= f(GELU_TANH_C)
    t = np.tanh(inner, out=inner)
    out = t + f(1)
    out *= x
    out *= f(0.5)
    return out, (x, x2, t)


def gelu_tanh_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    x, x2, t = cache
    f = x.dtype.type
    dinner = x2 * f(3 * GELU_TANH_K)
    dinner += f(1)
    dinner *= f(GELU_TANH_C)          # d inner / dx
    sech2 = t * t
    np.subtract(f(1), sech2, out=sech2)
    dinner *= sech2
    dinner *= x
    dinner += t
    dinner += f(1)
    dinner *= f(0.5)
    dinner *= dout
    return dinner


ACTIVATIONS = {
    "relu": (relu_forward, relu_backward),
    "tanh": (tanh_forward, tanh_backward),
    "gelu": (gelu_forward, gelu_backward),
    "gelu_tanh": (gelu_tanh_forward, gelu_tanh_backward),
}


# --- residual ---------------------------------------------------------------------------------
def residual_forward(x: np.ndarray, branch: np.ndarray) -> tuple[np.ndarray, tuple]:
    """out = x + branch;  the gradient flows unchanged into both."""
    return x + branch, ()


def residual_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray]:
    return dout, dout


# --- causal self-attention --------------------------------------------------------------------
def causal_mask(size: int, dtype: np.dtype) -> np.ndarray:
    """Additive mask: 0 on and below the diagonal, -inf above (exp(-inf) = 0 exactly)."""
    return np.triu(np.full((size, size), -np.inf, dtype=dtype), k=1)


def _split_heads(x: np.ndarray, n_head: int) -> np.ndarray:
    B, T, C = x.shape
    return x.reshape(B, T, n_head, C // n_head).transpose(0, 2, 1, 3)


def attention_forward(q: np.ndarray, k: np.ndarray, v: np.ndarray, n_head: int,
                      mask: np.ndarray) -> tuple[np.ndarray, tuple]:
    """y = softmax(q k^T / sqrt(hd) + mask) v per head; q, k, v, y are [B, T, C].

    ``mask`` is the precomputed additive triangle of at least [T, T].
    """
    B, T, C = q.shape
    scale = q.dtype.type(1.0 / math.sqrt(C // n_head))
    qh = _split_heads(q, n_head) * scale          # fold the scale into q (smaller than the scores)
    kh = _split_heads(k, n_head)
    vh = _split_heads(v, n_head)
    att = qh @ kh.transpose(0, 1, 3, 2)          # [B, H, T, T]
    if fused.ready_in_place(att):
        fused.causal_softmax_(att)                # ``mask`` is causal_mask's triangle: applied in the same pass
    else:
        att += mask[:T, :T]
        att -= att.max(axis=-1, keepdims=True)
        np.exp(att, out=att)
        att /= row_sum(att)
    yh = att @ vh                                 # [B, H, T, hd]
    y = yh.transpose(0, 2, 1, 3).reshape(B, T, C)
    return y, (qh, kh, vh, att, scale)


def attention_backward(dy: np.ndarray, cache: tuple,
                       out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dv = P^T dy;  dP = dy v^T;  dS = P (dP - sum(dP P));  dq = dS k scale;  dk = dS^T (q scale).

    ``out`` ([B, T, 3C], optional) receives dq, dk, dv side by side, as a fused q/k/v projection
    wants them; the returned arrays are then views of it.
    """
    qh, kh, vh, att, scale = cache
    B, H, T, hd = qh.shape
    C = H * hd
    if out is None:
        out = np.empty((B, T, 3 * C), dtype=dy.dtype)
    dq, dk, dv = out[..., :C], out[..., C:2 * C], out[..., 2 * C:]

    def heads(t: np.ndarray) -> np.ndarray:        # [B, T, C] view -> [B, H, T, hd] view
        return t.reshape(B, T, H, hd).transpose(0, 2, 1, 3)

    dyh = heads(dy)
    np.matmul(att.transpose(0, 1, 3, 2), dyh, out=heads(dv))
    datt = dyh @ vh.transpose(0, 1, 3, 2)
    if fused.ready_in_place(datt, att):
        fused.softmax_backward_(datt, att)
    else:
        row_dot = row_sum(datt * att)
        datt -= row_dot
        datt *= att                               # softmax backward; masked entries have att = 0
    dqh = heads(dq)
    np.matmul(datt, kh, out=dqh)
    dqh *= scale
    np.matmul(datt.transpose(0, 1, 3, 2), qh, out=heads(dk))
    return dq, dk, dv


# --- softmax cross-entropy --------------------------------------------------------------------
def cross_entropy_forward(logits: np.ndarray, targets: np.ndarray, need_grad: bool = True,
                          normalizer: int | None = None) -> tuple[float, tuple]:
    """loss = mean over targets != -1 of (logsumexp(logits) - logits[target]).

    ``normalizer``: divide the sum by this count instead of this batch's own number of targets (a part
    of a larger batch, normalised by the whole batch's count, so the parts' losses and gradients add up).
    Returns the loss as a Python float and, when ``need_grad``, the softmax for the backward.
    """
    V = logits.shape[-1]
    logits2 = logits.reshape(-1, V)
    targets = targets.reshape(-1)
    valid = targets >= 0
    n_valid = int(np.count_nonzero(valid)) if normalizer is None else normalizer
    safe_targets = np.where(valid, targets, 0)
    rows = np.arange(targets.size)
    shifted = logits2 - logits2.max(axis=-1, keepdims=True)
    target_logit = shifted[rows, safe_targets]
    exp = np.exp(shifted, out=shifted)
    sum_exp = exp.sum(axis=-1)
    nll = np.log(sum_exp) - target_logit
    loss = float(np.dot(nll.astype(np.float64), valid)) / max(n_valid, 1)
    if not need_grad:
        return loss, ()
    exp /= sum_exp[:, None]                      # softmax probabilities
    return loss, (exp, rows, safe_targets, valid, n_valid, logits.shape)


def cross_entropy_backward(cache: tuple) -> np.ndarray:
    """dlogits = (softmax - onehot(target)) / n_valid on valid rows, 0 on ignored rows."""
    # the arithmetic (softmax, minus one-hot, times 1/n on valid rows) is kept in this order on purpose: every
    # recorded run and checkpoint of the numpy engine depends on these exact float32 bits
    probs, rows, safe_targets, valid, n_valid, shape = cache
    f = probs.dtype.type
    dlogits = probs                               # reuse the softmax buffer: the cache is spent
    dlogits[rows, safe_targets] -= f(1)
    row_scale = valid.astype(probs.dtype)
    row_scale *= f(1.0 / max(n_valid, 1))
    dlogits *= row_scale[:, None]
    return dlogits.reshape(shape)


# --- gates (makemore's GRU) -------------------------------------------------------------------
def sigmoid_forward(x: np.ndarray) -> tuple[np.ndarray, tuple]:
    """out = 1 / (1 + exp(-x)), computed as (1 + tanh(x/2)) / 2 (no overflow);  local gradient out (1 - out)."""
    f = x.dtype.type
    out = np.tanh(x * f(0.5))
    out += f(1)
    out *= f(0.5)
    return out, (out,)


def sigmoid_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    (out,) = cache
    dx = out * (out.dtype.type(1) - out)
    dx *= dout
    return dx


def blend_forward(a: np.ndarray, b: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, tuple]:
    """out = (1 - z) a + z b  (a gate z choosing between a and b);  d/da = 1 - z, d/db = z, d/dz = b - a."""
    diff = b - a
    return a + z * diff, (z, diff)


def blend_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    z, diff = cache
    db = dout * z
    return dout - db, db, dout * diff


# --- causal bag of words (makemore's BoW) -----------------------------------------------------
def causal_average_forward(x: np.ndarray) -> tuple[np.ndarray, tuple]:
    """out[:, t] = mean of x[:, 0..t] over time (x is [B, T, C]);  d out[:, t] / d x[:, s] = 1/(t+1) for s <= t."""
    inv_count = x.dtype.type(1) / np.arange(1, x.shape[1] + 1, dtype=x.dtype)[:, None]
    out = np.cumsum(x, axis=1)
    out *= inv_count
    return out, (inv_count,)


def causal_average_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """dx[:, s] = sum over t >= s of dout[:, t] / (t+1): a cumulative sum from the end."""
    (inv_count,) = cache
    scaled = dout * inv_count
    return np.cumsum(scaled[:, ::-1], axis=1)[:, ::-1]
