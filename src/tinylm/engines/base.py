"""The contract every engine (scalar, numpy, torch) fulfils. The training loop, sampling,
checkpoints and the lab only talk to this interface.

Batches
- ``x``: int64 array [B, T] of token ids, 1 <= T <= block_size.
- ``y``: int64 array [B, T] of target ids; ``-1`` marks a padded position that is ignored.
- The loss is the mean cross-entropy over all non-ignored targets of the batch.

Parameters cross the interface as numpy arrays keyed by the names of ``models.params``.
Optimizer state crosses it as ``{"m.<name>": array, "v.<name>": array}`` plus a step count.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from ..config import ModelConfig, OptimConfig
from ..errors import ConfigError, DataError
from ..models import family_of


def check_batch(cfg: ModelConfig, x, y=None) -> tuple[np.ndarray, np.ndarray | None]:
    """Validate a batch for any engine; returns int64 arrays. Each problem is a one-line DataError."""
    V = cfg.vocab_size
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise DataError(f"a batch must be a 2-D array of token ids [batch, time], got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.integer):
        raise DataError(f"token ids must be integers, got {x.dtype}")
    if x.shape[1] > cfg.block_size:
        raise DataError(f"sequence length {x.shape[1]} exceeds block_size {cfg.block_size}")
    if x.min() < 0 or x.max() >= V:
        raise DataError(f"token id out of range 0..{V - 1} in the inputs")
    if y is not None:
        y = np.asarray(y)
        if y.shape != x.shape:
            raise DataError(f"targets have shape {y.shape}, inputs {x.shape}: they must have the same shape")
        if not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"target ids must be integers, got {y.dtype}")
        if y.min() < -1 or y.max() >= V:
            raise DataError(f"target id out of range -1..{V - 1}")
        if not (y >= 0).any():
            raise DataError("every target of the batch is ignored (-1): nothing to learn from")
        y = y.astype(np.int64, copy=False)
    return x.astype(np.int64, copy=False), y


def check_decoder_tokens(tokens, batch_size: int, vocab_size: int) -> np.ndarray:
    """Validate one decoder step's tokens (one id per row, [batch_size]); returns int64. Problems are ConfigErrors."""
    tokens = np.asarray(tokens)
    if tokens.shape != (batch_size,):
        raise ConfigError(f"decoder step expects {batch_size} tokens (one per row), got shape {tokens.shape}")
    if not np.issubdtype(tokens.dtype, np.integer):
        raise ConfigError(f"decoder tokens must be integers, got {tokens.dtype}")
    if tokens.size and (tokens.min() < 0 or tokens.max() >= vocab_size):
        raise ConfigError(f"token id out of range 0..{vocab_size - 1}")
    return tokens.astype(np.int64, copy=False)


def check_engine_args(dtype: str, cfg: ModelConfig | None = None, dtypes=("float32", "float64")) -> None:
    """A dtype among ``dtypes`` (float32 | float64), then (when ``cfg`` is given) a valid config with a
    resolved block_size. Each problem is a one-line ConfigError."""
    if dtype not in dtypes:
        raise ConfigError(f"dtype must be float32 or float64, got {dtype!r}")
    if cfg is not None:
        cfg.validate()
        if cfg.block_size < 1:
            raise ConfigError("block_size must be resolved (>= 1) before building a model")


def check_params(expected: dict[str, tuple[int, ...]], params: dict, family: str,
                 error: type[Exception] = ConfigError) -> None:
    """Every expected name present, nothing extra, every shape right; raises ``error`` with one line."""
    missing = sorted(set(expected) - set(params))
    extra = sorted(set(params) - set(expected))
    if missing or extra:
        what = f"lacks {missing[0]!r} (missing parameter)" if missing else f"has unexpected {extra[0]!r}"
        raise error(f"parameters do not fit this {family} model: {what}")
    for name, shape in expected.items():
        found = np.shape(params[name])
        if found != tuple(shape):
            raise error(f"parameter {name!r} has shape {found}, the model expects {tuple(shape)}")


@dataclass
class StepStats:
    loss: float                    # mean loss of the batch, before the update
    grad_norm: float               # global L2 norm of the gradient, before clipping
    n_tokens: int                  # non-ignored targets in the batch
    extra: dict = field(default_factory=dict)


