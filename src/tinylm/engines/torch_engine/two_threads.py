"""A CPU training step's batch as two halves on two threads, each with one intra-op thread.

torch's intra-op threads split each op of these small models over the cores poorly (many ops are too
small to split well, and the threads wait at every op's end). Two halves of the batch, each run on its
own thread with one intra-op thread (torch releases the GIL inside its ops and its backward), keep both
cores busy. The halves' backwards accumulate into the same ``.grad``: two contributions per parameter,
and floating-point addition is commutative, so the result is the same whichever finishes first.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import torch

# the numpy engine's rule: a half must hold at least this many activations (rows x width) to pay
MIN_HALF_WORK = 16 * 1024

_pool: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def batch_parts(batch: int, block: int, width: int) -> list[slice]:
    half = (batch + 1) // 2
    if batch < 2 or (batch - half) * block * width < MIN_HALF_WORK:
        return [slice(0, batch)]
    return [slice(0, half), slice(half, batch)]


def _worker() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tinylm-torch-half")
        return _pool


def _one_thread(part: Callable[[slice], torch.Tensor], rows: slice) -> torch.Tensor:
    torch.set_num_threads(1)        # the OpenMP thread count is per calling thread: set it on the worker too
    return part(rows)


def run(part: Callable[[slice], torch.Tensor], first: slice, second: slice) -> torch.Tensor:
    """``part(first) + part(second)``, the second on the worker thread; one intra-op thread meanwhile."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        pending = _worker().submit(_one_thread, part, second)
        total = part(first)
        return total + pending.result()
    finally:
        torch.set_num_threads(threads)
