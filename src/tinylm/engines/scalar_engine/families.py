"""makemore's rnn, gru and bag-of-words families on lists of Values, one row and one position at a time.

``ops`` is ``PlainOps`` or ``FusedOps`` (as for ``ScalarModel``). Semantics are those of
``models/rnn.py`` and ``models/bow.py``:

    rnn:  h_t = act(xh_to_h([x_t, h_{t-1}])),  h_{-1} = start
    gru:  r = sigmoid(xh_to_r([x_t, h])),  z = sigmoid(xh_to_z([x_t, h]))
          hbar = act(xh_to_hbar([x_t, r * h])),  h_t = (1 - z) h + z hbar
          logits_t = lm_head(h_t)
    bow:  x_t = wte[tok_t] + wpe[t];  x_t = x_t + (x_0 + ... + x_t) / (t + 1)
          x_t = x_t + c_proj(act(c_fc(x_t)));  logits_t = lm_head(x_t)

Each model is driven token by token: ``state = start_state()``, then ``logits, state = advance(state, token,
position)`` (``ScalarModel.sequence_logits`` does that along one row).
"""
from __future__ import annotations

from ...config import ModelConfig
from .leaves import Leaf
from .model import ScalarModel
from .value import Value


class _Family(ScalarModel):
    def _linear(self, x: list[Value], prefix: str) -> list[Value]:
        return self.ops.linear(x, self.p[f"{prefix}.weight"], self.p.get(f"{prefix}.bias"))

    def _act(self, x: list[Value]) -> list[Value]:
        return self.ops.activation(x, self.cfg.activation)


class ScalarRNN(_Family):
    """Both recurrent cells; ``cell`` ("rnn" or "gru") picks one. The state is h (a list of H Values)."""

    def __init__(self, cfg: ModelConfig, leaves: dict[str, Leaf], ops, cell: str):
        super().__init__(cfg, leaves, ops)
        self.cell_kind = cell

    def start_state(self) -> list[Value]:
        return list(self.p["start"].values)

    def cell(self, x: list[Value], h: list[Value]) -> list[Value]:
        ops = self.ops
        if self.cell_kind == "rnn":
            return self._act(self._linear(x + h, "cell.xh_to_h"))
        r = ops.sigmoid(self._linear(x + h, "cell.xh_to_r"))
        z = ops.sigmoid(self._linear(x + h, "cell.xh_to_z"))
        hbar = self._act(self._linear(x + ops.mul(r, h), "cell.xh_to_hbar"))
        return ops.blend(h, hbar, z)

    def advance(self, state: list[Value], token: int, position: int) -> tuple[list[Value], list[Value]]:
        h = self.cell(self.p["wte"].values[token], state)
        return self._linear(h, "lm_head"), h


class ScalarBoW(_Family):
    """The state is the running sum x_0 + ... + x_{t-1} (None before the first token)."""

    def start_state(self) -> list[Value] | None:
        return None

    def advance(self, state: list[Value] | None, token: int,
                position: int) -> tuple[list[Value], list[Value]]:
        if not 0 <= position < self.cfg.block_size:
            raise ValueError(f"bow position {position} is outside the block (0..{self.cfg.block_size - 1})")
        ops = self.ops
        x = ops.add(self.p["wte"].values[token], self.p["wpe"].values[position])
        total = x if state is None else ops.add(state, x)
        x = ops.add(x, ops.scale(total, 1.0 / (position + 1)))
        x = ops.add(x, self._linear(self._act(self._linear(x, "block.c_fc")), "block.c_proj"))
        return self._linear(x, "lm_head"), total
