"""ScalarEngine: parity with the numpy engine (float64), finite differences, decoder, graph, errors."""
from __future__ import annotations

import dataclasses
import gc
import json
import warnings

import numpy as np
import pytest

from tinylm.config import ModelConfig, OptimConfig
from tinylm.engines import engine_class
from tinylm.engines.scalar_engine import ScalarEngine
from tinylm.errors import CheckpointError, ConfigError, DataError
from tinylm.models.params import init_params
from tinylm.seeding import rng_for

CONFIGS = {
    "bigram": ModelConfig(family="bigram", vocab_size=7, block_size=6, init_std=0.5),
    "mlp-tied-relu": ModelConfig(family="mlp", vocab_size=7, block_size=6, n_embd=4, n_hidden=6, context=1,
                                 activation="relu", tie_weights=True, init_std=0.5),
    "mlp-context3-tanh-bias": ModelConfig(family="mlp", vocab_size=7, block_size=6, n_embd=3, n_hidden=5,
                                          context=3, activation="tanh", bias=True, init_std=0.5),
    "mlp-context2-tied-gelu-bias": ModelConfig(family="mlp", vocab_size=7, block_size=6, n_embd=3, n_hidden=5,
                                               context=2, activation="gelu", bias=True, tie_weights=True,
                                               init_std=0.5),
    "gpt-rmsnorm-microgpt": ModelConfig(family="gpt", vocab_size=7, block_size=6, n_embd=8, n_head=2, n_layer=1,
                                        norm="rmsnorm", embed_norm=True, final_norm=False, activation="relu",
                                        init_std=0.3),
    "gpt-layernorm-affine-bias-tied": ModelConfig(family="gpt", vocab_size=7, block_size=6, n_embd=8, n_head=2,
                                                  n_layer=2, norm="layernorm", norm_affine=True, bias=True,
                                                  tie_weights=True, activation="gelu_tanh", init_std=0.3,
                                                  mlp_ratio=2),
    "gpt-rmsnorm-affine-gelu-bias": ModelConfig(family="gpt", vocab_size=7, block_size=6, n_embd=8, n_head=4,
                                                n_layer=2, norm="rmsnorm", norm_affine=True, bias=True,
                                                activation="gelu", scaled_residual_init=True, init_std=0.3,
                                                mlp_ratio=2),
    "gpt-layernorm-gain-embednorm-tanh": ModelConfig(family="gpt", vocab_size=7, block_size=6, n_embd=6, n_head=3,
                                                     n_layer=1, norm="layernorm", norm_affine=True, bias=False,
                                                     embed_norm=True, activation="tanh", init_std=0.3),
}

X = np.array([[6, 1, 2, 3, 4], [6, 5, 5, 0, 1], [6, 2, 6, 3, 3]])
Y = np.array([[1, 2, 3, 4, 6], [5, 5, 0, 6, -1], [2, -1, 3, -1, -1]])


def random_params(cfg: ModelConfig, seed: str = "scalar") -> dict[str, np.ndarray]:
    params = init_params(cfg, rng_for(seed, "init"))
    rng = np.random.default_rng(11)  # move norm gains / biases off their 1 / 0 init so they matter
    for name, value in params.items():
        if name.endswith(".bias") or (name.endswith(".weight") and value.ndim == 1):
            value += 0.2 * rng.standard_normal(value.shape)
    return params


def assert_close(actual, expected, rtol=1e-9, floor=1e-12):
    """Max error relative to the largest entry; ``floor`` for arrays that are zero in exact arithmetic
    (the key bias: softmax ignores a constant shift of the scores)."""
    actual, expected = np.asarray(actual, float), np.asarray(expected, float)
    scale = max(np.abs(expected).max(), floor)
    assert np.abs(actual - expected).max() <= rtol * scale


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["fused", "plain"])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_loss_and_gradients_equal_numpy_engine(name, mode):
    numpy_engine = pytest.importorskip("tinylm.engines.numpy_engine").NumpyEngine
    cfg = CONFIGS[name]
    params = random_params(cfg)
    scalar = ScalarEngine(cfg, params, dtype="float64", mode=mode)
    reference = numpy_engine(cfg, params, dtype="float64")
    loss, grads = scalar.forward_backward(X, Y)
    ref_loss, ref_grads = reference.forward_backward(X, Y)
    assert loss == pytest.approx(ref_loss, rel=1e-9)
    assert scalar.loss(X, Y) == pytest.approx(ref_loss, rel=1e-9)
    assert set(grads) == set(ref_grads)
    largest = max(np.abs(g).max() for g in ref_grads.values())
    for key in grads:
        assert grads[key].shape == ref_grads[key].shape
        assert_close(grads[key], ref_grads[key], floor=1e-6 * largest)
    assert_close(scalar.logits(X), reference.logits(X))


