"""Checks that a checkpoint's tensors fit its model config; every failure is one line naming the problem."""
from __future__ import annotations

import numpy as np

from ..config import ModelConfig
from ..errors import CheckpointError
from ..models.params import param_specs

FLOAT_DTYPES = ("float32", "float64")
OPTIMIZER_STATE_PREFIXES = ("m", "v", "buf")


def _shape(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def validate_params(params: dict[str, np.ndarray], cfg: ModelConfig, label: str) -> str:
    """Names, shapes and dtype of ``params`` against ``cfg``; returns the common dtype name."""
    expected = {spec.name: spec.shape for spec in param_specs(cfg)}
    for name in expected:
        if name not in params:
            raise CheckpointError(f"{label} is missing parameter {name!r} (expected by its {cfg.family} model config)")
    unknown = sorted(set(params) - set(expected))
    if unknown:
        raise CheckpointError(f"{label} has unknown parameter {unknown[0]!r} (not part of its {cfg.family} model config)")
    dtype_name = None
    first_name = None
    for name, shape in expected.items():
        array = params[name]
        if tuple(array.shape) != shape:
            raise CheckpointError(f"{label}: parameter {name!r} has shape {_shape(array.shape)}, "
                                  f"the model config expects {_shape(shape)}")
        if array.dtype.name not in FLOAT_DTYPES:
            raise CheckpointError(f"{label}: parameter {name!r} has dtype {array.dtype.name} (expected float32 or float64)")
        if not np.isfinite(array).all():
            raise CheckpointError(f"{label}: parameter {name!r} holds NaN or infinite values "
                                  "(saved from a run that diverged?)")
        if dtype_name is None:
            dtype_name, first_name = array.dtype.name, name
        elif array.dtype.name != dtype_name:
            raise CheckpointError(f"{label}: parameters mix dtypes ({first_name!r} is {dtype_name}, "
                                  f"{name!r} is {array.dtype.name})")
    return dtype_name or "float32"


def validate_optimizer_state(state: dict[str, np.ndarray], steps: int, cfg: ModelConfig, label: str) -> None:
    if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool) or steps < 0:
        raise CheckpointError(f"{label}: optimizer steps must be a non-negative integer, got {steps!r}")
    expected = {spec.name: spec.shape for spec in param_specs(cfg)}
    for key, array in state.items():
        prefix, _, name = key.partition(".")
        if prefix not in OPTIMIZER_STATE_PREFIXES or name not in expected:
            raise CheckpointError(f"{label} has unknown optimizer state {key!r} "
                                  "(expected m.<param>, v.<param> or buf.<param>)")
        if tuple(array.shape) != expected[name]:
            raise CheckpointError(f"{label}: optimizer state {key!r} has shape {_shape(array.shape)}, "
                                  f"parameter {name!r} has shape {_shape(expected[name])}")
        if array.dtype.name not in FLOAT_DTYPES:
            raise CheckpointError(f"{label}: optimizer state {key!r} has dtype {array.dtype.name} "
                                  "(expected float32 or float64)")
        if not np.isfinite(array).all():
            raise CheckpointError(f"{label}: optimizer state {key!r} holds NaN or infinite values")


def validate_progress(meta: dict, optimizer_steps: int, label: str) -> None:
    """The run's position: ``step`` a non-negative integer no later than the run's total steps, and the
    optimizer never ahead of it (a negative or inflated step would run the lr schedule backwards)."""
    step = meta.get("step", optimizer_steps)
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise CheckpointError(f"{label}: step must be a non-negative integer, got {step!r}")
    train = meta.get("train")
    total = train.get("steps") if isinstance(train, dict) else None
    if total is not None and (isinstance(total, bool) or not isinstance(total, int) or not step <= total):
        raise CheckpointError(f"{label}: step {step} is past the run's total steps {total!r}")
    if optimizer_steps > step:
        raise CheckpointError(f"{label}: the optimizer has taken {optimizer_steps} steps, more than the run's "
                              f"step {step}")


def validate_resume_sections(meta: dict, label: str) -> None:
    """What a resume reads besides the tensors: present, and of the right kind."""
    if meta.get("weights_only") is True:
        raise CheckpointError(f"{label} is a weights-only export (no optimizer or random-number state), so it "
                              "cannot be resumed; resume from the run's full checkpoint.safetensors")
    for key in ("tokenizer", "rng", "optimizer", "train"):
        if not isinstance(meta.get(key), dict):
            raise CheckpointError(f"{label} cannot be resumed: its metadata has no {key!r} section")
    if "step" not in meta:
        raise CheckpointError(f"{label} cannot be resumed: its metadata does not record the step")
    for key in ("data", "sample"):
        if not isinstance(meta["rng"].get(key), dict):
            raise CheckpointError(f"{label} cannot be resumed: its metadata has no {key} random-number state")
