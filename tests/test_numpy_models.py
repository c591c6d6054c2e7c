"""The numpy engine's models and the Engine contract: gradient checks for every family and option,
dtype discipline, training, clipping, determinism, optimizer state and user errors."""
from __future__ import annotations


import numpy as np
import pytest

from tinylm.config import ModelConfig, OptimConfig
from tinylm.engines import engine_class
from tinylm.engines.gradcheck import numerical_grad, pick_entries, relative_error
from tinylm.engines.numpy_engine import NumpyEngine
from tinylm.engines.optim import global_norm
from tinylm.errors import ConfigError, DataError, TinyLMError
from tinylm.models.params import init_params, param_specs
from tinylm.presets import get_preset
from tinylm.seeding import rng_for

from conftest import shared_file

GPT_BASE = dict(family="gpt", vocab_size=7, block_size=6, n_embd=8, n_head=2, n_layer=2, mlp_ratio=2)
GPT_VARIANTS = {
    "microgpt": dict(norm="rmsnorm", norm_affine=False, embed_norm=True, final_norm=False, activation="relu"),
    "nanogpt": dict(norm="layernorm", norm_affine=True, bias=False, activation="gelu", tie_weights=True),
    "makemore": dict(norm="layernorm", norm_affine=True, bias=True, activation="gelu_tanh"),
    "rms-affine-tied-bias": dict(norm="rmsnorm", norm_affine=True, bias=True, activation="tanh",
                                 tie_weights=True, embed_norm=True),
    "ln-affine-nobias-noflnorm": dict(norm="layernorm", norm_affine=True, activation="relu",
                                      embed_norm=True, final_norm=False),
    "ln-plain-bias-tied": dict(norm="layernorm", norm_affine=False, bias=True, activation="gelu",
                               tie_weights=True),
    "rms-plain-one-head": dict(norm="rmsnorm", activation="gelu_tanh", n_head=1, n_layer=1,
                               scaled_residual_init=True),
    "ln-ln-embed-untied-4heads": dict(norm="layernorm", norm_affine=True, bias=True, embed_norm=True,
                                      activation="tanh", n_head=4),
}
MLP_VARIANTS = {
    "seed-tied": dict(context=1, activation="relu", tie_weights=True),
    "bengio": dict(context=3, activation="tanh", bias=True),
    "context2-tied-bias": dict(context=2, activation="gelu", bias=True, tie_weights=True),
    "context1-untied": dict(context=1, activation="gelu_tanh"),
}
MLP_BASE = dict(family="mlp", vocab_size=7, block_size=6, n_embd=4, n_hidden=10)
CONFIGS = {**{f"gpt-{k}": {**GPT_BASE, **v} for k, v in GPT_VARIANTS.items()},
           **{f"mlp-{k}": {**MLP_BASE, **v} for k, v in MLP_VARIANTS.items()},
           "bigram": dict(family="bigram", vocab_size=7, block_size=6)}


def make_engine(cfg: ModelConfig, dtype: str = "float64", seed: str = "test", jitter: float = 0.0) -> NumpyEngine:
    params = init_params(cfg, rng_for(seed, "init"))
    if jitter:  # move gains off 1 and biases off 0 so their gradients are exercised
        noise = rng_for(seed, "jitter")
        params = {k: v + jitter * noise.standard_normal(v.shape) for k, v in params.items()}
    return NumpyEngine(cfg, params, dtype=dtype)


def batch(cfg: ModelConfig, B: int = 2, T: int | None = None, seed: int = 0, pad: bool = True):
    T = cfg.block_size if T is None else T
    g = np.random.default_rng(seed)
    x = g.integers(0, cfg.vocab_size, size=(B, T))
    y = g.integers(0, cfg.vocab_size, size=(B, T))
    if pad:
        y[0, -2:] = -1            # a padded tail, as the document batcher produces
    return x, y


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CONFIGS))
def test_gradients_match_finite_differences(name):
    cfg = ModelConfig(**{**CONFIGS[name], "init_std": 0.5})
    engine = make_engine(cfg, jitter=0.3)
    x, y = batch(cfg, T=cfg.block_size - 1)         # shorter than the block: wpe rows past T get 0
    _, grads = engine.forward_backward(x, y)
    assert set(grads) == {s.name for s in param_specs(cfg)}
    g = np.random.default_rng(1)
    for pname, array in engine.model.params.items():
        assert grads[pname].shape == array.shape
        entries = pick_entries(array.shape, 8, g)
        numeric = numerical_grad(lambda: engine.loss(x, y), array, entries, h=1e-5)
        analytic = np.array([grads[pname][e] for e in entries])
        err = relative_error(analytic, numeric, noise=1e-10)
        assert err <= 1e-6, f"{pname}: max relative error {err:.2e}"
    if cfg.family == "gpt":
        assert np.all(grads["wpe"][x.shape[1]:] == 0)