@pytest.mark.parametrize("name", ["mlp-context3-tanh-bias", "gpt-layernorm-affine-bias-tied",
                                  "gpt-rmsnorm-affine-gelu-bias"])
@pytest.mark.slow
def test_gradients_match_finite_differences(name):
    cfg = CONFIGS[name]
    params = random_params(cfg)
    engine = ScalarEngine(cfg, params, dtype="float64")
    _, grads = engine.forward_backward(X, Y)
    rng = np.random.default_rng(5)
    h = 1e-6
    for key, value in params.items():
        for _ in range(3):  # a few random entries of every parameter
            idx = tuple(int(rng.integers(n)) for n in value.shape)
            up = {k: v.copy() for k, v in params.items()}
            down = {k: v.copy() for k, v in params.items()}
            up[key][idx] += h
            down[key][idx] -= h
            engine.set_params(up)
            f_up = engine.loss(X, Y)
            engine.set_params(down)
            f_down = engine.loss(X, Y)
            numeric = (f_up - f_down) / (2 * h)
            analytic = grads[key][idx]
            assert abs(analytic - numeric) <= 1e-6 * max(abs(analytic), abs(numeric), 1e-3), (key, idx)


@pytest.mark.parametrize("name", ["bigram", "mlp-context3-tanh-bias", "gpt-layernorm-affine-bias-tied"])
def test_train_steps_follow_numpy_engine(name):
    numpy_engine = pytest.importorskip("tinylm.engines.numpy_engine").NumpyEngine
    cfg = CONFIGS[name]
    params = random_params(cfg)
    opt = OptimConfig(name="adamw", lr=0.05, weight_decay=0.1, grad_clip=0.5)
    scalar = ScalarEngine(cfg, params, dtype="float64")
    reference = numpy_engine(cfg, params, dtype="float64")
    for engine in (scalar, reference):
        engine.configure_optimizer(opt)
    for _ in range(3):
        stats = scalar.train_step(X, Y, 0.05)
        ref_stats = reference.train_step(X, Y, 0.05)
        assert stats.loss == pytest.approx(ref_stats.loss, rel=1e-9)
        assert stats.grad_norm == pytest.approx(ref_stats.grad_norm, rel=1e-9)
        assert stats.n_tokens == ref_stats.n_tokens == int((Y != -1).sum())
    ref_params = reference.get_params()
    for key, value in scalar.get_params().items():
        assert_close(value, ref_params[key], rtol=1e-8)
    steps, state = scalar.get_optimizer_state()
    ref_steps, ref_state = reference.get_optimizer_state()
    assert steps == ref_steps == 3 and set(state) == set(ref_state)


@pytest.mark.slow
def test_training_is_deterministic_and_lowers_the_loss():
    cfg = CONFIGS["gpt-rmsnorm-microgpt"]
    runs = []
    for _ in range(2):
        engine = ScalarEngine(cfg, init_params(cfg, rng_for("det", "init")), dtype="float64")
        engine.configure_optimizer(OptimConfig(name="adam", lr=0.05))
        losses = [engine.train_step(X, Y, 0.05).loss for _ in range(15)]
        runs.append((losses, {k: v.tobytes() for k, v in engine.get_params().items()}))
    assert runs[0] == runs[1]
    assert runs[0][0][-1] < runs[0][0][0] - 0.3
    assert gc.isenabled()  # the engine pauses the cycle collector only while it builds a graph


def test_registry_and_dtype_of_returned_arrays():
    cfg = CONFIGS["bigram"]
    engine = engine_class("scalar")(cfg, random_params(cfg))
    assert engine.dtype == "float32" and engine.get_params()["wte"].dtype == np.float32
    assert ScalarEngine(cfg, random_params(cfg), dtype="float64").get_params()["wte"].dtype == np.float64


