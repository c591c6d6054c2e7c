"""makemore's rnn, gru and bow families on every engine: parameter specs, float64 finite-difference gradient
checks of the numpy engine's hand-derived backward passes, numpy vs torch and numpy vs scalar parity of logits
and gradients, incremental decoding (advance) against full forwards, and makemore's own modules."""
from __future__ import annotations

import importlib.util
import math
import os
from pathlib import Path

import numpy as np
import pytest

from tinylm.config import ModelConfig
from tinylm.engines.gradcheck import numerical_grad, pick_entries, relative_error, rounding_noise
from tinylm.engines.numpy_engine import ops
from tinylm.engines.numpy_engine.ops import cross_entropy_backward, cross_entropy_forward
from tinylm.engines.numpy_engine.engine import IMPLEMENTATIONS as NUMPY_MODELS
from tinylm.engines.scalar_engine.engine import IMPLEMENTATIONS as SCALAR_FAMILIES
from tinylm.engines.scalar_engine.fused import FusedOps
from tinylm.engines.scalar_engine.leaves import make_leaves
from tinylm.engines.scalar_engine.plain import PlainOps
from tinylm.engines.scalar_engine.value import backpropagate, topological_order
from tinylm.models.params import init_params, param_count, param_specs

from test_numpy_ops import check_op

V, T = 7, 6
BASE = dict(vocab_size=V, block_size=T, n_embd=4, n_hidden=5, init="torch")
CONFIGS = {
    "rnn-tanh-bias": dict(family="rnn", activation="tanh", bias=True),
    "rnn-gelu-nobias": dict(family="rnn", activation="gelu", bias=False),
    "gru-tanh-bias": dict(family="gru", activation="tanh", bias=True),
    "gru-gelu_tanh-nobias": dict(family="gru", activation="gelu_tanh", bias=False),
    "bow-tanh-bias": dict(family="bow", activation="tanh", bias=True),
    "bow-gelu_tanh-nobias": dict(family="bow", activation="gelu_tanh", bias=False),
}


def config(name: str) -> ModelConfig:
    return ModelConfig(**{**BASE, **CONFIGS[name]})


def params_for(cfg: ModelConfig, seed: int = 0) -> dict[str, np.ndarray]:
    """makemore's init, then a jitter so that ``start`` and the biases are off zero and every term matters."""
    params = init_params(cfg, np.random.default_rng(seed))
    jitter = np.random.default_rng(seed + 1)
    return {name: value + 0.3 * jitter.standard_normal(value.shape) for name, value in params.items()}


def numpy_model(cfg: ModelConfig, params: dict[str, np.ndarray], dtype=np.float64):
    model = NUMPY_MODELS[cfg.family](cfg, dtype)
    model.load(params)
    return model


def batch(seed: int = 0, B: int = 3) -> tuple[np.ndarray, np.ndarray]:
    g = np.random.default_rng(seed)
    x = g.integers(0, V, (B, T))
    y = g.integers(0, V, (B, T))
    y[0, -2:] = -1            # a padded tail, as the document batcher produces
    y[-1, 1] = -1             # and an ignored target in the middle of a row
    return x, y


def numpy_loss_and_grads(model, x, y) -> tuple[float, dict[str, np.ndarray]]:
    logits, cache = model.forward(x)
    loss, ce_cache = cross_entropy_forward(logits, y)
    return loss, model.backward(cross_entropy_backward(ce_cache), cache)


def assert_close(actual, expected, what: str, rtol: float = 1e-10) -> None:
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    err = float(np.abs(actual - expected).max()) / max(float(np.abs(expected).max()), 1e-12)
    assert err <= rtol, f"{what}: max relative error {err:.2e}"


