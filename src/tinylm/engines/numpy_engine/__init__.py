"""The numpy engine: vectorised forward and hand-derived backward passes (the default engine)."""
from __future__ import annotations

from .engine import NumpyEngine

__all__ = ["NumpyEngine"]
