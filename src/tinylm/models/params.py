"""Parameter names, shapes and initialisation: the single source of truth for every engine.

Every engine receives the dict produced by ``init_params`` (float64 numpy arrays) and
casts it to its own dtype/device, so "same seed -> same initial weights" holds across engines.

Conventions
- Linear weights are stored [out, in] (torch's convention): y = x @ W.T + b.
- Names are stable: they are the keys of the safetensors checkpoint.
- ``param_specs`` lists parameters in *draw order*; each family's file (``models/<family>.py``) says which
  parameters it has and how they start.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .family import ParamSpec
from .registry import family_of

if TYPE_CHECKING:
    from ..config import ModelConfig


def param_specs(cfg: ModelConfig) -> list[ParamSpec]:
    """The parameters ``cfg`` implies, in draw order (its family's ``models/<family>.py`` says which)."""
    return family_of(cfg).param_specs(cfg)


def param_count(cfg: ModelConfig) -> int:
    return family_of(cfg).param_count(cfg)


def init_params(cfg: ModelConfig, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Draw initial parameters (float64) in spec order from ``rng``."""
    params: dict[str, np.ndarray] = {}
    for spec in param_specs(cfg):
        if spec.init == "normal":
            params[spec.name] = rng.standard_normal(spec.shape) * spec.std
        elif spec.init == "uniform":
            params[spec.name] = rng.uniform(-spec.std, spec.std, spec.shape)
        elif spec.init == "ones":
            params[spec.name] = np.ones(spec.shape)
        else:
            params[spec.name] = np.zeros(spec.shape)
    return params


def decay_names(cfg: ModelConfig) -> set[str]:
    """Parameters that AdamW decays (matrices and embeddings; never biases or norm gains)."""
    return {s.name for s in param_specs(cfg) if s.decay}