def test_checkpoint_roundtrip_continues_in_the_numpy_engine():
    numpy_engine = pytest.importorskip("tinylm.engines.numpy_engine").NumpyEngine
    cfg = CONFIGS["gpt-rmsnorm-affine-gelu-bias"]
    opt = OptimConfig(name="adam", lr=0.02)
    scalar = ScalarEngine(cfg, random_params(cfg), dtype="float64")
    scalar.configure_optimizer(opt)
    scalar.train_step(X, Y, 0.02)
    numpy_side = numpy_engine(cfg, scalar.get_params(), dtype="float64")
    numpy_side.configure_optimizer(opt)
    numpy_side.set_optimizer_state(*scalar.get_optimizer_state())
    a = scalar.train_step(X, Y, 0.02)
    b = numpy_side.train_step(X, Y, 0.02)
    assert a.loss == pytest.approx(b.loss, rel=1e-9)
    for key, value in scalar.get_params().items():
        assert_close(value, numpy_side.get_params()[key], rtol=1e-8)


# --- decoding -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["bigram", "mlp-context3-tanh-bias", "gpt-layernorm-affine-bias-tied"])
@pytest.mark.parametrize("mode", ["fused", "plain"])
def test_decoder_logits_equal_full_prefix_logits(name, mode):
    cfg = CONFIGS[name]
    engine = ScalarEngine(cfg, random_params(cfg), dtype="float64", mode=mode)
    full = engine.logits(X)
    decoder = engine.decoder()
    decoder.reset(X.shape[0])
    for t in range(X.shape[1]):
        assert decoder.position == t
        step_logits = decoder.step(X[:, t])
        assert step_logits.shape == (X.shape[0], cfg.vocab_size)
        np.testing.assert_allclose(step_logits, full[:, t], rtol=1e-12, atol=1e-12)
    decoder.reset(1)
    assert decoder.position == 0
    np.testing.assert_allclose(decoder.step(np.array([X[1, 0]])), full[1:2, 0], rtol=1e-12, atol=1e-12)


def test_decoder_slides_its_window_past_block_size():
    numpy_engine = pytest.importorskip("tinylm.engines.numpy_engine").NumpyEngine
    cfg = CONFIGS["gpt-rmsnorm-microgpt"]
    params = random_params(cfg)
    engine = ScalarEngine(cfg, params, dtype="float64")
    decoder = engine.decoder()
    decoder.reset(2)
    tokens = np.array([[1, 2, 3, 4, 5, 6, 0, 1, 2], [6, 6, 5, 4, 3, 2, 1, 0, 3]])
    for t in range(tokens.shape[1]):
        logits = decoder.step(tokens[:, t])
    assert decoder.position == tokens.shape[1]
    window = tokens[:, -cfg.block_size:]  # the last block_size tokens, at positions 0..block_size-1
    np.testing.assert_allclose(logits, engine.logits(window)[:, -1], rtol=1e-12, atol=1e-12)
    reference = numpy_engine(cfg, params, dtype="float64").decoder()
    reference.reset(2)
    for t in range(tokens.shape[1]):
        expected = reference.step(tokens[:, t])
    np.testing.assert_allclose(logits, expected, rtol=1e-9, atol=1e-12)
    with pytest.raises(ConfigError, match="out of range"):
        decoder.step(np.array([0, 9]))
    with pytest.raises(ConfigError, match="expects 2 tokens"):
        decoder.step(np.array([0]))


# --- graph introspection ------------------------------------------------------------------------

@pytest.mark.slow
def test_step_stats_report_graph_size_and_modes_differ():
    cfg = CONFIGS["gpt-rmsnorm-microgpt"]
    stats = {}
    for mode in ("plain", "fused"):
        engine = ScalarEngine(cfg, random_params(cfg), mode=mode)
        engine.configure_optimizer(OptimConfig(name="adam", lr=0.01))
        first = engine.train_step(X, Y, 0.01).extra
        second = engine.train_step(X, Y, 0.01).extra  # same pattern: depth comes from the cache
        assert first["mode"] == mode
        assert {k: first[k] for k in ("nodes", "edges", "depth")} == {k: second[k] for k in ("nodes", "edges", "depth")}
        stats[mode] = first
    assert stats["plain"]["nodes"] > 5 * stats["fused"]["nodes"]
    assert stats["plain"]["depth"] > stats["fused"]["depth"] > 10
    assert stats["fused"]["edges"] > stats["fused"]["nodes"]