@pytest.mark.parametrize("name", ["gpt-nanogpt", "gpt-makemore", "mlp-bengio"])
def test_gradient_along_random_direction(name):
    """Every entry at once: d/de loss(p + e d) = <grad, d> for a random direction d."""
    cfg = ModelConfig(**{**CONFIGS[name], "init_std": 0.5})
    engine = make_engine(cfg, jitter=0.3)
    x, y = batch(cfg)
    _, grads = engine.forward_backward(x, y)
    g = np.random.default_rng(2)
    direction = {k: g.standard_normal(v.shape) for k, v in grads.items()}
    base = engine.get_params()
    h = 1e-5

    def loss_at(scale: float) -> float:
        engine.set_params({k: base[k] + scale * direction[k] for k in base})
        return engine.loss(x, y)

    numeric = (loss_at(h) - loss_at(-h)) / (2 * h)
    analytic = sum(float(np.sum(grads[k] * direction[k])) for k in grads)
    assert relative_error(np.array([analytic]), np.array([numeric])) <= 1e-6


def _float_arrays(obj):
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind == "f":
            yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _float_arrays(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _float_arrays(v)


@pytest.mark.parametrize("name", ["gpt-nanogpt", "gpt-makemore", "gpt-microgpt", "gpt-rms-affine-tied-bias",
                                  "mlp-bengio", "mlp-context2-tied-bias", "bigram"])
def test_float32_stays_float32(name):
    cfg = ModelConfig(**CONFIGS[name])
    engine = make_engine(cfg, dtype="float32", jitter=0.1)
    x, y = batch(cfg)
    logits, cache = engine.model.forward(x)
    arrays = list(_float_arrays(cache)) + [logits]
    assert all(a.dtype == np.float32 for a in arrays), {str(a.dtype) for a in arrays}
    _, grads = engine.forward_backward(x, y)
    assert all(g.dtype == np.float32 for g in grads.values())
    assert all(p.dtype == np.float32 for p in engine.get_params().values())
    engine.configure_optimizer(OptimConfig(name="adamw", lr=1e-2, weight_decay=0.1, grad_clip=1.0))
    engine.train_step(x, y, lr=1e-2)
    assert all(p.dtype == np.float32 for p in engine.model.params.values())
    _, state = engine.get_optimizer_state()
    assert all(s.dtype == np.float32 for s in state.values())


@pytest.mark.parametrize("name", ["gpt-nanogpt", "gpt-makemore", "mlp-bengio", "bigram"])
def test_float32_agrees_with_float64(name):
    cfg = ModelConfig(**CONFIGS[name])
    x, y = batch(cfg)
    e32, e64 = make_engine(cfg, "float32", jitter=0.1), make_engine(cfg, "float64", jitter=0.1)
    assert e32.loss(x, y) == pytest.approx(e64.loss(x, y), rel=1e-5)
    _, g32 = e32.forward_backward(x, y)
    _, g64 = e64.forward_backward(x, y)
    scale = max(np.abs(g).max() for g in g64.values())
    for k in g64:
        np.testing.assert_allclose(g32[k], g64[k], rtol=1e-3, atol=1e-5 * scale)


def test_logits_match_loss_and_are_causal():
    cfg = ModelConfig(**CONFIGS["gpt-nanogpt"])
    engine = make_engine(cfg, jitter=0.1)
    x, y = batch(cfg, pad=False)
    logits = engine.logits(x)
    assert logits.shape == (2, cfg.block_size, cfg.vocab_size) and logits.dtype == np.float64
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    nll = -np.take_along_axis(logp, y[..., None], -1).mean()
    assert engine.loss(x, y) == pytest.approx(nll, rel=1e-12)
    changed = x.copy()
    changed[:, 3] = (changed[:, 3] + 1) % cfg.vocab_size
    other = engine.logits(changed)
    np.testing.assert_array_equal(other[:, :3], logits[:, :3])     # the future cannot leak back
    assert not np.allclose(other[:, 3:], logits[:, 3:])


@pytest.mark.parametrize("name", ["gpt-nanogpt", "gpt-microgpt", "mlp-seed-tied", "mlp-bengio", "bigram"])
def test_training_overfits_a_batch(name):
    cfg = ModelConfig(**CONFIGS[name])
    engine = make_engine(cfg, dtype="float32")
    engine.configure_optimizer(OptimConfig(name="adamw", lr=3e-2, weight_decay=0.01, grad_clip=1.0))
    x, y = batch(cfg, B=4)
    first = engine.train_step(x, y, lr=3e-2)
    for _ in range(150):
        last = engine.train_step(x, y, lr=3e-2)
    assert first.n_tokens == np.count_nonzero(y >= 0)
    assert first.loss == pytest.approx(np.log(cfg.vocab_size), abs=0.3)
    assert last.loss < 0.5 * first.loss


def test_grad_norm_is_before_clipping_and_clip_applies():
    cfg = ModelConfig(**{**CONFIGS["gpt-makemore"], "init_std": 0.5})
    engine = make_engine(cfg)
    x, y = batch(cfg)
    _, grads = engine.forward_backward(x, y)
    norm = global_norm(grads)
    before = engine.get_params()
    engine.configure_optimizer(OptimConfig(name="sgd", lr=1.0, grad_clip=0.01))
    stats = engine.train_step(x, y, lr=1.0)
    assert stats.grad_norm == pytest.approx(norm, rel=1e-12)
    assert norm > 0.01
    after = engine.get_params()
    moved = np.sqrt(sum(np.sum((after[k] - before[k]) ** 2) for k in before))
    assert moved == pytest.approx(0.01, rel=1e-4)        # SGD step of lr * clipped gradient


def test_same_seed_same_bytes():
    cfg = ModelConfig(**CONFIGS["gpt-makemore"])
    runs = []
    for _ in range(2):
        engine = make_engine(cfg, dtype="float32")
        engine.configure_optimizer(OptimConfig(name="adamw", lr=1e-2, weight_decay=0.1, grad_clip=1.0))
        losses = [engine.train_step(*batch(cfg, seed=s), lr=1e-2).loss for s in range(3)]
        runs.append((losses, engine.get_params()))
    assert runs[0][0] == runs[1][0]
    for k in runs[0][1]:
        assert runs[0][1][k].tobytes() == runs[1][1][k].tobytes()


def test_optimizer_state_round_trip_resumes_exactly():
    cfg = ModelConfig(**CONFIGS["gpt-nanogpt"])
    opt = OptimConfig(name="adamw", lr=1e-2, weight_decay=0.1, grad_clip=1.0)
    a = make_engine(cfg)
    a.configure_optimizer(opt)
    for s in range(3):
        a.train_step(*batch(cfg, seed=s), lr=1e-2)
    steps, state = a.get_optimizer_state()
    assert steps == 3 and set(state) == {f"{m}.{s.name}" for s in param_specs(cfg) for m in "mv"}
    b = make_engine(cfg, seed="other")
    b.set_params(a.get_params())
    b.configure_optimizer(opt)
    b.set_optimizer_state(steps, state)
    sa, sb = a.train_step(*batch(cfg, seed=9), lr=1e-2), b.train_step(*batch(cfg, seed=9), lr=1e-2)
    assert sa.loss == sb.loss
    pa, pb = a.get_params(), b.get_params()
    assert all(np.array_equal(pa[k], pb[k]) for k in pa)


def test_get_params_are_copies_and_fused_views_stay_in_sync():
    cfg = ModelConfig(**CONFIGS["gpt-makemore"])
    engine = make_engine(cfg)
    params = engine.get_params()
    params["h.0.attn.wk.weight"][...] = 0
    assert np.any(engine.get_params()["h.0.attn.wk.weight"] != 0)
    x, _ = batch(cfg)
    engine.set_params(params)                         # writes through to the fused q/k/v buffer
    reference = make_engine(cfg)
    reference.model.params["h.0.attn.wk.weight"][...] = 0
    np.testing.assert_array_equal(engine.logits(x), reference.logits(x))


def test_registry_and_presets_build():
    assert engine_class("numpy") is NumpyEngine
    for name in ("microgpt", "mlp", "bigram", "mlp-context", "names-gpt", "shakespeare-cpu"):
        cfg = get_preset(name).model
        cfg.vocab_size, cfg.block_size = 27, cfg.block_size or 16
        engine = make_engine(cfg, dtype="float32")
        x, y = batch(cfg, T=min(cfg.block_size, 8))
        assert engine.loss(x, y) == pytest.approx(np.log(27), abs=0.5)


@pytest.mark.parametrize("x,y,message", [
    (np.array([[0, 7]]), np.array([[1, 2]]), "token id out of range"),
    (np.array([[0, 1]]), np.array([[1, 9]]), "target id out of range"),
    (np.array([[0, 1]]), np.array([[1, 2, 3]]), "targets have shape"),
    (np.zeros((1, 7), dtype=int), np.zeros((1, 7), dtype=int), "exceeds block_size"),
    (np.array([[0.5, 1]]), np.array([[1, 2]]), "must be integers"),
    (np.array([0, 1]), np.array([1, 2]), "2-D array"),
    (np.array([[0, 1]]), np.array([[-1, -1]]), "every target of the batch is ignored"),
])
def test_bad_batches_raise_one_line_errors(x, y, message):
    engine = make_engine(ModelConfig(**CONFIGS["gpt-microgpt"]))
    with pytest.raises(DataError, match=message) as info:
        engine.loss(x, y)
    assert "\n" not in str(info.value)


def test_bad_construction_raises_config_errors():
    cfg = ModelConfig(**CONFIGS["gpt-microgpt"])
    params = init_params(cfg, rng_for("s", "init"))
    with pytest.raises(ConfigError, match="dtype"):
        NumpyEngine(cfg, params, dtype="float16")
    with pytest.raises(ConfigError, match="option"):
        NumpyEngine(cfg, params, threads=4)
    with pytest.raises(ConfigError, match="missing"):
        NumpyEngine(cfg, {k: v for k, v in params.items() if k != "wte"})
    with pytest.raises(ConfigError, match="shape"):
        NumpyEngine(cfg, {**params, "wte": np.zeros((3, 3))})
    engine = NumpyEngine(cfg, params)
    with pytest.raises(ConfigError, match="configure_optimizer"):
        engine.train_step(*batch(cfg), lr=0.1)
    with pytest.raises(TinyLMError, match="unknown optimizer"):
        engine.configure_optimizer(OptimConfig(name="lion"))


def test_bigram_learns_names_statistics():
    path = shared_file("names.txt")
    names = path.read_text().split()[:2000]
    chars = sorted(set("".join(names)))
    bos = len(chars)
    stoi = {c: i for i, c in enumerate(chars)}
    stream = np.array([t for n in names for t in [bos] + [stoi[c] for c in n]] + [bos])
    cfg = ModelConfig(family="bigram", vocab_size=bos + 1, block_size=16, init="zeros")
    engine = make_engine(cfg, dtype="float32")
    engine.configure_optimizer(OptimConfig(name="adam", lr=0.1))
    g = np.random.default_rng(0)
    for _ in range(300):
        starts = g.integers(0, stream.size - 17, size=32)
        windows = np.stack([stream[s:s + 17] for s in starts])
        stats = engine.train_step(windows[:, :-1], windows[:, 1:], lr=0.1)
    counts = np.ones((bos + 1, bos + 1))
    np.add.at(counts, (stream[:-1], stream[1:]), 1)
    probs = counts / counts.sum(1, keepdims=True)
    entropy = -np.mean(np.log(probs[stream[:-1], stream[1:]]))     # the bigram's best possible loss
    full = engine.loss(stream[None, :-1][:, :16], stream[None, 1:][:, :16])
    assert stats.loss < entropy + 0.15 and np.isfinite(full)


# --- the documented equations, written out token by token -------------------------------------
def _reference_activation(name: str, x: np.ndarray) -> np.ndarray:
    import math
    if name == "relu":
        return np.maximum(x, 0)
    if name == "tanh":
        return np.tanh(x)
    if name == "gelu":
        return np.vectorize(lambda v: 0.5 * v * (1 + math.erf(v / math.sqrt(2))))(x)
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def _reference_gpt_logits(cfg: ModelConfig, p: dict, tokens: np.ndarray) -> np.ndarray:
    def norm(v, prefix):
        if cfg.norm == "rmsnorm":
            out = v / np.sqrt(np.mean(v * v) + cfg.norm_eps)
        else:
            out = (v - v.mean()) / np.sqrt(v.var() + cfg.norm_eps)
        out = out * p.get(f"{prefix}.weight", 1.0)
        return out + p.get(f"{prefix}.bias", 0.0)

    def linear(v, prefix):
        return p[f"{prefix}.weight"] @ v + p.get(f"{prefix}.bias", 0.0)

    hd = cfg.head_dim
    keys = [[] for _ in range(cfg.n_layer)]
    values = [[] for _ in range(cfg.n_layer)]
    out = []
    for pos, tok in enumerate(tokens):
        x = p["wte"][tok] + p["wpe"][pos]
        if cfg.embed_norm:
            x = norm(x, "norm_emb")
        for i in range(cfg.n_layer):
            h = norm(x, f"h.{i}.norm1")
            q = linear(h, f"h.{i}.attn.wq")
            keys[i].append(linear(h, f"h.{i}.attn.wk"))
            values[i].append(linear(h, f"h.{i}.attn.wv"))
            heads = []
            for head in range(cfg.n_head):
                sl = slice(head * hd, (head + 1) * hd)
                scores = np.array([q[sl] @ k[sl] for k in keys[i]]) / np.sqrt(hd)
                w = np.exp(scores - scores.max())
                w /= w.sum()
                heads.append(sum(wj * v[sl] for wj, v in zip(w, values[i])))
            x = x + linear(np.concatenate(heads), f"h.{i}.attn.wo")
            h = norm(x, f"h.{i}.norm2")
            x = x + linear(_reference_activation(cfg.activation, linear(h, f"h.{i}.mlp.fc1")), f"h.{i}.mlp.fc2")
        if cfg.final_norm:
            x = norm(x, "norm_f")
        out.append((p["wte"] if cfg.tie_weights else p["lm_head.weight"]) @ x)
    return np.array(out)


def _reference_mlp_logits(cfg: ModelConfig, p: dict, tokens: np.ndarray) -> np.ndarray:
    V, k = cfg.vocab_size, cfg.context
    padded = [V] * (k - 1) + list(tokens)
    out = []
    for t in range(len(tokens)):
        window = padded[t:t + k]                       # oldest first, pad row V before the start
        e = np.concatenate([p["wte"][j] for j in window])
        h = _reference_activation(cfg.activation, p["fc1.weight"] @ e + p.get("fc1.bias", 0.0))
        if cfg.tie_weights:
            out.append(p["wte"][:V] @ (p["fc2.weight"] @ h + p.get("fc2.bias", 0.0)))
        else:
            out.append(p["lm_head.weight"] @ h + p.get("lm_head.bias", 0.0))
    return np.array(out)


@pytest.mark.parametrize("name", [n for n in CONFIGS if n != "bigram"])
def test_logits_match_the_documented_equations(name):
    cfg = ModelConfig(**{**CONFIGS[name], "init_std": 0.5})
    engine = make_engine(cfg, jitter=0.3)
    x, _ = batch(cfg)
    params = engine.get_params()
    reference = _reference_gpt_logits if cfg.family == "gpt" else _reference_mlp_logits
    expected = np.stack([reference(cfg, params, row) for row in x])
    np.testing.assert_allclose(engine.logits(x), expected, rtol=0, atol=1e-12)
