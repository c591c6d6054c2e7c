"""Named presets: plain dataclasses, no exec-based configurator.

A preset fixes the model and training recipe; ``vocab_size`` always comes from the data, and
``block_size = 0`` means "longest document + 1" (documents) — resolved when the data is loaded.
Any value can be overridden (``tinylm train --set optim.lr=3e-4``).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

from .data.makemore import MAKEMORE_SOURCE
from .config import DataConfig, ModelConfig, OptimConfig, TrainConfig
from .errors import ConfigError


@dataclass
class Preset:
    name: str
    description: str
    model: ModelConfig
    train: TrainConfig = field(default_factory=TrainConfig)

    def copy(self) -> "Preset":
        return copy.deepcopy(self)


def _names(order: str = "random") -> DataConfig:
    return DataConfig(source="names", mode="documents", order=order)


def _shakespeare() -> DataConfig:
    return DataConfig(source="shakespeare", mode="stream")


PRESETS: dict[str, Preset] = {p.name: p for p in [
    Preset(
        "microgpt", "microgpt.py: GPT 1 layer, 4 heads, 16-d, RMSNorm, ReLU, one name per step (4,192 params)",
        ModelConfig(family="gpt", block_size=16, n_embd=16, n_layer=1, n_head=4, norm="rmsnorm",
                    norm_affine=False, embed_norm=True, final_norm=False, activation="relu", bias=False,
                    tie_weights=False, init_std=0.08),
        TrainConfig(steps=1000, batch_size=1, schedule="linear", eval_every=250, sample_every=200,
                    optim=OptimConfig(name="adam", lr=0.01, beta1=0.85, beta2=0.99, eps=1e-8),
                    data=_names("sequential")),
    ),
    Preset(
        "mlp", "the seeds' context-1 MLP: 16-d embedding, 64 ReLU hidden, output tied to the embedding (2,480 params)",
        ModelConfig(family="mlp", block_size=16, n_embd=16, n_hidden=64, context=1, activation="relu",
                    bias=False, tie_weights=True, init_std=0.08),
        TrainConfig(steps=1000, batch_size=1, schedule="linear", eval_every=250, sample_every=200,
                    optim=OptimConfig(name="sgd", lr=1.0), data=_names("sequential")),
    ),
    Preset(
        "bigram", "a table of next-character logits, trained with Adam on batches of names",
        ModelConfig(family="bigram", block_size=16, init="zeros"),
        TrainConfig(steps=1000, batch_size=32, schedule="constant", eval_every=250, sample_every=200,
                    optim=OptimConfig(name="adam", lr=0.1, beta1=0.9, beta2=0.99), data=_names()),
    ),
    Preset(
        "mlp-context", "Bengio-style MLP: 3 characters of context, 10-d embeddings, 200 tanh hidden",
        ModelConfig(family="mlp", block_size=16, n_embd=10, n_hidden=200, context=3, activation="tanh",
                    bias=True, tie_weights=False, init_std=0.1),
        TrainConfig(steps=5000, batch_size=32, schedule="cosine", warmup=100, min_lr=1e-4, eval_every=500,
                    sample_every=1000, optim=OptimConfig(name="adamw", lr=1e-2, beta1=0.9, beta2=0.99),
                    data=_names()),
    ),
    Preset(
        "names-gpt", "makemore's transformer on names: 4 layers, 4 heads, 64-d, block = longest name + 1 (~204k params)",
        ModelConfig(family="gpt", block_size=0, n_embd=64, n_layer=4, n_head=4, norm="layernorm",
                    norm_affine=True, final_norm=True, activation="gelu_tanh", bias=True, tie_weights=False,
                    init="torch"),
        # makemore's model and init; lr 2e-3 with warmup + cosine instead of its constant 5e-4
        # (measured on makemore's names: val 1.988 best / 1.998 at 10k steps vs 2.051 with constant 5e-4)
        TrainConfig(steps=10000, batch_size=32, schedule="cosine", warmup=100, min_lr=2e-4, eval_every=500,
                    eval_batches=32, sample_every=1000,
                    optim=OptimConfig(name="adamw", lr=2e-3, beta1=0.9, beta2=0.99, weight_decay=0.01),
                    data=_names()),
    ),
    *[Preset(
        family, f"makemore's {what} on names: 64-d embeddings, 64-d {hidden}, tanh, makemore's init ({count} params)",
        ModelConfig(family=family, block_size=0, n_embd=64, n_hidden=64, activation="tanh", bias=True,
                    tie_weights=False, init="torch"),
        # makemore's model, init and AdamW; lr 5e-3 with warmup + cosine instead of its constant 5e-4 (measured
        # on makemore's names, val after 10k steps: rnn 2.062 / gru 2.009 / bow 2.163 vs 2.126 / 2.088 / 2.226 with
        # constant 5e-4 after 5k; see benchmarks/vs_makemore.py)
        TrainConfig(steps=10000, batch_size=32, schedule="cosine", warmup=100, min_lr=5e-4, eval_every=500,
                    eval_batches=32, sample_every=1000,
                    optim=OptimConfig(name="adamw", lr=5e-3, beta1=0.9, beta2=0.99, weight_decay=0.01),
                    data=_names()),
    ) for family, what, hidden, count in (("rnn", "RNN", "hidden state", "11,803"),
                                          ("gru", "GRU", "hidden state", "28,315"),
                                          ("bow", "bag of words", "MLP", "12,827"))],
    Preset(
        "shakespeare-tiny", "GPT 4 layers, 4 heads, 64-d, T 64 on tiny-shakespeare (~208k params)",
        ModelConfig(family="gpt", block_size=64, n_embd=64, n_layer=4, n_head=4, norm="layernorm",
                    norm_affine=True, final_norm=True, activation="gelu", bias=True, tie_weights=True,
                    init_std=0.02, scaled_residual_init=True),
        TrainConfig(steps=2000, batch_size=16, schedule="cosine", warmup=100, min_lr=1e-4, eval_every=250,
                    sample_every=200, optim=OptimConfig(name="adamw", lr=1e-3, beta1=0.9, beta2=0.99,
                                                        weight_decay=0.1, grad_clip=1.0),
                    data=_shakespeare()),
    ),
    Preset(
        "shakespeare-cpu", "nanoGPT's CPU recipe: 4 layers, 4 heads, 128-d, T 64, batch 12, 2000 iters (~0.8M params)",
        ModelConfig(family="gpt", block_size=64, n_embd=128, n_layer=4, n_head=4, norm="layernorm",
                    norm_affine=True, final_norm=True, activation="gelu", bias=False, tie_weights=True,
                    init_std=0.02, scaled_residual_init=True),
        TrainConfig(steps=2000, batch_size=12, schedule="cosine", warmup=100, min_lr=1e-4, eval_every=250,
                    eval_batches=20, sample_every=250,
                    optim=OptimConfig(name="adamw", lr=1e-3, beta1=0.9, beta2=0.99, weight_decay=0.1,
                                      grad_clip=1.0), data=_shakespeare()),
    ),
]}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name].copy()
    except KeyError:
        raise ConfigError(f"unknown preset {name!r} (choose from {', '.join(PRESETS)})") from None


def _coerce(current, value, key: str):
    """Parse ``value`` (often a CLI string) to the type of the field's current value."""
    if not isinstance(value, str):
        return value
    try:
        if isinstance(current, bool):
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if isinstance(current, int):
            return int(value)
        if isinstance(current, float):
            return float(value)
    except ValueError:
        raise ConfigError(f"bad value {value!r} for {key} (expected {type(current).__name__})") from None
    return value


