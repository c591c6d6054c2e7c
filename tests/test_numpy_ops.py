"""Every numpy op: float64 finite-difference gradient checks, reference values, dtype discipline."""
from __future__ import annotations

import math

import numpy as np
import pytest

from tinylm.engines import fused
from tinylm.engines.numpy_engine import ops
from tinylm.engines.gradcheck import numerical_grad, pick_entries, relative_error
from tinylm.engines.numpy_engine.special import erf64, erfc64, normal_cdf

TOL = 1e-6


@pytest.fixture(autouse=True, params=["fused", "numpy"])
def kernels(request, monkeypatch):
    """Every test here runs twice: on the compiled kernels (engines/fused), whatever the arrays' size, and on the
    numpy reference."""
    if request.param == "fused":
        if not fused.kernels() == "numba":
            pytest.skip(f"no compiled kernels here: {fused.kernels()}")
        monkeypatch.setattr(fused, "MIN_PER_SEQUENCE", 0)
        yield "fused"
    else:
        with fused.disabled():
            yield "numpy"


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def check_op(forward, backward, inputs: list[np.ndarray], grad_of: list[int], seed: int = 0,
             limit: int = 40) -> None:
    """Compare backward against central differences of sum(forward(*inputs) * R) for random R."""
    out, cache = forward(*inputs)
    weights = rng(seed + 1).standard_normal(np.shape(out))
    analytic = backward(weights.copy(), cache)
    if not isinstance(analytic, tuple):
        analytic = (analytic,)

    def objective() -> float:
        return float(np.sum(forward(*inputs)[0] * weights))

    for position in grad_of:
        array = inputs[position]
        entries = pick_entries(array.shape, limit, rng(seed + 2 + position))
        numeric = numerical_grad(objective, array, entries, h=1e-4)
        got = np.array([analytic[position][e] for e in entries])
        err = relative_error(got, numeric)
        assert err <= TOL, f"input {position}: max relative error {err:.2e}"


# --- embedding --------------------------------------------------------------------------------
@pytest.mark.parametrize("one_hot_max_rows", [1000, 0], ids=["one-hot", "sorted"])
def test_embedding_gradient(one_hot_max_rows, monkeypatch):
    monkeypatch.setattr(ops, "ONE_HOT_MAX_ROWS", one_hot_max_rows)
    table = rng().standard_normal((7, 5))
    idx = np.array([[0, 3, 3, 6], [6, 6, 1, 0]])   # repeats and an unused row (2, 4, 5)

    def forward(t):
        return ops.embedding_forward(t, idx)

    check_op(forward, lambda d, c: ops.embedding_backward(d, c), [table], [0])


def test_scatter_add_rows_paths_agree():
    idx = rng().integers(0, 50, size=300)
    dout = rng(1).standard_normal((300, 8))
    expected = np.zeros((50, 8))
    for n, r in enumerate(idx):
        expected[r] += dout[n]
    np.testing.assert_allclose(ops.scatter_add_rows(dout, idx, 50, one_hot_max_rows=100), expected, atol=1e-12)
    np.testing.assert_allclose(ops.scatter_add_rows(dout, idx, 50, one_hot_max_rows=0), expected, atol=1e-12)


# --- linear -----------------------------------------------------------------------------------
@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradient(bias):
    x = rng().standard_normal((2, 3, 4))
    w = rng(1).standard_normal((5, 4))
    b = rng(2).standard_normal(5) if bias else None
    inputs = [x, w] + ([b] if bias else [])

    def forward(x, w, b=None):
        return ops.linear_forward(x, w, b)

    out, _ = forward(*inputs)
    np.testing.assert_allclose(out, x @ w.T + (b if bias else 0), atol=1e-14)
    check_op(forward, lambda d, c: ops.linear_backward(d, c), inputs, list(range(len(inputs))))


# --- norms ------------------------------------------------------------------------------------
@pytest.mark.parametrize("affine,bias", [(False, False), (True, False), (True, True)])
def test_layernorm_gradient(affine, bias):
    x = rng().standard_normal((2, 3, 6)) * 2 + 0.5
    w = 1 + 0.3 * rng(1).standard_normal(6) if affine else None
    b = 0.3 * rng(2).standard_normal(6) if bias else None
    inputs = [x] + ([w] if affine else []) + ([b] if bias else [])

    def forward(x, w=None, b=None):
        return ops.layernorm_forward(x, w, b, 1e-5)

    out, _ = forward(*inputs)
    expected = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5)
    expected = expected * (w if affine else 1) + (b if bias else 0)
    np.testing.assert_allclose(out, expected, atol=1e-13)
    check_op(forward, lambda d, c: ops.layernorm_backward(d, c), inputs, list(range(len(inputs))))


