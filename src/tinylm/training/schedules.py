"""Learning-rate schedules: lr at iteration ``it`` (0-based) of a run of ``steps`` iterations.

    warmup (any schedule): lr * (it + 1) / (warmup + 1)          for it < warmup   (nanoGPT)
    constant:              lr
    linear:                min_lr + (lr - min_lr) * (1 - r)       r = (it - warmup) / (steps - warmup)
                           (warmup 0, min_lr 0 -> microgpt's lr * (1 - it / steps))
    cosine:                min_lr + (lr - min_lr) * 0.5 * (1 + cos(pi r))
"""
from __future__ import annotations

import math

from ..config import TrainConfig


def learning_rate(cfg: TrainConfig, it: int) -> float:
    lr, warmup = cfg.optim.lr, cfg.warmup
    if it < warmup:
        return lr * (it + 1) / (warmup + 1)
    if cfg.schedule == "constant":
        return lr
    r = (it - warmup) / max(1, cfg.steps - warmup)
    r = min(max(r, 0.0), 1.0)
    if cfg.schedule == "linear":
        return cfg.min_lr + (lr - cfg.min_lr) * (1 - r)
    return cfg.min_lr + (lr - cfg.min_lr) * 0.5 * (1.0 + math.cos(math.pi * r))
