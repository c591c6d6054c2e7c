"""bigram: a table of next-token logits, ``logits = wte[x]`` ([V, V]). The next token depends on this one only."""
from __future__ import annotations

from .family import ModelFamily, ParamSpec


def param_specs(cfg) -> list[ParamSpec]:
    init = "zeros" if cfg.init == "zeros" else "normal"
    return [ParamSpec("wte", (cfg.vocab_size, cfg.vocab_size), init, cfg.init_std, True)]


BIGRAM = ModelFamily(
    name="bigram",
    summary="a table of next-character scores: one row per character",
    param_specs=param_specs,
    describe=lambda cfg: "bigram",
    window=lambda cfg: 1,
    activations_per_token=lambda cfg: 3 * cfg.vocab_size,
    macs_per_token=lambda cfg, positions: cfg.vocab_size,
)
