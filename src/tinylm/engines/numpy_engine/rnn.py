"""makemore's recurrent language models (rnn and gru cells), forward and backward through time.

    x_t = wte[tok_t];  h_{-1} = start
    rnn:  h_t = act(W [x_t, h_{t-1}] + b)
    gru:  z, r = sigmoid(W_z [x_t, h_{t-1}] + b_z), sigmoid(W_r [x_t, h_{t-1}] + b_r)
          hbar = act(W_hbar [x_t, r * h_{t-1}] + b_hbar);  h_t = (1 - z) h_{t-1} + z hbar
    logits_t = lm_head(h_t)

The cell's Linears (one for rnn; z, r, hbar for gru) are views of one [G*H, E+H] buffer, rows in that
order (like GPT's fused q/k/v). Each weight splits into an input part W[:, :E] and a recurrent part
W[:, E:]: the input part of every time step is one matmul before the loop (it does not depend on h), the
loop does only the recurrent part, and the backward sums the weight gradients of all steps with one
matmul after its loop. Vectorised over the batch, a Python loop over time.
"""
from __future__ import annotations

import numpy as np

from .model import NumpyModel
from .ops import (blend_backward, blend_forward, column_sum, embedding_backward, embedding_forward,
                  linear_backward, linear_forward, sigmoid_backward, sigmoid_forward)
from ...models.rnn import CELL_LINEARS


