"""Weights-only export: a checkpoint without optimizer state or random-number state.

It holds the parameters and what is needed to use them (model config, tokenizer, the run's train config so
``tinylm eval`` and ``sample --novelty`` can rebuild its data split, preset, step), marked
``"weights_only": true``. ``load_checkpoint``/``tinylm.load``/``tinylm sample`` read it like any checkpoint;
``--resume`` refuses it (``validate_resume_sections``): without Adam's moments and the data RNG a continued
run could not retrace the original. For Adam it is about a third of the full checkpoint.
"""
from __future__ import annotations

import os
from pathlib import Path

from .atomic import atomic_write_bytes
from .store import Checkpoint, checkpoint_bytes, load_checkpoint

WEIGHTS_ONLY_KEY = "weights_only"
# what a full checkpoint records only to continue a run exactly
RESUME_ONLY_KEYS = ("rng", "data_position", "phase")


def weights_only_bytes(ckpt: Checkpoint) -> bytes:
    """The weights-only file of ``ckpt`` (deterministic: the same checkpoint gives the same bytes)."""
    meta = {key: value for key, value in ckpt.meta.items() if key not in RESUME_ONLY_KEYS and key != "checksum"}
    meta["optimizer"] = {"name": (ckpt.meta.get("optimizer") or {}).get("name")}
    meta[WEIGHTS_ONLY_KEY] = True
    return checkpoint_bytes(ckpt.params, 0, {}, meta)


def export_weights_only(source: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write the weights-only file of the checkpoint at ``source`` to ``out`` (atomically)."""
    return atomic_write_bytes(out, weights_only_bytes(load_checkpoint(source)))


__all__ = ["WEIGHTS_ONLY_KEY", "export_weights_only", "weights_only_bytes"]
