"""The numpy engine's two-halves step (engines/numpy_engine/parallel.py) and its BLAS thread control."""
from __future__ import annotations

import numpy as np
import pytest

from tinylm.config import ModelConfig
from tinylm.engines import fused
from tinylm.engines.numpy_engine import NumpyEngine, blas, parallel
from tinylm.engines.numpy_engine.ops import cross_entropy_backward, cross_entropy_forward
from tinylm.models.params import init_params
from tinylm.seeding import rng_for

CFG = dict(family="gpt", vocab_size=11, block_size=8, n_embd=16, n_layer=2, n_head=2, norm="layernorm",
           norm_affine=True, activation="gelu", bias=True, tie_weights=True)


def engine(dtype: str) -> NumpyEngine:
    cfg = ModelConfig(**CFG)
    return NumpyEngine(cfg, init_params(cfg, rng_for("parallel", "init")), dtype=dtype)


def batch(rows: int = 5):
    g = np.random.default_rng(0)
    x = g.integers(0, 11, (rows, 8))
    y = g.integers(0, 11, (rows, 8))
    y[1, 3:] = -1                                # ignored targets count in neither half
    return x, y


def whole_batch(e: NumpyEngine, x, y):
    logits, cache = e.model.forward(x)
    loss, ce = cross_entropy_forward(logits, y)
    return loss, e.model.backward(cross_entropy_backward(ce), cache)


@pytest.fixture(autouse=True, params=["fused", "numpy"])
def kernels(request, monkeypatch):
    """Each test on the compiled kernels (at any size) and on the numpy reference."""
    if request.param == "fused":
        if fused.kernels() != "numba":
            pytest.skip(f"no compiled kernels here: {fused.kernels()}")
        monkeypatch.setattr(fused, "MIN_PER_SEQUENCE", 0)
        yield
    else:
        with fused.disabled():
            yield


@pytest.fixture
def split_small(monkeypatch):
    monkeypatch.setattr(parallel, "MIN_HALF_WORK", 1)
    monkeypatch.setattr(parallel, "MIN_HALF_WORK_FUSED", 1)


def test_batch_parts_depend_on_shape_only():
    assert parallel.batch_parts(12, 64, 128) == [slice(0, 6), slice(6, 12)]
    tiny = [slice(0, 8), slice(8, 16)] if fused.active() else [slice(0, 16)]
    assert parallel.batch_parts(16, 64, 64) == tiny        # shakespeare-tiny: halves pay only with the kernels
    assert parallel.batch_parts(16, 16, 64) == [slice(0, 16)]        # names-gpt's: never
    assert parallel.batch_parts(1, 4096, 4096) == [slice(0, 1)]      # one row is never split


@pytest.mark.parametrize("dtype,rtol", [("float64", 1e-12), ("float32", 2e-5)])
def test_halves_give_the_whole_batch_gradient(split_small, dtype, rtol):
    e = engine(dtype)
    x, y = batch()
    assert len(parallel.batch_parts(5, 8, 16)) == 2
    loss, grads = e.forward_backward(x, y)
    ref_loss, ref = whole_batch(e, x, y)
    assert loss == pytest.approx(ref_loss, rel=rtol)
    for name, g in ref.items():
        np.testing.assert_allclose(grads[name], g, rtol=rtol, atol=rtol * 1e-2, err_msg=name)


def test_two_threads_and_one_give_the_same_bytes(split_small, monkeypatch):
    x, y = batch()
    results = []
    for threads in (1, 2):
        monkeypatch.setattr(parallel, "usable_threads", lambda n=threads: n)
        results.append(engine("float32").forward_backward(x, y))
    (loss_1, g_1), (loss_2, g_2) = results
    assert loss_1 == loss_2
    for name in g_1:
        assert g_1[name].tobytes() == g_2[name].tobytes(), name


def test_blas_limit_is_restored():
    if not blas.available():
        pytest.skip("numpy's BLAS is not OpenBLAS here")
    before = blas.get_threads()
    with blas.limited(1):
        assert blas.get_threads() == 1
        assert blas.allowed_threads() == before      # what a step inside the block may still use
    assert blas.get_threads() == before


def test_a_whole_step_still_runs_its_halves_on_two_threads(split_small, monkeypatch):
    """Regression: the step's own one-BLAS-thread block must not make the halves run one after the other."""
    if not blas.available():
        pytest.skip("numpy's BLAS is not OpenBLAS here")
    before = blas.get_threads()
    blas.set_threads(2)                                    # as on a two-core machine
    monkeypatch.setattr(parallel.os, "sched_getaffinity", lambda pid: {0, 1})
    seen = []
    real = parallel.usable_threads
    monkeypatch.setattr(parallel, "usable_threads", lambda: seen.append(real()) or seen[-1])
    try:
        e = engine("float32")
        from tinylm.config import OptimConfig
        e.configure_optimizer(OptimConfig(name="adamw", lr=1e-3))
        e.train_step(*batch(), lr=1e-3)
    finally:
        blas.set_threads(before)
    assert seen and all(n == 2 for n in seen)
