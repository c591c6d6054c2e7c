"""Fused ops: the same functions as ``plain.py`` with far fewer graph nodes.

A fused node is still one scalar Value, but it may have many children: a dot product
y = sum_j w_j x_j is one node whose local gradients are dy/dw_j = x_j and dy/dx_j = w_j, instead
of 2n nodes of + and *. Softmax, cross-entropy and the norm scales are fused the same way, each
with its local gradients written out below. The arithmetic runs on lists of floats (``map``,
``sum``) so that the Python interpreter does as little work per multiply-add as it can.
"""
from __future__ import annotations

import math
from operator import mul

from .leaves import Leaf
from .value import Value

SQRT_HALF = math.sqrt(0.5)
SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _data(xs: list[Value]) -> list[float]:
    return [v.data for v in xs]


class FusedOps:
    name = "fused"

    def linear(self, x: list[Value], weight: Leaf, bias: Leaf | None = None) -> list[Value]:
        # y_i = sum_j W_ij x_j (+ b_i):  dy_i/dW_ij = x_j,  dy_i/dx_j = W_ij  (, dy_i/db_i = 1)
        xd = _data(x)
        if bias is None:
            return [Value(sum(map(mul, wd, xd)), wv + x, xd + wd, "dot")
                    for wv, wd in zip(weight.values, weight.data)]
        return [Value(sum(map(mul, wd, xd)) + bd, wv + x + [bv], xd + wd + [1.0], "dot+b")
                for wv, wd, bv, bd in zip(weight.values, weight.data, bias.values, bias.data)]

    def add(self, a: list[Value], b: list[Value]) -> list[Value]:
        return [Value(ai.data + bi.data, (ai, bi), (1.0, 1.0), "+") for ai, bi in zip(a, b)]

    def _scaled(self, x: list[Value], xd: list[float], scale: Value, weight: Leaf | None,
                bias: Leaf | None) -> list[Value]:
        # y_i = x_i s w_i + b_i:  dy/dx_i = s w_i,  dy/ds = x_i w_i,  dy/dw_i = x_i s,  dy/db_i = 1
        s = scale.data
        if weight is None:
            return [Value(xi * s, (v, scale), (s, xi), "*") for v, xi in zip(x, xd)]
        if bias is None:
            return [Value(xi * s * wi, (v, scale, wv), (s * wi, xi * wi, xi * s), "norm*w")
                    for v, xi, wv, wi in zip(x, xd, weight.values, weight.data)]
        return [Value(xi * s * wi + bi, (v, scale, wv, bv), (s * wi, xi * wi, xi * s, 1.0), "norm*w+b")
                for v, xi, wv, wi, bv, bi in zip(x, xd, weight.values, weight.data, bias.values, bias.data)]

    def rmsnorm(self, x: list[Value], eps: float, weight: Leaf | None = None) -> list[Value]:
        # s = (mean(x^2) + eps)^-1/2:  ds/dx_j = -s^3 x_j / n;  then y_i = x_i s
        xd = _data(x)
        n = len(xd)
        s = (sum(map(mul, xd, xd)) / n + eps) ** -0.5
        k = -s * s * s / n
        scale = Value(s, x, [k * xj for xj in xd], "rms_scale")
        return self._scaled(x, xd, scale, weight, None)

    def layernorm(self, x: list[Value], eps: float, weight: Leaf | None = None, bias: Leaf | None = None) -> list[Value]:
        # mu = mean(x);  c_i = x_i - mu;  s = (mean(c^2) + eps)^-1/2 with ds/dc_j = -s^3 c_j / n;  y_i = c_i s
        xd = _data(x)
        n = len(xd)
        mu = sum(xd) / n
        mean_node = Value(mu, x, [1.0 / n] * n, "mean")
        centred = [Value(xi - mu, (v, mean_node), (1.0, -1.0), "-") for v, xi in zip(x, xd)]
        cd = _data(centred)
        s = (sum(map(mul, cd, cd)) / n + eps) ** -0.5
        k = -s * s * s / n
        scale = Value(s, centred, [k * cj for cj in cd], "ln_scale")
        return self._scaled(centred, cd, scale, weight, bias)

    def activation(self, x: list[Value], kind: str) -> list[Value]:
        if kind == "relu":
            return [Value(v.data if v.data > 0 else 0.0, (v,), (1.0 if v.data > 0 else 0.0,), "relu") for v in x]
        if kind == "tanh":
            return [v.tanh() for v in x]
        out = []
        if kind == "gelu":
            # y = x Phi(x):  dy/dx = Phi(x) + x phi(x)
            for v in x:
                a = v.data
                cdf = 0.5 * (1.0 + math.erf(a * SQRT_HALF))
                pdf = INV_SQRT_2PI * math.exp(-0.5 * a * a)
                out.append(Value(a * cdf, (v,), (cdf + a * pdf,), "gelu"))
            return out
        # gelu_tanh: y = x/2 (1 + tanh(u)), u = c (x + 0.044715 x^3)
        #            dy/dx = (1 + t)/2 + x/2 (1 - t^2) c (1 + 3 * 0.044715 x^2)
        for v in x:
            a = v.data
            t = math.tanh(SQRT_2_OVER_PI * (a + 0.044715 * a * a * a))
            grad = 0.5 * (1.0 + t) + 0.5 * a * (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3 * 0.044715 * a * a)
            out.append(Value(0.5 * a * (1.0 + t), (v,), (grad,), "gelu_tanh"))
        return out

    def attention_scores(self, q: list[Value], keys: list[list[Value]]) -> list[Value]:
        # s_t = (q . k_t) / sqrt(d):  ds_t/dq_j = k_tj / sqrt(d),  ds_t/dk_tj = q_j / sqrt(d)
        inv = 1.0 / math.sqrt(len(q))
        qd = _data(q)
        q_local = [inv * qj for qj in qd]
        out = []
        for k in keys:
            kd = _data(k)
            out.append(Value(sum(map(mul, qd, kd)) * inv, q + k, [inv * kj for kj in kd] + q_local, "score"))
        return out

    def softmax(self, logits: list[Value]) -> list[Value]:
        # p_i = exp(z_i) / sum_j exp(z_j):  dp_i/dz_j = p_i (delta_ij - p_j)
        zd = _data(logits)
        top = max(zd)
        exps = [math.exp(z - top) for z in zd]
        total = sum(exps)
        probs = [e / total for e in exps]
        out = []
        for i, p in enumerate(probs):
            local = [-p * pj for pj in probs]
            local[i] += p
            out.append(Value(p, logits, local, "softmax"))
        return out

    def weighted_sum(self, weights: list[Value], vectors: list[list[Value]]) -> list[Value]:
        # y_j = sum_t a_t v_tj:  dy_j/da_t = v_tj,  dy_j/dv_tj = a_t
        ad = _data(weights)
        out = []
        for j in range(len(vectors[0])):
            column = [vec[j] for vec in vectors]
            cd = _data(column)
            out.append(Value(sum(map(mul, ad, cd)), weights + column, cd + ad, "dot"))
        return out

    def cross_entropy(self, logits: list[Value], target: int) -> Value:
        # L = logsumexp(z) - z_target:  dL/dz_j = softmax(z)_j - [j == target]
        zd = _data(logits)
        top = max(zd)
        exps = [math.exp(z - top) for z in zd]
        total = sum(exps)
        local = [e / total for e in exps]
        local[target] -= 1.0
        return Value(top + math.log(total) - zd[target], logits, local, "cross_entropy")

    def mean(self, losses: list[Value]) -> Value:
        n = len(losses)
        return Value(sum(_data(losses)) / n, losses, [1.0 / n] * n, "mean")

    # --- makemore's gru and bag of words --------------------------------------------------
    def sigmoid(self, x: list[Value]) -> list[Value]:
        # s = (1 + tanh(x/2)) / 2 = 1 / (1 + exp(-x)):  ds/dx = s (1 - s)
        out = []
        for v in x:
            s = 0.5 * (1.0 + math.tanh(0.5 * v.data))
            out.append(Value(s, (v,), (s * (1.0 - s),), "sigmoid"))
        return out

    def mul(self, a: list[Value], b: list[Value]) -> list[Value]:
        # y = a b:  dy/da = b,  dy/db = a
        return [Value(ai.data * bi.data, (ai, bi), (bi.data, ai.data), "*") for ai, bi in zip(a, b)]

    def blend(self, a: list[Value], b: list[Value], z: list[Value]) -> list[Value]:
        # y = (1 - z) a + z b:  dy/da = 1 - z,  dy/db = z,  dy/dz = b - a
        out = []
        for av, bv, zv in zip(a, b, z):
            ad, bd, zd = av.data, bv.data, zv.data
            out.append(Value((1.0 - zd) * ad + zd * bd, (av, bv, zv), (1.0 - zd, zd, bd - ad), "blend"))
        return out

    def scale(self, x: list[Value], c: float) -> list[Value]:
        # y = c x:  dy/dx = c
        return [Value(v.data * c, (v,), (c,), "*c") for v in x]
