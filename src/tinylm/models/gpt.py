"""gpt (microgpt / nanoGPT): ``wte`` [V, C], ``wpe`` [block, C]; per layer ``h.{i}.attn.w{q,k,v,o}.weight`` [C, C],
``h.{i}.mlp.fc1.weight`` [rC, C], ``h.{i}.mlp.fc2.weight`` [C, rC]; optional biases ``*.bias``, optional norm gains
``h.{i}.norm1.weight``/``norm2``/``norm_f``/``norm_emb`` (+ ``.bias`` for layernorm when bias=True), and
``lm_head.weight`` [V, C] when untied.

Draw order is microgpt's (wte, wpe, lm_head, then per layer wq, wk, wv, wo, fc1, fc2), then biases and norm gains.
Positions past ``block_size`` have no embedding, so the model reads at most the last ``block_size`` tokens.
"""
from __future__ import annotations

import math

from ..errors import ConfigError
from .family import ModelFamily, ParamSpec, linear_specs, torch_default_init


def _norm(prefix: str, cfg) -> list[ParamSpec]:
    if not cfg.norm_affine:
        return []
    specs = [ParamSpec(f"{prefix}.weight", (cfg.n_embd,), "ones")]
    if cfg.norm == "layernorm" and cfg.bias:
        specs.append(ParamSpec(f"{prefix}.bias", (cfg.n_embd,), "zeros"))
    return specs


def param_specs(cfg) -> list[ParamSpec]:
    std = cfg.init_std
    C, H = cfg.n_embd, cfg.mlp_ratio * cfg.n_embd
    resid_std = std / math.sqrt(2 * cfg.n_layer) if cfg.scaled_residual_init else std
    specs = [ParamSpec("wte", (cfg.vocab_size, C), "normal", std, True),
             ParamSpec("wpe", (cfg.block_size, C), "normal", std, True)]
    if not cfg.tie_weights:
        specs.append(ParamSpec("lm_head.weight", (cfg.vocab_size, C), "normal", std, True))
    biases: list[ParamSpec] = []
    for i in range(cfg.n_layer):
        p = f"h.{i}"
        for proj in ("wq", "wk", "wv", "wo"):
            w, b = linear_specs(f"{p}.attn.{proj}", C, C, resid_std if proj == "wo" else std, cfg.bias)
            specs += w
            biases += b
        for name, n_out, n_in, s in (("fc1", H, C, std), ("fc2", C, H, resid_std)):
            w, b = linear_specs(f"{p}.mlp.{name}", n_out, n_in, s, cfg.bias)
            specs += w
            biases += b
    norms: list[ParamSpec] = []
    if cfg.embed_norm:
        norms += _norm("norm_emb", cfg)
    for i in range(cfg.n_layer):
        norms += _norm(f"h.{i}.norm1", cfg) + _norm(f"h.{i}.norm2", cfg)
    if cfg.final_norm:
        norms += _norm("norm_f", cfg)
    specs = specs + biases + norms
    return torch_default_init(specs) if cfg.init == "torch" else specs


def check(cfg) -> None:
    if cfg.n_embd % cfg.n_head:
        raise ConfigError(f"n_embd ({cfg.n_embd}) must be divisible by n_head ({cfg.n_head})")


def activations_per_token(cfg) -> int:
    """Per layer about 16 widths (q, k, v, attention output, the 4x MLP and its activation, norms, residuals)
    and two attention rows (scores and probabilities), plus the logits three times."""
    return cfg.n_layer * (16 * cfg.n_embd + 2 * cfg.n_head * max(cfg.block_size, 1)) + 3 * cfg.vocab_size


def macs_per_token(cfg, positions: float) -> float:
    C = cfg.n_embd
    per_layer = 4 * C * C + 2 * cfg.mlp_ratio * C * C + 2 * positions * C
    return cfg.n_layer * per_layer + C * cfg.vocab_size


GPT = ModelFamily(
    name="gpt",
    summary="a transformer: attention over the last block_size characters",
    param_specs=param_specs,
    describe=lambda cfg: f"gpt {cfg.n_layer}L {cfg.n_head}H {cfg.n_embd}d",
    window=lambda cfg: cfg.block_size,
    activations_per_token=activations_per_token,
    macs_per_token=macs_per_token,
    check=check,
)