# --- the numpy ops these families add ---------------------------------------------------------
def test_sigmoid_op_values_gradient_and_dtype():
    x = np.random.default_rng(0).normal(size=(3, 4)) * 3
    check_op(ops.sigmoid_forward, ops.sigmoid_backward, [x], [0])
    wide = np.array([-800.0, -30.0, 0.0, 2.0, 30.0, 800.0])            # no overflow at either end
    out, _ = ops.sigmoid_forward(wide)
    with np.errstate(over="ignore"):
        assert_close(out, 1 / (1 + np.exp(-wide)), "sigmoid", rtol=1e-15)
    assert ops.sigmoid_forward(x.astype(np.float32))[0].dtype == np.float32


def test_blend_op_values_and_gradient():
    g = np.random.default_rng(1)
    a, b, z = g.normal(size=(3, 5)), g.normal(size=(3, 5)), g.uniform(size=(3, 5))
    assert_close(ops.blend_forward(a, b, z)[0], (1 - z) * a + z * b, "blend", rtol=1e-15)
    check_op(ops.blend_forward, ops.blend_backward, [a, b, z], [0, 1, 2])


def test_causal_average_op_values_and_gradient():
    x = np.random.default_rng(2).normal(size=(2, 5, 3))
    expected = np.stack([x[:, :t + 1].mean(axis=1) for t in range(5)], axis=1)
    assert_close(ops.causal_average_forward(x)[0], expected, "causal average", rtol=1e-15)
    check_op(ops.causal_average_forward, ops.causal_average_backward, [x], [0])


# --- parameter specs --------------------------------------------------------------------------
@pytest.mark.parametrize("family", ["rnn", "gru", "bow"])
def test_specs_follow_makemore_layout_and_pytorch_default_init(family):
    cfg = ModelConfig(family=family, vocab_size=27, block_size=16, n_embd=64, n_hidden=64, bias=True, init="torch")
    specs = {s.name: s for s in param_specs(cfg)}
    assert next(iter(specs)) == "wte"                                   # draw order starts with the embedding
    assert specs["wte"].shape == (27, 64) and (specs["wte"].init, specs["wte"].std) == ("normal", 1.0)
    if family == "bow":
        assert specs["wpe"].shape == (16, 64) and (specs["wpe"].init, specs["wpe"].std) == ("normal", 1.0)
        fan_in = {"block.c_fc": 64, "block.c_proj": 64, "lm_head": 64}
        assert specs["block.c_fc.weight"].shape == (64, 64) and specs["lm_head.weight"].shape == (27, 64)
    else:
        assert (specs["start"].shape, specs["start"].init, specs["start"].decay) == ((64,), "zeros", False)
        gates = ("xh_to_h",) if family == "rnn" else ("xh_to_z", "xh_to_r", "xh_to_hbar")
        fan_in = {f"cell.{g}": 128 for g in gates} | {"lm_head": 64}
        for g in gates:
            assert specs[f"cell.{g}.weight"].shape == (64, 128) and specs[f"cell.{g}.bias"].shape == (64,)
    for prefix, n_in in fan_in.items():          # nn.Linear's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        for part in ("weight", "bias"):
            spec = specs[f"{prefix}.{part}"]
            assert (spec.init, spec.decay) == ("uniform", part == "weight")
            assert spec.std == pytest.approx(1 / math.sqrt(n_in))
    # makemore's parameter counts (its "model #params" line) at its default sizes
    assert param_count(cfg) == {"rnn": 11_803, "gru": 28_315, "bow": 12_827}[family]
    assert cfg.approx_params() >= param_count(cfg)        # the config's quick estimate stays an upper bound
    unbiased = ModelConfig(family=family, vocab_size=27, block_size=16, n_embd=64, n_hidden=64, bias=False)
    assert not any(s.name.endswith(".bias") for s in param_specs(unbiased))


