"""Checkpoints: safetensors files (never pickle) holding parameters, optimizer state and run metadata.

    save_checkpoint(path, params, optimizer_steps, optimizer_state, meta) -> Path   (atomic)
    checkpoint_bytes(...same...) -> bytes                                          (same bytes)
    load_checkpoint(path_or_bytes) -> Checkpoint                                   (validated)
    weights_hash(params) -> str                                                    (sha256 hex)
    export_weights_only(src, out) -> Path     (no optimizer/RNG state; loadable, not resumable)
"""
from __future__ import annotations

from .hashing import weights_hash
from .header import FORMAT, VERSION
from .export import export_weights_only, weights_only_bytes
from .store import Checkpoint, checkpoint_bytes, load_checkpoint, save_checkpoint
from .validate import validate_resume_sections

__all__ = ["FORMAT", "VERSION", "Checkpoint", "checkpoint_bytes", "load_checkpoint", "save_checkpoint",
           "validate_resume_sections", "weights_hash", "export_weights_only", "weights_only_bytes"]
