"""Save and load checkpoints as safetensors (never pickle).

Layout
- tensors: parameters under their ``models.params`` names; optimizer state under ``optim.<key>``
  (``optim.m.wte``, ``optim.v.wte``, ``optim.buf.wte``).
- metadata: one key, ``"tinylm"``: a JSON string with sorted keys holding format, version, model,
  train, preset, engine, dtype, tokenizer, step, optimizer {name, steps}, rng, data_position and
  whatever else the caller passes, and a ``checksum`` (sha256 of all tensors and the rest of the
  metadata), verified on load. Sorted keys + safetensors' sorted tensor layout make the bytes a
  pure function of the inputs.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.numpy

from ..config import ModelConfig, TrainConfig
from ..errors import CheckpointError, ConfigError
from .atomic import atomic_write_bytes
from .hashing import weights_hash
from .header import FORMAT, METADATA_KEY, VERSION, read_header
from .validate import FLOAT_DTYPES, validate_optimizer_state, validate_params, validate_progress

OPTIM_PREFIX = "optim."


@dataclass
class Checkpoint:
    params: dict[str, np.ndarray]
    optimizer_steps: int
    optimizer_state: dict[str, np.ndarray]
    meta: dict = field(default_factory=dict)

    @property
    def model_config(self) -> ModelConfig:
        return ModelConfig.from_dict(self.meta["model"])

    @property
    def train_config(self):
        """The run's TrainConfig, or None when the checkpoint does not record one."""
        return TrainConfig.from_dict(self.meta["train"]) if isinstance(self.meta.get("train"), dict) else None

    @property
    def step(self) -> int:
        return int(self.meta.get("step", self.optimizer_steps))


# --- saving ---------------------------------------------------------------------------------

def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _model_dict(meta: dict) -> dict:
    model = meta.get("model")
    if isinstance(model, ModelConfig):
        return model.to_dict()
    if not isinstance(model, dict):
        raise CheckpointError("checkpoint metadata needs 'model' (a ModelConfig or its dict)")
    return dict(model)


def _optimizer_name(meta: dict) -> str | None:
    given = meta.get("optimizer")
    if isinstance(given, dict) and given.get("name"):
        return str(given["name"])
    train = meta.get("train")
    train = dataclasses.asdict(train) if dataclasses.is_dataclass(train) and not isinstance(train, type) else train
    if isinstance(train, dict) and isinstance(train.get("optim"), dict):
        return train["optim"].get("name")
    return None


def _as_float_array(value: Any, what: str) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.name not in FLOAT_DTYPES:
        raise CheckpointError(f"cannot save {what}: dtype {array.dtype.name} (expected float32 or float64)")
    # safetensors wants C-contiguous little-endian buffers; the dtype (float32/float64) is kept.
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))


CHECKSUM_KEY = "checksum"


def _canonical_json(meta: dict) -> str:
    return json.dumps(meta, sort_keys=True, separators=(",", ":"), default=_json_default)


def _checksum(tensors: dict[str, np.ndarray], meta_json: str) -> str:
    """sha256 over every tensor (weights and optimizer state) and the rest of the metadata: a flipped bit
    in the data, or an edited value such as the activation or the step, is caught on load."""
    return hashlib.sha256((weights_hash(tensors) + meta_json).encode("utf-8")).hexdigest()


