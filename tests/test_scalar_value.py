"""Value ops and fused ops: gradients against float64 central finite differences (rel. error <= 1e-6)."""
from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest

from tinylm.engines.scalar_engine import Value, graph_stats, graph_to_data
from tinylm.engines.scalar_engine.fused import FusedOps
from tinylm.engines.scalar_engine.leaves import Leaf
from tinylm.engines.scalar_engine.plain import PlainOps
from tinylm.engines.scalar_engine.value import topological_order

H = 1e-6


def rel_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    analytic, numeric = np.asarray(analytic, float), np.asarray(numeric, float)
    scale = max(np.abs(analytic).max(), np.abs(numeric).max(), 1e-8)
    return float(np.abs(analytic - numeric).max() / scale)


def check_scalar_op(f, xs: list[float]) -> None:
    """f(list of Values) -> Value; compare backward() with central differences in every input."""
    leaves = [Value(x) for x in xs]
    out = f(leaves)
    out.backward()
    analytic = [v.grad for v in leaves]
    numeric = []
    for i in range(len(xs)):
        up, down = list(xs), list(xs)
        up[i] += H
        down[i] -= H
        numeric.append((f([Value(x) for x in up]).data - f([Value(x) for x in down]).data) / (2 * H))
    assert rel_error(analytic, numeric) <= 1e-6


@pytest.mark.parametrize("name,f,xs", [
    ("add", lambda v: v[0] + v[1], [0.3, -1.2]),
    ("mul", lambda v: v[0] * v[1], [0.3, -1.2]),
    ("pow", lambda v: v[0] ** 3, [0.7]),
    ("pow negative exponent", lambda v: v[0] ** -0.5, [1.3]),
    ("log", lambda v: v[0].log(), [0.4]),
    ("exp", lambda v: v[0].exp(), [-0.8]),
    ("relu positive", lambda v: v[0].relu(), [0.5]),
    ("relu negative", lambda v: v[0].relu() + v[0], [-0.5]),
    ("tanh", lambda v: v[0].tanh(), [0.6]),
    ("erf", lambda v: v[0].erf(), [0.3]),
    ("neg", lambda v: -v[0], [0.3]),
    ("sub", lambda v: v[0] - v[1], [0.3, 2.0]),
    ("rsub", lambda v: 2.0 - v[0], [0.3]),
    ("radd and rmul", lambda v: 3.0 * v[0] + 1.0, [0.3]),
    ("truediv", lambda v: v[0] / v[1], [0.3, -1.7]),
    ("rtruediv", lambda v: 2.0 / v[0], [0.9]),
    ("shared subexpression", lambda v: (v[0] * v[1]) * (v[0] * v[1] + v[0]).exp(), [0.3, -0.4]),
])
def test_value_op_gradient_matches_finite_differences(name, f, xs):
    check_scalar_op(f, xs)


def test_division_is_multiplication_by_reciprocal():
    out = Value(3.0) / Value(4.0)
    assert out._op == "*" and out._children[1]._op == "**-1"
    assert out.data == 0.75


def test_backward_handles_graphs_deeper_than_the_recursion_limit():
    x = Value(0.5)
    y = x
    for _ in range(sys.getrecursionlimit() + 500):
        y = y + 0.001 * x
    y.backward()
    assert x.grad == pytest.approx(1 + 0.001 * (sys.getrecursionlimit() + 500))


def test_topological_order_puts_children_first_and_can_skip_leaves():
    a, b = Value(1.0), Value(2.0)
    c = a * b
    d = c + a
    e = d * c
    topo = topological_order(e)
    position = {id(v): i for i, v in enumerate(topo)}
    for node in topo:
        for child in node._children:
            assert position[id(child)] < position[id(node)]
    assert len(topo) == 5
    assert [v for v in topological_order(e, include_leaves=False)] == [c, d, e]


# --- fused ops (and their plain twins) against finite differences --------------------------------

def leaf(name: str, array: np.ndarray) -> Leaf:
    return Leaf.from_array(name, array)


def check_vector_op(op_name: str, build, rng: np.random.Generator, n_inputs: int) -> None:
    """build(ops, x Values, leaves) -> list of output Values. The scalar objective is sum_i r_i y_i,
    differentiated w.r.t. the inputs x and every parameter leaf, for fused and plain ops."""
    x0 = rng.standard_normal(n_inputs)
    params = {"w": rng.standard_normal((5, n_inputs)), "b": rng.standard_normal(5),
              "g": 1.0 + 0.3 * rng.standard_normal(n_inputs), "gb": rng.standard_normal(n_inputs)}

    def objective(ops, x_values, param_arrays):
        leaves = {k: leaf(k, v) for k, v in param_arrays.items()}
        out = build(ops, x_values, leaves)
        r = np.linspace(-1.0, 1.3, len(out))
        total = out[0] * float(r[0])
        for ri, yi in zip(r[1:], out[1:]):
            total = total + yi * float(ri)
        return total, leaves

    for ops in (FusedOps(), PlainOps()):
        xs = [Value(v) for v in x0]
        total, leaves = objective(ops, xs, params)
        total.backward()
        analytic = [v.grad for v in xs] + [leaves[k].grad()[idx] for k in sorted(params)
                                           for idx in np.ndindex(params[k].shape)]
        numeric = []
        for i in range(n_inputs):
            up, down = x0.copy(), x0.copy()
            up[i] += H
            down[i] -= H
            numeric.append((objective(ops, [Value(v) for v in up], params)[0].data
                            - objective(ops, [Value(v) for v in down], params)[0].data) / (2 * H))
        for k in sorted(params):
            for idx in np.ndindex(params[k].shape):
                up = {n: a.copy() for n, a in params.items()}
                down = {n: a.copy() for n, a in params.items()}
                up[k][idx] += H
                down[k][idx] -= H
                numeric.append((objective(ops, [Value(v) for v in x0], up)[0].data
                                - objective(ops, [Value(v) for v in x0], down)[0].data) / (2 * H))
        assert rel_error(analytic, numeric) <= 1e-6, (op_name, ops.name)


