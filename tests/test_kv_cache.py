"""Incremental decoding equals full-prefix logits: the GPT KV cache and the MLP/bigram windows."""
from __future__ import annotations

import numpy as np
import pytest

from tinylm.config import ModelConfig
from tinylm.engines.numpy_engine import NumpyEngine
from tinylm.errors import ConfigError
from tinylm.models.params import init_params
from tinylm.seeding import rng_for

GPT = dict(family="gpt", vocab_size=11, block_size=8, n_embd=12, n_head=3, n_layer=2, init_std=0.3)
CONFIGS = {
    "gpt-microgpt": {**GPT, "norm": "rmsnorm", "embed_norm": True, "final_norm": False, "activation": "relu"},
    "gpt-nanogpt": {**GPT, "norm": "layernorm", "norm_affine": True, "activation": "gelu", "tie_weights": True},
    "gpt-makemore": {**GPT, "norm": "layernorm", "norm_affine": True, "bias": True, "activation": "gelu_tanh"},
    "gpt-rms-affine-bias-tanh": {**GPT, "norm": "rmsnorm", "norm_affine": True, "bias": True, "activation": "tanh",
                                 "embed_norm": True},
    "mlp-seed": dict(family="mlp", vocab_size=11, block_size=8, context=1, tie_weights=True, init_std=0.3),
    "mlp-bengio": dict(family="mlp", vocab_size=11, block_size=8, context=3, activation="tanh", bias=True,
                       init_std=0.3),
    "bigram": dict(family="bigram", vocab_size=11, block_size=8),
}


def make_engine(name: str, dtype: str = "float64") -> NumpyEngine:
    cfg = ModelConfig(**CONFIGS[name])
    params = init_params(cfg, rng_for("kv", "init"))
    noise = rng_for("kv", "jitter")
    params = {k: v + 0.2 * noise.standard_normal(v.shape) for k, v in params.items()}
    return NumpyEngine(cfg, params, dtype=dtype)


def tokens(B: int, T: int, V: int = 11, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, V, size=(B, T))


@pytest.mark.parametrize("name", list(CONFIGS))
def test_step_by_step_equals_full_prefix(name):
    engine = make_engine(name)
    x = tokens(3, engine.cfg.block_size)
    full = engine.logits(x)
    decoder = engine.decoder()
    decoder.reset(3)
    for t in range(x.shape[1]):
        step = decoder.step(x[:, t])
        assert step.dtype == np.float64 and step.shape == (3, engine.cfg.vocab_size)
        np.testing.assert_allclose(step, full[:, t], rtol=0, atol=1e-10)
        assert decoder.position == t + 1


@pytest.mark.parametrize("name", ["gpt-nanogpt", "gpt-microgpt", "mlp-bengio"])
def test_window_slides_past_block_size(name):
    """Beyond its window (a GPT's block_size, an MLP's context) the decoder sees the last window tokens,
    like a cropping sampler, by itself: the sampler just steps it."""
    engine = make_engine(name)
    block = engine.cfg.block_size
    x = tokens(2, 2 * block + 3, seed=1)
    decoder = engine.decoder()
    assert decoder.window == (engine.cfg.context if name.startswith("mlp") else block)
    decoder.reset(2)
    for t in range(x.shape[1]):
        step = decoder.step(x[:, t])
        window = x[:, max(0, t + 1 - block):t + 1]
        np.testing.assert_allclose(step, engine.logits(window)[:, -1], rtol=0, atol=1e-10)
    assert decoder.position == x.shape[1]


def test_reset_starts_over_and_changes_batch_size():
    engine = make_engine("gpt-makemore")
    decoder = engine.decoder()
    decoder.reset(2)
    for t in range(5):
        decoder.step(tokens(2, 5)[:, t])
    decoder.reset(1)
    assert decoder.position == 0
    x = tokens(1, 4, seed=3)
    steps = [decoder.step(x[:, t]) for t in range(4)]
    np.testing.assert_allclose(np.stack(steps, 1), engine.logits(x), atol=1e-10)


def test_float32_decoder_matches_float32_logits():
    engine = make_engine("gpt-nanogpt", dtype="float32")
    x = tokens(2, 8, seed=4)
    decoder = engine.decoder()
    decoder.reset(2)
    steps = np.stack([decoder.step(x[:, t]) for t in range(8)], 1)
    assert steps.dtype == np.float64
    np.testing.assert_allclose(steps, engine.logits(x), atol=1e-5)


def test_decoder_follows_parameter_updates():
    engine = make_engine("gpt-microgpt")
    decoder = engine.decoder()
    engine.set_params({k: v * 1.1 for k, v in engine.get_params().items()})
    decoder.reset(1)
    x = tokens(1, 3, seed=5)
    steps = np.stack([decoder.step(x[:, t]) for t in range(3)], 1)
    np.testing.assert_allclose(steps, engine.logits(x), atol=1e-10)


@pytest.mark.parametrize("name", ["gpt-microgpt", "mlp-bengio", "bigram"])
def test_bad_tokens_raise_config_error(name):
    decoder = make_engine(name).decoder()
    decoder.reset(2)
    with pytest.raises(ConfigError, match="out of range"):
        decoder.step(np.array([0, 11]))
    with pytest.raises(ConfigError, match="one per row"):
        decoder.step(np.array([0, 1, 2]))