def apply_overrides(preset: Preset, overrides: dict) -> Preset:
    """Set values by dotted key: ``model.n_layer``, ``optim.lr``, ``data.mode``, ``train.steps`` or a bare
    field name (``lr``, ``n_layer``, ``steps``) when it is unambiguous.

    Compat mode microgpt without an explicit data source trains on microgpt.py's own data, makemore's
    names list (``data.makemore``); an explicit source is kept (the Trainer warns that the run will
    not retrace microgpt.py's)."""
    data_given = False
    targets = {"model": preset.model, "train": preset.train, "optim": preset.train.optim, "data": preset.train.data}
    for key, value in overrides.items():
        if "." in key:
            section, name = key.split(".", 1)
            if section not in targets:
                raise ConfigError(f"unknown config section {section!r} in {key!r} (use model., train., optim. or data.)")
            owners = [targets[section]] if hasattr(targets[section], name) else []
        else:
            name = key
            owners = [obj for obj in targets.values() if hasattr(obj, name) and not isinstance(getattr(obj, name), (TrainConfig, DataConfig, OptimConfig))]
        if not owners:
            raise ConfigError(f"unknown config key {key!r}")
        if len(owners) > 1:
            raise ConfigError(f"config key {key!r} is ambiguous; prefix it with model., train., optim. or data.")
        obj = owners[0]
        setattr(obj, name, _coerce(getattr(obj, name), value, key))
        data_given = data_given or (obj is preset.train.data and name == "source")
    if preset.train.compat == "microgpt" and not data_given:
        preset.train.data.source = MAKEMORE_SOURCE
    preset.model.validate()
    preset.train.validate()
    return preset
