"""Optimizers against the textbook formulas, written out one scalar at a time."""
from __future__ import annotations

import math

import numpy as np
import pytest

from tinylm.config import OptimConfig
from tinylm.engines.optim import NumpyOptimizer, clip_grads_, global_norm
from tinylm.errors import ConfigError


def reference_adam(p, grads, lr, b1, b2, eps, wd=0.0, decay=True):
    m = v = 0.0
    for t, g in enumerate(grads, start=1):
        if wd and decay:
            p *= 1 - lr * wd
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
        p -= lr * m_hat / (math.sqrt(v_hat) + eps)
    return p


@pytest.mark.parametrize("name,wd", [("adam", 0.0), ("adamw", 0.1)])
def test_adam_and_adamw_follow_the_formula(name, wd):
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal(3)
    grads = rng.standard_normal((5, 3))
    params = {"w": p0.copy(), "b": p0.copy()}
    opt = NumpyOptimizer(params, OptimConfig(name=name, beta1=0.85, beta2=0.99, eps=1e-8, weight_decay=wd), {"w"})
    for g in grads:
        opt.step({"w": g.copy(), "b": g.copy()}, lr=0.01)
    for i in range(3):
        assert params["w"][i] == pytest.approx(reference_adam(p0[i], grads[:, i], 0.01, 0.85, 0.99, 1e-8, wd), rel=1e-12)
        assert params["b"][i] == pytest.approx(reference_adam(p0[i], grads[:, i], 0.01, 0.85, 0.99, 1e-8), rel=1e-12)
    steps, state = opt.get_state()
    assert steps == 5 and set(state) == {"m.w", "v.w", "m.b", "v.b"}


def test_sgd_with_momentum():
    params = {"w": np.array([1.0, -2.0])}
    opt = NumpyOptimizer(params, OptimConfig(name="sgd", momentum=0.9), set())
    opt.step({"w": np.array([1.0, 1.0])}, lr=0.1)
    opt.step({"w": np.array([1.0, 1.0])}, lr=0.1)
    assert params["w"] == pytest.approx([1.0 - 0.1 - 0.19, -2.0 - 0.1 - 0.19])


def test_optimizer_keeps_float32():
    params = {"w": np.ones(4, dtype=np.float32)}
    opt = NumpyOptimizer(params, OptimConfig(name="adamw", weight_decay=0.1), {"w"})
    opt.step({"w": np.full(4, 0.5, dtype=np.float32)}, lr=1e-3)
    assert params["w"].dtype == np.float32 and opt.state["m.w"].dtype == np.float32


def test_clipping_scales_to_max_norm():
    grads = {"a": np.array([3.0, 0.0]), "b": np.array([4.0])}
    norm = global_norm(grads)
    assert norm == pytest.approx(5.0)
    clip_grads_(grads, 1.0, norm)
    assert global_norm(grads) == pytest.approx(1.0, rel=1e-5)
    small = {"a": np.array([0.3])}
    clip_grads_(small, 1.0, 0.3)
    assert small["a"][0] == 0.3


def test_unknown_optimizer_is_refused():
    with pytest.raises(ConfigError, match="unknown optimizer 'rmsprop'"):
        NumpyOptimizer({}, OptimConfig(name="rmsprop"), set())
