"""Bigram: a table of next-token logits, logits = wte[x]."""
from __future__ import annotations

import numpy as np

from .model import NumpyModel
from .ops import embedding_backward, embedding_forward


class Bigram(NumpyModel):
    def forward(self, x: np.ndarray) -> tuple[np.ndarray, object]:
        return embedding_forward(self.params["wte"], x)

    def backward(self, dlogits: np.ndarray, cache: object) -> dict[str, np.ndarray]:
        return {"wte": embedding_backward(dlogits, cache)}

    def start_state(self, batch_size: int) -> None:
        return None                                   # the next token depends on this one only

    def advance(self, state: None, tokens: np.ndarray, position: int) -> tuple[np.ndarray, None]:
        return self.params["wte"][tokens], None