class RNN(NumpyModel):
    """Both cells; ``cell`` ("rnn" or "gru") picks one (the engine's table registers one per family)."""

    def __init__(self, cfg, dtype, cell: str):
        self.cell = cell
        self.gates = len(CELL_LINEARS[self.cell])          # G: Linears in the cell
        super().__init__(cfg, dtype)

    def _allocate(self) -> dict[str, np.ndarray]:
        params = super()._allocate()
        E, H = self.cfg.n_embd, self.cfg.n_hidden
        self.cell_weight = np.zeros((self.gates * H, E + H), dtype=self.dtype)
        self.cell_bias = np.zeros(self.gates * H, dtype=self.dtype) if self.cfg.bias else None
        for j, name in enumerate(CELL_LINEARS[self.cell]):
            params[f"cell.{name}.weight"] = self.cell_weight[j * H:(j + 1) * H]
            if self.cell_bias is not None:
                params[f"cell.{name}.bias"] = self.cell_bias[j * H:(j + 1) * H]
        return params

    # --- one time step ------------------------------------------------------------------------
    def step_forward(self, xproj: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, tuple]:
        """h_t from the input part ``xproj`` = W[:, :E] x_t + b [B, G*H] and h_{t-1} [B, H]."""
        E, H = self.cfg.n_embd, self.cfg.n_hidden
        W = self.cell_weight
        if self.cell == "rnn":
            h_new, act_cache = self.act_forward(xproj + h @ W[:, E:].T)
            return h_new, (act_cache, h)
        zr, zr_cache = sigmoid_forward(xproj[:, :2 * H] + h @ W[:2 * H, E:].T)
        z, r = zr[:, :H], zr[:, H:]
        hr = r * h                                                  # the reset gate wipes channels of h
        hbar, act_cache = self.act_forward(xproj[:, 2 * H:] + hr @ W[2 * H:, E:].T)
        h_new, blend_cache = blend_forward(h, hbar, z)
        return h_new, (act_cache, h, zr_cache, hr, blend_cache)

    def step_backward(self, dh: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray]:
        """(d pre-activations [B, G*H], d h_{t-1}) from dL/dh_t."""
        E, H = self.cfg.n_embd, self.cfg.n_hidden
        W = self.cell_weight
        if self.cell == "rnn":
            act_cache, _ = cache
            dpre = self.act_backward(dh, act_cache)
            return dpre, dpre @ W[:, E:]
        act_cache, h, zr_cache, hr, blend_cache = cache
        dpre = np.empty((dh.shape[0], 3 * H), dtype=dh.dtype)
        dh_prev, dhbar, dz = blend_backward(dh, blend_cache)
        dpre[:, 2 * H:] = self.act_backward(dhbar, act_cache)
        dhr = dpre[:, 2 * H:] @ W[2 * H:, E:]
        r = zr_cache[0][:, H:]
        dzr = np.concatenate([dz, dhr * h], axis=1)                 # d z, d r
        dpre[:, :2 * H] = sigmoid_backward(dzr, zr_cache)
        dh_prev += dhr * r
        dh_prev += dpre[:, :2 * H] @ W[:2 * H, E:]
        return dpre, dh_prev

    def recurrent_inputs(self, cache: tuple) -> np.ndarray:
        """What multiplied the recurrent weights at this step, per gate row block: [B, G*H] laid out like
        the rows of W (rnn: h; gru: h for z and r, r*h for hbar)."""
        if self.cell == "rnn":
            return cache[1]
        _, h, _, hr, _ = cache
        return np.concatenate([h, h, hr], axis=1)

    # --- the whole model ----------------------------------------------------------------------
    def input_projection(self, emb: np.ndarray) -> tuple[np.ndarray, tuple]:
        """W[:, :E] x + b for every position at once."""
        return linear_forward(emb, self.cell_weight[:, :self.cfg.n_embd], self.cell_bias)

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, object]:
        B, T = x.shape
        emb, emb_cache = embedding_forward(self.params["wte"], x)
        xproj, proj_cache = self.input_projection(emb)
        h = np.broadcast_to(self.params["start"], (B, self.cfg.n_hidden))
        hidden = np.empty((B, T, self.cfg.n_hidden), dtype=self.dtype)
        step_caches = []
        for t in range(T):
            h, cache = self.step_forward(xproj[:, t], h)
            hidden[:, t] = h
            step_caches.append(cache)
        p = self.params
        logits, head_cache = linear_forward(hidden, p["lm_head.weight"], p.get("lm_head.bias"))
        return logits, (emb_cache, proj_cache, step_caches, head_cache)

    def backward(self, dlogits: np.ndarray, cache: object) -> dict[str, np.ndarray]:
        emb_cache, proj_cache, step_caches, head_cache = cache
        E, H = self.cfg.n_embd, self.cfg.n_hidden
        grads: dict[str, np.ndarray] = {}
        dhidden, grads["lm_head.weight"], dbias = linear_backward(dlogits, head_cache)
        if dbias is not None:
            grads["lm_head.bias"] = dbias
        B, T = dhidden.shape[:2]
        dpre = np.empty((B, T, self.gates * H), dtype=dhidden.dtype)
        inputs = np.empty_like(dpre)
        dh = np.zeros((B, H), dtype=dhidden.dtype)
        for t in reversed(range(T)):
            dh += dhidden[:, t]
            dpre[:, t], dh = self.step_backward(dh, step_caches[t])
            inputs[:, t] = self.recurrent_inputs(step_caches[t])
        grads["start"] = column_sum(dh)                 # every row of the batch starts from ``start``
        demb, dW_input, db = linear_backward(dpre, proj_cache)
        dW = np.empty_like(self.cell_weight)
        dW[:, :E] = dW_input
        # recurrent part, summed over every step: gate block j's rows met its own input (h, or r*h)
        dpre2, inputs2 = dpre.reshape(-1, self.gates, H), inputs.reshape(-1, self.gates, H)
        for j in range(self.gates):
            dW[j * H:(j + 1) * H, E:] = dpre2[:, j].T @ inputs2[:, j]
        for j, name in enumerate(CELL_LINEARS[self.cell]):
            grads[f"cell.{name}.weight"] = dW[j * H:(j + 1) * H]
            if db is not None:
                grads[f"cell.{name}.bias"] = db[j * H:(j + 1) * H]
        grads["wte"] = embedding_backward(demb, emb_cache)
        return grads

    # --- incremental decoding -----------------------------------------------------------------
    def start_state(self, batch_size: int) -> np.ndarray:
        """The hidden state before any token: ``start`` for every row, [B, H]."""
        return np.tile(self.params["start"], (batch_size, 1))

    def advance(self, state: np.ndarray, tokens: np.ndarray, position: int) -> tuple[np.ndarray, np.ndarray]:
        """Feed ``tokens`` [B] (the recurrence needs no position); return (next-token logits [B, V] float64,
        the new state). Equal to forward()'s last-position logits on the same prefix."""
        emb, _ = embedding_forward(self.params["wte"], np.asarray(tokens))
        xproj, _ = self.input_projection(emb)
        h, _ = self.step_forward(xproj, state)
        p = self.params
        logits, _ = linear_forward(h, p["lm_head.weight"], p.get("lm_head.bias"))
        return logits.astype(np.float64), h
