"""Finite-difference gradient checks (float64 central differences), used by the tests."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np


def relative_error(analytic: np.ndarray, numeric: np.ndarray, floor: float = 1e-8, noise: float = 0.0) -> float:
    """max |a - n| / max(|a| + |n|, floor): robust to entries that are (near) zero in both.

    Differences up to ``noise`` count as agreement: a central difference of an O(1) loss carries
    ~1e-11 of rounding, so a gradient that is exactly zero (e.g. the key bias, which shifts every
    score of a row equally) reads as noise / floor otherwise.
    """
    analytic = np.asarray(analytic, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64)
    if analytic.size == 0:
        return 0.0
    diff = np.abs(analytic - numeric)
    diff[diff <= noise] = 0.0
    return float(np.max(diff / np.maximum(np.abs(analytic) + np.abs(numeric), floor)))


def pick_entries(shape: tuple[int, ...], limit: int, rng: np.random.Generator) -> list[tuple[int, ...]]:
    """Every entry of a small tensor, or ``limit`` distinct random entries of a big one."""
    size = int(np.prod(shape))
    flat = np.arange(size) if size <= limit else rng.choice(size, size=limit, replace=False)
    return [tuple(int(i) for i in np.unravel_index(f, shape)) for f in flat]


def numerical_grad(loss: Callable[[], float], array: np.ndarray, entries: list[tuple[int, ...]],
                   h: float = 1e-5) -> np.ndarray:
    """Central differences of ``loss()`` w.r.t. ``array[entry]``, perturbing ``array`` in place."""
    grads = np.empty(len(entries))
    for n, entry in enumerate(entries):
        original = array[entry]
        array[entry] = original + h
        plus = loss()
        array[entry] = original - h
        minus = loss()
        array[entry] = original
        grads[n] = (plus - minus) / (2 * h)
    return grads
