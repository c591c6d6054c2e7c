"""MLP language model.

context = 1: the seeds' MLP, h = act(fc1(wte[x]));  logits = fc2(h) @ wte.T (tied) or lm_head(h).
context = k: Bengio et al. 2003 / makemore: the embeddings of the last k tokens, oldest first,
are concatenated; positions before the start of the sequence read the pad row ``wte[V]``.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .model import NumpyModel
from .ops import embedding_backward, embedding_forward, linear_backward, linear_forward


def context_windows(x: np.ndarray, context: int, pad: int) -> np.ndarray:
    """[B, T] tokens -> [B, T, context] windows ending at each position, left-padded with ``pad``."""
    if context == 1:
        return x[..., None]
    padded = np.concatenate([np.full((x.shape[0], context - 1), pad, dtype=x.dtype), x], axis=1)
    return sliding_window_view(padded, context, axis=1)


class MLP(NumpyModel):
    def hidden(self, windows: np.ndarray) -> tuple[np.ndarray, tuple]:
        """windows [..., context] -> hidden activations [..., n_hidden]."""
        p = self.params
        emb, emb_cache = embedding_forward(p["wte"], windows)
        emb = emb.reshape(*windows.shape[:-1], -1)        # concatenate the context embeddings
        pre, fc1_cache = linear_forward(emb, p["fc1.weight"], p.get("fc1.bias"))
        h, act_cache = self.act_forward(pre)
        return h, (emb_cache, fc1_cache, act_cache)

    def head(self, h: np.ndarray) -> tuple[np.ndarray, tuple]:
        p = self.params
        if self.cfg.tie_weights:
            out, fc2_cache = linear_forward(h, p["fc2.weight"], p.get("fc2.bias"))
            logits, head_cache = linear_forward(out, p["wte"][: self.cfg.vocab_size])
            return logits, (fc2_cache, head_cache)
        logits, head_cache = linear_forward(h, p["lm_head.weight"], p.get("lm_head.bias"))
        return logits, (None, head_cache)

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, object]:
        windows = context_windows(x, self.cfg.context, self.cfg.vocab_size)
        h, hidden_cache = self.hidden(windows)
        logits, head_cache = self.head(h)
        return logits, (hidden_cache, head_cache)

    def backward(self, dlogits: np.ndarray, cache: object) -> dict[str, np.ndarray]:
        (emb_cache, fc1_cache, act_cache), (fc2_cache, head_cache) = cache
        grads: dict[str, np.ndarray] = {}
        V = self.cfg.vocab_size
        if self.cfg.tie_weights:
            dout, dwte_head, _ = linear_backward(dlogits, head_cache)
            dh, grads["fc2.weight"], dbias = linear_backward(dout, fc2_cache)
            if dbias is not None:
                grads["fc2.bias"] = dbias
        else:
            dh, grads["lm_head.weight"], dbias = linear_backward(dlogits, head_cache)
            if dbias is not None:
                grads["lm_head.bias"] = dbias
        dpre = self.act_backward(dh, act_cache)
        demb, grads["fc1.weight"], dbias = linear_backward(dpre, fc1_cache)
        if dbias is not None:
            grads["fc1.bias"] = dbias
        windows = emb_cache[0]
        dwte = embedding_backward(demb.reshape(*windows.shape, -1), emb_cache)
        if self.cfg.tie_weights:
            dwte[:V] += dwte_head
        grads["wte"] = dwte
        return grads

    # decoding state: the last ``context`` tokens of each row, pad id V before the start
    def start_state(self, batch_size: int) -> np.ndarray:
        return np.full((batch_size, self.cfg.context), self.cfg.vocab_size, dtype=np.int64)

    def _shift_in(self, window: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        window = np.roll(window, -1, axis=1)
        window[:, -1] = tokens
        return window

    def advance(self, state: np.ndarray, tokens: np.ndarray, position: int) -> tuple[np.ndarray, np.ndarray]:
        window = self._shift_in(state, tokens)
        h, _ = self.hidden(window)
        logits, _ = self.head(h)
        return logits, window

    def prime(self, state: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        for column in tokens.T:                       # only the window moves; no logits needed
            state = self._shift_in(state, column)
        return state
