"""Incremental decoding on the torch engine: each model's own state (a KV cache for the GPT, the last few
tokens for the MLP, nothing for the bigram) stepped one token at a time.

The windowing (what happens past the family's window) is ``engines.base.Decoder``'s; each module supplies
``start_state``, ``advance`` and a batched ``prime``, so every step returns exactly the last-position logits
that a full forward over the window gives.
"""
from __future__ import annotations

import numpy as np
import torch

from ..base import Decoder


class TorchDecoder(Decoder):
    def __init__(self, model: torch.nn.Module, device: torch.device):
        super().__init__(model.cfg)
        self.model = model
        self.device = device
        self.reset(1)

    def _start(self, batch_size: int) -> None:
        self.state = self.model.start_state(batch_size)

    @torch.no_grad()
    def _advance(self, tokens: np.ndarray) -> np.ndarray:
        tok = torch.as_tensor(tokens, device=self.device)
        logits, self.state = self.model.advance(self.state, tok, self.filled)
        return logits.to("cpu", torch.float64).numpy()

    @torch.no_grad()
    def _prime(self, tokens: np.ndarray) -> None:
        self.state = self.model.prime(self.state, torch.as_tensor(tokens, device=self.device))