# --- numpy: hand-derived backward against finite differences ------------------------------------
def gradient_check(cfg: ModelConfig, entries: int = 12) -> dict[str, float]:
    """Max relative error, per parameter, of the numpy model's analytic gradient against central differences
    (float64), on ``entries`` random entries of each parameter (all of a smaller one)."""
    model = numpy_model(cfg, params_for(cfg))
    x, y = batch()
    loss, grads = numpy_loss_and_grads(model, x, y)
    assert set(grads) == {s.name for s in param_specs(cfg)}

    def loss_now() -> float:
        return cross_entropy_forward(model.forward(x)[0], y, need_grad=False)[0]

    eps = 1e-5
    noise = rounding_noise(loss, eps, "float64")      # differences rounding alone can make count as agreement
    rng = np.random.default_rng(1)
    errors = {}
    for pname, array in model.params.items():
        assert grads[pname].shape == array.shape
        picked = pick_entries(array.shape, entries, rng)
        numeric = numerical_grad(loss_now, array, picked, h=eps)
        analytic = np.array([grads[pname][e] for e in picked])
        assert np.abs(analytic).max() > 1e-4, f"d{pname} is (near) zero: the check would be empty"
        errors[pname] = relative_error(analytic, numeric, noise=noise)
    return errors


@pytest.mark.parametrize("name", list(CONFIGS))
def test_numpy_gradients_match_finite_differences(name):
    errors = gradient_check(config(name))
    worst = max(errors, key=errors.get)
    assert errors[worst] < 1e-6, f"{name} d{worst}: relative error {errors[worst]:.2e}"


def test_gradient_check_catches_a_wrong_gate_gradient(monkeypatch):
    """The check is not vacuous: a GRU whose sigmoid backward is off by 0.1% fails it, on the gates' weights
    (and whatever is upstream of them), while lm_head, which the gates do not feed, still passes."""
    from tinylm.engines.numpy_engine import rnn as numpy_rnn

    right = numpy_rnn.sigmoid_backward

    def sigmoid_backward_slightly_wrong(dout, cache):
        return 1.001 * right(dout, cache)

    monkeypatch.setattr(numpy_rnn, "sigmoid_backward", sigmoid_backward_slightly_wrong)
    errors = gradient_check(config("gru-tanh-bias"))
    assert errors["cell.xh_to_z.weight"] > 1e-4 and errors["cell.xh_to_r.weight"] > 1e-4
    assert errors["lm_head.weight"] < 1e-6


@pytest.mark.parametrize("family", ["rnn", "gru", "bow"])
def test_numpy_float32_model_follows_float64(family):
    cfg = config(f"{family}-tanh-bias")
    params = params_for(cfg)
    x, y = batch()
    loss64, grads64 = numpy_loss_and_grads(numpy_model(cfg, params), x, y)
    model32 = numpy_model(cfg, params, np.float32)
    logits32, _ = model32.forward(x)
    assert logits32.dtype == np.float32
    loss32, grads32 = numpy_loss_and_grads(model32, x, y)
    assert loss32 == pytest.approx(loss64, rel=1e-5)
    for pname, g in grads64.items():
        assert grads32[pname].dtype == np.float32, pname
        assert_close(grads32[pname], g, f"float32 d{pname}", rtol=1e-4)


# --- incremental decoding ---------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_numpy_advance_equals_forward_on_every_prefix(name, dtype):
    cfg = config(name)
    model = numpy_model(cfg, params_for(cfg), dtype)
    x, _ = batch(B=2)
    state = model.start_state(2)
    for t in range(T):
        logits, state = model.advance(state, x[:, t], t)
        assert logits.dtype == np.float64 and logits.shape == (2, V)
        assert state.dtype == dtype
        rtol = 1e-13 if dtype == np.float64 else 1e-6
        assert_close(logits, model.forward(x[:, :t + 1])[0][:, -1], f"{name} position {t}", rtol=rtol)


def test_bow_advance_refuses_a_position_past_the_block():
    cfg = config("bow-tanh-bias")
    model = numpy_model(cfg, params_for(cfg))
    with pytest.raises(ValueError, match="outside the block"):
        model.advance(model.start_state(1), np.array([1]), T)


