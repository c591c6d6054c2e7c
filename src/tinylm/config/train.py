"""TrainConfig (with its DataConfig and OptimConfig sections): everything about a run except the model."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

from ..errors import ConfigError
from .optim import OptimConfig, check_optim

SCHEDULES = ("constant", "linear", "cosine")
DATA_MODES = ("auto", "documents", "stream")


# Bounds far above every preset and far below what would exhaust a laptop's memory or patience.
MAX_STEPS = 10_000_000
MAX_BATCH = 4096


@dataclass
class DataConfig:
    source: str = "names"          # names | shakespeare | path to a text file
    mode: str = "auto"             # auto | documents | stream
    order: str = "random"          # documents: random batches, or "sequential" (microgpt: one doc after another)
    val_fraction: float = 0.1

    def validate(self) -> None:
        if self.mode not in DATA_MODES:
            raise ConfigError(f"unknown data mode {self.mode!r} (choose from {', '.join(DATA_MODES)})")
        if self.order not in ("random", "sequential"):
            raise ConfigError(f"unknown data order {self.order!r} (choose from random, sequential)")
        if not 0.0 < self.val_fraction < 1.0:
            raise ConfigError(f"val_fraction must be between 0 and 1, got {self.val_fraction}")


@dataclass
class TrainConfig:
    steps: int = 1000
    batch_size: int = 1
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: str = "linear"       # constant | linear (to 0) | cosine (warmup + cosine to min_lr)
    warmup: int = 0
    min_lr: float = 0.0
    eval_every: int = 250          # 0 = only at the end
    eval_batches: int = 20
    eval_batch_size: int = 0       # 0 = same as batch_size (documents: min 32)
    sample_every: int = 200        # 0 = only at the end
    sample_chars: int = 80
    sample_count: int = 5          # documents: how many samples per sample event
    checkpoint_every: int = 0      # 0 = at the end (and on stop)
    log_every: int = 1
    seed: str = "tinylm"
    dtype: str = "float32"
    compat: str = ""               # "" | "microgpt" | "nanogpt" (replay that program's RNG, init, data order)
    data: DataConfig = field(default_factory=DataConfig)

    def validate(self) -> None:
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or not 1 <= self.steps <= MAX_STEPS:
            raise ConfigError(f"steps must be an integer from 1 to {MAX_STEPS:,}, got {self.steps!r}")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or not 1 <= self.batch_size <= MAX_BATCH:
            raise ConfigError(f"batch_size must be an integer from 1 to {MAX_BATCH:,}, got {self.batch_size!r}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"unknown schedule {self.schedule!r} (choose from {', '.join(SCHEDULES)})")
        if not isinstance(self.optim, OptimConfig) or not isinstance(self.data, DataConfig):
            raise ConfigError("train.optim and train.data are sections, not values: set optim.lr=..., data.mode=...")
        check_optim(self.optim)
        for key in ("log_every", "eval_batches", "sample_chars", "sample_count"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"train.{key} must be a positive integer, got {value!r}")
        if isinstance(self.eval_batch_size, bool) or not isinstance(self.eval_batch_size, int) or self.eval_batch_size < 0:
            raise ConfigError(f"train.eval_batch_size must be an integer >= 0, got {self.eval_batch_size!r}")
        if not (isinstance(self.min_lr, (int, float)) and math.isfinite(self.min_lr) and self.min_lr >= 0):
            raise ConfigError(f"train.min_lr must be a finite number >= 0, got {self.min_lr!r}")
        if self.dtype not in ("float32", "float64"):
            raise ConfigError(f"dtype must be float32 or float64, got {self.dtype!r}")
        if self.warmup < 0 or self.eval_every < 0 or self.sample_every < 0 or self.checkpoint_every < 0:
            raise ConfigError("warmup, eval_every, sample_every and checkpoint_every must be >= 0")
        if self.compat not in ("", "microgpt", "nanogpt"):
            raise ConfigError(f"unknown compat mode {self.compat!r} (choose from microgpt, nanogpt)")
        self.data.validate()

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        data = dict(data)
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown train config keys: {', '.join(sorted(unknown))}")
        optim = OptimConfig(**data.pop("optim", {}))
        dcfg = DataConfig(**data.pop("data", {}))
        return cls(optim=optim, data=dcfg, **data)
