"""The compiled kernels (engines/fused): accuracy against the numpy reference, NaN and the edges of exp, Adam's
bytes, that a step really takes them, and the fallback when numba is absent or switched off.

The float64 finite-difference checks of every op run on both kernel sets in test_numpy_ops.py."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from tinylm.config import OptimConfig
from tinylm.engines import fused
from tinylm.engines.numpy_engine import ops
from tinylm.engines.optim import NumpyOptimizer

needs_numba = pytest.mark.skipif(fused.kernels() != "numba", reason=f"no compiled kernels: {fused.kernels()}")


@pytest.fixture(autouse=True)
def any_size(monkeypatch):
    monkeypatch.setattr(fused, "MIN_PER_SEQUENCE", 0)      # these tests use small arrays
    monkeypatch.setattr(fused, "MIN_PARAMETER", 0)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def reference(fn, *args):
    with fused.disabled():
        return fn(*args)


def ulps(got: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """|got - exact| in units of float32 spacing at the exact value."""
    return np.abs(got.astype(np.float64) - exact) / np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)


@needs_numba
def test_float32_exp_within_1_5_ulp_and_its_edges():
    x = np.concatenate([rng().uniform(-87.3, 88.7, 200_000), np.linspace(-1, 1, 10_001)]).astype(np.float32)
    out = np.empty_like(x)
    _exp_all(x, out)
    assert ulps(out, np.exp(x.astype(np.float64))).max() <= 1.5
    edges = np.array([-np.inf, -1000, -88, 0, 88.72, 89, np.inf, np.nan], dtype=np.float32)
    got = np.empty_like(edges)
    _exp_all(edges, got)
    assert got[0] == 0 and got[1] == 0 and got[2] == 0          # would be subnormal: flushed to 0
    assert got[3] == 1 and np.isfinite(got[4]) and got[4] > 3e38
    assert np.isinf(got[5]) and np.isinf(got[6]) and np.isnan(got[7])


def _exp_all(x, out):
    import numba

    from tinylm.engines.fused.compiled import exp

    @numba.njit
    def run(x, out):
        for i in range(x.size):
            out[i] = exp(x[i])
    run(x, out)


@needs_numba
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-14), (np.float32, 2e-6)])
def test_kernels_agree_with_the_numpy_reference(dtype, tol):
    x = (rng().standard_normal((3, 5, 16)) * 3).astype(dtype)
    d = rng(1).standard_normal(x.shape).astype(dtype)
    w, b = rng(2).standard_normal(16).astype(dtype), rng(3).standard_normal(16).astype(dtype)

    def close(got, want):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(want).max())
        assert got.dtype == want.dtype

    out, cache = ops.gelu_forward(x)
    ref_out, ref_cache = reference(ops.gelu_forward, x)
    close(out, ref_out)
    close(ops.gelu_backward(d, cache), reference(ops.gelu_backward, d, ref_cache))

    out, cache = ops.layernorm_forward(x, w, b, 1e-5)
    ref_out, ref_cache = reference(ops.layernorm_forward, x, w, b, 1e-5)
    close(out, ref_out)
    for got, want in zip(ops.layernorm_backward(d, cache), reference(ops.layernorm_backward, d, ref_cache)):
        close(got, want)

    out, cache = ops.rmsnorm_forward(x, w, 1e-5)
    ref_out, ref_cache = reference(ops.rmsnorm_forward, x, w, 1e-5)
    close(out, ref_out)
    for got, want in zip(ops.rmsnorm_backward(d, cache), reference(ops.rmsnorm_backward, d, ref_cache)):
        close(got, want)

    q, k, v = (rng(s).standard_normal((2, 7, 8)).astype(dtype) for s in (4, 5, 6))
    mask = ops.causal_mask(7, dtype)
    y, cache = ops.attention_forward(q, k, v, 2, mask)
    ref_y, ref_cache = reference(ops.attention_forward, q, k, v, 2, mask)
    close(y, ref_y)
    dy = rng(7).standard_normal(y.shape).astype(dtype)
    for got, want in zip(ops.attention_backward(dy, cache), reference(ops.attention_backward, dy, ref_cache)):
        close(got, want)


@needs_numba
def test_nan_comes_through_every_kernel():
    x = rng().standard_normal((2, 4, 8)).astype(np.float32)
    x[0, 1, 3] = np.nan
    assert np.isnan(ops.gelu_forward(x)[0][0, 1, 3])
    assert np.isnan(ops.layernorm_forward(x, None, None, 1e-5)[0][0, 1]).all()
    y, _ = ops.attention_forward(x, x, x, 2, ops.causal_mask(4, np.float32))
    assert np.isnan(y[0, 1:]).any() and not np.isnan(y[1]).any()


@needs_numba
def test_adam_kernel_gives_the_reference_bytes():
    params = {"w": rng().standard_normal((33, 17)).astype(np.float32),
              "b": rng(1).standard_normal(17).astype(np.float32)}
    cfg = OptimConfig(name="adamw", lr=1e-2, weight_decay=0.1)
    fast = NumpyOptimizer({k: v.copy() for k, v in params.items()}, cfg, decay={"w"})
    slow = NumpyOptimizer({k: v.copy() for k, v in params.items()}, cfg, decay={"w"})
    for step in range(5):
        grads = {k: rng(10 + step).standard_normal(v.shape).astype(np.float32) for k, v in params.items()}
        fast.step({k: g.copy() for k, g in grads.items()}, 3e-3)
        with fused.disabled():
            slow.step({k: g.copy() for k, g in grads.items()}, 3e-3)
    for name in params:
        assert fast.params[name].tobytes() == slow.params[name].tobytes()
        assert fast.state[f"v.{name}"].tobytes() == slow.state[f"v.{name}"].tobytes()


@needs_numba
def test_a_training_step_runs_the_kernels(monkeypatch):
    from tinylm.engines.fused import compiled
    from tinylm.presets import get_preset
    from tinylm.engines.numpy_engine.gpt import GPT
    import dataclasses
    calls = []
    for name in ("gelu_forward", "gelu_backward", "norm_forward", "norm_backward", "causal_softmax",
                 "softmax_backward"):
        kernel = getattr(compiled, name)
        monkeypatch.setattr(compiled, name, lambda *a, _k=kernel, _n=name: (calls.append(_n), _k(*a))[1])
    cfg = dataclasses.replace(get_preset("shakespeare-cpu").model, vocab_size=65, n_layer=1)
    model = GPT(cfg, np.float32)
    x = rng().integers(0, 65, (2, 8))
    logits, cache = model.forward(x)
    model.backward(np.ones_like(logits), cache)
    assert set(calls) == {"gelu_forward", "gelu_backward", "norm_forward", "norm_backward",
                          "causal_softmax", "softmax_backward"}


def _kernels_in_subprocess(code: str, env: dict) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, **env})
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


STEP = """
import sys
{block}
import numpy as np
from tinylm.engines import fused
fused.MIN_PER_SEQUENCE = 0
from tinylm.engines.numpy_engine import ops
y, c = ops.gelu_forward(np.linspace(-3, 3, 7, dtype=np.float32))
print(fused.kernels(), round(float(y.sum()), 4))
"""


def test_a_tiny_model_never_loads_numba():
    code = """
