"""The model families as torch ``nn.Module``s whose ``state_dict`` keys are exactly the
parameter names of ``models.params`` (so checkpoints move between engines unchanged).

Semantics mirror the numpy engine (nanoGPT's model.py, stripped of dropout):

    bigram: logits = wte[x]
    mlp:    h = act(fc1(concat(wte[x_{t-k+1}], ..., wte[x_t])))   (positions before 0 use pad row V)
            logits = fc2(h) @ wte[:V].T  (tied)   or   lm_head(h)  (untied)
    gpt:    x = wte[tok] + wpe[pos];  x = norm_emb(x) if embed_norm
            per block: x = x + attn(norm1(x));  x = x + mlp(norm2(x))
            x = norm_f(x) if final_norm;  logits = x @ (wte if tied else lm_head).T

Attention is causal with scale 1/sqrt(head_dim); norms use eps = cfg.norm_eps.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ...config import ModelConfig


def activation(name: str, x: torch.Tensor) -> torch.Tensor:
    if name == "relu":
        return F.relu(x)
    if name == "gelu":
        return F.gelu(x)                       # exact erf form
    if name == "gelu_tanh":
        return F.gelu(x, approximate="tanh")
    return torch.tanh(x)


class FamilyModule(nn.Module):
    """What the torch engine asks of every family's module (each is registered in engine.IMPLEMENTATIONS).

    - ``cfg``; its ``state_dict`` keys are the family's parameter names (checked when it is built);
    - ``forward(idx [B, T]) -> logits [B, T, V]``;
    - decoding (torch_engine/decoder.py): ``start_state(B)``; ``advance(state, tokens [B], position) ->
      (logits [B, V], state)``; ``prime(state, idx [B, L]) -> state``, token by token unless overridden.
    ``sdpa``: use PyTorch's fused attention where the family has attention.
    """

    def __init__(self, cfg: ModelConfig, sdpa: bool = True):
        super().__init__()
        self.cfg = cfg

    def start_state(self, batch_size: int):
        raise NotImplementedError

    def advance(self, state, tokens: torch.Tensor, position: int):
        raise NotImplementedError

    def prime(self, state, idx: torch.Tensor):
        for t in range(idx.size(1)):
            _, state = self.advance(state, idx[:, t], t)
        return state


class Norm(nn.Module):
    """RMSNorm x/sqrt(mean(x^2)+eps)(*w)  or  LayerNorm (x-mean)/sqrt(var+eps)(*w+b).

    Parameters exist only when the config asks for them (norm_affine; bias for layernorm)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.kind, self.eps, self.shape = cfg.norm, cfg.norm_eps, (cfg.n_embd,)
        self.weight = nn.Parameter(torch.ones(cfg.n_embd)) if cfg.norm_affine else None
        has_bias = cfg.norm_affine and cfg.norm == "layernorm" and cfg.bias
        self.bias = nn.Parameter(torch.zeros(cfg.n_embd)) if has_bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "layernorm":
            return F.layer_norm(x, self.shape, self.weight, self.bias, self.eps)
        return F.rms_norm(x, self.shape, self.weight, self.eps)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: ModelConfig, sdpa: bool):
        super().__init__()
        C = cfg.n_embd
        self.n_head, self.head_dim, self.sdpa = cfg.n_head, cfg.head_dim, sdpa
        self.wq = nn.Linear(C, C, bias=cfg.bias)
        self.wk = nn.Linear(C, C, bias=cfg.bias)
        self.wv = nn.Linear(C, C, bias=cfg.bias)
        self.wo = nn.Linear(C, C, bias=cfg.bias)

    def heads(self, t: torch.Tensor) -> torch.Tensor:
        B, T, C = t.shape
        return t.view(B, T, self.n_head, self.head_dim).transpose(1, 2)      # [B, nh, T, hd]

    def qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.heads(self.wq(x)), self.heads(self.wk(x)), self.heads(self.wv(x))

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool) -> torch.Tensor:
        """softmax(q k^T / sqrt(hd)) v; ``causal`` masks keys after each query (full prefix only)."""
        if self.sdpa:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        else:
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.head_dim))
            if causal:
                T = q.size(-2)
                mask = torch.ones(T, T, dtype=torch.bool, device=q.device).tril()
                att = att.masked_fill(~mask, float("-inf"))
            y = F.softmax(att, dim=-1) @ v
        B, _, T, _ = y.shape
        return self.wo(y.transpose(1, 2).reshape(B, T, self.n_head * self.head_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x)
        return self.attend(q, k, v, causal=True)


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.act = cfg.activation
        self.fc1 = nn.Linear(cfg.n_embd, cfg.mlp_ratio * cfg.n_embd, bias=cfg.bias)
        self.fc2 = nn.Linear(cfg.mlp_ratio * cfg.n_embd, cfg.n_embd, bias=cfg.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(activation(self.act, self.fc1(x)))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, sdpa: bool):
        super().__init__()
        self.norm1 = Norm(cfg)
        self.attn = CausalSelfAttention(cfg, sdpa)
        self.norm2 = Norm(cfg)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class GPT(FamilyModule):
    def __init__(self, cfg: ModelConfig, sdpa: bool = True):
        super().__init__(cfg)
        self.wte = nn.Parameter(torch.zeros(cfg.vocab_size, cfg.n_embd))
        self.wpe = nn.Parameter(torch.zeros(cfg.block_size, cfg.n_embd))
        self.norm_emb = Norm(cfg) if cfg.embed_norm else None
        self.h = nn.ModuleList(Block(cfg, sdpa) for _ in range(cfg.n_layer))
        self.norm_f = Norm(cfg) if cfg.final_norm else None
        self.lm_head = None if cfg.tie_weights else nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)

    def embed(self, idx: torch.Tensor, start: int = 0) -> torch.Tensor:
        T = idx.size(1)
        x = self.wte[idx] + self.wpe[start:start + T]
        return self.norm_emb(x) if self.norm_emb is not None else x

    def head(self, x: torch.Tensor) -> torch.Tensor:
        if self.norm_f is not None:
            x = self.norm_f(x)
        return x @ self.wte.T if self.lm_head is None else self.lm_head(x)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.embed(idx)
        for block in self.h:
            x = block(x)
        return self.head(x)

    # incremental decoding (torch_engine/decoder.py): the state is each layer's keys and values so far
    def start_state(self, batch_size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return []

    def prime(self, state: list, idx: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """One batched causal pass over ``idx`` [B, L] keeping every layer's keys and values."""
        x, state = self.embed(idx), []
        for block in self.h:
            q, k, v = block.attn.qkv(block.norm1(x))
            state.append((k, v))
            x = x + block.attn.attend(q, k, v, causal=True)
            x = x + block.mlp(block.norm2(x))
        return state

    def advance(self, state: list, tokens: torch.Tensor, position: int) -> tuple[torch.Tensor, list]:
        x = self.embed(tokens[:, None], start=position)                 # [B, 1, C]
        for i, block in enumerate(self.h):
            q, k, v = block.attn.qkv(block.norm1(x))
            if i < len(state):
                k = torch.cat([state[i][0], k], dim=2)
                v = torch.cat([state[i][1], v], dim=2)
                state[i] = (k, v)
            else:
                state.append((k, v))
            x = x + block.attn.attend(q, k, v, causal=False)           # one query sees every cached key
            x = x + block.mlp(block.norm2(x))
        return self.head(x)[:, 0], state


class ContextMLP(FamilyModule):
    """The seeds' MLP (context 1) and Bengio et al.'s (context k, left-padded with row V)."""

    def __init__(self, cfg: ModelConfig, sdpa: bool = True):
        super().__init__(cfg)
        rows = cfg.vocab_size + (1 if cfg.context > 1 else 0)
        self.wte = nn.Parameter(torch.zeros(rows, cfg.n_embd))
        self.fc1 = nn.Linear(cfg.context * cfg.n_embd, cfg.n_hidden, bias=cfg.bias)
        if cfg.tie_weights:
            self.fc2 = nn.Linear(cfg.n_hidden, cfg.n_embd, bias=cfg.bias)
        else:
            self.lm_head = nn.Linear(cfg.n_hidden, cfg.vocab_size, bias=cfg.bias)

    def windows(self, idx: torch.Tensor) -> torch.Tensor:
        """[B, T] -> [B, T, k]: the k tokens ending at each position, oldest first."""
        k = self.cfg.context
        if k == 1:
            return idx.unsqueeze(-1)
        pad = torch.full((idx.size(0), k - 1), self.cfg.vocab_size, dtype=idx.dtype, device=idx.device)
        return torch.cat([pad, idx], dim=1).unfold(1, k, 1)

    def from_windows(self, win: torch.Tensor) -> torch.Tensor:
        emb = self.wte[win]                                         # [..., k, E]
        h = activation(self.cfg.activation, self.fc1(emb.flatten(-2)))
        if self.cfg.tie_weights:
            return self.fc2(h) @ self.wte[:self.cfg.vocab_size].T
        return self.lm_head(h)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.from_windows(self.windows(idx))

    # decoding state: the last ``context`` tokens of each row, pad id V before the start
    def start_state(self, batch_size: int) -> torch.Tensor:
        return torch.full((batch_size, self.cfg.context), self.cfg.vocab_size, dtype=torch.long,
                          device=self.wte.device)

    def prime(self, state: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        return torch.cat([state, idx], dim=1)[:, -self.cfg.context:]

    def advance(self, state: torch.Tensor, tokens: torch.Tensor, position: int) -> tuple[torch.Tensor, torch.Tensor]:
        window = torch.cat([state[:, 1:], tokens[:, None]], dim=1)
        return self.from_windows(window), window


class Bigram(FamilyModule):
    def __init__(self, cfg: ModelConfig, sdpa: bool = True):
        super().__init__(cfg)
        self.wte = nn.Parameter(torch.zeros(cfg.vocab_size, cfg.vocab_size))

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.wte[idx]

    def start_state(self, batch_size: int) -> None:
        return None

    def prime(self, state: None, idx: torch.Tensor) -> None:
        return None

    def advance(self, state: None, tokens: torch.Tensor, position: int) -> tuple[torch.Tensor, None]:
        return self.wte[tokens], None