def checkpoint_bytes(params: dict[str, np.ndarray], optimizer_steps: int,
                     optimizer_state: dict[str, np.ndarray], meta: dict) -> bytes:
    """The exact bytes ``save_checkpoint`` writes (the lab offers them as a download)."""
    model = _model_dict(meta)
    try:
        cfg = ModelConfig.from_dict(model)
    except ConfigError as exc:
        raise CheckpointError(f"cannot save checkpoint: invalid model config ({exc})") from None
    tensors = {name: _as_float_array(value, f"parameter {name!r}") for name, value in params.items()}
    state = {key: _as_float_array(value, f"optimizer state {key!r}") for key, value in optimizer_state.items()}
    validate_params(tensors, cfg, "cannot save checkpoint")
    validate_optimizer_state(state, optimizer_steps, cfg, "cannot save checkpoint")
    tensors.update({OPTIM_PREFIX + key: value for key, value in state.items()})

    full_meta = dict(meta)
    full_meta.update(format=FORMAT, version=VERSION, model=model,
                     optimizer={**(meta.get("optimizer") or {}), "name": _optimizer_name(meta),
                                "steps": int(optimizer_steps)})
    full_meta.pop(CHECKSUM_KEY, None)
    try:
        meta_json = _canonical_json(full_meta)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"cannot save checkpoint: metadata is not JSON-serialisable ({exc})") from None
    full_meta = json.loads(meta_json)
    full_meta[CHECKSUM_KEY] = _checksum(tensors, meta_json)
    meta_json = _canonical_json(full_meta)
    return safetensors.numpy.save(tensors, metadata={METADATA_KEY: meta_json})


def save_checkpoint(path: str | os.PathLike, params: dict[str, np.ndarray], optimizer_steps: int,
                    optimizer_state: dict[str, np.ndarray], meta: dict) -> Path:
    """Write a checkpoint atomically (temp file + fsync + rename); returns the final path."""
    data = checkpoint_bytes(params, optimizer_steps, optimizer_state, meta)
    return atomic_write_bytes(path, data)


# --- loading --------------------------------------------------------------------------------

def _read_source(source: str | os.PathLike | bytes | bytearray | memoryview) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), "checkpoint data"
    path = Path(source)
    label = f"checkpoint {path}"
    if not path.exists():
        raise CheckpointError(f"{label} does not exist")
    if path.is_dir():
        raise CheckpointError(f"{label} is a directory, not a checkpoint file")
    if not path.is_file():
        raise CheckpointError(f"{label} is not a regular file")
    try:
        return path.read_bytes(), label
    except OSError as exc:
        raise CheckpointError(f"cannot read {label}: {exc.strerror or exc}") from None


def load_checkpoint(source: str | os.PathLike | bytes | bytearray | memoryview) -> Checkpoint:
    """Load and validate a checkpoint from a path or from its bytes (e.g. an upload)."""
    data, label = _read_source(source)
    _, meta = read_header(data, label)
    try:
        tensors = safetensors.numpy.load(data)
    except Exception as exc:  # the library's own error types vary across versions
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(f"{label} is truncated or corrupt ({first_line})") from None

    if not isinstance(meta.get("model"), dict):
        raise CheckpointError(f"{label} has no model config in its metadata")
    try:
        cfg = ModelConfig.from_dict(meta["model"])
    except (ConfigError, TypeError) as exc:
        raise CheckpointError(f"{label} has an invalid model config ({exc})") from None

    params = {name: array for name, array in tensors.items() if not name.startswith(OPTIM_PREFIX)}
    state = {name[len(OPTIM_PREFIX):]: array for name, array in tensors.items() if name.startswith(OPTIM_PREFIX)}
    validate_params(params, cfg, label)
    optimizer = meta.get("optimizer") if isinstance(meta.get("optimizer"), dict) else {}
    steps = optimizer.get("steps", 0)
    validate_optimizer_state(state, steps, cfg, label)
    validate_progress(meta, int(steps), label)
    if CHECKSUM_KEY in meta:            # files written before checksums have none
        rest = {key: value for key, value in meta.items() if key != CHECKSUM_KEY}
        if meta[CHECKSUM_KEY] != _checksum(tensors, _canonical_json(rest)):
            raise CheckpointError(f"{label} is corrupt or was edited: its tensors and metadata do not match "
                                  "the checksum stored with them")
    return Checkpoint(params=params, optimizer_steps=int(steps), optimizer_state=state, meta=meta)
