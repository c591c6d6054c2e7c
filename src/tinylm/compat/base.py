"""The hooks through which a compat mode replays a reference program inside the one training loop.

The base class is tinylm's own behaviour (every hook defers to the Trainer); a compat mode overrides the
hooks its reference program needs. A reference program seeds itself with an integer: a numeric seed
string is used as is, anything else falls back to the program's own default (``numeric_seed``).
"""
from __future__ import annotations

import numpy as np

from ..config import ModelConfig
from ..data import Corpus


def numeric_seed(seed: str, default: int) -> int:
    return int(seed) if seed.isdigit() else default


class Compat:
    def describe(self) -> str:
        """What the run replays, in words ("" for tinylm's own behaviour)."""
        return ""

    def init_params(self, cfg: ModelConfig) -> dict[str, np.ndarray] | None:
        """Initial weights (float64 arrays), or None for tinylm's seeded initialisation."""
        return None

    def start(self, corpus: Corpus, block_size: int, batch_size: int) -> None:
        """Called once the model is built, before the first eval and step."""

    def train_batch(self, corpus: Corpus, block_size: int, batch_size: int) -> tuple | None:
        """The next training batch, or None for tinylm's own data order."""
        return None

    def eval_batches(self, corpus: Corpus, split: str, n_batches: int, block_size: int,
                     batch_size: int) -> list | None:
        """The batches of one eval, or None for tinylm's fixed eval batches."""
        return None

    def state(self) -> dict:
        """What a checkpoint must hold to resume the replay exactly ({} when nothing)."""
        return {}

    def set_state(self, state: dict) -> None:
        """Restore ``state()`` from a checkpoint."""
