"""The model families on lists of Values, one position at a time (as microgpt.py does).

``ops`` is ``PlainOps`` or ``FusedOps``: the model code is the same, only the graph differs.
Semantics (shared with the numpy engine, see ``models/params.py``):

    bigram: logits = wte[tok]
    mlp:    h = act(fc1(concat(wte[x_{t-k+1}], ..., wte[x_t])))   (pad row V before the start)
            logits = fc2(h) @ wte[:V].T (tied)  or  lm_head(h)
    gpt:    x = wte[tok] + wpe[pos];  x = norm(x) if embed_norm
            per block: x = x + attn(norm1(x));  x = x + mlp(norm2(x))
            x = norm_f(x) if final_norm;  logits = x @ (wte if tied else lm_head).T
"""
from __future__ import annotations

from ...config import ModelConfig
from .leaves import Leaf
from .value import Value


class KVCache:
    """Keys and values of the positions seen so far, per layer (attention looks back at them)."""

    def __init__(self, n_layer: int):
        self.keys: list[list[list[Value]]] = [[] for _ in range(n_layer)]
        self.values: list[list[list[Value]]] = [[] for _ in range(n_layer)]

    @property
    def length(self) -> int:
        return len(self.keys[0]) if self.keys else 0


class ScalarModel:
    """One family on Values. Each family supplies ``start_state()`` and ``advance(state, token, position)``
    -> (logits, new state) for one row; a whole sequence is those steps in order."""

    def __init__(self, cfg: ModelConfig, leaves: dict[str, Leaf], ops):
        self.cfg = cfg
        self.p = leaves
        self.ops = ops

    def _get(self, name: str) -> Leaf | None:
        return self.p.get(name)

    def _row(self, name: str, index: int) -> list[Value]:
        return self.p[name].values[index]

    def start_state(self) -> object:
        raise NotImplementedError

    def advance(self, state: object, token: int, position: int) -> tuple[list[Value], object]:
        raise NotImplementedError

    def sequence_logits(self, tokens: list[int]) -> list[list[Value]]:
        """Logits at every position of one row of tokens."""
        state, out = self.start_state(), []
        for position, token in enumerate(tokens):
            logits, state = self.advance(state, token, position)
            out.append(logits)
        return out


class ScalarBigram(ScalarModel):
    def start_state(self) -> None:
        return None

    def advance(self, state: None, token: int, position: int) -> tuple[list[Value], None]:
        return self._row("wte", token), None


class ScalarMLP(ScalarModel):
    """State: the last ``context`` token ids, oldest first, pad id V before the start."""

    def start_state(self) -> list[int]:
        return [self.cfg.vocab_size] * self.cfg.context

    def advance(self, state: list[int], token: int, position: int) -> tuple[list[Value], list[int]]:
        window = state[1:] + [token]
        return self.mlp(window), window

    def mlp(self, window: list[int]) -> list[Value]:
        """``window``: the last ``context`` token ids, oldest first, pad id V before the start."""
        ops = self.ops
        x = [v for token in window for v in self._row("wte", token)]
        h = ops.activation(ops.linear(x, self.p["fc1.weight"], self._get("fc1.bias")), self.cfg.activation)
        if self.cfg.tie_weights:
            e = ops.linear(h, self.p["fc2.weight"], self._get("fc2.bias"))
            return ops.linear(e, self.p["wte"].rows(self.cfg.vocab_size))
        return ops.linear(h, self.p["lm_head.weight"], self._get("lm_head.bias"))


class ScalarGPT(ScalarModel):
    """State: the KV cache of the positions read so far."""

    def _norm(self, x: list[Value], prefix: str) -> list[Value]:
        cfg = self.cfg
        if cfg.norm == "rmsnorm":
            return self.ops.rmsnorm(x, cfg.norm_eps, self._get(f"{prefix}.weight"))
        return self.ops.layernorm(x, cfg.norm_eps, self._get(f"{prefix}.weight"), self._get(f"{prefix}.bias"))

    def _attention(self, x: list[Value], layer: int, cache: KVCache) -> list[Value]:
        ops, p, hd = self.ops, f"h.{layer}.attn", self.cfg.head_dim
        q = ops.linear(x, self.p[f"{p}.wq.weight"], self._get(f"{p}.wq.bias"))
        k = ops.linear(x, self.p[f"{p}.wk.weight"], self._get(f"{p}.wk.bias"))
        v = ops.linear(x, self.p[f"{p}.wv.weight"], self._get(f"{p}.wv.bias"))
        cache.keys[layer].append(k)
        cache.values[layer].append(v)
        heads: list[Value] = []
        for h in range(self.cfg.n_head):
            lo, hi = h * hd, (h + 1) * hd
            scores = ops.attention_scores(q[lo:hi], [key[lo:hi] for key in cache.keys[layer]])
            weights = ops.softmax(scores)
            heads += ops.weighted_sum(weights, [val[lo:hi] for val in cache.values[layer]])
        return ops.linear(heads, self.p[f"{p}.wo.weight"], self._get(f"{p}.wo.bias"))

    def _mlp_block(self, x: list[Value], layer: int) -> list[Value]:
        ops, p = self.ops, f"h.{layer}.mlp"
        h = ops.activation(ops.linear(x, self.p[f"{p}.fc1.weight"], self._get(f"{p}.fc1.bias")), self.cfg.activation)
        return ops.linear(h, self.p[f"{p}.fc2.weight"], self._get(f"{p}.fc2.bias"))

    def gpt(self, token: int, cache: KVCache) -> list[Value]:
        """Logits for the next token after ``token``, at position ``cache.length``."""
        cfg, ops = self.cfg, self.ops
        x = ops.add(self._row("wte", token), self._row("wpe", cache.length))
        if cfg.embed_norm:
            x = self._norm(x, "norm_emb")
        for layer in range(cfg.n_layer):
            x = ops.add(x, self._attention(self._norm(x, f"h.{layer}.norm1"), layer, cache))
            x = ops.add(x, self._mlp_block(self._norm(x, f"h.{layer}.norm2"), layer))
        if cfg.final_norm:
            x = self._norm(x, "norm_f")
        head = self.p["wte"] if cfg.tie_weights else self.p["lm_head.weight"]
        return ops.linear(x, head)

    def start_state(self) -> KVCache:
        return KVCache(self.cfg.n_layer)

    def advance(self, state: KVCache, token: int, position: int) -> tuple[list[Value], KVCache]:
        return self.gpt(token, state), state
