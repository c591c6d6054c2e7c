"""microgpt.py reproduction: same shuffled names, same initial weights, same per-step losses."""
from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest

from tinylm.compat.microgpt import MicrogptCompat
from tinylm.config import ModelConfig, OptimConfig
from tinylm.engines.optim import NumpyOptimizer
from tinylm.engines.scalar_engine import ScalarEngine
from tinylm.errors import ConfigError
from tinylm.presets import get_preset

from conftest import shared_file

def load_docs() -> list[str]:
    text = shared_file("names.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.strip().split("\n") if line.strip()]


def reference_lines() -> list[str]:
    """microgpt.py's per-step losses (step, loss to 4 dp) for its first 100 steps."""
    path = shared_file("microgpt-seed42-first100.txt", folder="reference")
    return [line for line in path.read_text().splitlines() if line.strip()]


def microgpt_config(docs: list[str]) -> ModelConfig:
    cfg = get_preset("microgpt").model
    return dataclasses.replace(cfg, vocab_size=len(set("".join(docs))) + 1)


def batch(doc: str, chars: list[str], block_size: int) -> tuple[np.ndarray, np.ndarray]:
    bos = len(chars)
    tokens = [bos] + [chars.index(ch) for ch in doc] + [bos]
    n = min(block_size, len(tokens) - 1)
    return np.array([tokens[:n]]), np.array([tokens[1 : n + 1]])


def test_compat_replays_microgpt_random_stream():
    docs = ["emma", "olivia", "ava", "isabella", "sophia"]
    compat = MicrogptCompat(docs)
    cfg = ModelConfig(family="gpt", vocab_size=5, block_size=3, n_embd=4, n_head=2, n_layer=1,
                      embed_norm=True, final_norm=False, init_std=0.08)
    params = compat.init_params(cfg)
    choice = compat.choose([0.1, 0.2, 0.7])

    random.seed(42)  # what microgpt.py does, on the global stream
    expected_docs = list(docs)
    random.shuffle(expected_docs)
    matrix = lambda n_out, n_in: [[random.gauss(0, 0.08) for _ in range(n_in)] for _ in range(n_out)]
    expected = {"wte": matrix(5, 4), "wpe": matrix(3, 4), "lm_head.weight": matrix(5, 4),
                "h.0.attn.wq.weight": matrix(4, 4), "h.0.attn.wk.weight": matrix(4, 4),
                "h.0.attn.wv.weight": matrix(4, 4), "h.0.attn.wo.weight": matrix(4, 4),
                "h.0.mlp.fc1.weight": matrix(16, 4), "h.0.mlp.fc2.weight": matrix(4, 16)}
    expected_choice = random.choices(range(3), weights=[0.1, 0.2, 0.7])[0]

    assert compat.docs == expected_docs and docs == ["emma", "olivia", "ava", "isabella", "sophia"]
    assert list(params) == list(expected)
    for name, rows in expected.items():
        assert params[name].dtype == np.float64
        assert params[name].tolist() == rows, name
    assert choice == expected_choice


def test_compat_rejects_models_microgpt_cannot_express():
    compat = MicrogptCompat(["a", "b"])
    with pytest.raises(ConfigError, match="microgpt"):
        compat.init_params(ModelConfig(family="mlp"))
    with pytest.raises(ConfigError, match="microgpt"):
        compat.init_params(ModelConfig(family="gpt", tie_weights=True))


@pytest.mark.slow
@pytest.mark.parametrize("mode,steps", [("fused", 100), ("plain", 10)])
def test_first_steps_match_microgpt_reference_losses(mode, steps):
    docs = load_docs()
    reference = {int(s): float(v) for s, v in (line.split() for line in reference_lines())}
    compat = MicrogptCompat(docs)
    chars = sorted(set("".join(docs)))
    cfg = microgpt_config(docs)
    engine = ScalarEngine(cfg, compat.init_params(cfg), dtype="float64", mode=mode)
    optimizer = NumpyOptimizer(engine.params, OptimConfig(name="adam", lr=0.01, beta1=0.85, beta2=0.99, eps=1e-8),
                               decay=set())
    losses = []
    for step in range(steps):
        x, y = batch(compat.docs[step % len(compat.docs)], chars, cfg.block_size)
        loss, grads = engine.forward_backward(x, y)
        optimizer.step(grads, 0.01 * (1 - step / 1000))
        losses.append(round(loss, 4))
    assert losses == [reference[step + 1] for step in range(steps)]


@pytest.mark.slow
def test_trainer_in_microgpt_compat_mode_reproduces_reference_losses():
    """The whole pipeline: Trainer(compat="microgpt") with the scalar engine, losses from its events."""
    from tinylm.training.events import StepEvent
    from tinylm.training.loop import Trainer

    load_docs()
    reference = [float(line.split()[1]) for line in reference_lines()]
    preset = get_preset("microgpt")
    train = dataclasses.replace(preset.train, compat="microgpt", eval_every=0, sample_every=0,
                                data=dataclasses.replace(preset.train.data, source=str(shared_file("names.txt"))))
    trainer = Trainer(preset.model, train, engine="scalar", preset="microgpt", engine_options={"mode": "fused"},
                      stop_at=30)
    steps = [event for event in trainer.events() if isinstance(event, StepEvent)]
    assert [event.iter for event in steps] == list(range(1, 31))
    assert [round(event.loss, 4) for event in steps] == reference[:30]
    assert trainer.finished.reason == "stopped"


@pytest.mark.slow
def test_numeric_seed_strings_seed_the_replayed_stream(monkeypatch):
    from tinylm.presets import apply_overrides, get_preset
    from tinylm.training.loop import Trainer

    monkeypatch.setenv("TINYLM_NAMES_MAKEMORE", str(shared_file("names.txt")))   # compat microgpt's own data

    def compat_seed(**overrides) -> tuple[int, list]:
        p = apply_overrides(get_preset("microgpt"), {"compat": "microgpt", "steps": 2, **overrides})
        trainer = Trainer(p.model, p.train)
        return trainer.compat.seed, trainer.compat.docs[:5]

    default, docs_default = compat_seed()
    seven, docs_seven = compat_seed(seed="7")
    assert default == 42 and compat_seed(seed="42")[1] == docs_default
    assert seven == 7 and docs_seven != docs_default
