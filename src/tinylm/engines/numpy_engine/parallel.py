"""A training step's forward and backward over two halves of the batch, on two cores at once.

numpy runs every elementwise op (layernorm, GELU, softmax, the loss) on one core, and OpenBLAS splits
the small matmuls of these models over threads poorly. So a large enough batch is cut into two halves
of rows; one runs on a worker thread while the caller runs the other (numpy releases the GIL inside its
kernels), each with one BLAS thread, and the halves' gradients are added. Both halves are normalised by
the whole batch's count of targets, so the sum is the gradient of the batch's mean loss.

The cut depends only on the batch's shape (and on whether the compiled kernels run), never on the number
of cores: with one core (or one allowed thread, as in a lab worker) the two halves run one after the other
and give the same bytes, so a seed gives the same checkpoint on any machine.
"""
from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .. import fused
from . import blas
from .ops import cross_entropy_backward, cross_entropy_forward

# Split when a half still has this many activations (rows x width): below it, the per-op overhead of
# two half-size passes outweighs the second core, and costs a one-thread run (a lab worker) outright
# (measured: shakespeare-tiny, halves of 8 x 64 x 64, one thread: 53.7 -> 63.8 ms a step when split; so
# it is not; shakespeare-cpu's halves of 6 x 64 x 128 are; microgpt's one name per step never is).
MIN_HALF_WORK = 40 * 1024
# With the compiled kernels (engines/fused) a pass makes far fewer numpy calls and smaller halves pay:
# shakespeare-tiny, three alternated runs, one thread 45.4 ms a step whole vs 43.9 split (equal within the
# noise), two threads 44.4 -> 30.9 ms.
MIN_HALF_WORK_FUSED = 32 * 1024

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def batch_parts(batch: int, block: int, width: int) -> list[slice]:
    """The row ranges a batch [batch, block] of a model ``width`` wide is computed in."""
    half = (batch + 1) // 2
    work = (batch - half) * block * width
    if batch < 2 or work < MIN_HALF_WORK_FUSED:
        return [slice(0, batch)]
    if work < MIN_HALF_WORK and not (block * width >= fused.MIN_PER_SEQUENCE and fused.active()):
        return [slice(0, batch)]                 # (numba is asked only about a model large enough for it)
    return [slice(0, half), slice(half, batch)]


def usable_threads() -> int:
    """2 when this process may use two cores for a step: two CPUs are ours and BLAS may use two threads
    (OMP_NUM_THREADS / OPENBLAS_NUM_THREADS = 1, as the lab's workers set, keep a step on one core)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    allowed = blas.allowed_threads()        # not the one thread a step's own ``limited`` block sets
    if cpus < 2 or allowed is None or allowed < 2:
        return 1
    return 2


def _worker() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tinylm-half")
        return _pool


def run_pair(fn, first, second) -> None:
    """``fn(first)`` and ``fn(second)``: side by side on two cores when ``usable_threads()`` allows."""
    if usable_threads() < 2:
        fn(first)
        fn(second)
        return
    pending = _worker().submit(fn, second)
    fn(first)
    pending.result()


def step_blas_threads(model, x: np.ndarray):
    """A context for a whole training step: one BLAS thread when the step's batch runs in two halves on two
    cores, so that OpenBLAS's own workers (woken by a matmul between the halves, the gradient norm, ...) do
    not spin on the cores the halves need; the BLAS threads are left alone otherwise."""
    if len(_parts(model, x)) == 2 and usable_threads() >= 2:
        return blas.limited(1)
    return contextlib.nullcontext()


def _parts(model, x: np.ndarray) -> list[slice]:
    return batch_parts(x.shape[0], x.shape[1], model.split_width)


def forward_backward(model, x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
    """Mean loss over the targets != -1 of the batch, and the gradient of every parameter."""
    n_valid = max(int(np.count_nonzero(y >= 0)), 1)

    def part(rows: slice) -> tuple[float, dict[str, np.ndarray]]:
        logits, cache = model.forward(x[rows])
        loss, ce_cache = cross_entropy_forward(logits, y[rows], normalizer=n_valid)
        del logits
        return loss, model.backward(cross_entropy_backward(ce_cache), cache)

    parts = _parts(model, x)
    if len(parts) == 1:
        return part(parts[0])
    if usable_threads() >= 2:
        with blas.limited(1):
            second = _worker().submit(part, parts[1])
            loss, grads = part(parts[0])
            loss_2, grads_2 = second.result()
    else:
        loss, grads = part(parts[0])
        loss_2, grads_2 = part(parts[1])
    for name, g in grads.items():
        g += grads_2[name]
    return loss + loss_2, grads
