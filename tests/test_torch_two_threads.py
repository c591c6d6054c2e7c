"""The torch engine's CPU step over two halves of the batch on two threads (torch_engine/two_threads.py)."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

from tinylm.config import ModelConfig, OptimConfig  # noqa: E402
from tinylm.engines.torch_engine import TorchEngine, two_threads  # noqa: E402
from tinylm.models.params import init_params  # noqa: E402
from tinylm.seeding import rng_for  # noqa: E402

CFG = dict(family="gpt", vocab_size=11, block_size=8, n_embd=16, n_layer=2, n_head=2, norm="layernorm",
           norm_affine=True, activation="gelu", bias=True, tie_weights=True)


@pytest.fixture
def two_torch_threads(monkeypatch):
    monkeypatch.setattr(two_threads, "MIN_HALF_WORK", 1)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def engine(split: bool, dtype: str = "float64") -> TorchEngine:
    cfg = ModelConfig(**CFG)
    e = TorchEngine(cfg, init_params(cfg, rng_for("two-threads", "init")), dtype=dtype)
    if not split:
        e._halves = lambda batch: None
    e.configure_optimizer(OptimConfig(name="adamw", lr=1e-2, weight_decay=0.1, grad_clip=1.0))
    return e


def batch():
    g = np.random.default_rng(0)
    x, y = g.integers(0, 11, (5, 8)), g.integers(0, 11, (5, 8))
    y[1, 3:] = -1
    return x, y


def test_halves_give_the_whole_batch_gradient_and_restore_the_threads(two_torch_threads):
    split = engine(True)
    assert split._halves(5) is not None
    loss, grads = split.forward_backward(*batch())
    assert torch.get_num_threads() == 2
    ref_loss, ref = engine(False).forward_backward(*batch())
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    for name, g in ref.items():
        np.testing.assert_allclose(grads[name], g, rtol=1e-10, atol=1e-14, err_msg=name)


def test_split_steps_are_repeatable_to_the_byte(two_torch_threads):
    runs = []
    for _ in range(2):
        e = engine(True, "float32")
        for _ in range(3):
            e.train_step(*batch(), lr=1e-2)
        runs.append(e.get_params())
    for name in runs[0]:
        assert runs[0][name].tobytes() == runs[1][name].tobytes(), name


def test_deterministic_engines_never_split(two_torch_threads):
    e = engine(True)
    assert e._halves(5) is not None
    e.deterministic = True                     # as deterministic=True sets it (without its global switches)
    assert e._halves(5) is None
