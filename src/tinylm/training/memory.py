"""Will a run fit in this machine's memory? A rough upper estimate, checked before anything is allocated,
so a config that asks for terabytes is a one-line refusal instead of a swapping, then killed, process."""
from __future__ import annotations

import os

from ..config import ModelConfig
from ..errors import ConfigError
from ..models import family_of

# of the machine's physical memory a run may plan to use (the rest: the OS, the lab, other programs)
USABLE_FRACTION = 0.8


def machine_bytes() -> int | None:
    """Physical memory, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def training_bytes(cfg: ModelConfig, batch_size: int, itemsize: int) -> int:
    """Weights, gradients and Adam's two moments, plus one step's activations (kept for the backward pass;
    each family says how many floats a token keeps)."""
    tokens = batch_size * max(cfg.block_size, 1)
    per_token = family_of(cfg).activations_per_token(cfg)
    return (4 * cfg.approx_params() + tokens * per_token) * itemsize


def check_fits(cfg: ModelConfig, batch_size: int, itemsize: int) -> None:
    total = machine_bytes()
    need = training_bytes(cfg, batch_size, itemsize)
    if total is not None and need > USABLE_FRACTION * total:
        raise ConfigError(f"this run needs about {need / 1e9:,.1f} GB (weights, optimizer state and the activations "
                          f"of a batch of {batch_size} × {cfg.block_size} tokens); this machine has "
                          f"{total / 1e9:,.1f} GB: lower the batch size, the block size or the model size")
