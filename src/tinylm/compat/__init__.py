"""Reproductions of public reference programs (RNG streams, initialisation, data order), as hooks of the
one training loop (base.Compat)."""
from __future__ import annotations

from .base import Compat
from .microgpt import MicrogptCompat
from .nanogpt import NanogptCompat

__all__ = ["Compat", "MicrogptCompat", "NanogptCompat"]
