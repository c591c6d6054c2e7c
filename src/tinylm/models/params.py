"""Parameter names, shapes and initialisation: the single source of truth for every engine.

Every engine receives the dict produced by ``init_params`` (float64 numpy arrays) and
casts it to its own dtype/device, so "same seed -> same initial weights" holds across engines.

Conventions
- Linear weights are stored [out, in] (torch's convention): y = x @ W.T + b.
- Names are stable: they are the keys of the safetensors checkpoint.
- ``param_specs`` lists parameters in *draw order*. For GPT that order is microgpt's
  (wte, wpe, lm_head, then per layer wq, wk, wv, wo, fc1, fc2), followed by biases and norm gains.

Families
- bigram: ``wte`` [V, V]; logits = wte[x].
- mlp:    ``wte`` [V (+1 pad row when context > 1), E]; h = act(fc1(concat of the last `context`
          embeddings)); tied: logits = fc2(h) @ wte[:V].T; untied: logits = lm_head(h).
          Positions before the start of the window use the pad row (index V).
- gpt:    ``wte`` [V, C], ``wpe`` [block, C], per layer ``h.{i}.attn.w{q,k,v,o}.weight`` [C, C],
          ``h.{i}.mlp.fc1.weight`` [rC, C], ``h.{i}.mlp.fc2.weight`` [C, rC], optional biases
          ``*.bias``, optional norm gains ``h.{i}.norm1.weight``/``norm2``/``norm_f``/``norm_emb``
          (+ ``.bias`` for layernorm when bias=True), ``lm_head.weight`` [V, C] when untied.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..config import ModelConfig


@dataclass(frozen=True)
class ParamSpec:
    name: str
    shape: tuple[int, ...]
    init: str          # "normal" | "uniform" (std holds the bound) | "zeros" | "ones"
    std: float = 0.0
    decay: bool = False  # AdamW weight decay applies (matrices, embeddings)


def _linear(prefix: str, n_out: int, n_in: int, std: float, bias: bool) -> tuple[list[ParamSpec], list[ParamSpec]]:
    weights = [ParamSpec(f"{prefix}.weight", (n_out, n_in), "normal", std, True)]
    biases = [ParamSpec(f"{prefix}.bias", (n_out,), "zeros")] if bias else []
    return weights, biases


def _norm(prefix: str, cfg: ModelConfig) -> list[ParamSpec]:
    if not cfg.norm_affine:
        return []
    specs = [ParamSpec(f"{prefix}.weight", (cfg.n_embd,), "ones")]
    if cfg.norm == "layernorm" and cfg.bias:
        specs.append(ParamSpec(f"{prefix}.bias", (cfg.n_embd,), "zeros"))
    return specs


def param_specs(cfg: ModelConfig) -> list[ParamSpec]:
    if cfg.family in ("rnn", "gru", "bow"):       # makemore's families (their own spec files)
        from . import bow, rnn
        return (bow if cfg.family == "bow" else rnn).param_specs(cfg)
    std = cfg.init_std
    if cfg.family == "bigram":
        init = "zeros" if cfg.init == "zeros" else "normal"
        return [ParamSpec("wte", (cfg.vocab_size, cfg.vocab_size), init, std, True)]

    if cfg.family == "mlp":
        rows = cfg.vocab_size + (1 if cfg.context > 1 else 0)
        specs = [ParamSpec("wte", (rows, cfg.n_embd), "normal", std, True)]
        w, b = _linear("fc1", cfg.n_hidden, cfg.context * cfg.n_embd, std, cfg.bias)
        specs += w + b
        if cfg.tie_weights:
            w, b = _linear("fc2", cfg.n_embd, cfg.n_hidden, std, cfg.bias)
        else:
            w, b = _linear("lm_head", cfg.vocab_size, cfg.n_hidden, std, cfg.bias)
        return specs + w + b

    # gpt
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
            w, b = _linear(f"{p}.attn.{proj}", C, C, resid_std if proj == "wo" else std, cfg.bias)
            specs += w
            biases += b
        w, b = _linear(f"{p}.mlp.fc1", H, C, std, cfg.bias)
        specs += w
        biases += b
        w, b = _linear(f"{p}.mlp.fc2", C, H, resid_std, cfg.bias)
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
    return _torch_default_init(specs) if cfg.init == "torch" else specs


def _torch_default_init(specs: list[ParamSpec]) -> list[ParamSpec]:
    """PyTorch's default initialisation (what makemore's models get): embeddings N(0, 1); Linear weights
    and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)); norm gains 1 and biases 0."""
    fan_in = {s.name[: -len(".weight")]: s.shape[1] for s in specs if s.name.endswith(".weight") and len(s.shape) == 2}
    out = []
    for s in specs:
        if s.name in ("wte", "wpe"):
            s = ParamSpec(s.name, s.shape, "normal", 1.0, s.decay)
        elif s.name.endswith((".weight", ".bias")) and s.name.rsplit(".", 1)[0] in fan_in:
            s = ParamSpec(s.name, s.shape, "uniform", 1.0 / math.sqrt(fan_in[s.name.rsplit(".", 1)[0]]), s.decay)
        out.append(s)
    return out


def param_count(cfg: ModelConfig) -> int:
    return sum(math.prod(s.shape) for s in param_specs(cfg))


def init_params(cfg: ModelConfig, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Draw initial parameters (float64) in spec order from ``rng``."""
    params: dict[str, np.ndarray] = {}
    for spec in param_specs(cfg):
        if spec.init == "normal":
            params[spec.name] = rng.standard_normal(spec.shape) * spec.std
        elif spec.init == "uniform":
            params[spec.name] = rng.uniform(-spec.std, spec.std, spec.shape)
        elif spec.init == "ones":
            params[spec.name] = np.ones(spec.shape)
        else:
            params[spec.name] = np.zeros(spec.shape)
    return params


def decay_names(cfg: ModelConfig) -> set[str]:
    """Parameters that AdamW decays (matrices and embeddings; never biases or norm gains)."""
    return {s.name for s in param_specs(cfg) if s.decay}
