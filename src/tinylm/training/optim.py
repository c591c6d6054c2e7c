"""SGD, Adam and AdamW on dicts of numpy arrays, updated in place.

Used by the numpy and scalar engines; the torch engine mirrors these exact formulas.

    Adam:   m = b1 m + (1-b1) g          v = b2 v + (1-b2) g^2
            m_hat = m / (1 - b1^t)       v_hat = v / (1 - b2^t)
            p -= lr * m_hat / (sqrt(v_hat) + eps)      (computed in place, one scratch array per parameter)
    AdamW:  p *= 1 - lr * wd   (decay set only: matrices/embeddings), then the Adam update
    SGD:    buf = momentum buf + g (if momentum);  p -= lr * buf
"""
from __future__ import annotations

import math

import numpy as np

from ..engines.base import OptimConfig
from ..errors import ConfigError

OPTIMIZERS = ("sgd", "adam", "adamw")


def global_norm(grads: dict[str, np.ndarray]) -> float:
    total = 0.0
    for g in grads.values():
        flat = g.reshape(-1)
        total += float(np.dot(flat, flat))
    return math.sqrt(total)


def clip_grads_(grads: dict[str, np.ndarray], max_norm: float, norm: float) -> None:
    """Scale gradients in place so their global norm is at most ``max_norm`` (torch's rule)."""
    if max_norm > 0:
        coef = max_norm / (norm + 1e-6)
        if coef < 1.0:
            for g in grads.values():
                g *= g.dtype.type(coef)


class NumpyOptimizer:
    def __init__(self, params: dict[str, np.ndarray], cfg: OptimConfig, decay: set[str]):
        if cfg.name not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer {cfg.name!r} (choose from {', '.join(OPTIMIZERS)})")
        self.params = params
        self.cfg = cfg
        self.decay = decay
        self.steps = 0
        self.state: dict[str, np.ndarray] = {}
        self._scratch: dict[str, np.ndarray] = {}
        if cfg.name in ("adam", "adamw"):
            for name, p in params.items():
                self.state[f"m.{name}"] = np.zeros_like(p)
                self.state[f"v.{name}"] = np.zeros_like(p)
        elif cfg.momentum:
            for name, p in params.items():
                self.state[f"buf.{name}"] = np.zeros_like(p)

    def step(self, grads: dict[str, np.ndarray], lr: float) -> None:
        cfg = self.cfg
        self.steps += 1
        if cfg.name == "sgd":
            for name, p in self.params.items():
                g = grads[name]
                if cfg.momentum:
                    buf = self.state[f"buf.{name}"]
                    buf *= cfg.momentum
                    buf += g
                    g = buf
                p -= p.dtype.type(lr) * g
            return
        t = self.steps
        b1, b2 = cfg.beta1, cfg.beta2
        step_size = lr / (1.0 - b1 ** t)
        inv_sqrt_bc2 = 1.0 / math.sqrt(1.0 - b2 ** t)
        for name, p in self.params.items():
            g = grads[name]
            m, v = self.state[f"m.{name}"], self.state[f"v.{name}"]
            s = self._scratch.get(name)
            if s is None:  # one reusable temporary per parameter: no allocation in the hot path
                s = self._scratch[name] = np.empty_like(p)
            if cfg.name == "adamw" and cfg.weight_decay and name in self.decay:
                p *= p.dtype.type(1.0 - lr * cfg.weight_decay)
            m *= b1                                  # m = b1 m + (1 - b1) g
            np.multiply(g, 1.0 - b1, out=s)
            m += s
            v *= b2                                  # v = b2 v + (1 - b2) g^2
            np.multiply(g, g, out=s)
            s *= 1.0 - b2
            v += s
            np.sqrt(v, out=s)                        # p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps)
            s *= inv_sqrt_bc2
            s += cfg.eps
            np.divide(m, s, out=s)
            s *= step_size
            p -= s

    def get_state(self) -> tuple[int, dict[str, np.ndarray]]:
        return self.steps, {k: v.copy() for k, v in self.state.items()}

    def set_state(self, steps: int, state: dict[str, np.ndarray]) -> None:
        missing = set(self.state) - set(state)
        if missing:
            raise ConfigError(f"optimizer state lacks {sorted(missing)[0]!r}")
        self.steps = int(steps)
        for k in self.state:
            self.state[k][...] = state[k]