# --- scalar engine ----------------------------------------------------------------------------
def scalar_loss_and_grads(cfg, params, ops, x, y) -> tuple[float, dict[str, np.ndarray], list]:
    leaves = make_leaves(params)
    model = SCALAR_FAMILIES[cfg.family](cfg, leaves, ops)
    losses, logits_rows = [], []
    for tokens, targets in zip(x.tolist(), y.tolist()):
        state, row = model.start_state(), []
        for t, token in enumerate(tokens):
            logits, state = model.advance(state, token, t)
            row.append([v.data for v in logits])
            if targets[t] != -1:
                losses.append(ops.cross_entropy(logits, targets[t]))
        logits_rows.append(row)
    loss = ops.mean(losses)
    topo = topological_order(loss, include_leaves=False)
    loss.grad = 1.0
    backpropagate(topo)
    return loss.data, {name: leaf.grad() for name, leaf in leaves.items()}, logits_rows


@pytest.mark.parametrize("ops", [PlainOps(), FusedOps()], ids=["plain", "fused"])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_scalar_logits_and_gradients_match_numpy(name, ops):
    cfg = config(name)
    params = params_for(cfg)
    x, y = batch(B=2)
    loss, grads, logits = scalar_loss_and_grads(cfg, params, ops, x, y)
    model = numpy_model(cfg, params)
    ref_loss, ref_grads = numpy_loss_and_grads(model, x, y)
    # the scalar logits come from advance(): equal to the numpy forward on every prefix
    assert_close(logits, model.forward(x)[0], f"{name} {ops.name} logits")
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    assert set(grads) == set(ref_grads)
    for pname, g in ref_grads.items():
        assert_close(grads[pname], g, f"{name} {ops.name} d{pname}")


def test_scalar_ops_compute_their_functions_and_local_gradients():
    """sigmoid, mul, blend and scale: the same value and gradients from the plain and the fused graph, equal
    to the formulas worked out by hand."""
    from tinylm.engines.scalar_engine.value import Value

    def run(ops, data):
        a, b, z, s = ([Value(d) for d in row] for row in data)
        gate = ops.sigmoid(s)
        outputs = ops.scale(ops.blend(ops.mul(a, b), b, gate), 3.0) + ops.mul(gate, z)   # 10 Values
        total = sum(v * (i + 1.0) for i, v in enumerate(outputs))
        total.backward()
        return total.data, [[v.grad for v in group] for group in (a, b, z, s)]

    data = np.random.default_rng(3).normal(size=(4, 5)) * 2
    plain_value, plain_grads = run(PlainOps(), data.tolist())
    fused_value, fused_grads = run(FusedOps(), data.tolist())
    a, b, z, s = data
    w1, w2 = np.arange(1, 6), np.arange(6, 11)          # the weights of the two halves of the outputs
    sig = 1 / (1 + np.exp(-s))
    blend = (1 - sig) * (a * b) + sig * b
    expected = float((w1 * 3 * blend).sum() + (w2 * sig * z).sum())
    assert plain_value == pytest.approx(expected, rel=1e-12)
    assert fused_value == pytest.approx(expected, rel=1e-12)
    assert_close(fused_grads, plain_grads, "fused vs plain gradients", rtol=1e-12)
    dsig = sig * (1 - sig)
    assert_close(plain_grads[0], w1 * 3 * (1 - sig) * b, "d a")
    assert_close(plain_grads[1], w1 * 3 * ((1 - sig) * a + sig), "d b")
    assert_close(plain_grads[2], w2 * sig, "d z")
    assert_close(plain_grads[3], w1 * 3 * (b - a * b) * dsig + w2 * z * dsig, "d s")


# --- torch engine -----------------------------------------------------------------------------
def torch_model(cfg, params):
    torch = pytest.importorskip("torch")
    from tinylm.engines.torch_engine.engine import build_model

    model = build_model(cfg).double()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in params.items()})
    return model


