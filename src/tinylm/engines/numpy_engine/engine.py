"""NumpyEngine: the Engine contract on vectorised numpy with hand-derived backward passes."""
from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np

from ...config import ModelConfig
from ...errors import ConfigError
from ...models import implementation
from .. import fused
from ..base import Decoder, Engine, StepStats, check_batch, check_engine_args
from ..optim import UsesNumpyOptimizer
from . import parallel
from .bigram import Bigram
from .bow import BoW
from .decoder import NumpyDecoder
from .gpt import GPT
from .memory import keep_freed_memory
from .mlp import MLP
from .model import NumpyModel
from .ops import cross_entropy_forward
from .rnn import RNN

# this engine's implementation of each model family (models/registry.py lists the families)
IMPLEMENTATIONS: dict[str, Callable[..., NumpyModel]] = {
    "bigram": Bigram, "mlp": MLP, "gpt": GPT,
    "rnn": partial(RNN, cell="rnn"), "gru": partial(RNN, cell="gru"), "bow": BoW}


class NumpyEngine(UsesNumpyOptimizer, Engine):
    name = "numpy"

    def __init__(self, cfg: ModelConfig, params: dict[str, np.ndarray], dtype: str = "float32", **options):
        super().__init__(cfg, params, dtype)
        if options:
            raise ConfigError(f"unknown numpy engine option {sorted(options)[0]!r}")
        check_engine_args(dtype, cfg)
        keep_freed_memory()
        self.model: NumpyModel = implementation(IMPLEMENTATIONS, cfg, self.name)(cfg, np.dtype(dtype))
        self.model.load(params)

    def start_note(self) -> str:
        with fused.probe() as sizes:                # one sequence through the reference ops: which arrays qualify
            self.model.forward(np.zeros((1, self.cfg.block_size), dtype=np.int64))
        if max(sizes, default=0) < fused.MIN_PER_SEQUENCE or not fused.active() or fused.on_disk() is not False:
            return ""                               # (numba is asked only about a model large enough for it)
        return ("first run on this install: compiling the numpy engine's fused kernels (numba) before the first "
                "step, once, ~7 s")

    # --- parameters -------------------------------------------------------------------
    def get_params(self) -> dict[str, np.ndarray]:
        return {name: p.copy() for name, p in self.model.params.items()}

    def set_params(self, params: dict[str, np.ndarray]) -> None:
        self.model.load(params)

    # --- compute ----------------------------------------------------------------------
    def _check_batch(self, x: np.ndarray, y: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        return check_batch(self.cfg, x, y)

    def loss(self, x: np.ndarray, y: np.ndarray) -> float:
        x, y = self._check_batch(x, y)
        logits, _ = self.model.forward(x)
        loss, _ = cross_entropy_forward(logits, y, need_grad=False)
        return loss

    def _forward_backward(self, x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        return parallel.forward_backward(self.model, x, y)     # two halves on two cores when it pays

    def forward_backward(self, x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        x, y = self._check_batch(x, y)
        loss, grads = self._forward_backward(x, y)
        return loss, {name: np.array(grads[name]) for name in self.model.params}

    def logits(self, x: np.ndarray) -> np.ndarray:
        x, _ = self._check_batch(x)
        logits, _ = self.model.forward(x)
        return logits.astype(np.float64)

    def decoder(self) -> Decoder:
        return NumpyDecoder(self.model)

    # --- optimisation (configure_optimizer, get/set_optimizer_state: UsesNumpyOptimizer) ---------------
    def _optimized_params(self) -> dict[str, np.ndarray]:
        return self.model.params

    def train_step(self, x: np.ndarray, y: np.ndarray, lr: float) -> StepStats:
        self._optimizer("train_step()")
        x, y = self._check_batch(x, y)
        with parallel.step_blas_threads(self.model, x):
            loss, grads = self._forward_backward(x, y)
            grad_norm = self._update(grads, lr)
        return StepStats(loss=loss, grad_norm=grad_norm, n_tokens=int(np.count_nonzero(y >= 0)))
