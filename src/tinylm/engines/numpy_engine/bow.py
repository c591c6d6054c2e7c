"""makemore's bag-of-words language model, forward and backward layer by layer.

    x = wte[tok] + wpe[pos]
    x = x + causal_average(x)                  (position t: the mean of x_0..x_t)
    x = x + c_proj(act(c_fc(x)))
    logits = lm_head(x)
"""
from __future__ import annotations

import numpy as np

from .model import NumpyModel
from .ops import (causal_average_backward, causal_average_forward, embedding_backward,
                  embedding_forward, linear_backward, linear_forward, residual_backward, residual_forward)


class BoW(NumpyModel):
    def mlp_residual(self, x: np.ndarray) -> tuple[np.ndarray, tuple]:
        """x + c_proj(act(c_fc(x))), then the logits."""
        p = self.params
        f, fc_cache = linear_forward(x, p["block.c_fc.weight"], p.get("block.c_fc.bias"))
        f, act_cache = self.act_forward(f)
        f, proj_cache = linear_forward(f, p["block.c_proj.weight"], p.get("block.c_proj.bias"))
        x, _ = residual_forward(x, f)
        logits, head_cache = linear_forward(x, p["lm_head.weight"], p.get("lm_head.bias"))
        return logits, (fc_cache, act_cache, proj_cache, head_cache)

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, object]:
        T = x.shape[1]
        tok, emb_cache = embedding_forward(self.params["wte"], x)
        h = tok + self.params["wpe"][:T]
        avg, avg_cache = causal_average_forward(h)
        h, _ = residual_forward(h, avg)
        logits, mlp_cache = self.mlp_residual(h)
        return logits, (emb_cache, avg_cache, mlp_cache, T)

    def backward(self, dlogits: np.ndarray, cache: object) -> dict[str, np.ndarray]:
        emb_cache, avg_cache, (fc_cache, act_cache, proj_cache, head_cache), T = cache
        grads: dict[str, np.ndarray] = {}
        dh, grads["lm_head.weight"], db = linear_backward(dlogits, head_cache)
        if db is not None:
            grads["lm_head.bias"] = db
        dh, dbranch = residual_backward(dh, ())
        df, grads["block.c_proj.weight"], db = linear_backward(dbranch, proj_cache)
        if db is not None:
            grads["block.c_proj.bias"] = db
        df = self.act_backward(df, act_cache)
        dx, grads["block.c_fc.weight"], db = linear_backward(df, fc_cache)
        if db is not None:
            grads["block.c_fc.bias"] = db
        dh = dh + dx
        dh, dbranch = residual_backward(dh, ())
        dh = dh + causal_average_backward(dbranch, avg_cache)
        grads["wte"] = embedding_backward(dh, emb_cache)
        dwpe = np.zeros_like(self.params["wpe"])
        dh.sum(axis=0, out=dwpe[:T])                 # every row of the batch uses positions 0..T-1
        grads["wpe"] = dwpe
        return grads

    # --- incremental decoding -----------------------------------------------------------------
    def start_state(self, batch_size: int) -> np.ndarray:
        """The running sum of x_0..x_{t-1}, [B, E]: zeros before any token."""
        return np.zeros((batch_size, self.cfg.n_embd), dtype=self.dtype)

    def advance(self, state: np.ndarray, tokens: np.ndarray, position: int) -> tuple[np.ndarray, np.ndarray]:
        """Feed ``tokens`` [B] at ``position`` (0-based; below block_size: wpe has no row past it, the
        decoder owns the window); return (next-token logits [B, V] float64, the new running sum)."""
        if not 0 <= position < self.cfg.block_size:
            raise ValueError(f"bow position {position} is outside the block (0..{self.cfg.block_size - 1})")
        tok, _ = embedding_forward(self.params["wte"], np.asarray(tokens))
        h = tok + self.params["wpe"][position]
        total = state + h
        f = self.dtype.type
        h = h + total * (f(1) / f(position + 1))     # the factor causal_average_forward uses, in the same dtype
        logits, _ = self.mlp_residual(h)
        return logits.astype(np.float64), total