import sys, tinylm
run = tinylm.train("microgpt", steps=3, seed="x", progress=False)
print("numba" in sys.modules, len(run.history["loss"]))
"""
    assert _kernels_in_subprocess(code, {"TINYLM_KERNELS": ""}) == "False 3"


def test_falls_back_to_numpy_without_numba_or_when_asked():
    asked = _kernels_in_subprocess(STEP.format(block=""), {"TINYLM_KERNELS": "numpy"})
    assert asked.startswith("numpy (TINYLM_KERNELS=numpy)")
    absent = _kernels_in_subprocess(STEP.format(block="sys.modules['numba'] = None"), {"TINYLM_KERNELS": ""})
    assert absent.startswith("numpy (numba unavailable")
    assert asked.split()[-1] == absent.split()[-1]           # the same GELU, from the reference
    read_only = _kernels_in_subprocess(STEP.format(block=READ_ONLY_CACHE), {"TINYLM_KERNELS": ""})
    assert read_only.startswith("numpy (numba could not set up its kernels")
    assert read_only.split()[-1] == asked.split()[-1]


# numba finds no writable folder for its cache (a read-only install without a home directory)
READ_ONLY_CACHE = """
import numba.core.caching as caching
def refuse(self):
    raise OSError(30, "Read-only file system")
