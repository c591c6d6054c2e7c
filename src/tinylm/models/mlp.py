"""mlp: ``h = act(fc1(concat of the last `context` embeddings))``; logits = ``fc2(h) @ wte[:V].T`` (tied) or
``lm_head(h)``.

context = 1 is the seeds' MLP; context = k is Bengio et al. 2003 / makemore's MLP: positions before the start
of the sequence read the pad row ``wte[V]`` (so the table has V + 1 rows when context > 1).
"""
from __future__ import annotations

from .family import ModelFamily, ParamSpec, linear_specs, torch_default_init


def param_specs(cfg) -> list[ParamSpec]:
    std = cfg.init_std
    rows = cfg.vocab_size + (1 if cfg.context > 1 else 0)
    specs = [ParamSpec("wte", (rows, cfg.n_embd), "normal", std, True)]
    w, b = linear_specs("fc1", cfg.n_hidden, cfg.context * cfg.n_embd, std, cfg.bias)
    specs += w + b
    if cfg.tie_weights:
        w, b = linear_specs("fc2", cfg.n_embd, cfg.n_hidden, std, cfg.bias)
    else:
        w, b = linear_specs("lm_head", cfg.vocab_size, cfg.n_hidden, std, cfg.bias)
    specs += w + b
    return torch_default_init(specs) if cfg.init == "torch" else specs


def macs_per_token(cfg, positions: float) -> float:
    head = cfg.n_hidden * cfg.n_embd + cfg.n_embd * cfg.vocab_size if cfg.tie_weights else cfg.n_hidden * cfg.vocab_size
    return cfg.context * cfg.n_embd * cfg.n_hidden + head


MLP = ModelFamily(
    name="mlp",
    summary="a multilayer perceptron over the last few characters' embeddings",
    param_specs=param_specs,
    describe=lambda cfg: f"mlp ctx {cfg.context} · {cfg.n_hidden} hidden",
    window=lambda cfg: cfg.context,
    activations_per_token=lambda cfg: cfg.context * cfg.n_embd + 3 * cfg.n_hidden + 3 * cfg.vocab_size,
    macs_per_token=macs_per_token,
)
