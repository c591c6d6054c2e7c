"""GPT (microgpt / nanoGPT semantics), forward and backward layer by layer.

    x = wte[tok] + wpe[pos];  if embed_norm: x = norm(x)
    per block:  x = x + wo(attn(wq, wk, wv of norm1(x)));  x = x + fc2(act(fc1(norm2(x))))
    if final_norm: x = norm_f(x);  logits = x @ (wte if tied else lm_head).T

wq, wk and wv of a layer are views of one [3C, C] buffer, so one matmul computes q, k and v.
"""
from __future__ import annotations

import numpy as np

from .model import NumpyModel
from .ops import (attention_backward, attention_forward, causal_mask, embedding_backward,
                  embedding_forward, layernorm_backward, layernorm_forward, linear_backward, linear_forward,
                  residual_backward, residual_forward, rmsnorm_backward, rmsnorm_forward)


class GPT(NumpyModel):
    def __init__(self, cfg, dtype):
        super().__init__(cfg, dtype)
        self.mask = causal_mask(cfg.block_size, self.dtype)

    def _allocate(self) -> dict[str, np.ndarray]:
        params = super()._allocate()
        C = self.cfg.n_embd
        self.qkv_weight: list[np.ndarray] = []
        self.qkv_bias: list[np.ndarray | None] = []
        for i in range(self.cfg.n_layer):
            fused = np.zeros((3 * C, C), dtype=self.dtype)
            for j, proj in enumerate(("wq", "wk", "wv")):
                params[f"h.{i}.attn.{proj}.weight"] = fused[j * C:(j + 1) * C]
            self.qkv_weight.append(fused)
            fused_bias = None
            if self.cfg.bias:
                fused_bias = np.zeros(3 * C, dtype=self.dtype)
                for j, proj in enumerate(("wq", "wk", "wv")):
                    params[f"h.{i}.attn.{proj}.bias"] = fused_bias[j * C:(j + 1) * C]
            self.qkv_bias.append(fused_bias)
        return params

    @property
    def split_width(self) -> int:
        return self.cfg.n_embd

    @property
    def head_weight(self) -> np.ndarray:
        return self.params["wte"] if self.cfg.tie_weights else self.params["lm_head.weight"]

    # --- norms: dispatch on cfg.norm, optional gain/bias --------------------------------------
    def norm_forward(self, x: np.ndarray, prefix: str) -> tuple[np.ndarray, tuple]:
        weight = self.params.get(f"{prefix}.weight")
        if self.cfg.norm == "rmsnorm":
            return rmsnorm_forward(x, weight, self.cfg.norm_eps)
        return layernorm_forward(x, weight, self.params.get(f"{prefix}.bias"), self.cfg.norm_eps)

    def norm_backward(self, dout: np.ndarray, cache: tuple, prefix: str, grads: dict) -> np.ndarray:
        if self.cfg.norm == "rmsnorm":
            dx, dweight = rmsnorm_backward(dout, cache)
            dbias = None
        else:
            dx, dweight, dbias = layernorm_backward(dout, cache)
        if dweight is not None:
            grads[f"{prefix}.weight"] = dweight
        if dbias is not None:
            grads[f"{prefix}.bias"] = dbias
        return dx

    # --- one transformer block ----------------------------------------------------------------
    def block_forward(self, x: np.ndarray, i: int) -> tuple[np.ndarray, dict]:
        C, prefix = self.cfg.n_embd, f"h.{i}"
        cache: dict = {}
        h, cache["norm1"] = self.norm_forward(x, f"{prefix}.norm1")
        qkv, cache["qkv"] = linear_forward(h, self.qkv_weight[i], self.qkv_bias[i])
        q, k, v = qkv[..., :C], qkv[..., C:2 * C], qkv[..., 2 * C:]
        a, cache["attn"] = attention_forward(q, k, v, self.cfg.n_head, self.mask)
        x = self.attn_out(x, a, i, cache)
        x = self.mlp_residual(x, i, cache)
        return x, cache

    # the rest of a block after attention, shared with the KV-cache decoder; each fills ``cache``
    def attn_out(self, x: np.ndarray, a: np.ndarray, i: int, cache: dict) -> np.ndarray:
        """x + wo(a): the out-projection of the attention ``a`` of block i, and the residual."""
        p, prefix = self.params, f"h.{i}"
        o, cache["wo"] = linear_forward(a, p[f"{prefix}.attn.wo.weight"], p.get(f"{prefix}.attn.wo.bias"))
        x, _ = residual_forward(x, o)
        return x

    def mlp_residual(self, x: np.ndarray, i: int, cache: dict) -> np.ndarray:
        """x + fc2(act(fc1(norm2(x)))) of block i."""
        p, prefix = self.params, f"h.{i}"
        h, cache["norm2"] = self.norm_forward(x, f"{prefix}.norm2")
        f, cache["fc1"] = linear_forward(h, p[f"{prefix}.mlp.fc1.weight"], p.get(f"{prefix}.mlp.fc1.bias"))
        f, cache["act"] = self.act_forward(f)
        f, cache["fc2"] = linear_forward(f, p[f"{prefix}.mlp.fc2.weight"], p.get(f"{prefix}.mlp.fc2.bias"))
        x, _ = residual_forward(x, f)
        return x

    def block_backward(self, dx: np.ndarray, cache: dict, i: int, grads: dict) -> np.ndarray:
        prefix, C, bias = f"h.{i}", self.cfg.n_embd, self.cfg.bias
        dx, dbranch = residual_backward(dx, ())
        df, grads[f"{prefix}.mlp.fc2.weight"], db = linear_backward(dbranch, cache["fc2"])
        if bias:
            grads[f"{prefix}.mlp.fc2.bias"] = db
        df = self.act_backward(df, cache["act"])
        dh, grads[f"{prefix}.mlp.fc1.weight"], db = linear_backward(df, cache["fc1"])
        if bias:
            grads[f"{prefix}.mlp.fc1.bias"] = db
        dx += self.norm_backward(dh, cache["norm2"], f"{prefix}.norm2", grads)   # dx is the caller's fresh gradient

        dx, dbranch = residual_backward(dx, ())
        da, grads[f"{prefix}.attn.wo.weight"], db = linear_backward(dbranch, cache["wo"])
        if bias:
            grads[f"{prefix}.attn.wo.bias"] = db
        dqkv = np.empty(da.shape[:-1] + (3 * C,), dtype=da.dtype)
        attention_backward(da, cache["attn"], out=dqkv)      # dq, dk, dv side by side
        dh, dw_qkv, db_qkv = linear_backward(dqkv, cache["qkv"])
        for j, proj in enumerate(("wq", "wk", "wv")):
            grads[f"{prefix}.attn.{proj}.weight"] = dw_qkv[j * C:(j + 1) * C]
            if bias:
                grads[f"{prefix}.attn.{proj}.bias"] = db_qkv[j * C:(j + 1) * C]
        dx += self.norm_backward(dh, cache["norm1"], f"{prefix}.norm1", grads)
        return dx

    # --- the whole model ----------------------------------------------------------------------
    def embed(self, x: np.ndarray, start: int = 0) -> tuple[np.ndarray, dict]:
        """Token + position embeddings (+ embed_norm) of ``x`` [B, T] at positions start.. ."""
        cache: dict = {}
        tok, cache["wte"] = embedding_forward(self.params["wte"], x)
        h = tok + self.params["wpe"][start:start + x.shape[1]]
        if self.cfg.embed_norm:
            h, cache["norm_emb"] = self.norm_forward(h, "norm_emb")
        return h, cache

    def head_forward(self, h: np.ndarray) -> tuple[np.ndarray, dict]:
        cache: dict = {}
        if self.cfg.final_norm:
            h, cache["norm_f"] = self.norm_forward(h, "norm_f")
        logits, cache["head"] = linear_forward(h, self.head_weight)
        return logits, cache

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, object]:
        h, embed_cache = self.embed(x)
        block_caches = []
        for i in range(self.cfg.n_layer):
            h, cache = self.block_forward(h, i)
            block_caches.append(cache)
        logits, head_cache = self.head_forward(h)
        return logits, (embed_cache, block_caches, head_cache, x.shape)

    def backward(self, dlogits: np.ndarray, cache: object) -> dict[str, np.ndarray]:
        embed_cache, block_caches, head_cache, (B, T) = cache
        grads: dict[str, np.ndarray] = {}
        dh, dhead, _ = linear_backward(dlogits, head_cache["head"])
        if self.cfg.final_norm:
            dh = self.norm_backward(dh, head_cache["norm_f"], "norm_f", grads)
        for i in reversed(range(self.cfg.n_layer)):
            dh = self.block_backward(dh, block_caches[i], i, grads)
        if self.cfg.embed_norm:
            dh = self.norm_backward(dh, embed_cache["norm_emb"], "norm_emb", grads)
        dwte = embedding_backward(dh, embed_cache["wte"])
        if self.cfg.tie_weights:
            dwte += dhead
        else:
            grads["lm_head.weight"] = dhead
        grads["wte"] = dwte
        dwpe = np.zeros_like(self.params["wpe"])
        dh.sum(axis=0, out=dwpe[:T])               # every row of the batch uses positions 0..T-1
        grads["wpe"] = dwpe
        return grads

    # --- incremental decoding: a KV cache ------------------------------------------------------
    def start_state(self, batch_size: int) -> KVCache:
        return KVCache(self.cfg, batch_size, self.dtype)

    def prime(self, state: KVCache, tokens: np.ndarray) -> KVCache:
        """One batched forward over ``tokens`` [B, L] fills positions 0..L-1 of the cache."""
        _, (_, block_caches, _, _) = self.forward(tokens)
        L = tokens.shape[1]
        for i, cache in enumerate(block_caches):
            _, kh, vh, _, _ = cache["attn"]
            state.keys[i][:, :, :L] = kh
            state.values[i][:, :, :L] = vh
        return state

    def advance(self, state: KVCache, tokens: np.ndarray, position: int) -> tuple[np.ndarray, KVCache]:
        """The next-token logits after ``tokens`` [B] at ``position``, attending to the cached 0..position-1."""
        cfg, t = self.cfg, position
        x, _ = self.embed(tokens[:, None], start=t)      # [B, 1, C]
        C, H, hd = cfg.n_embd, cfg.n_head, cfg.head_dim
        scale = self.dtype.type(1.0 / np.sqrt(hd))
        for i in range(cfg.n_layer):
            h, _ = self.norm_forward(x, f"h.{i}.norm1")
            qkv, _ = linear_forward(h, self.qkv_weight[i], self.qkv_bias[i])
            B = qkv.shape[0]
            q = qkv[:, 0, :C].reshape(B, H, 1, hd) * scale
            state.keys[i][:, :, t] = qkv[:, 0, C:2 * C].reshape(B, H, hd)
            state.values[i][:, :, t] = qkv[:, 0, 2 * C:].reshape(B, H, hd)
            keys, values = state.keys[i][:, :, :t + 1], state.values[i][:, :, :t + 1]
            att = q @ keys.transpose(0, 1, 3, 2)          # [B, H, 1, t+1]: no mask, all are past
            att -= att.max(axis=-1, keepdims=True)
            np.exp(att, out=att)
            att /= att.sum(axis=-1, keepdims=True)
            a = (att @ values).reshape(B, 1, C)
            unused: dict = {}                              # the backward caches, not needed here
            x = self.mlp_residual(self.attn_out(x, a, i, unused), i, unused)
        logits, _ = self.head_forward(x)
        return logits[:, 0], state


class KVCache:
    """Keys and values of every layer for the positions read so far, [B, H, block, hd] each."""

    def __init__(self, cfg, batch_size: int, dtype: np.dtype):
        shape = (batch_size, cfg.n_head, cfg.block_size, cfg.head_dim)
        self.keys = [np.zeros(shape, dtype=dtype) for _ in range(cfg.n_layer)]
        self.values = [np.zeros(shape, dtype=dtype) for _ in range(cfg.n_layer)]
