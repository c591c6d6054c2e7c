"""What every numpy model shares: parameter storage and the forward/backward contract."""
from __future__ import annotations

import numpy as np

from ..base import check_params
from ...config import ModelConfig
from ...models.params import param_specs
from .ops import ACTIVATIONS


class NumpyModel:
    """Owns its parameters (``self.params``: name -> array in the model's dtype).

    ``forward(x)`` returns logits [B, T, V] and a cache; ``backward(dlogits, cache)`` returns the
    gradient of every parameter, keyed like ``params``. Subclasses may lay several parameters
    out as views of one buffer (GPT's fused q/k/v); updating ``params`` in place keeps them in sync.
    """

    # The width a batch's rows count with when parallel.py decides whether to split a step in two halves;
    # 0 (never split) unless a model measured that it pays (the GPT).
    split_width: int = 0

    def __init__(self, cfg: ModelConfig, dtype: np.dtype):
        self.cfg = cfg
        self.dtype = np.dtype(dtype)
        self.specs = param_specs(cfg)
        self.params: dict[str, np.ndarray] = self._allocate()
        # the config's activation as a forward/backward pair (the families with a nonlinearity use it)
        self.act_forward, self.act_backward = ACTIVATIONS[cfg.activation]

    def _allocate(self) -> dict[str, np.ndarray]:
        return {s.name: np.zeros(s.shape, dtype=self.dtype) for s in self.specs}

    def load(self, params: dict[str, np.ndarray]) -> None:
        """Copy ``params`` into the model's storage (in place, casting to the model's dtype)."""
        check_params({name: p.shape for name, p in self.params.items()}, params, self.cfg.family)
        for name, target in self.params.items():
            target[...] = params[name]

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, object]:
        raise NotImplementedError

    def backward(self, dlogits: np.ndarray, cache: object) -> dict[str, np.ndarray]:
        raise NotImplementedError

    # --- incremental decoding (driven by decoder.NumpyDecoder) --------------------------------------
    def start_state(self, batch_size: int) -> object:
        """The decoding state before any token."""
        raise NotImplementedError

    def advance(self, state: object, tokens: np.ndarray, position: int) -> tuple[np.ndarray, object]:
        """Take one token per row ([B]) at ``position``: (next-token logits [B, V], the new state)."""
        raise NotImplementedError

    def prime(self, state: object, tokens: np.ndarray) -> object:
        """Take ``tokens`` [B, L] from a fresh ``state`` (their logits unused). Token by token unless a
        model has a faster batched way."""
        for position, column in enumerate(tokens.T):
            _, state = self.advance(state, column, position)
        return state
