"""Gradient checks: an engine's analytic gradient against central finite differences of its own loss.

    slope(entry) = (loss(theta + eps) - loss(theta - eps)) / (2 eps)      (every other entry unchanged)
    relative error = |analytic - slope| / max(|analytic| + |slope|, floor)

One copy of this code serves ``tinylm gradcheck`` (every parameter of a preset's model), the course's
lesson-2 widget (one entry the learner picks) and the tests of the hand-derived backward passes.
Works on any engine (the parameters are nudged through ``set_params``). The slopes are always measured in
float64: in float32 the rounding of the two losses swamps the slope of most entries, so a float32 engine's
gradient is compared with the slopes of a float64 twin (``reference``) holding the same weights.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from .base import Engine

# Largest max-relative-error that counts as agreement, per dtype of the checked gradient (measured on
# every preset; see benchmarks/results/gradcheck.json).
TOLERANCE = {"float64": 1e-6, "float32": 1e-4}
# The default nudge: small enough that the curvature term (~eps^2) is negligible, big enough that rounding in
# loss(theta+eps) - loss(theta-eps) does not dominate (the course widget's measurement, float64).
DEFAULT_EPS = 1e-4


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


def entry_errors(analytic: np.ndarray, numeric: np.ndarray, floor: float) -> np.ndarray:
    """|a - n| / max(|a| + |n|, floor), entry by entry."""
    return np.abs(analytic - numeric) / np.maximum(np.abs(analytic) + np.abs(numeric), floor)


def rounding_noise(loss: float, eps: float, dtype: str) -> float:
    """How far rounding alone can move a central difference: a few ulps of the loss, divided by 2 eps."""
    return 16 * float(np.finfo(dtype).eps) * max(1.0, abs(loss)) / (2 * eps)


def pick_entries(shape: tuple[int, ...], limit: int, rng: np.random.Generator) -> list[tuple[int, ...]]:
    """Every entry of a small tensor, or ``limit`` distinct random entries of a big one."""
    size = int(np.prod(shape))
    flat = np.arange(size) if size <= limit else rng.choice(size, size=limit, replace=False)
    return [tuple(int(i) for i in np.unravel_index(f, shape)) for f in flat]


def nudged_losses(loss: Callable[[], float], array: np.ndarray, entry: tuple[int, ...],
                  eps: float) -> tuple[float, float]:
    """(loss with ``array[entry]`` + eps, loss with it - eps), perturbing ``array`` in place and restoring it."""
    original = array[entry]
    try:
        array[entry] = original + eps
        plus = loss()
        array[entry] = original - eps
        minus = loss()
    finally:
        array[entry] = original
    return plus, minus


def numerical_grad(loss: Callable[[], float], array: np.ndarray, entries: list[tuple[int, ...]],
                   h: float = 1e-5) -> np.ndarray:
    """Central differences of ``loss()`` w.r.t. ``array[entry]``, perturbing ``array`` in place."""
    grads = np.empty(len(entries))
    for n, entry in enumerate(entries):
        plus, minus = nudged_losses(loss, array, entry, h)
        grads[n] = (plus - minus) / (2 * h)
    return grads


class EngineLoss:
    """An engine's loss on one batch as a function of a dict of parameter arrays that the caller nudges
    in place: each call hands the current arrays to the engine, then evaluates."""

    def __init__(self, engine: Engine, x: np.ndarray, y: np.ndarray):
        self.engine, self.x, self.y = engine, x, y
        self.params = engine.get_params()          # copies in the engine's dtype: a nudge is what the engine sees

    def __call__(self) -> float:
        self.engine.set_params(self.params)
        return float(self.engine.loss(self.x, self.y))

    def restore(self) -> None:
        self.engine.set_params(self.params)


@dataclass
class ParamCheck:
    """One parameter tensor's check."""
    name: str
    shape: tuple[int, ...]
    entries: int                   # entries compared (all of a small tensor, a random sample of a big one)
    max_abs_grad: float            # largest |analytic gradient| among them
    max_rel_error: float           # worst |a - n| / max(|a| + |n|, floor) among them (see check_gradients)
    near_kink: int = 0             # entries that agreed only when re-measured with a 10x smaller nudge


@dataclass
class GradCheck:
    loss: float
    eps: float
    dtype: str
    tolerance: float               # the largest max_rel_error that counts as agreement
    floor: float                   # gradients smaller than this are measured against it
    params: list[ParamCheck]

    @property
    def max_rel_error(self) -> float:
        return max((p.max_rel_error for p in self.params), default=0.0)

    @property
    def ok(self) -> bool:
        return self.max_rel_error <= self.tolerance


def check_gradients(engine: Engine, x: np.ndarray, y: np.ndarray, *, entries: int = 10, eps: float = DEFAULT_EPS,
                    rng: np.random.Generator, reference: Engine | None = None) -> GradCheck:
    """Every parameter of ``engine``: ``entries`` entries (or all, when fewer) of its analytic gradient on the
    batch (x, y) against central differences of ``reference``'s loss (default: the engine itself; a float32
    engine needs a float64 twin with the same weights). The engines' parameters are left as they were."""
    if entries < 1:
        raise ConfigError(f"entries must be at least 1, got {entries}")
    if not eps > 0:
        raise ConfigError(f"eps must be a number > 0, got {eps}")
    reference = engine if reference is None else reference
    loss, grads = engine.forward_backward(x, y)
    tolerance = TOLERANCE[engine.dtype]
    # Gradients smaller than the floor are measured against it: a difference that rounding alone can make
    # (``rounding_noise``) then reads as at most ``tolerance``, however close to zero the gradient is.
    own_rounding = 0.0
    if engine.dtype == "float32":      # the float32 gradient's own rounding: relative to the largest entry
        own_rounding = max(float(np.abs(g).max()) for g in grads.values()) * 1e-6 / tolerance

    def floor_at(h: float) -> float:
        return max(1e-8, rounding_noise(loss, h, reference.dtype) / tolerance, own_rounding)

    floor = floor_at(eps)
    at = EngineLoss(reference, x, y)
    checks = []
    try:
        for name, array in at.params.items():
            picked = pick_entries(array.shape, entries, rng)
            analytic = np.array([grads[name][e] for e in picked], dtype=np.float64)
            errors = entry_errors(analytic, numerical_grad(at, array, picked, h=eps), floor)
            # A nudge that crosses a kink (ReLU at 0, a max) measures the slope on the far side. A wrong
            # gradient disagrees at every nudge; a kink stops mattering at a 10x smaller one.
            bad = np.flatnonzero(errors > tolerance)
            if bad.size:
                again = [picked[i] for i in bad]
                retry = entry_errors(analytic[bad], numerical_grad(at, array, again, h=eps / 10), floor_at(eps / 10))
                errors[bad] = np.minimum(errors[bad], retry)
            checks.append(ParamCheck(name, tuple(array.shape), len(picked), float(np.abs(analytic).max()),
                                     float(errors.max()), int(np.count_nonzero(errors[bad] <= tolerance))))
    finally:
        at.restore()
    return GradCheck(loss=float(loss), eps=eps, dtype=engine.dtype, tolerance=tolerance, floor=floor, params=checks)
