"""The browser lab: press start and watch a tiny language model learn (``tinylm lab``)."""
from __future__ import annotations

from .server import serve

__all__ = ["serve", "create_app"]


def create_app(*args, **kwargs):
    from .app import create_app as factory
    return factory(*args, **kwargs)
