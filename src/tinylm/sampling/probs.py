"""From logits to a token: temperature, top-k, softmax and the draw."""
from __future__ import annotations

import numpy as np

from ..errors import TinyLMError
from ..config import check_temperature, check_top_k


def next_token_probs(logits: np.ndarray, temperature: float, top_k: int = 0) -> np.ndarray:
    """float64 softmax(logits / temperature) over the last axis, with all but the top-k masked to 0.

    Dividing by a positive temperature never reorders tokens: only how peaked the distribution is
    changes. Ties at the k-th largest logit are all kept (as nanoGPT does).
    """
    check_temperature(temperature)
    check_top_k(top_k)
    z = np.array(logits, dtype=np.float64)          # a copy: the caller's logits stay untouched
    if np.isnan(z).any() or np.isposinf(z).any():
        raise TinyLMError("the model produced NaN/inf logits (its weights have diverged); cannot sample")
    z /= temperature
    V = z.shape[-1]
    if 0 < top_k < V:
        kth_largest = np.partition(z, V - top_k, axis=-1)[..., V - top_k:V - top_k + 1]
        z[z < kth_largest] = -np.inf
    z -= z.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z


def draw_tokens(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One token per row of ``probs`` [B, V] by inverse CDF, using exactly one ``rng.random(B)`` draw."""
    cdf = np.cumsum(probs, axis=-1)
    u = rng.random(probs.shape[0]) * cdf[:, -1]
    tokens = np.sum(cdf <= u[:, None], axis=-1)
    # u < total, so the count is < V except when u rounds up to the total: then (only then) fall back to
    # the last token with nonzero probability (the trailing zeros of probs keep the cdf at the total).
    overflow = tokens >= probs.shape[-1]
    if overflow.any():
        last_possible = probs.shape[-1] - 1 - np.argmax(probs[:, ::-1] > 0, axis=-1)
        tokens = np.where(overflow, last_possible, tokens)
    return tokens.astype(np.int64)