def test_position_graph_is_json_data_whose_gradients_are_that_positions_gradients():
    cfg = CONFIGS["gpt-rmsnorm-microgpt"]
    engine = ScalarEngine(cfg, random_params(cfg), dtype="float64")
    graph = engine.position_graph(X, Y, row=1, position=2)
    json.dumps(graph)
    assert [g["id"] for g in graph] == list(range(len(graph)))
    assert all(c < g["id"] for g in graph for c in g["children"])
    root = graph[-1]
    assert root["op"] == "cross_entropy" and root["grad"] == 1.0
    only_that_target = np.full_like(Y, -1)
    only_that_target[1, 2] = Y[1, 2]
    loss, grads = engine.forward_backward(X, only_that_target)
    assert root["data"] == pytest.approx(loss, rel=1e-12)
    labelled = {g["label"]: g for g in graph if "label" in g}
    assert labelled["wpe[2,0]"]["grad"] == pytest.approx(grads["wpe"][2, 0], rel=1e-12, abs=1e-15)
    assert labelled["h.0.attn.wq.weight[1,3]"]["grad"] == pytest.approx(grads["h.0.attn.wq.weight"][1, 3],
                                                                           rel=1e-12, abs=1e-15)
    assert "wpe[3,0]" not in labelled  # later positions do not feed this loss
    with pytest.raises(DataError, match="no target"):
        engine.position_graph(X, Y, row=2, position=1)


def test_warns_before_a_step_estimated_to_take_more_than_a_second():
    cfg = ModelConfig(family="gpt", vocab_size=65, block_size=64, n_embd=128, n_head=4, n_layer=4)
    engine = ScalarEngine(cfg, init_params(cfg, rng_for("big", "init")))
    x = np.zeros((16, 64), dtype=np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # stop at the warning instead of running the step
        with pytest.raises(RuntimeWarning, match="estimated"):
            engine.forward_backward(x, x)
    small = ScalarEngine(CONFIGS["bigram"], random_params(CONFIGS["bigram"]))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        small.forward_backward(X, Y)


# --- user errors ----------------------------------------------------------------------------------

def test_bad_options_and_inputs_raise_one_line_errors():
    cfg = CONFIGS["gpt-rmsnorm-microgpt"]
    params = random_params(cfg)
    with pytest.raises(ConfigError, match="scalar mode"):
        ScalarEngine(cfg, params, mode="fast")
    with pytest.raises(ConfigError, match="option"):
        ScalarEngine(cfg, params, turbo=True)
    with pytest.raises(CheckpointError, match="lacks"):
        ScalarEngine(cfg, {k: v for k, v in params.items() if k != "wpe"})
    with pytest.raises(CheckpointError, match="shape"):
        ScalarEngine(cfg, {**params, "wpe": params["wpe"][:2]})
    engine = ScalarEngine(cfg, params)
    with pytest.raises(DataError, match="token id out of range"):
        engine.loss(np.array([[1, 9]]), np.array([[1, 2]]))
    with pytest.raises(DataError, match="block_size"):
        engine.loss(np.zeros((1, 9), dtype=np.int64), np.zeros((1, 9), dtype=np.int64))
    with pytest.raises(DataError, match="ignored"):
        engine.loss(np.array([[1, 2]]), np.array([[-1, -1]]))
    with pytest.raises(DataError, match="integers"):
        engine.loss(np.array([[1.0, 2.0]]), np.array([[1, 2]]))
    with pytest.raises(ConfigError, match="configure_optimizer"):
        engine.train_step(X, Y, 0.1)
    with pytest.raises(ConfigError, match="block_size"):
        ScalarEngine(dataclasses.replace(cfg, block_size=0), params)


def test_sampling_with_the_scalar_engine_draws_what_the_numpy_engine_draws():
    numpy_engine = pytest.importorskip("tinylm.engines.numpy_engine").NumpyEngine
    from tinylm.data.tokenizer import CharTokenizer
    from tinylm.config import SampleConfig
    from tinylm.sampling.generate import generate

    tokenizer = CharTokenizer("abcdef", bos=True)
    cfg = CONFIGS["gpt-layernorm-affine-bias-tied"]
    params = random_params(cfg)
    sample_cfg = SampleConfig(temperature=0.8, max_new_tokens=9)
    names = generate(ScalarEngine(cfg, params), tokenizer, n=6, cfg=sample_cfg, rng=np.random.default_rng(4))
    expected = generate(numpy_engine(cfg, params, dtype="float64"), tokenizer, n=6, cfg=sample_cfg,
                        rng=np.random.default_rng(4))
    assert names == expected
    assert len(names) == 6 and all(set(name) <= set("abcdef") for name in names) and any(names)
