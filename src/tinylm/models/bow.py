"""makemore's bag-of-words language model: every position sees the plain average of the positions up to it.

    x_t = wte[tok_t] + wpe[t]
    x_t = x_t + (x_0 + ... + x_t) / (t + 1)                      (causal bag of words)
    x_t = x_t + c_proj(act(c_fc(x_t)))                           (one MLP block)
    logits_t = lm_head(x_t)

Parameters (Linear weights [out, in]), in draw order: ``wte`` [V, E], ``wpe`` [block_size, E],
``block.c_fc.weight`` [H, E] (+ bias), ``block.c_proj.weight`` [E, H] (+ bias), ``lm_head.weight`` [V, E]
(+ bias).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .family import ModelFamily, ParamSpec, linear_specs, torch_default_init

if TYPE_CHECKING:
    from ..config import ModelConfig


def param_specs(cfg: ModelConfig) -> list[ParamSpec]:
    std, E, H, V = cfg.init_std, cfg.n_embd, cfg.n_hidden, cfg.vocab_size
    specs = [ParamSpec("wte", (V, E), "normal", std, True),
             ParamSpec("wpe", (cfg.block_size, E), "normal", std, True)]
    for prefix, n_out, n_in in (("block.c_fc", H, E), ("block.c_proj", E, H), ("lm_head", V, E)):
        w, b = linear_specs(prefix, n_out, n_in, std, cfg.bias)
        specs += w + b
    return torch_default_init(specs) if cfg.init == "torch" else specs


BOW = ModelFamily(
    name="bow",
    summary="a bag of words: the average of the characters so far, then one MLP block",
    param_specs=param_specs,
    describe=lambda cfg: f"bow {cfg.n_embd}-d · {cfg.n_hidden} hidden",
    window=lambda cfg: cfg.block_size,                       # positions past block_size have no wpe row
    activations_per_token=lambda cfg: 5 * cfg.n_embd + 2 * cfg.n_hidden + 3 * cfg.vocab_size,
    macs_per_token=lambda cfg, positions: 2 * cfg.n_embd * cfg.n_hidden + cfg.n_embd * cfg.vocab_size,
)
