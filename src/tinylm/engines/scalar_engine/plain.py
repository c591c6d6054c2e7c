"""Plain ops: one graph node per scalar operation, written the way microgpt.py writes them.

Every layer is a few lines of ordinary arithmetic on Values; the graph records each +, *, **,
exp and log. This is the version to read first; ``fused.py`` computes the same functions faster.
"""
from __future__ import annotations

import math

from .leaves import Leaf
from .value import Value

SQRT_HALF = math.sqrt(0.5)
SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


class PlainOps:
    name = "plain"

    def linear(self, x: list[Value], weight: Leaf, bias: Leaf | None = None) -> list[Value]:
        out = [sum(wi * xi for wi, xi in zip(w_row, x)) for w_row in weight.values]
        if bias is not None:
            out = [o + b for o, b in zip(out, bias.values)]
        return out

    def add(self, a: list[Value], b: list[Value]) -> list[Value]:
        return [ai + bi for ai, bi in zip(a, b)]

    def rmsnorm(self, x: list[Value], eps: float, weight: Leaf | None = None) -> list[Value]:
        ms = sum(xi * xi for xi in x) / len(x)
        scale = (ms + eps) ** -0.5
        out = [xi * scale for xi in x]
        if weight is not None:
            out = [o * w for o, w in zip(out, weight.values)]
        return out

    def layernorm(self, x: list[Value], eps: float, weight: Leaf | None = None, bias: Leaf | None = None) -> list[Value]:
        mean = sum(x) / len(x)
        centred = [xi - mean for xi in x]
        var = sum(c * c for c in centred) / len(x)
        scale = (var + eps) ** -0.5
        out = [c * scale for c in centred]
        if weight is not None:
            out = [o * w for o, w in zip(out, weight.values)]
        if bias is not None:
            out = [o + b for o, b in zip(out, bias.values)]
        return out

    def activation(self, x: list[Value], kind: str) -> list[Value]:
        if kind == "relu":
            return [xi.relu() for xi in x]
        if kind == "tanh":
            return [xi.tanh() for xi in x]
        if kind == "gelu":  # x * Phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2
            return [0.5 * xi * (1.0 + (xi * SQRT_HALF).erf()) for xi in x]
        # gelu_tanh: the tanh approximation used by GPT-2
        return [0.5 * xi * (1.0 + (SQRT_2_OVER_PI * (xi + 0.044715 * xi ** 3)).tanh()) for xi in x]

    def attention_scores(self, q: list[Value], keys: list[list[Value]]) -> list[Value]:
        return [sum(qj * kj for qj, kj in zip(q, k)) / len(q) ** 0.5 for k in keys]

    def softmax(self, logits: list[Value]) -> list[Value]:
        max_val = max(v.data for v in logits)  # a constant: it cancels out, only keeps exp() finite
        exps = [(v - max_val).exp() for v in logits]
        total = sum(exps)
        return [e / total for e in exps]

    def weighted_sum(self, weights: list[Value], vectors: list[list[Value]]) -> list[Value]:
        return [sum(w * vec[j] for w, vec in zip(weights, vectors)) for j in range(len(vectors[0]))]

    def cross_entropy(self, logits: list[Value], target: int) -> Value:
        return -self.softmax(logits)[target].log()

    def mean(self, losses: list[Value]) -> Value:
        return (1.0 / len(losses)) * sum(losses)

    # --- makemore's gru and bag of words --------------------------------------------------
    def sigmoid(self, x: list[Value]) -> list[Value]:
        # 1 / (1 + exp(-x)) written as (1 + tanh(x/2)) / 2, which cannot overflow
        return [0.5 * (1.0 + (0.5 * xi).tanh()) for xi in x]

    def mul(self, a: list[Value], b: list[Value]) -> list[Value]:
        return [ai * bi for ai, bi in zip(a, b)]

    def blend(self, a: list[Value], b: list[Value], z: list[Value]) -> list[Value]:
        """(1 - z) a + z b: the gate z picks between a and b, channel by channel."""
        return [(1.0 - zi) * ai + zi * bi for ai, bi, zi in zip(a, b, z)]

    def scale(self, x: list[Value], c: float) -> list[Value]:
        return [xi * c for xi in x]
