"""Incremental decoding: a KV cache for GPT, a sliding token window for the MLP, a lookup for bigram.

Each ``step`` returns exactly the last-position logits that the full-prefix forward would give.
Past ``block_size`` tokens a GPT re-reads the last ``block_size`` tokens without the cache
(nanoGPT's ``idx[:, -block_size:]`` crop), since positions beyond ``wpe`` do not exist.
"""
from __future__ import annotations

import numpy as np
import torch

from ..base import Decoder, check_decoder_tokens
from .model import GPT, Bigram, ContextMLP


class TorchDecoder(Decoder):
    def __init__(self, model: torch.nn.Module, device: torch.device):
        self.model = model
        self.device = device
        self.cfg = model.cfg
        self.reset(1)

    def reset(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self._position = 0
        self.history: list[torch.Tensor] = []                       # fed tokens, each [B]
        self.cache: list[tuple[torch.Tensor, torch.Tensor]] = []    # per layer (K, V): [B, nh, t, hd]

    @property
    def position(self) -> int:
        return self._position

    @torch.no_grad()
    def step(self, tokens: np.ndarray) -> np.ndarray:
        tok = torch.as_tensor(check_decoder_tokens(tokens, self.batch_size, self.cfg.vocab_size), device=self.device)
        self.history.append(tok)
        self.history = self.history[-max(self.cfg.block_size, self.cfg.context, 1):]
        self._position += 1
        model = self.model
        if isinstance(model, Bigram):
            logits = model.wte[tok]
        elif isinstance(model, ContextMLP):
            window = torch.stack(self.history[-self.cfg.context:], dim=1)       # [B, <=k]
            logits = model.from_windows(model.windows(window)[:, -1])
        else:
            logits = self._gpt_step(model, tok)
        return logits.to("cpu", torch.float64).numpy()

    def _gpt_step(self, model: GPT, tok: torch.Tensor) -> torch.Tensor:
        block = self.cfg.block_size
        if self._position > block:                                  # cache exhausted: crop and re-read
            window = torch.stack(self.history[-block:], dim=1)
            return model(window)[:, -1]
        x = model.embed(tok[:, None], start=self._position - 1)      # [B, 1, C]
        for i, layer in enumerate(model.h):
            q, k, v = layer.attn.qkv(layer.norm1(x))
            if len(self.cache) > i:
                k = torch.cat([self.cache[i][0], k], dim=2)
                v = torch.cat([self.cache[i][1], v], dim=2)
                self.cache[i] = (k, v)
            else:
                self.cache.append((k, v))
            x = x + layer.attn.attend(q, k, v, causal=False)         # one query sees every cached key
            x = x + layer.mlp(layer.norm2(x))
        return model.head(x)[:, 0]
