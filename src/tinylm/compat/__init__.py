"""Reproductions of public reference programs (RNG streams, initialisation, data order)."""
from __future__ import annotations

from .microgpt import MicrogptCompat

__all__ = ["MicrogptCompat"]
