"""Incremental decoding on the numpy engine: the model's own state (a KV cache for the GPT, the last few
tokens for the MLP, nothing for the bigram) stepped one token at a time.

The windowing (what happens past the family's window) is ``engines.base.Decoder``'s; each model supplies
``start_state``, ``advance`` and ``prime`` (see ``model.NumpyModel``), so every step's logits equal the last
row of ``engine.logits`` on the same window.
"""
from __future__ import annotations

import numpy as np

from ..base import Decoder


class NumpyDecoder(Decoder):
    def __init__(self, model):
        super().__init__(model.cfg)
        self.model = model
        self.reset(1)

    def _start(self, batch_size: int) -> None:
        self.state = self.model.start_state(batch_size)

    def _advance(self, tokens: np.ndarray) -> np.ndarray:
        logits, self.state = self.model.advance(self.state, tokens, self.filled)
        return np.asarray(logits, dtype=np.float64)

    def _prime(self, tokens: np.ndarray) -> None:
        self.state = self.model.prime(self.state, tokens)


__all__ = ["NumpyDecoder"]
