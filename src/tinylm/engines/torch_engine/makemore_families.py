"""makemore's rnn, gru and bag-of-words families as torch ``nn.Module``s whose ``state_dict`` keys are
exactly the parameter names of ``models/rnn.py`` and ``models/bow.py``.

    rnn:  h_t = act(xh_to_h([x_t, h_{t-1}])),  h_{-1} = start
    gru:  r = sigmoid(xh_to_r([x_t, h])), z = sigmoid(xh_to_z([x_t, h])),
          hbar = act(xh_to_hbar([x_t, r * h])),  h_t = (1 - z) h + z hbar
          logits_t = lm_head(h_t)
    bow:  x = wte[tok] + wpe[pos];  x = x + causal mean of x;  x = x + c_proj(act(c_fc(x)));  logits = lm_head(x)

Besides ``forward(idx) -> logits``, each offers incremental decoding: ``start_state(B)`` and
``advance(state, tokens [B], position) -> (logits [B, V], state)``, whose logits equal forward()'s last
position on the same prefix.
"""
from __future__ import annotations

import torch
from torch import nn

from ...config import ModelConfig
from ...models.rnn import CELL_LINEARS
from .model import FamilyModule, activation


class RecurrentCell(nn.Module):
    """One step of the recurrence; ``kind`` "rnn" or "gru"."""

    def __init__(self, cfg: ModelConfig, kind: str):
        super().__init__()
        self.kind, self.act = kind, cfg.activation
        for name in CELL_LINEARS[kind]:
            setattr(self, name, nn.Linear(cfg.n_embd + cfg.n_hidden, cfg.n_hidden, bias=cfg.bias))

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        xh = torch.cat([x, h], dim=-1)
        if self.kind == "rnn":
            return activation(self.act, self.xh_to_h(xh))
        r = torch.sigmoid(self.xh_to_r(xh))
        z = torch.sigmoid(self.xh_to_z(xh))
        hbar = activation(self.act, self.xh_to_hbar(torch.cat([x, r * h], dim=-1)))
        return (1 - z) * h + z * hbar


class RecurrentLM(FamilyModule):
    def __init__(self, cfg: ModelConfig, sdpa: bool = True, cell: str = "rnn"):
        super().__init__(cfg)
        self.wte = nn.Parameter(torch.zeros(cfg.vocab_size, cfg.n_embd))
        self.start = nn.Parameter(torch.zeros(cfg.n_hidden))
        self.cell = RecurrentCell(cfg, cell)
        self.lm_head = nn.Linear(cfg.n_hidden, cfg.vocab_size, bias=cfg.bias)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        emb = self.wte[idx]                                        # [B, T, E]
        h = self.start_state(idx.size(0))
        hidden = []
        for t in range(idx.size(1)):
            h = self.cell(emb[:, t], h)
            hidden.append(h)
        return self.lm_head(torch.stack(hidden, dim=1))

    def start_state(self, batch_size: int) -> torch.Tensor:
        return self.start.expand(batch_size, -1)

    def advance(self, state: torch.Tensor, tokens: torch.Tensor, position: int) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.cell(self.wte[tokens], state)
        return self.lm_head(h), h

    def prime(self, state: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        emb = self.wte[idx]
        for t in range(idx.size(1)):                 # no head: only the state is needed
            state = self.cell(emb[:, t], state)
        return state


class BagOfWords(FamilyModule):
    def __init__(self, cfg: ModelConfig, sdpa: bool = True):
        super().__init__(cfg)
        self.wte = nn.Parameter(torch.zeros(cfg.vocab_size, cfg.n_embd))
        self.wpe = nn.Parameter(torch.zeros(cfg.block_size, cfg.n_embd))
        self.block = nn.ModuleDict({"c_fc": nn.Linear(cfg.n_embd, cfg.n_hidden, bias=cfg.bias),
                                    "c_proj": nn.Linear(cfg.n_hidden, cfg.n_embd, bias=cfg.bias)})
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=cfg.bias)

    def mlp_head(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.block["c_proj"](activation(self.cfg.activation, self.block["c_fc"](x)))
        return self.lm_head(x)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        T = idx.size(1)
        x = self.wte[idx] + self.wpe[:T]
        counts = torch.arange(1, T + 1, dtype=x.dtype, device=x.device).unsqueeze(-1)
        return self.mlp_head(x + x.cumsum(dim=1) / counts)

    def start_state(self, batch_size: int) -> torch.Tensor:
        """The running sum of the inputs so far, [B, E]."""
        return self.wte.new_zeros(batch_size, self.cfg.n_embd)

    def advance(self, state: torch.Tensor, tokens: torch.Tensor, position: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= position < self.cfg.block_size:
            raise ValueError(f"bow position {position} is outside the block (0..{self.cfg.block_size - 1})")
        x = self.wte[tokens] + self.wpe[position]
        total = state + x
        return self.mlp_head(x + total / (position + 1)), total

    def prime(self, state: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        return state + (self.wte[idx] + self.wpe[:idx.size(1)]).sum(dim=1)