caching._CacheLocator.ensure_cache_path = refuse
"""


@needs_numba
@pytest.mark.slow
def test_a_run_on_the_kernels_gives_identical_checkpoint_bytes(stream_text_file, monkeypatch):
    """shakespeare-tiny's model (above the kernels' size limit) on two halves of 24 sequences, twice."""
    import tinylm
    from tinylm.engines.numpy_engine import parallel
    monkeypatch.undo()                                   # the real size limit: this model is above it
    used = []
    monkeypatch.setattr(fused, "causal_softmax_", lambda att, _k=fused.causal_softmax_: (used.append(1), _k(att)))
    kw = dict(steps=4, seed="kernels", data=str(stream_text_file), batch_size=24, eval_every=0, sample_every=0,
              progress=False)
    assert len(parallel.batch_parts(24, 64, 64)) == 2
    first = tinylm.train("shakespeare-tiny", **kw).trainer.checkpoint_bytes()
    assert used
    second = tinylm.train("shakespeare-tiny", **kw).trainer.checkpoint_bytes()
    assert first == second


@needs_numba
def test_a_run_says_when_it_must_compile_the_kernels_first(monkeypatch):
    from tinylm.config import ModelConfig
    from tinylm.engines.numpy_engine import NumpyEngine
    from tinylm.models.params import init_params
    from tinylm.presets import get_preset
    from tinylm.seeding import rng_for
    monkeypatch.undo()                                   # the real size limits

    def note(preset: str, on_disk: bool, **changes) -> str:
        monkeypatch.setattr(fused, "on_disk", lambda: on_disk)
        cfg = ModelConfig(**{**get_preset(preset).model.to_dict(), "vocab_size": 65, **changes})
        return NumpyEngine(cfg, init_params(cfg, rng_for("note", "init"))).start_note()

    assert "compiling the numpy engine's fused kernels" in note("shakespeare-tiny", on_disk=False)
    assert note("shakespeare-tiny", on_disk=True) == ""
    assert note("microgpt", on_disk=False, block_size=16) == ""     # below the kernels' size: never compiles them
    # 16 wide but 64 long: its 4 x 64 x 64 attention scores do run on the kernels, so it says so
    assert note("microgpt", on_disk=False, block_size=64) != ""
    assert fused.on_disk() in (True, False, None)


@needs_numba
def test_review_findings_stay_fixed(monkeypatch):
    # a transposed cache from the reference forward, through the fused backward
    x = rng().standard_normal((4, 3, 5)).astype(np.float32).transpose(2, 1, 0)
    ones = np.ones_like(x)
    with fused.disabled():
        _, cache = ops.gelu_forward(x)
        want = ops.gelu_backward(ones, cache)
    np.testing.assert_allclose(ops.gelu_backward(ones, cache), want, rtol=2e-6)
    # in-place kernels refuse storage they would only see a copy of
    att = rng().standard_normal((2, 2, 4, 4)).astype(np.float32).transpose(0, 1, 3, 2)
    assert not fused.ready_in_place(att)
    # disabled() nests, in any order of exit
    first, second = fused.disabled(), fused.disabled()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert not fused.active()
    second.__exit__(None, None, None)
    assert fused.active()


def test_a_model_below_the_kernels_size_never_asks_numba_about_halves():
    code = """
import sys
from tinylm.engines.numpy_engine import parallel
print(parallel.batch_parts(64, 32, 32), "numba" in sys.modules)
"""
    assert _kernels_in_subprocess(code, {"TINYLM_KERNELS": ""}) == "[slice(0, 64, None)] False"
