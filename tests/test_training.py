"""The training loop: events, determinism from a seed string, exact resume, divergence diagnosis."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tinylm.checkpoints import load_checkpoint
from tinylm.presets import apply_overrides, get_preset
from tinylm.training.loop import CHECKPOINT_NAME, METRICS_NAME, Trainer
from tinylm.training.schedules import learning_rate


def make(preset: str, run_dir=None, stop_at=None, engine="numpy", **overrides) -> Trainer:
    p = apply_overrides(get_preset(preset), overrides)
    return Trainer(p.model, p.train, preset=p.name, run_dir=run_dir, stop_at=stop_at, engine=engine)


@pytest.mark.slow
def test_microgpt_preset_learns_and_emits_every_event_kind(tmp_path):
    trainer = make("microgpt", tmp_path, steps=300, eval_every=100, sample_every=100, seed="learns")
    events = list(trainer.events())
    kinds = [e.kind for e in events]
    assert kinds[0] == "start" and kinds[-1] == "finished"
    assert {"step", "eval", "sample", "phase", "checkpoint"} <= set(kinds)
    start = events[0]
    assert start.n_params == 4192 and start.vocab_size == 27
    assert math.isclose(start.entropies["uniform"], math.log(27))
    evals = [e for e in events if e.kind == "eval"]
    assert evals[0].iter == 0 and evals[-1].iter == 300
    assert evals[0].val_loss > 3.1           # untrained: close to ln 27 = 3.30
    assert evals[-1].val_loss < 2.75          # learned character statistics
    samples = [e for e in events if e.kind == "sample"]
    assert all(len(e.samples) == 5 for e in samples)
    assert all(set("".join(e.samples)) <= set("abcdefghijklmnopqrstuvwxyz") for e in samples)
    lines = [json.loads(line) for line in (tmp_path / METRICS_NAME).read_text().splitlines()]
    assert [line["event"] for line in lines] == kinds
    assert (tmp_path / CHECKPOINT_NAME).is_file()
    steps = [e for e in events if e.kind == "step"]
    assert [e.iter for e in steps] == list(range(1, 301))
    assert steps[0].lr == pytest.approx(0.01) and steps[-1].lr == pytest.approx(0.01 * (1 - 299 / 300))


@pytest.mark.slow
def test_same_seed_gives_byte_identical_checkpoints_and_one_character_changes_them(tmp_path):
    paths = []
    for name, seed in (("a", "hello world"), ("b", "hello world"), ("c", "hello worle")):
        list(make("bigram", tmp_path / name, steps=30, seed=seed, eval_every=10).events())
        paths.append(tmp_path / name / CHECKPOINT_NAME)
    a, b, c = (p.read_bytes() for p in paths)
    assert a == b
    assert a != c
    wa, wc = load_checkpoint(paths[0]).params["wte"], load_checkpoint(paths[2]).params["wte"]
    assert not np.array_equal(wa, wc)


@pytest.mark.slow
@pytest.mark.parametrize("preset,data", [("bigram", None), ("microgpt", None), ("shakespeare-tiny", "stream")])
def test_resume_equals_straight_run_byte_for_byte(tmp_path, preset, data, stream_text_file):
    overrides = dict(steps=24, eval_every=8, sample_every=8, seed="resume")
    if data == "stream":
        overrides.update({"data.source": str(stream_text_file), "n_layer": 1, "n_embd": 32, "block_size": 16,
                          "batch_size": 4, "warmup": 4})
    list(make(preset, tmp_path / "straight", **overrides).events())
    first = make(preset, tmp_path / "split", stop_at=12, **overrides)
    events = list(first.events())
    assert events[-1].reason == "stopped" and events[-1].iter == 12
    resumed = Trainer(run_dir=tmp_path / "split", resume_from=tmp_path / "split" / CHECKPOINT_NAME)
    assert resumed.iter == 12
    events = list(resumed.events())
    assert events[0].start_iter == 12 and events[-1].reason == "finished" and events[-1].iter == 24
    straight = (tmp_path / "straight" / CHECKPOINT_NAME).read_bytes()
    assert (tmp_path / "split" / CHECKPOINT_NAME).read_bytes() == straight


def test_divergence_stops_with_diagnosis_and_keeps_last_good_checkpoint(tmp_path):
    trainer = make("mlp", tmp_path, steps=200, lr=100.0, eval_every=1, sample_every=0, seed="boom")
    events = list(trainer.events())
    final = events[-1]
    assert final.kind == "finished" and final.reason == "diverged"
    assert f"iter {final.iter}" in final.message and "learning rate" in final.message
    assert final.iter < 200
    ckpt = load_checkpoint(tmp_path / CHECKPOINT_NAME)
    assert ckpt.meta["step"] < final.iter
    assert all(np.isfinite(p).all() for p in ckpt.params.values())


def test_stop_request_ends_the_run_with_a_checkpoint(tmp_path):
    trainer = make("bigram", tmp_path, steps=1000, eval_every=0, sample_every=0)
    for event in trainer.events():
        if event.kind == "step" and event.iter == 5:
            trainer.stop()
    assert trainer.finished.reason == "stopped" and trainer.finished.iter == 5
    assert load_checkpoint(tmp_path / CHECKPOINT_NAME).meta["step"] == 5


def test_schedules_match_their_formulas():
    p = get_preset("shakespeare-cpu").train
    assert learning_rate(p, 0) == pytest.approx(1e-3 * 1 / 101)
    assert learning_rate(p, 99) == pytest.approx(1e-3 * 100 / 101)
    assert learning_rate(p, 100) == pytest.approx(1e-3)
    assert learning_rate(p, 1050) == pytest.approx(1e-4 + 0.9e-3 * 0.5)
    assert learning_rate(p, 2000) == pytest.approx(1e-4)
    m = get_preset("microgpt").train
    assert [learning_rate(m, i) for i in (0, 500, 999)] == pytest.approx([0.01, 0.005, 0.01 * 0.001])


@pytest.mark.slow
@pytest.mark.parametrize("second_engine", ["scalar", "numpy"])
def test_checkpoint_continues_in_another_engine(tmp_path, second_engine):
    overrides = dict(steps=16, eval_every=0, sample_every=0, seed="cross", dtype="float64")
    list(make("microgpt", tmp_path / "straight", **overrides).events())
    list(make("microgpt", tmp_path / "split", stop_at=8, **overrides).events())
    resumed = Trainer(run_dir=tmp_path / "split", resume_from=tmp_path / "split" / CHECKPOINT_NAME,
                      engine=second_engine)
    list(resumed.events())
    straight = load_checkpoint(tmp_path / "straight" / CHECKPOINT_NAME).params
    crossed = load_checkpoint(tmp_path / "split" / CHECKPOINT_NAME).params
    for name, value in straight.items():
        np.testing.assert_allclose(crossed[name], value, rtol=1e-9, atol=1e-12, err_msg=name)
