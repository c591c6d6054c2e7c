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

from ..config import ModelConfig
from .params import ParamSpec, _linear, _torch_default_init

CELL_LINEARS = {"rnn": ("xh_to_h",), "gru": ("xh_to_z", "xh_to_r", "xh_to_hbar")}


def recurrent_param_specs(cfg: ModelConfig, cell: str) -> list[ParamSpec]:
    """The specs of makemore's RNN with ``cell`` "rnn" or "gru"."""
    if cell not in CELL_LINEARS:
        raise ValueError(f"unknown recurrent cell {cell!r} (choose from {', '.join(CELL_LINEARS)})")
    std, E, H, V = cfg.init_std, cfg.n_embd, cfg.n_hidden, cfg.vocab_size
    specs = [ParamSpec("wte", (V, E), "normal", std, True),
             ParamSpec("start", (H,), "zeros")]
    for name in CELL_LINEARS[cell]:
        w, b = _linear(f"cell.{name}", H, E + H, std, cfg.bias)
        specs += w + b
    w, b = _linear("lm_head", V, H, std, cfg.bias)
    specs += w + b
    return _torch_default_init(specs) if cfg.init == "torch" else specs


def param_specs(cfg: ModelConfig) -> list[ParamSpec]:
    return recurrent_param_specs(cfg, cfg.family)
