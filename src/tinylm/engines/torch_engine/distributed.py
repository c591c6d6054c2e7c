"""Data parallelism under torchrun: process-group set-up from the environment and row sharding.

The Trainer gives every rank the same GLOBAL batch; each rank keeps a contiguous slice of rows,
and the engine weights its local loss sum by the global count of valid targets so that the
DDP-averaged gradient equals the single-process gradient of the global mean loss.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ...errors import EngineUnavailable


@dataclass
class ProcessGroup:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owned: bool = False          # True when this engine created the group (and so destroys it)

    @property
    def active(self) -> bool:
        return self.world_size > 1

    def close(self) -> None:
        if self.owned and dist.is_initialized():
            dist.destroy_process_group()
        self.owned = False


def env_world_size() -> int:
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise EngineUnavailable(f"WORLD_SIZE must be an integer, got {os.environ['WORLD_SIZE']!r}") from None


def env_local_rank() -> int:
    """This process's index on its machine under torchrun (0 otherwise)."""
    if env_world_size() <= 1:
        return 0
    try:
        return int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError:
        raise EngineUnavailable(f"LOCAL_RANK must be an integer, got {os.environ['LOCAL_RANK']!r}") from None


def join_from_env(use_cuda: bool) -> ProcessGroup:
    """Join (or reuse) the torchrun process group: gloo on CPU, NCCL on CUDA."""
    world = env_world_size()
    if world <= 1:
        return ProcessGroup()
    local_rank = env_local_rank()
    owned = False
    if not dist.is_initialized():
        if not dist.is_available():
            raise EngineUnavailable("this PyTorch build has no torch.distributed support")
        backend = "nccl" if use_cuda else "gloo"
        try:
            dist.init_process_group(backend=backend)
        except (RuntimeError, ValueError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise EngineUnavailable(f"could not join the {backend} process group: {first}") from None
        owned = True
    return ProcessGroup(dist.get_rank(), dist.get_world_size(), local_rank, owned)


def own_rows(batch_size: int, rank: int, world_size: int) -> slice:
    """This rank's contiguous share of a global batch (shares differ by at most one row)."""
    start = rank * batch_size // world_size
    stop = (rank + 1) * batch_size // world_size
    return slice(start, stop)


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t