VECTOR_OPS = {
    "linear": lambda ops, x, p: ops.linear(x, p["w"]),
    "linear+bias": lambda ops, x, p: ops.linear(x, p["w"], p["b"]),
    "rmsnorm": lambda ops, x, p: ops.rmsnorm(x, 1e-5),
    "rmsnorm affine": lambda ops, x, p: ops.rmsnorm(x, 1e-5, p["g"]),
    "layernorm": lambda ops, x, p: ops.layernorm(x, 1e-5),
    "layernorm affine": lambda ops, x, p: ops.layernorm(x, 1e-5, p["g"]),
    "layernorm affine+bias": lambda ops, x, p: ops.layernorm(x, 1e-5, p["g"], p["gb"]),
    "relu": lambda ops, x, p: ops.activation(ops.linear(x, p["w"]), "relu"),
    "tanh": lambda ops, x, p: ops.activation(x, "tanh"),
    "gelu": lambda ops, x, p: ops.activation(x, "gelu"),
    "gelu_tanh": lambda ops, x, p: ops.activation(x, "gelu_tanh"),
    "softmax": lambda ops, x, p: ops.softmax(x),
    "add": lambda ops, x, p: ops.add(x[:5], ops.linear(x, p["w"])),
    "attention": lambda ops, x, p: ops.weighted_sum(
        ops.softmax(ops.attention_scores(x[:4], [x[4:8], x[:4], x[2:6]])), [x[:4], x[4:8], x[1:5]]),
    "cross_entropy": lambda ops, x, p: [ops.cross_entropy(x, 2)],
    "mean": lambda ops, x, p: [ops.mean(x)],
}


@pytest.mark.parametrize("op_name", list(VECTOR_OPS))
def test_fused_and_plain_op_gradients_match_finite_differences(op_name):
    check_vector_op(op_name, VECTOR_OPS[op_name], np.random.default_rng(7), 8)


def test_fused_ops_compute_the_same_values_as_plain_ops():
    rng = np.random.default_rng(3)
    x0 = rng.standard_normal(8)
    params = {"w": leaf("w", rng.standard_normal((5, 8))), "b": leaf("b", rng.standard_normal(5)),
              "g": leaf("g", 1.0 + rng.standard_normal(8)), "gb": leaf("gb", rng.standard_normal(8))}
    for name, build in VECTOR_OPS.items():
        fused = [v.data for v in build(FusedOps(), [Value(v) for v in x0], params)]
        plain = [v.data for v in build(PlainOps(), [Value(v) for v in x0], params)]
        np.testing.assert_allclose(fused, plain, rtol=1e-12, atol=1e-14, err_msg=name)


def test_fused_graph_is_smaller_than_plain_graph():
    rng = np.random.default_rng(0)
    w = leaf("w", rng.standard_normal((16, 16)))
    sizes = {}
    for ops in (FusedOps(), PlainOps()):
        x = [Value(v) for v in rng.standard_normal(16)]
        out = ops.mean([ops.cross_entropy(ops.linear(ops.rmsnorm(x, 1e-5), w), 3)])
        sizes[ops.name] = graph_stats(topological_order(out))
    assert sizes["fused"]["nodes"] * 5 < sizes["plain"]["nodes"]
    assert sizes["fused"]["depth"] < sizes["plain"]["depth"]
    assert sizes["fused"]["leaves"] == 16 * 16 + 16


def test_graph_to_data_is_json_ready_and_consistent():
    a, b = Value(2.0), Value(-3.0)
    out = (a * b + a).relu() + (a * b).exp()
    topo = out.backward()
    data = graph_to_data(topo, {id(a): "a"})
    json.dumps(data)
    assert [d["id"] for d in data] == list(range(len(topo)))
    for d in data:
        assert all(c < d["id"] for c in d["children"])
    assert data[-1]["grad"] == 1.0 and data[-1]["data"] == pytest.approx(math.exp(-6.0))
    (node_a,) = [d for d in data if d.get("label") == "a"]
    assert node_a["op"] == "const" and node_a["grad"] == pytest.approx(a.grad)
    assert a.grad == pytest.approx(-3.0 * math.exp(-6.0))  # relu is off: only the exp branch

