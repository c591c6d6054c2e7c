"""The PyTorch engine (optional extra ``tinylm[torch]``): CPU/CUDA, torch.compile, bf16 autocast, DDP.

Importing this package imports torch; ``tinylm.engines.engine_class("torch")`` does so lazily.
"""
from __future__ import annotations

from .engine import TorchEngine

__all__ = ["TorchEngine"]
