"""OptimConfig: which update rule, at which learning rate, with which knobs (validated by ``check_optim``)."""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import ConfigError


@dataclass
class OptimConfig:
    name: str = "adamw"            # sgd | adam | adamw
    lr: float = 1e-3               # peak learning rate (the schedule scales it)
    beta1: float = 0.9
    beta2: float = 0.99
    eps: float = 1e-8
    weight_decay: float = 0.0      # AdamW only; applied to ``models.params.decay_names``
    momentum: float = 0.0          # SGD only
    grad_clip: float = 0.0         # global-norm clip; 0 = off

    def validate(self) -> None:
        check_optim(self)


def finite_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_optim(opt: OptimConfig) -> None:
    """Every optimizer value in its range, with a one-line error naming it (NaN and inf included)."""
    rules = [("lr", lambda v: v > 0, "a finite number > 0"),
             ("beta1", lambda v: 0 <= v < 1, "in [0, 1)"),
             ("beta2", lambda v: 0 <= v < 1, "in [0, 1)"),
             ("eps", lambda v: v > 0, "a finite number > 0"),
             ("weight_decay", lambda v: v >= 0, "a finite number >= 0"),
             ("momentum", lambda v: 0 <= v < 1, "in [0, 1)"),
             ("grad_clip", lambda v: v >= 0, "a finite number >= 0 (0 = off)")]
    for key, ok, allowed in rules:
        value = getattr(opt, key)
        if not (finite_number(value) and ok(value)):
            raise ConfigError(f"optim.{key} must be {allowed}, got {value!r}")
