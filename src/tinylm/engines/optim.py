"""The update rule: SGD (momentum), Adam and AdamW on dicts of numpy arrays, updated in place.

The one copy of these formulas. The numpy and scalar engines step with ``NumpyOptimizer``, the lab's
inspector previews a step with ``preview_step`` (the same code, on copies), and the torch engine's
``torch_engine/optim.py`` configures torch.optim to match it formula for formula (parity-tested).

    clipping: g *= max_norm / (norm + 1e-6) when that is below 1 (torch's rule; norm: the global L2 norm)
    Adam:     m = b1 m + (1-b1) g          v = b2 v + (1-b2) g^2
              m_hat = m / (1 - b1^t)       v_hat = v / (1 - b2^t)
              p -= lr * m_hat / (sqrt(v_hat) + eps)      (computed in place, one scratch array per parameter)
    AdamW:    p *= 1 - lr * wd   (decay set only: ``models.params.decay_names``), then the Adam update
    SGD:      buf = momentum buf + g (if momentum);  p -= lr * buf

State crosses engines and checkpoints as ``m.<name>``, ``v.<name>`` (Adam/AdamW) or ``buf.<name>`` (SGD with
momentum), plus a step count.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..config import ModelConfig, OptimConfig
from ..errors import ConfigError
from ..models.params import decay_names
from . import fused

OPTIMIZERS = ("sgd", "adam", "adamw")
PARALLEL_UPDATE_MIN = 1 << 18     # parameters below which an Adam step stays on one core (thread hand-off costs)


def check_optimizer(cfg: OptimConfig) -> None:
    if cfg.name not in OPTIMIZERS:
        raise ConfigError(f"unknown optimizer {cfg.name!r} (choose from {', '.join(OPTIMIZERS)})")


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
    if fused.ready_update(p, g, m, v):             # the compiled kernel: the same operations in one pass (same bytes)
        fused.adam_update_(p, g, m, v, b1, b2, cfg.eps, step_size, inv_sqrt_bc2,
                           keep if keep is not None and decayed else 1.0)
        return
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


class NumpyOptimizer:
    """SGD / Adam / AdamW over a dict of numpy arrays, which it updates in place (an engine hands it its own
    parameter arrays). ``decay``: the names AdamW decays."""

    def __init__(self, params: dict[str, np.ndarray], cfg: OptimConfig, decay: set[str]):
        check_optimizer(cfg)
        self.params = params
        self.cfg = cfg
        self.decay = decay
        self.steps = 0
        self.state: dict[str, np.ndarray] = {}
        self._scratch: dict[str, np.ndarray] = {}
        for key in slot_names(cfg):
            for name, p in params.items():
                self.state[f"{key}.{name}"] = np.zeros_like(p)

    def update(self, grads: dict[str, np.ndarray], lr: float) -> float:
        """One training update: clip ``grads`` in place to ``cfg.grad_clip``, then step. Returns the global
        gradient norm before clipping."""
        norm = global_norm(grads)
        clip_grads_(grads, self.cfg.grad_clip, norm)
        self.step(grads, lr)
        return norm

    def step(self, grads: dict[str, np.ndarray], lr: float) -> None:
        """One step with ``grads`` as given (no clipping)."""
        cfg = self.cfg
        self.steps += 1
        if cfg.name == "sgd":
            for name, p in self.params.items():
                sgd_update_(p, grads[name], self.state.get(f"buf.{name}"), lr, cfg.momentum)
            return
        constants = adam_constants(self.steps, lr, cfg)
        for name, p in self.params.items():
            if name not in self._scratch:  # one reusable temporary per parameter: no allocation in the hot path
                self._scratch[name] = np.empty_like(p)

        def update(names: list[str]) -> None:
            for name in names:
                adam_update_(self.params[name], grads[name], self.state[f"m.{name}"], self.state[f"v.{name}"],
                             self._scratch[name], constants, cfg, name in self.decay)

        # each parameter's update is independent of the others: two groups of about equal size can run on
        # two cores (the bytes do not depend on it)
        names = list(self.params)
        sizes = np.cumsum([self.params[n].size for n in names])
        if sizes[-1] < PARALLEL_UPDATE_MIN:
            update(names)
            return
        cut = int(np.searchsorted(sizes, sizes[-1] / 2)) + 1
        from .numpy_engine.parallel import run_pair      # here: numpy_engine imports this module
        run_pair(update, names[:cut], names[cut:])

    def get_state(self, dtype: str | None = None) -> tuple[int, dict[str, np.ndarray]]:
        """(step count, copies of every slot), in ``dtype`` when given (else the parameters' dtype)."""
        return self.steps, {k: v.astype(dtype or v.dtype, copy=True) for k, v in self.state.items()}

    def set_state(self, steps: int, state: dict[str, np.ndarray]) -> None:
        for k, slot in self.state.items():
            if k not in state:
                raise ConfigError(f"optimizer state lacks {k!r}")
            if tuple(np.shape(state[k])) != slot.shape:
                raise ConfigError(f"optimizer state {k!r} has shape {tuple(np.shape(state[k]))}, "
                                  f"expected {slot.shape}")
        self.steps = int(steps)
        for k, slot in self.state.items():
            slot[...] = state[k]


def slot_names(cfg: OptimConfig) -> tuple[str, ...]:
    """The per-parameter state an optimizer keeps: m and v (Adam/AdamW), buf (SGD with momentum), or none."""
    if cfg.name in ("adam", "adamw"):
        return ("m", "v")
    return ("buf",) if cfg.momentum else ()


class UsesNumpyOptimizer:
    """The optimizer half of the Engine contract, for engines whose parameters are numpy arrays (numpy,
    scalar): ``configure_optimizer``, ``get/set_optimizer_state``, and ``_update`` for their ``train_step``."""

    cfg: ModelConfig                        # set by Engine.__init__
    optimizer: NumpyOptimizer | None = None
    state_dtype: str | None = None          # the dtype optimizer state is handed out in (None: the params')

    def _optimized_params(self) -> dict[str, np.ndarray]:
        """The engine's own parameter arrays, which the optimizer updates in place."""
        raise NotImplementedError

    def _optimizer(self, before: str) -> NumpyOptimizer:
        if self.optimizer is None:
            raise ConfigError(f"call configure_optimizer() before {before}")
        return self.optimizer

    def configure_optimizer(self, opt: OptimConfig) -> None:
        self.optimizer = NumpyOptimizer(self._optimized_params(), opt, decay_names(self.cfg))

    def _update(self, grads: dict[str, np.ndarray], lr: float) -> float:
        """Clip and step (see ``NumpyOptimizer.update``); returns the gradient norm before clipping."""
        return self._optimizer("train_step()").update(grads, lr)

    def get_optimizer_state(self) -> tuple[int, dict[str, np.ndarray]]:
        if self.optimizer is None:
            return 0, {}
        return self.optimizer.get_state(self.state_dtype)

    def set_optimizer_state(self, steps: int, state: dict[str, np.ndarray]) -> None:
        self._optimizer("set_optimizer_state()").set_state(steps, state)


def bias_corrected(m, v, t: int, cfg: OptimConfig):
    """Adam's bias-corrected moments after step ``t``: m/(1-b1^t), v/(1-b2^t)."""
    return m / (1.0 - cfg.beta1 ** t), v / (1.0 - cfg.beta2 ** t)


@dataclass
class StepPreview:
    """What the next optimizer step would do (arrays in the parameters' dtype)."""
    params: dict[str, np.ndarray]    # every parameter after the step
    grads: dict[str, np.ndarray]     # the gradients the step applies (after clipping)
    state: dict[str, np.ndarray]     # the optimizer state after the step
    t: int                           # the step's number (1-based)
    grad_norm: float                 # global gradient norm before clipping
    clip_scale: float                # the factor clipping scaled the gradients by (1: no clipping)


def preview_step(params: dict[str, np.ndarray], grads: dict[str, np.ndarray], steps: int,
                 state: dict[str, np.ndarray], lr: float, cfg: OptimConfig, decay: set[str]) -> StepPreview:
    """The next update, computed by ``NumpyOptimizer.update`` itself on copies (nothing passed in changes).
    ``steps``/``state``: the optimizer's step count and state so far (an engine's ``get_optimizer_state``)."""
    copies = {k: np.array(v, copy=True) for k, v in params.items()}
    grads = {k: np.array(grads[k], dtype=copies[k].dtype) for k in copies}
    optimizer = NumpyOptimizer(copies, cfg, decay)
    optimizer.set_state(steps, state)
    norm = optimizer.update(grads, lr)
    return StepPreview(params=copies, grads=grads, state=optimizer.state, t=optimizer.steps, grad_norm=norm,
                       clip_scale=clip_coefficient(cfg.grad_clip, norm))
