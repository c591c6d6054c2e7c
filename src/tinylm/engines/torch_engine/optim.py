"""torch.optim optimizers configured to match ``engines/optim.py`` (the update rule) formula for formula.

    torch Adam:  m.lerp_(g, 1-b1) == b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
                 p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)          (same as numpy's)
    torch AdamW: p *= 1 - lr*wd, then the Adam update; decay only on the "decay" param group
    torch SGD:   buf = momentum buf + g (dampening 0, buf starts as g == 0*momentum + g); p -= lr buf
    clipping:    torch.nn.utils.clip_grad_norm_ scales by max_norm/(norm+1e-6) when that is < 1

State crosses engines in numpy's layout: ``m.<name>``, ``v.<name>`` (Adam/AdamW), ``buf.<name>``
(SGD with momentum), plus a step count.
"""
from __future__ import annotations

import numpy as np
import torch

from ...errors import ConfigError
from ..base import OptimConfig
from ..optim import check_optimizer, slot_names

TORCH_SLOT = {"m": "exp_avg", "v": "exp_avg_sq", "buf": "momentum_buffer"}   # numpy key -> torch state key


def build_optimizer(named: dict[str, torch.nn.Parameter], cfg: OptimConfig, decay: set[str],
                    fused: bool = False) -> torch.optim.Optimizer:
    check_optimizer(cfg)
    if cfg.name == "sgd":
        return torch.optim.SGD(list(named.values()), lr=cfg.lr, momentum=cfg.momentum)
    # torch's fused Adam/AdamW kernels also run on CPU (one pass per tensor instead of a dozen ops): use them
    # there whatever ``fused`` says, which asks for them on CUDA
    on_cpu = all(p.device.type == "cpu" for p in named.values())
    extra = {"fused": True} if fused or on_cpu else {}
    betas = (cfg.beta1, cfg.beta2)
    if cfg.name == "adam":
        return torch.optim.Adam(list(named.values()), lr=cfg.lr, betas=betas, eps=cfg.eps, **extra)
    decayed = [p for n, p in named.items() if n in decay]
    plain = [p for n, p in named.items() if n not in decay]
    groups = [{"params": decayed, "weight_decay": cfg.weight_decay}, {"params": plain, "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=cfg.lr, betas=betas, eps=cfg.eps, **extra)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def _slot_keys(cfg: OptimConfig) -> list[tuple[str, str]]:
    """(numpy key, torch state key) of every per-parameter slot of this optimizer."""
    return [(key, TORCH_SLOT[key]) for key in slot_names(cfg)]


def export_state(optimizer: torch.optim.Optimizer, named: dict[str, torch.nn.Parameter],
                 cfg: OptimConfig) -> dict[str, np.ndarray]:
    """numpy-layout state; zeros for slots torch has not created yet (before the first step)."""
    keys = _slot_keys(cfg)
    out: dict[str, np.ndarray] = {}
    for name, p in named.items():
        state = optimizer.state.get(p, {})
        for key, torch_key in keys:
            t = state.get(torch_key)
            out[f"{key}.{name}"] = _to_numpy(t) if t is not None else np.zeros(tuple(p.shape), _np_dtype(p))
    return out


def import_state(optimizer: torch.optim.Optimizer, named: dict[str, torch.nn.Parameter], cfg: OptimConfig,
                 steps: int, state: dict[str, np.ndarray]) -> None:
    keys = _slot_keys(cfg)
    for name, p in named.items():
        for key, _ in keys:
            k = f"{key}.{name}"
            if k not in state:
                raise ConfigError(f"optimizer state lacks {k!r}")
            if tuple(np.shape(state[k])) != tuple(p.shape):
                raise ConfigError(f"optimizer state {k!r} has shape {tuple(np.shape(state[k]))}, "
                                  f"expected {tuple(p.shape)}")
    optimizer.state.clear()
    if steps <= 0 or not keys:
        return                     # fresh optimizer: torch creates its slots on the first step
    fused = any(g.get("fused") for g in optimizer.param_groups)
    for name, p in named.items():
        slot: dict[str, torch.Tensor] = {}
        for key, torch_key in keys:
            value = np.asarray(state[f"{key}.{name}"])
            slot[torch_key] = torch.as_tensor(value, dtype=p.dtype, device=p.device).clone()
        if cfg.name in ("adam", "adamw"):
            # torch keeps the step as a float32 scalar tensor (on the param's device when fused)
            slot["step"] = torch.tensor(float(steps), dtype=torch.float32, device=p.device if fused else "cpu")
        optimizer.state[p] = slot


def _np_dtype(p: torch.Tensor) -> np.dtype:
    return np.float64 if p.dtype == torch.float64 else np.float32


def _to_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float64 if t.dtype == torch.float64 else torch.float32).numpy().copy()
