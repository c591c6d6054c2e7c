"""SGD, Adam and AdamW on dicts of numpy arrays, updated in place.

Used by the numpy and scalar engines; the torch engine mirrors these exact formulas.

    Adam:   m = b1 m + (1-b1) g          v = b2 v + (1-b2) g^2
            m_hat = m / (1 - b1^t)       v_hat = v / (1 - b2^t)
            p -= lr * m_hat / (sqrt(v_hat) + eps)      (computed in place, one scratch array per parameter)
    AdamW:  p *= 1 - lr * wd   (decay set only: matrices/embeddings), then the Adam update
    SGD:    buf = momentum buf + g (if momentum);  p -= lr * buf

The per-parameter updates (``adam_update_``, ``sgd_update_``) are the one copy of these formulas in
numpy: ``NumpyOptimizer.step`` runs them on every parameter, and ``preview_update`` runs them on copies
so the lab's inspector shows exactly the update a step would apply (decay set included).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

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


def clip_coefficient(max_norm: float, norm: float) -> float:
    """The factor clipping scales the gradients by (torch's rule): max_norm/(norm+1e-6) when below 1."""
    if max_norm > 0:
        coef = max_norm / (norm + 1e-6)
        if coef < 1.0:
            return coef
    return 1.0


def clip_grads_(grads: dict[str, np.ndarray], max_norm: float, norm: float) -> None:
    """Scale gradients in place so their global norm is at most ``max_norm`` (torch's rule)."""
    coef = clip_coefficient(max_norm, norm)
    if coef < 1.0:
        for g in grads.values():
            g *= g.dtype.type(coef)


def adam_constants(t: int, lr: float, cfg: OptimConfig) -> tuple[float, float, float | None]:
    """Per-step scalars of the Adam(W) update at step ``t`` (1-based): lr/(1-b1^t), 1/sqrt(1-b2^t) and
    the decay multiplier 1 - lr*wd (None when nothing decays)."""
    step_size = lr / (1.0 - cfg.beta1 ** t)
    inv_sqrt_bc2 = 1.0 / math.sqrt(1.0 - cfg.beta2 ** t)
    keep = 1.0 - lr * cfg.weight_decay if cfg.name == "adamw" and cfg.weight_decay else None
    return step_size, inv_sqrt_bc2, keep


def adam_update_(p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, scratch: np.ndarray,
                 constants: tuple[float, float, float | None], cfg: OptimConfig, decayed: bool) -> None:
    """One parameter's Adam/AdamW step, in place on ``p``, ``m`` and ``v`` (``scratch``: a temporary
    shaped like ``p``, so the hot path allocates nothing). ``decayed``: the parameter is in the decay set."""
    step_size, inv_sqrt_bc2, keep = constants
    b1, b2 = cfg.beta1, cfg.beta2
    s = scratch
    if keep is not None and decayed:
        p *= p.dtype.type(keep)
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


def sgd_update_(p: np.ndarray, g: np.ndarray, buf: np.ndarray | None, lr: float, momentum: float) -> None:
    """One parameter's SGD step in place (``buf``: its momentum buffer, None without momentum)."""
    if momentum:
        buf *= momentum
        buf += g
        g = buf
    p -= p.dtype.type(lr) * g


def bias_corrected(m, v, t: int, cfg: OptimConfig):
    """Adam's bias-corrected moments after step ``t``: m/(1-b1^t), v/(1-b2^t)."""
    return m / (1.0 - cfg.beta1 ** t), v / (1.0 - cfg.beta2 ** t)


@dataclass
class ParamUpdate:
    """What one optimizer step does to one parameter (arrays in the parameter's dtype)."""
    new: np.ndarray                  # the parameter after the step
    slots: dict[str, np.ndarray]     # the optimizer state after the step: m, v (Adam) or buf (SGD momentum)
    m_hat: np.ndarray | None = None  # Adam's bias-corrected moments, m/(1-b1^t) and v/(1-b2^t)
    v_hat: np.ndarray | None = None


def preview_update(p: np.ndarray, g: np.ndarray, slots: dict[str, np.ndarray], steps_done: int, lr: float,
                   cfg: OptimConfig, decayed: bool) -> ParamUpdate:
    """The next step's update of one parameter, computed by the code ``NumpyOptimizer.step`` runs, on
    copies (nothing passed in changes). ``slots``: this parameter's state before the step ("m"/"v" or
    "buf"); ``steps_done``: the optimizer's step count so far; ``g``: the gradient after clipping."""
    if cfg.name not in OPTIMIZERS:
        raise ConfigError(f"unknown optimizer {cfg.name!r} (choose from {', '.join(OPTIMIZERS)})")
    new = np.array(p, copy=True)
    g = np.asarray(g, dtype=new.dtype)
    if cfg.name == "sgd":
        buf = np.array(slots["buf"], dtype=new.dtype) if cfg.momentum else None
        sgd_update_(new, g, buf, lr, cfg.momentum)
        return ParamUpdate(new=new, slots={} if buf is None else {"buf": buf})
    t = steps_done + 1
    m, v = np.array(slots["m"], dtype=new.dtype), np.array(slots["v"], dtype=new.dtype)
    adam_update_(new, g, m, v, np.empty_like(new), adam_constants(t, lr, cfg), cfg, decayed)
    m_hat, v_hat = bias_corrected(m, v, t, cfg)
    return ParamUpdate(new=new, slots={"m": m, "v": v}, m_hat=m_hat, v_hat=v_hat)


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
                sgd_update_(p, grads[name], self.state.get(f"buf.{name}"), lr, cfg.momentum)
            return
        constants = adam_constants(self.steps, lr, cfg)
        for name, p in self.params.items():
            s = self._scratch.get(name)
            if s is None:  # one reusable temporary per parameter: no allocation in the hot path
                s = self._scratch[name] = np.empty_like(p)
            adam_update_(p, grads[name], self.state[f"m.{name}"], self.state[f"v.{name}"], s, constants, cfg,
                         name in self.decay)

    def get_state(self) -> tuple[int, dict[str, np.ndarray]]:
        return self.steps, {k: v.copy() for k, v in self.state.items()}

    def set_state(self, steps: int, state: dict[str, np.ndarray]) -> None:
        missing = set(self.state) - set(state)
        if missing:
            raise ConfigError(f"optimizer state lacks {sorted(missing)[0]!r}")
        self.steps = int(steps)
        for k in self.state:
            self.state[k][...] = state[k]
