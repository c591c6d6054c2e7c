"""Model families as a registry: every family has an implementation on every engine, no code outside
``models/`` branches on a family's name, and the decoders' one windowing policy holds for every family on
every engine."""
from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

from tinylm.config import ModelConfig
from tinylm.engines.gradcheck import check_gradients
from tinylm.engines.numpy_engine import NumpyEngine
from tinylm.engines.numpy_engine.engine import IMPLEMENTATIONS as NUMPY
from tinylm.engines.scalar_engine import ScalarEngine
from tinylm.engines.scalar_engine.engine import IMPLEMENTATIONS as SCALAR
from tinylm.errors import ConfigError
from tinylm.models import FAMILIES, family_of, implementation
from tinylm.models.params import init_params, param_specs
from tinylm.seeding import rng_for

PACKAGE = Path(importlib.util.find_spec("tinylm").origin).parent

# one small config per family (every family in the registry must appear here: see the test below)
SMALL = {
    "bigram": dict(family="bigram", vocab_size=7, block_size=5),
    "mlp": dict(family="mlp", vocab_size=7, block_size=5, n_embd=4, n_hidden=6, context=3, activation="tanh",
                bias=True),
    "gpt": dict(family="gpt", vocab_size=7, block_size=5, n_embd=8, n_head=2, n_layer=2, norm="layernorm",
                norm_affine=True, bias=True, activation="gelu"),
    "rnn": dict(family="rnn", vocab_size=7, block_size=5, n_embd=4, n_hidden=6, activation="tanh", bias=True),
    "gru": dict(family="gru", vocab_size=7, block_size=5, n_embd=4, n_hidden=6, activation="tanh", bias=False),
    "bow": dict(family="bow", vocab_size=7, block_size=5, n_embd=4, n_hidden=6, activation="tanh", bias=True),
}


def small(name: str) -> ModelConfig:
    return ModelConfig(**SMALL[name], init_std=0.5)


def test_every_family_is_implemented_by_every_engine():
    assert set(SMALL) == set(FAMILIES), "give the new family a small config in SMALL"
    assert set(NUMPY) == set(FAMILIES)
    assert set(SCALAR) == set(FAMILIES)


@pytest.mark.torch
def test_the_torch_engine_implements_every_family():
    from tinylm.engines.torch_engine.engine import IMPLEMENTATIONS as TORCH
    assert set(TORCH) == set(FAMILIES)


def test_a_missing_implementation_is_a_one_line_error():
    with pytest.raises(ConfigError, match="the numpy engine has no implementation of the gpt family"):
        implementation({"bigram": object}, small("gpt"), "numpy")
    with pytest.raises(ConfigError, match=re.escape(f"unknown model family 'lstm' (choose from {', '.join(FAMILIES)})")):
        ModelConfig(family="lstm")


def test_each_family_describes_itself_and_counts_its_parameters():
    for name in FAMILIES:
        cfg, family = small(name), family_of(small(name))
        assert family.name == name and family.describe(cfg).startswith(name) and family.summary
        assert family.param_count(cfg) == sum(int(np.prod(s.shape)) for s in param_specs(cfg)) > 0
        assert family.window(cfg) >= 1
    assert family_of(small("gpt")).window(small("gpt")) == 5 and family_of(small("mlp")).window(small("mlp")) == 3


def family_comparisons(path: Path) -> list[int]:
    """Lines comparing something's ``.family`` with ==, != or in: a branch on a family's name."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(isinstance(s, ast.Attribute) and s.attr == "family" for s in sides):
                lines.append(node.lineno)
    return lines


def test_no_code_outside_models_branches_on_a_family_name():
    """What a family needs lives in its ``models/<family>.py`` and each engine's implementation table.
    compat/ is the one exception: a reproduction of microgpt.py or nanoGPT checks that the config is
    exactly that GPT before it starts."""
    found = {str(p.relative_to(PACKAGE)): family_comparisons(p) for p in PACKAGE.rglob("*.py")
             if p.relative_to(PACKAGE).parts[0] not in ("models", "compat")}
    assert {k: v for k, v in found.items() if v} == {}
    assert family_comparisons(PACKAGE / "compat" / "microgpt.py")    # the walk does see comparisons


def engines(cfg: ModelConfig):
    params = init_params(cfg, rng_for("families", "init"))
    jitter = rng_for("families", "jitter")
    params = {k: v + 0.3 * jitter.standard_normal(v.shape) for k, v in params.items()}
    yield "numpy", NumpyEngine(cfg, params, dtype="float64")
    yield "scalar", ScalarEngine(cfg, params, dtype="float64")
    if importlib.util.find_spec("torch") is not None:
        from tinylm.engines.torch_engine import TorchEngine
        yield "torch", TorchEngine(cfg, params, dtype="float64")


@pytest.mark.parametrize("name", list(SMALL))
def test_every_decoder_keeps_to_the_family_window(name):
    """One windowing policy on every engine: each step's logits are a fresh forward's over the last
    ``window`` tokens, also for several steps after the window has filled."""
    cfg = small(name)
    x = np.random.default_rng(3).integers(0, cfg.vocab_size, size=(2, cfg.block_size + 4))
    for engine_name, engine in engines(cfg):
        decoder = engine.decoder()
        decoder.reset(2)
        window = family_of(cfg).window(cfg)
        for t in range(x.shape[1]):
            got = decoder.step(x[:, t])
            want = engine.logits(x[:, max(0, t + 1 - window):t + 1])[:, -1]
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-10, err_msg=f"{engine_name} step {t}")
        assert decoder.position == x.shape[1]


@pytest.mark.parametrize("name", list(SMALL))
def test_every_engine_computes_the_same_function_and_true_gradients(name):
    """Every family on every engine computes one function: the numpy engine's hand-derived gradient agrees
    with float64 finite differences, and every other engine's logits, loss and gradients equal numpy's (scalar
    and torch differentiate automatically, so parity with a checked numpy suffices). A family added to SMALL
    gets both checks; the decoder test above alone would pass a model that is consistently wrong."""
    cfg = small(name)
    g = np.random.default_rng(5)
    x = g.integers(0, cfg.vocab_size, size=(2, cfg.block_size))
    y = g.integers(0, cfg.vocab_size, size=(2, cfg.block_size))
    y[0, -2:] = -1                                  # a padded tail, as the document batcher makes
    reference = None
    for engine_name, engine in engines(cfg):
        if reference is None:                       # numpy comes first
            check = check_gradients(engine, x, y, entries=4, rng=np.random.default_rng(0))
            bad = [(p.name, p.max_rel_error) for p in check.params if p.max_rel_error > check.tolerance]
            assert not bad, f"numpy: gradient disagrees with finite differences: {bad}"
        loss, grads = engine.forward_backward(x, y)
        logits = engine.logits(x)
        if reference is None:
            reference = loss, grads, logits
            continue
        np.testing.assert_allclose(logits, reference[2], rtol=1e-9, atol=1e-10, err_msg=f"{engine_name} logits")
        assert loss == pytest.approx(reference[0], rel=1e-10), f"{engine_name} loss"
        for key, grad in reference[1].items():
            np.testing.assert_allclose(grads[key], grad, rtol=1e-8, atol=1e-10, err_msg=f"{engine_name} grad {key}")