@pytest.mark.parametrize("affine", [False, True])
def test_rmsnorm_gradient(affine):
    x = rng().standard_normal((2, 3, 6))
    w = 1 + 0.3 * rng(1).standard_normal(6) if affine else None
    inputs = [x] + ([w] if affine else [])

    def forward(x, w=None):
        return ops.rmsnorm_forward(x, w, 1e-5)

    out, _ = forward(*inputs)
    expected = x / np.sqrt(np.mean(x * x, -1, keepdims=True) + 1e-5) * (w if affine else 1)
    np.testing.assert_allclose(out, expected, atol=1e-13)
    check_op(forward, lambda d, c: ops.rmsnorm_backward(d, c), inputs, list(range(len(inputs))))


# --- activations ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(ops.ACTIVATIONS))
def test_activation_gradient(name):
    forward, backward = ops.ACTIVATIONS[name]
    x = np.clip(rng().standard_normal((4, 25)) * 2, -4, 4)   # tanh' underflows the difference beyond
    x[np.abs(x) < 1e-3] = 0.5                     # keep relu's kink away from the finite difference
    check_op(forward, backward, [x], [0], limit=100)


def test_activation_values():
    x = np.linspace(-6, 6, 1001)
    phi = np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in x])
    np.testing.assert_allclose(ops.gelu_forward(x)[0], x * phi, rtol=1e-14, atol=1e-300)
    tanh_ref = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    np.testing.assert_allclose(ops.gelu_tanh_forward(x)[0], tanh_ref, rtol=1e-13, atol=1e-15)
    np.testing.assert_array_equal(ops.relu_forward(x)[0], np.maximum(x, 0))
    np.testing.assert_array_equal(ops.tanh_forward(x)[0], np.tanh(x))


def test_erf_matches_math_to_double_precision():
    z = np.concatenate([np.linspace(-9, 9, 40001), [0.0, 0.46875, -0.46875, 4.0, -4.0, 26.0, 30.0, -30.0]])
    erf_ref = np.array([math.erf(v) for v in z])
    erfc_ref = np.array([math.erfc(v) for v in z])
    assert np.max(np.abs(erf64(z) - erf_ref)) <= 4e-16
    tiny = np.abs(z) < 1e-300
    assert np.max(np.abs(erf64(z) - erf_ref)[~tiny] / np.abs(erf_ref[~tiny])) <= 2e-15
    positive = erfc_ref > 0
    assert np.max(np.abs(erfc64(z) - erfc_ref)[positive] / erfc_ref[positive]) <= 2e-15
    assert np.all(erfc64(z)[~positive] == 0)


def test_float32_normal_cdf_within_float32_accuracy():
    x = np.linspace(-10, 10, 200001).astype(np.float32)
    ref = np.array([0.5 * math.erfc(-float(v) / math.sqrt(2)) for v in x])
    got = normal_cdf(x)
    assert got.dtype == np.float32
    assert np.max(np.abs(got - ref)) <= 2.5e-7      # ~2 float32 ulps of 1
    moderate = x > -4                                # relative accuracy where Phi is not tiny
    # exp(-x^2/2) in float32: x^2/2 carries an absolute rounding error of ~1e-6 near x = -4
    assert np.max(np.abs(got - ref)[moderate] / ref[moderate]) <= 4e-6


@pytest.mark.torch
def test_gelu_matches_torch_exact_gelu():
    torch = pytest.importorskip("torch")
    x = np.linspace(-8, 8, 4001)
    ref = torch.nn.functional.gelu(torch.from_numpy(x)).numpy()
    assert np.max(np.abs(ops.gelu_forward(x)[0] - ref)) <= 5e-15
    xt = torch.from_numpy(x).requires_grad_()
    torch.nn.functional.gelu(xt).sum().backward()
    assert np.max(np.abs(ops.gelu_backward(np.ones_like(x), ops.gelu_forward(x)[1]) - xt.grad.numpy())) <= 5e-15