class Decoder(ABC):
    """Incremental decoding: feed one token per row, get the next-token logits, without re-reading the prefix.

    The one windowing policy, for every family and engine: the logits after a history are those a fresh
    forward pass gives on the history's last ``window`` tokens (the family's ``window``: block_size for a
    GPT, whose positions end there, as nanoGPT's and makemore's samplers crop; the MLP's context; 1 for the
    bigram). Once ``window`` tokens are in, the next step drops the oldest, restarts the state and re-reads
    the other ``window - 1`` (``_prime``) before taking the new token.

    An engine's decoder supplies the state: ``_start(batch_size)`` (a fresh start), ``_advance(tokens)``
    (one token per row at position ``self.filled``; returns logits [B, V] as float64 numpy) and, where one
    batched pass beats token-by-token, ``_prime(tokens [B, L])``.
    """

    def __init__(self, cfg: ModelConfig):
        self.cfg = cfg
        self.window = family_of(cfg).window(cfg)
        if self.window < 1:
            raise ConfigError("block_size must be resolved (>= 1) before decoding")

    def reset(self, batch_size: int) -> None:
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ConfigError(f"decoder batch_size must be at least 1, got {batch_size!r}")
        self.batch_size = int(batch_size)
        self.recent = np.zeros((self.batch_size, self.window), dtype=np.int64)   # the tokens since the start
        self.filled = 0
        self._position = 0
        self._start(self.batch_size)

    def step(self, tokens: np.ndarray) -> np.ndarray:
        """Feed one token per row ([B] ints); return next-token logits [B, V] (float64 numpy)."""
        tokens = check_decoder_tokens(tokens, self.batch_size, self.cfg.vocab_size)
        if self.filled == self.window:                 # full: slide by one
            kept = self.recent[:, 1:].copy()
            self._start(self.batch_size)
            self.filled = 0
            if kept.shape[1]:
                self._prime(kept)
            self.recent[:, :-1] = kept
            self.filled = kept.shape[1]
        logits = self._advance(tokens)
        self.recent[:, self.filled] = tokens
        self.filled += 1
        self._position += 1
        return logits

    @property
    def position(self) -> int:
        """Number of tokens fed since reset."""
        return self._position

    @abstractmethod
    def _start(self, batch_size: int) -> None: ...

    @abstractmethod
    def _advance(self, tokens: np.ndarray) -> np.ndarray: ...

    def _prime(self, tokens: np.ndarray) -> None:
        """Read ``tokens`` [B, L] from a fresh start (their logits are not needed)."""
        for column in tokens.T:
            self._advance(column)
            self.filled += 1


class Engine(ABC):
    name: str = "base"
    # data parallelism (torch DDP): every rank receives the same global batch and takes its own rows
    rank: int = 0
    world_size: int = 1
    is_main: bool = True

    def __init__(self, cfg: ModelConfig, params: dict[str, np.ndarray], dtype: str = "float32", **options):
        self.cfg = cfg
        self.dtype = dtype

    # --- parameters -------------------------------------------------------------------
    @abstractmethod
    def get_params(self) -> dict[str, np.ndarray]:
        """Copies of the current parameters as numpy arrays in the engine's dtype."""

    @abstractmethod
    def set_params(self, params: dict[str, np.ndarray]) -> None: ...

    # --- compute ----------------------------------------------------------------------
    @abstractmethod
    def loss(self, x: np.ndarray, y: np.ndarray) -> float:
        """Mean loss, no gradient (evaluation)."""

    @abstractmethod
    def forward_backward(self, x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        """Mean loss and the gradient of every parameter (numpy arrays); does not update."""

    @abstractmethod
    def logits(self, x: np.ndarray) -> np.ndarray:
        """Full-prefix logits [B, T, V] as numpy (used by tests and the lab's inspector)."""

    @abstractmethod
    def decoder(self) -> Decoder: ...

    # --- optimisation -----------------------------------------------------------------
    @abstractmethod
    def configure_optimizer(self, opt: OptimConfig) -> None: ...

    @abstractmethod
    def train_step(self, x: np.ndarray, y: np.ndarray, lr: float) -> StepStats:
        """forward, backward, clip, one optimizer update at learning rate ``lr``."""

    @abstractmethod
    def get_optimizer_state(self) -> tuple[int, dict[str, np.ndarray]]:
        """(steps taken, {"m.<name>": ..., "v.<name>": ...}); empty dict for plain SGD."""

    @abstractmethod
    def set_optimizer_state(self, steps: int, state: dict[str, np.ndarray]) -> None: ...

    def start_note(self) -> str:
        """What a run should tell its user about this engine as it starts ("" when nothing)."""
        return ""

    def close(self) -> None:
        """Release resources (process groups, devices). Safe to call twice."""
