"""Every config dataclass, at the bottom of the package: it imports nothing of tinylm but ``errors`` and the
model families it checks a ModelConfig against (``models``, which sit beside it at the bottom).

    ModelConfig   the architecture (every family, every engine)      config/model.py
    OptimConfig   the update rule and its knobs                       config/optim.py
    TrainConfig   a run: steps, schedule, eval/sample cadence, seed    config/train.py
    DataConfig    where the text comes from and how it is split       config/train.py
    SampleConfig  how the next token is picked                        config/sample.py

Each validates itself (``validate()``) with one-line ``ConfigError`` messages, so every entry point
(CLI, notebook API, lab, checkpoints) refuses the same values with the same words.
"""
from __future__ import annotations

from .model import ACTIVATIONS, LIMITS, MAX_PARAMS, NORMS, ModelConfig
from .optim import OptimConfig, check_optim
from .sample import SampleConfig, check_temperature, check_top_k
from .train import DATA_MODES, MAX_BATCH, MAX_STEPS, SCHEDULES, DataConfig, TrainConfig

__all__ = ["ModelConfig", "OptimConfig", "TrainConfig", "DataConfig", "SampleConfig", "check_optim",
           "check_temperature", "check_top_k", "NORMS", "ACTIVATIONS", "LIMITS", "MAX_PARAMS",
           "MAX_STEPS", "MAX_BATCH", "SCHEDULES", "DATA_MODES"]
