"""The lab's one-update inspector predicts exactly the update the training code applies.

The inspector does not re-derive the optimizer: it runs the engines' own optimizer step (engines.optim) on
copies of the live state, with the engines' decay set. On names-gpt (AdamW, weight decay 0.01) the norm
gains and biases are not decayed and the matrices are, so a copy of Adam that decays everything would be
off by lr*wd*p on a norm gain; here the predicted and the applied update must agree to float rounding.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tinylm.config import OptimConfig
from tinylm.engines.optim import NumpyOptimizer, preview_step
from tinylm.lab.introspect import inspect_update
from tinylm.models.params import decay_names
from tinylm.presets import get_preset
from tinylm.training.loop import Trainer


@pytest.fixture(scope="module")
def names_gpt():
    """names-gpt, shortened (2 layers), after a few real training steps so m and v are non-zero."""
    preset = get_preset("names-gpt")
    model = dataclasses.replace(preset.model, n_layer=2)
    train = dataclasses.replace(preset.train, steps=40, warmup=2, eval_every=0, sample_every=0, batch_size=8,
                                seed="inspector")
    trainer = Trainer(model, train, preset="names-gpt")
    for event in trainer.events():
        if event.to_dict()["event"] == "step" and trainer.iter >= 5:
            break
    assert trainer.engine.get_optimizer_state()[0] == 5
    return trainer


@pytest.mark.parametrize("param", ["h.0.norm1.weight", "h.1.attn.wq.weight"])
def test_predicted_delta_is_the_applied_delta_on_names_gpt(names_gpt, param):
    trainer = names_gpt
    opt = trainer.train_cfg.optim
    assert opt.name == "adamw" and opt.weight_decay == 0.01
    decayed = param in decay_names(trainer.model_cfg)
    assert decayed == param.endswith("wq.weight")         # matrices decay; norm gains do not
    steps_before = trainer.engine.get_optimizer_state()[0]
    report = inspect_update(trainer, "emma", param, apply=True)
    assert report["t"] == steps_before + 1
    assert report["weight_decay"] == (0.01 if decayed else 0.0)
    assert all(abs(row["m"]) > 0 and row["v"] > 0 for row in report["rows"])
    for row, applied in zip(report["rows"], report["actual_delta"]):
        assert row["delta"] == pytest.approx(applied, rel=1e-6, abs=1e-12), (param, row)
        # what a copy that decayed every parameter would have predicted differs by lr*wd*p on a norm gain
        if not decayed:
            wrongly_decayed = row["delta"] - report["lr"] * opt.weight_decay * row["value"]
            assert abs(wrongly_decayed - applied) > 100 * abs(row["delta"] - applied)


def test_preview_step_is_the_optimizer_update_bit_for_bit_and_changes_nothing():
    rng = np.random.default_rng(3)
    for cfg in (OptimConfig(name="adamw", weight_decay=0.1, beta1=0.85), OptimConfig(name="adam", grad_clip=0.5),
                OptimConfig(name="sgd", momentum=0.9), OptimConfig(name="sgd")):
        params = {"w": rng.standard_normal((4, 3)).astype(np.float32), "b": rng.standard_normal(3).astype(np.float32)}
        opt = NumpyOptimizer(params, cfg, {"w"})
        for _ in range(3):
            opt.update({k: rng.standard_normal(v.shape).astype(np.float32) for k, v in params.items()}, lr=0.01)
        grads = {k: rng.standard_normal(v.shape).astype(np.float32) for k, v in params.items()}
        grads_before = {k: v.copy() for k, v in grads.items()}
        steps, state = opt.get_state()
        preview = preview_step(params, grads, steps, state, 0.02, cfg, {"w"})
        before = {k: v.copy() for k, v in params.items()}
        assert all(np.array_equal(grads[k], grads_before[k]) for k in grads)          # the preview's own copies
        assert opt.get_state()[0] == steps and all(np.array_equal(before[k], params[k]) for k in params)
        norm = opt.update(grads, lr=0.02)
        assert preview.t == steps + 1 and preview.grad_norm == norm
        assert (preview.clip_scale < 1.0) == (cfg.grad_clip > 0)                   # clipping was exercised
        for name in params:
            assert preview.params[name].tobytes() == params[name].tobytes(), (cfg.name, name)
            assert preview.grads[name].tobytes() == grads[name].tobytes()          # as clipped by the step
            assert not np.array_equal(before[name], params[name])
        assert set(preview.state) == set(opt.state)
        for key, slot in preview.state.items():
            assert slot.tobytes() == opt.state[key].tobytes()