@pytest.mark.torch
@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("name", list(CONFIGS))
def test_torch_logits_and_gradients_match_numpy(name):
    import torch
    import torch.nn.functional as F

    cfg = config(name)
    params = params_for(cfg)
    x, y = batch()
    model = torch_model(cfg, params)
    assert set(model.state_dict()) == {s.name for s in param_specs(cfg)}
    logits = model(torch.from_numpy(x))
    loss = F.cross_entropy(logits.reshape(-1, V), torch.from_numpy(y).reshape(-1), ignore_index=-1)
    loss.backward()
    ref = numpy_model(cfg, params)
    ref_loss, ref_grads = numpy_loss_and_grads(ref, x, y)
    assert_close(logits.detach().numpy(), ref.forward(x)[0], f"{name} logits")
    assert loss.item() == pytest.approx(ref_loss, rel=1e-12)
    for pname, p in model.named_parameters():
        assert_close(p.grad.numpy(), ref_grads[pname], f"{name} d{pname}")


@pytest.mark.torch
@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("name", list(CONFIGS))
def test_torch_advance_equals_forward_on_every_prefix(name):
    import torch

    cfg = config(name)
    model = torch_model(cfg, params_for(cfg))
    x = torch.from_numpy(batch(B=2)[0])
    with torch.no_grad():
        state = model.start_state(2)
        for t in range(T):
            logits, state = model.advance(state, x[:, t], t)
            assert_close(logits.numpy(), model(x[:, :t + 1])[:, -1].numpy(), f"{name} position {t}", rtol=1e-13)
        if cfg.family == "bow":
            with pytest.raises(ValueError, match="outside the block"):
                model.advance(state, x[:, 0], T)


# --- makemore's own modules -------------------------------------------------------------------
def makemore_module():
    folder = os.environ.get("TINYLM_MAKEMORE_DIR")
    if not folder:
        pytest.skip("set TINYLM_MAKEMORE_DIR to a makemore checkout to compare with its modules")
    path = Path(folder) / "makemore.py"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    spec = importlib.util.spec_from_file_location("makemore_reference", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except ImportError as err:           # makemore.py imports tensorboard's SummaryWriter at the top
        pytest.skip(f"makemore.py does not import here: {err}")
    return module


# our name -> makemore's state_dict key (makemore keeps nn.Embedding tables, a [1, H] start and a ModuleDict)
def makemore_key(name: str) -> str:
    if name in ("wte", "wpe"):
        return f"{name}.weight"
    if name.startswith("block."):
        return "context_block.mlp." + name[len("block."):]
    return name


@pytest.mark.torch
@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("family", ["rnn", "gru", "bow"])
def test_logits_equal_makemore_modules(family):
    import torch

    mm = makemore_module()
    cfg = ModelConfig(family=family, vocab_size=V, block_size=T, n_embd=4, n_hidden=5, bias=True,
                      activation="tanh", init="torch")
    params = params_for(cfg)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)       # makemore's CausalBoW builds its weights in the default dtype
    try:
        mm_cfg = mm.ModelConfig(vocab_size=V, block_size=T, n_embd=4, n_embd2=5)
        reference = mm.BoW(mm_cfg) if family == "bow" else mm.RNN(mm_cfg, cell_type=family)
        state = reference.state_dict()
        assert sum(p.numel() for p in reference.parameters()) == param_count(cfg)
        loaded = {}
        for name, value in params.items():
            key = makemore_key(name)
            loaded[key] = torch.from_numpy(value).reshape(state[key].shape)
        missing = set(state) - set(loaded)
        assert missing <= {"context_block.cbow.bias"}, missing   # makemore's causal mask buffer
        reference.load_state_dict(loaded, strict=False)
        x = torch.from_numpy(batch()[0])
        with torch.no_grad():
            expected, _ = reference(x)
            ours = torch_model(cfg, params)(x)
    finally:
        torch.set_default_dtype(default)
    assert_close(ours.numpy(), expected.numpy(), f"{family} vs makemore", rtol=1e-12)
