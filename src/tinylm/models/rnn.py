"""makemore's recurrent language models: a vanilla RNN (Mikolov et al. 2010) and a GRU (Cho et al. 2014).

One hidden state h [H] is carried along the sequence, starting from the learned vector ``start``:

    x_t = wte[tok_t];  xh = [x_t, h]                                (concatenation, E + H)
    rnn:  h' = act(xh_to_h(xh))
    gru:  r = sigmoid(xh_to_r(xh));  z = sigmoid(xh_to_z(xh))         (reset and update gates)
          hbar = act(xh_to_hbar([x_t, r * h]));  h' = (1 - z) * h + z * hbar
    logits_t = lm_head(h')

Parameters (Linear weights [out, in]), in draw order: ``wte`` [V, E], ``start`` [H] (zeros, never decayed),
the cell's Linears [H, E + H] (+ bias [H]), ``lm_head.weight`` [V, H] (+ ``lm_head.bias`` [V]).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .family import ModelFamily, ParamSpec, linear_specs, torch_default_init

if TYPE_CHECKING:
    from ..config import ModelConfig

CELL_LINEARS = {"rnn": ("xh_to_h",), "gru": ("xh_to_z", "xh_to_r", "xh_to_hbar")}


def recurrent_param_specs(cfg: ModelConfig, cell: str) -> list[ParamSpec]:
    """The specs of makemore's RNN with ``cell`` "rnn" or "gru"."""
    if cell not in CELL_LINEARS:
        raise ValueError(f"unknown recurrent cell {cell!r} (choose from {', '.join(CELL_LINEARS)})")
    std, E, H, V = cfg.init_std, cfg.n_embd, cfg.n_hidden, cfg.vocab_size
    specs = [ParamSpec("wte", (V, E), "normal", std, True),
             ParamSpec("start", (H,), "zeros")]
    for name in CELL_LINEARS[cell]:
        w, b = linear_specs(f"cell.{name}", H, E + H, std, cfg.bias)
        specs += w + b
    w, b = linear_specs("lm_head", V, H, std, cfg.bias)
    specs += w + b
    return torch_default_init(specs) if cfg.init == "torch" else specs


def _activations_per_token(cfg: ModelConfig, gates: int) -> int:
    """The embedding, the cell's pre-activations and gates, the hidden state, and the logits three times."""
    return cfg.n_embd + (2 * gates + 2) * cfg.n_hidden + 3 * cfg.vocab_size


def _macs_per_token(cfg: ModelConfig, gates: int) -> int:
    return gates * (cfg.n_embd + cfg.n_hidden) * cfg.n_hidden + cfg.n_hidden * cfg.vocab_size


def _family(cell: str, summary: str) -> ModelFamily:
    gates = len(CELL_LINEARS[cell])
    return ModelFamily(
        name=cell,
        summary=summary,
        param_specs=lambda cfg: recurrent_param_specs(cfg, cell),
        describe=lambda cfg: f"{cell} {cfg.n_embd}-d embedding · {cfg.n_hidden} hidden",
        # makemore's sampler crops to the last block_size tokens and restarts from ``start``
        window=lambda cfg: cfg.block_size,
        activations_per_token=lambda cfg: _activations_per_token(cfg, gates),
        macs_per_token=lambda cfg, positions: _macs_per_token(cfg, gates),
    )


RNN = _family("rnn", "a recurrent network: one hidden state carried from character to character")
GRU = _family("gru", "a gated recurrent network: gates decide what the hidden state keeps and forgets")