# --- residual ---------------------------------------------------------------------------------
def test_residual_gradient():
    a, b = rng().standard_normal((2, 3, 4)), rng(1).standard_normal((2, 3, 4))
    check_op(ops.residual_forward, lambda d, c: ops.residual_backward(d, c), [a, b], [0, 1])


# --- attention --------------------------------------------------------------------------------
@pytest.mark.parametrize("B,T,C,H", [(2, 5, 8, 2), (1, 1, 4, 1), (2, 4, 6, 3)])
def test_attention_gradient(B, T, C, H):
    q, k, v = (rng(s).standard_normal((B, T, C)) for s in range(3))
    mask = ops.causal_mask(T + 2, np.float64)       # a longer mask is sliced to T

    def forward(q, k, v):
        return ops.attention_forward(q, k, v, H, mask)

    check_op(forward, lambda d, c: ops.attention_backward(d, c), [q, k, v], [0, 1, 2])


def test_attention_is_causal_softmax():
    B, T, C, H = 2, 6, 8, 2
    q, k, v = (rng(s).standard_normal((B, T, C)) for s in range(3))
    y, _ = ops.attention_forward(q, k, v, H, ops.causal_mask(T, np.float64))
    hd = C // H
    for b in range(B):
        for h in range(H):
            sl = slice(h * hd, (h + 1) * hd)
            for t in range(T):
                scores = q[b, t, sl] @ k[b, :t + 1, sl].T / math.sqrt(hd)
                p = np.exp(scores - scores.max())
                p /= p.sum()
                np.testing.assert_allclose(y[b, t, sl], p @ v[b, :t + 1, sl], atol=1e-14)


# --- cross-entropy ----------------------------------------------------------------------------
def test_cross_entropy_gradient_with_ignored_targets():
    logits = rng().standard_normal((2, 5, 7)) * 2
    targets = np.array([[1, 6, -1, 0, 3], [-1, -1, 2, 2, 5]])

    def loss():
        return ops.cross_entropy_forward(logits, targets, need_grad=False)[0]

    value, cache = ops.cross_entropy_forward(logits, targets)
    analytic = ops.cross_entropy_backward(cache)
    valid = targets >= 0
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    picked = np.take_along_axis(logp, np.where(valid, targets, 0)[..., None], -1)[..., 0]
    assert value == pytest.approx(-picked[valid].mean(), rel=1e-14)
    entries = pick_entries(logits.shape, 100, rng())
    numeric = numerical_grad(loss, logits, entries)
    assert relative_error(np.array([analytic[e] for e in entries]), numeric) <= TOL
    assert np.all(analytic[~valid] == 0)            # ignored positions get no gradient


# --- dtype discipline -------------------------------------------------------------------------
def test_float32_in_float32_out_for_every_op():
    f32 = np.float32
    x = rng().standard_normal((2, 4, 8)).astype(f32)
    w = rng(1).standard_normal((8, 8)).astype(f32)
    g = np.ones(8, dtype=f32)
    d = np.ones_like(x)
    results = []
    out, c = ops.linear_forward(x, w, g)
    results += [out, *ops.linear_backward(d, c)]
    out, c = ops.layernorm_forward(x, g, g, 1e-5)
    results += [out, *ops.layernorm_backward(d, c)]
    out, c = ops.rmsnorm_forward(x, g, 1e-5)
    results += [out, *ops.rmsnorm_backward(d, c)]
    for forward, backward in ops.ACTIVATIONS.values():
        out, c = forward(x)
        results += [out, backward(d, c), *c]
    out, c = ops.attention_forward(x, x, x, 2, ops.causal_mask(4, f32))
    results += [out, *ops.attention_backward(d, c), *c[:4]]
    table = rng().standard_normal((5, 8)).astype(f32)
    out, c = ops.embedding_forward(table, np.array([[0, 4], [2, 2]]))
    results += [out, ops.embedding_backward(out, c)]
    _, c = ops.cross_entropy_forward(x, np.array([[0, 1, -1, 7], [3, 3, 3, 3]]))
    results += [ops.cross_entropy_backward(c)]
    for n, r in enumerate(results):
        if r is not None:
            assert r.dtype == np.float32, f"result {n} is {r.dtype}"
