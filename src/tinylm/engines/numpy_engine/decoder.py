"""Incremental decoding: a KV cache for GPT, a sliding token window for the MLP and the bigram.

Each ``step`` feeds one token per row and returns the next-token logits (float64), equal to the
last row of ``engine.logits`` on the same prefix. Once a GPT has seen ``block_size`` tokens, the
window slides like nanoGPT's sampler (logits of the last ``block_size`` tokens): the cache is
refilled from the last ``block_size - 1`` tokens with one batched forward, then the step goes on.
"""
from __future__ import annotations

import numpy as np

from ..base import Decoder, check_decoder_tokens
from .gpt import GPT
from .mlp import MLP
from .ops import linear_forward


class WindowDecoder(Decoder):
    """Bigram and MLP: the logits depend only on the last ``context`` tokens."""

    slides_window = True        # any number of steps; the sampler need not re-feed anything

    def __init__(self, model):
        self.model = model
        self.context = model.cfg.context if isinstance(model, MLP) else 1
        self.reset(1)

    def reset(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self._position = 0
        pad = self.model.cfg.vocab_size           # the MLP's pad row; never read for context 1
        self.window = np.full((batch_size, self.context), pad, dtype=np.int64)

    @property
    def position(self) -> int:
        return self._position

    def step(self, tokens: np.ndarray) -> np.ndarray:
        tokens = check_decoder_tokens(tokens, self.batch_size, self.model.cfg.vocab_size)
        self.window[:, :-1] = self.window[:, 1:]
        self.window[:, -1] = tokens
        self._position += 1
        if isinstance(self.model, MLP):
            h, _ = self.model.hidden(self.window)
            logits, _ = self.model.head(h)
        else:
            logits = self.model.params["wte"][tokens]
        return logits.astype(np.float64)


class KVCacheDecoder(Decoder):
    """GPT: keys and values of every layer for positions 0..position-1, [B, H, block, hd]."""

    slides_window = True        # past block_size it crops to the last block itself (see module doc)

    def __init__(self, model: GPT):
        self.model = model
        self.reset(1)

    def reset(self, batch_size: int) -> None:
        cfg = self.model.cfg
        shape = (batch_size, cfg.n_head, cfg.block_size, cfg.head_dim)
        self.batch_size = batch_size
        self.keys = [np.zeros(shape, dtype=self.model.dtype) for _ in range(cfg.n_layer)]
        self.values = [np.zeros(shape, dtype=self.model.dtype) for _ in range(cfg.n_layer)]
        self.history = np.zeros((batch_size, cfg.block_size), dtype=np.int64)  # tokens in the cache
        self._position = 0
        self.filled = 0

    @property
    def position(self) -> int:
        return self._position

    def _refill(self, window: np.ndarray) -> None:
        """Recompute the cache for ``window`` [B, L] at positions 0..L-1 with one full forward."""
        _, (_, block_caches, _, _) = self.model.forward(window)
        L = window.shape[1]
        for i, cache in enumerate(block_caches):
            _, kh, vh, _, _ = cache["attn"]
            self.keys[i][:, :, :L] = kh
            self.values[i][:, :, :L] = vh
        self.history[:, :L] = window
        self.filled = L

    def step(self, tokens: np.ndarray) -> np.ndarray:
        model, cfg = self.model, self.model.cfg
        tokens = check_decoder_tokens(tokens, self.batch_size, cfg.vocab_size)
        if self.filled == cfg.block_size:             # slide: keep the last block_size - 1 tokens
            window = self.history[:, 1:].copy()
            if window.shape[1]:
                self._refill(window)
            else:
                self.filled = 0
        t = self.filled
        x, _ = model.embed(tokens[:, None], start=t)     # [B, 1, C]
        C, H, hd = cfg.n_embd, cfg.n_head, cfg.head_dim
        scale = model.dtype.type(1.0 / np.sqrt(hd))
        for i in range(cfg.n_layer):
            h, _ = model.norm_forward(x, f"h.{i}.norm1")
            qkv, _ = linear_forward(h, model.qkv_weight[i], model.qkv_bias[i])
            B = qkv.shape[0]
            q = qkv[:, 0, :C].reshape(B, H, 1, hd) * scale
            self.keys[i][:, :, t] = qkv[:, 0, C:2 * C].reshape(B, H, hd)
            self.values[i][:, :, t] = qkv[:, 0, 2 * C:].reshape(B, H, hd)
            keys, values = self.keys[i][:, :, :t + 1], self.values[i][:, :, :t + 1]
            att = q @ keys.transpose(0, 1, 3, 2)          # [B, H, 1, t+1]: no mask, all are past
            att -= att.max(axis=-1, keepdims=True)
            np.exp(att, out=att)
            att /= att.sum(axis=-1, keepdims=True)
            a = (att @ values).reshape(B, 1, C)
            unused: dict = {}                              # the backward caches, not needed here
            x = model.mlp_residual(model.attn_out(x, a, i, unused), i, unused)
        logits, _ = model.head_forward(x)
        self.history[:, t] = tokens
        self.filled = t + 1
        self._position += 1
        return logits[:, 0].astype(np.float64)


def make_decoder(model) -> Decoder:
    return KVCacheDecoder(model) if isinstance(model, GPT) else WindowDecoder(model)


__all__ = ["KVCacheDecoder", "WindowDecoder", "make_decoder"]
