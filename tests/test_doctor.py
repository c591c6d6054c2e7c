"""The loss-curve doctor: each rule on a synthetic curve, then real runs through the Trainer and the CLI.

The thresholds themselves are measured (false alarms, right kinds) by benchmarks/doctor.py."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

import tinylm
from tinylm.checkpoints import load_checkpoint
from tinylm.cli.main import main
from tinylm.training.doctor import DEAD_AFTER, SUSTAIN, Doctor
from tinylm.training.events import DiagnosisEvent
from tinylm.training.loop import CHECKPOINT_NAME, METRICS_NAME, Trainer

LN_V = math.log(27)
NAMES = {"uniform": LN_V, "unigram": 2.82, "bigram": 2.45}


def feed(losses, grads=None, evals=None, start_eval=None, lr=0.01):
    """Run a Doctor over a curve in the loop's order; returns it and the verdicts it announced."""
    doctor, said = Doctor(NAMES), []
    evals = dict(evals or {})
    if start_eval is not None:
        said.append(doctor.observe_eval(0, start_eval, start_eval))
    for i, loss in enumerate(losses):
        said.append(doctor.observe_step(i + 1, float(loss), 1.0 if grads is None else float(grads[i]), lr))
        if doctor.stopped:
            break
        if i + 1 in evals:
            said.append(doctor.observe_eval(i + 1, *evals[i + 1]))
    return doctor, [v for v in said if v is not None]


def one_document_curve(n: int = 1000, seed: int = 0) -> np.ndarray:
    """A healthy batch-1 curve: falls from ln V to ~2.3, single-step noise 0.4, and now and then one odd
    name whose loss spikes to 5-6 (the old rules called these runs unstable)."""
    rng = np.random.default_rng(seed)
    curve = 2.3 + (LN_V - 2.3) * np.exp(-np.arange(n) / 60) + rng.normal(0, 0.4, n)
    curve[rng.choice(np.arange(30, n), size=n // 40, replace=False)] = rng.uniform(5.0, 6.0, n // 40)
    return np.maximum(curve, 0.2)


def test_spiky_one_document_curve_is_healthy():
    doctor, said = feed(one_document_curve(), evals={i: (2.4, 2.42) for i in range(250, 1001, 250)},
                        start_eval=3.35)
    assert said == []                      # nothing announced during the run
    final = doctor.final()
    assert final.kind == "healthy" and final.message.startswith("healthy: the loss fell from 3.35 to 2.40")
    assert not doctor.weights_look_broken()


def test_sustained_blowup_stops_the_run_as_diverged():
    doctor, said = feed(np.r_[np.full(60, 2.6), np.full(400, 15.0)])
    assert [v.kind for v in said] == ["unstable", "diverged"]
    assert doctor.stopped and doctor.weights_look_broken()
    # stopped once the 20-step median had been far above the start for SUSTAIN iters, not before
    assert 60 + SUSTAIN <= said[-1].iter <= 60 + SUSTAIN + 20
    assert said[-1].message.startswith(f"diverged at iter {said[-1].iter}") and "learning rate" in said[-1].message


def test_runaway_loss_stops_within_a_few_steps():
    doctor, said = feed([3.3, 3.2, 5e5, 2e6, 4e6, 3e6, 5e6, 2e6])
    assert doctor.stopped and said[-1].kind == "diverged" and said[-1].iter <= 6
    assert "lower the learning rate (--lr)" in said[-1].message.lower()


def test_nan_or_inf_stops_at_once_and_names_the_cause():
    doctor, said = feed([3.3, 3.1, 2.9, float("nan"), 2.8], lr=10.0)
    assert doctor.stopped and [v.kind for v in said] == ["diverged"] and said[0].iter == 4
    assert "the loss became nan" in said[0].message and "learning rate is far too high" in said[0].message
    doctor, said = feed([3.3, 3.1], grads=[1.0, float("inf")])
    assert doctor.stopped and "gradient norm became inf" in said[0].message


def test_blowup_that_recovers_is_unstable_not_diverged():
    """The no-warmup pathology's shape: falls, unwinds far above ln V for ~45 iters, comes back."""
    curve = np.r_[np.linspace(3.3, 2.7, 60), np.full(45, 30.0), np.linspace(10, 2.8, 20), np.full(100, 2.7)]
    doctor, said = feed(curve)
    assert [v.kind for v in said] == ["unstable"] and not doctor.stopped
    final = doctor.final()
    assert final.kind == "unstable" and "shot up to 30.0" in final.message and "came back down" in final.message
    assert "learning rate" in final.message


def test_a_blowup_in_the_first_steps_is_unstable():
    """lr 0.1 on microgpt: the loss leaves ln V upwards at once, before a 20-step window could set a best."""
    curve = np.r_[np.linspace(3.4, 10.0, 30), np.linspace(10.0, 2.6, 60), np.full(200, 2.5)]
    doctor, said = feed(curve)
    assert [v.kind for v in said] == ["unstable"] and not doctor.stopped
    message = doctor.final().message
    assert message.startswith("unstable: the loss rose from 3.40 at the start to 9.") and "came back down" in message


def test_bad_init_is_named_at_the_first_loss_and_stays():
    curve = np.r_[np.linspace(34.0, 3.0, 150), np.full(50, 2.9)]
    doctor, said = feed(curve, start_eval=34.4)
    assert [(v.kind, v.iter) for v in said] == [("bad-init", 0)]
    assert doctor.final().kind == "bad-init" and "initial weights" in doctor.final().message


def test_zero_gradients_are_dead_after_ten_steps():
    doctor, said = feed(np.full(50, LN_V), grads=np.zeros(50))
    assert [(v.kind, v.iter) for v in said] == [("dead", 10)]
    assert "gradient has been exactly 0" in said[0].message


def test_a_slow_start_is_not_dead_but_a_flat_curve_is():
    slow = np.r_[np.full(120, LN_V - 0.01), np.linspace(LN_V, 2.5, 100), np.full(200, 2.5)]  # the mlp recipe
    doctor, said = feed(slow, grads=np.full(len(slow), 0.04))
    assert said == [] and doctor.final().kind == "healthy"
    doctor, said = feed(np.full(300, LN_V - 0.01), grads=np.full(300, 0.04))
    assert [(v.kind, v.iter) for v in said] == [("dead", DEAD_AFTER)]
    assert "although gradients flow" in said[0].message


def test_a_resumed_run_that_has_converged_is_healthy():
    doctor, said = Doctor(NAMES, start_iter=5000), []
    for it in range(5001, 5401):
        said.append(doctor.observe_step(it, 2.3 + 0.05 * math.sin(it), 0.5, 1e-4))
    assert [v for v in said if v is not None] == []
    assert doctor.final().message.startswith("healthy: the loss is 2.3")
    assert "resumed at iter 5000" in doctor.final().message


def test_val_rising_above_train_is_overfit():
    train = np.linspace(3.3, 0.6, 200)
    evals = {i: (float(train[i - 1]), v) for i, v in zip(range(20, 201, 20), [3.0, 3.1, 3.3, 3.6, 4.0, 4.5, 5, 5.5,
                                                                               6, 6.5])}
    doctor, said = feed(train, evals=evals, start_eval=3.35)
    assert [(v.kind, v.iter) for v in said] == [("overfit", 60)]
    assert doctor.final().message.startswith("overfit: train 0.60 but val 6.50, rising since iter 20")
    # a spike it recovered from is mentioned, but overfitting is what the run is doing now
    spiked = train.copy()
    spiked[140:170] = 3.0
    doctor, said = feed(spiked, evals=evals, start_eval=3.35)
    assert [v.kind for v in said] == ["overfit"] and doctor.final().kind == "overfit"
    assert "also jumped once, to 3.00" in doctor.final().message


def test_healthy_evaluations_that_wobble_are_not_overfit():
    train = np.linspace(3.3, 2.4, 400)
    evals = {i: (float(train[i - 1]), float(train[i - 1]) + 0.05 + 0.03 * (i % 3)) for i in range(20, 401, 20)}
    doctor, said = feed(train, evals=evals)
    assert said == [] and doctor.final().kind == "healthy"


def test_stuck_above_the_unigram_level_is_a_plateau():
    curve = np.r_[np.linspace(3.3, 3.05, 50), np.full(400, 3.05)]
    doctor, said = feed(curve + 0.01 * np.sin(np.arange(450)))
    assert [v.kind for v in said] == ["plateau"] and said[0].iter >= 200
    flat_at_bigram = np.r_[np.linspace(3.3, 2.48, 50), np.full(950, 2.48)]   # the bigram preset: healthy
    doctor, said = feed(flat_at_bigram)
    assert said == []


def test_a_run_that_ends_inside_a_blowup_is_unstable_and_not_checkpointed():
    curve = np.r_[np.linspace(3.3, 2.5, 180), np.full(18, 2.5), [30.0, 40.0]]
    doctor, said = feed(curve, evals={100: (2.6, 2.6), 200: (38.0, 39.0)})
    assert doctor.weights_look_broken() and not doctor.stopped
    final = doctor.final()
    assert final.kind == "unstable" and "when the run ended" in final.message


def test_diagnosis_event_serialises_with_the_contract_fields():
    event = DiagnosisEvent(iter=7, verdict="unstable", message="unstable: …")
    assert event.to_dict() == {"event": "diagnosis", "iter": 7, "kind": "unstable", "message": "unstable: …"}
    assert event.kind == "diagnosis"      # like every event, .kind names the event type


# --- real runs ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_default_microgpt_seed_a_raises_no_alarm():
    """Seed 'a' was one of the runs the old end-of-run rules called unstable."""
    run = tinylm.train("microgpt", seed="a", sample_every=0, eval_every=50)
    assert [d.verdict for d in run.diagnoses] == ["healthy"]
    assert run.events[-2] is run.diagnosis and run.events[-1].kind == "finished"
    assert run.finished.reason == "finished" and run.diagnosis.message.startswith("healthy: the loss fell")


@pytest.mark.slow
def test_cli_lr10_stops_with_a_diagnosis_and_a_nonzero_exit(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--preset", "microgpt", "--lr", "10", "--steps", "200", "--out", str(out), "--json"])
    captured = capsys.readouterr()
    assert code == 3
    events = [json.loads(line) for line in captured.out.splitlines()]
    diagnoses = [e for e in events if e["event"] == "diagnosis"]
    assert [d["kind"] for d in diagnoses] == ["diverged"] and set(diagnoses[0]) == {"event", "iter", "kind", "message"}
    assert events[-1]["event"] == "finished" and events[-1]["reason"] == "diverged" and events[-1]["iter"] < 20
    error = captured.err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("tinylm: error: diverged at iter") and "--lr" in error[0]
    assert not (out / CHECKPOINT_NAME).exists()     # no good weights were ever saved, and none were overwritten
    stored = [json.loads(line) for line in (out / METRICS_NAME).read_text().splitlines()]
    assert [e for e in stored if e["event"] == "diagnosis"] == diagnoses


@pytest.mark.slow
def test_cli_rich_mode_prints_the_diagnosis_line(tmp_path, capsys):
    code = main(["train", "--preset", "bigram", "--steps", "60", "--out", str(tmp_path / "r"), "--seed", "doc"])
    assert code == 0
    assert "diagnosis @ 60: healthy: the loss fell from" in capsys.readouterr().out


@pytest.mark.slow
def test_the_checkpoint_after_a_divergence_holds_the_last_good_weights(tmp_path):
    """Warm up to lr 3: the first evaluations are good and checkpointed, then the loss blows up. The
    checkpoint on disk must be the last good one: its weights give exactly that evaluation's loss."""
    from tinylm.presets import apply_overrides, get_preset
    p = apply_overrides(get_preset("microgpt"), {"lr": 3.0, "warmup": 300, "steps": 400, "eval_every": 5,
                                                 "sample_every": 0, "seed": "doctor"})
    events = list(Trainer(p.model, p.train, run_dir=tmp_path).events())
    finished = events[-1]
    assert finished.reason == "diverged" and events[-2].verdict == "diverged"
    saved = [e.iter for e in events if e.kind == "checkpoint"]
    evals = {e.iter: e.train_loss for e in events if e.kind == "eval"}
    assert saved and saved[-1] < finished.iter
    assert max(evals.values()) > evals[0] + 10                        # garbage weights existed after the save
    assert f"The checkpoint keeps the good weights of iter {saved[-1]}" in finished.message
    ckpt = load_checkpoint(tmp_path / CHECKPOINT_NAME)
    assert ckpt.meta["step"] == saved[-1] and all(np.isfinite(v).all() for v in ckpt.params.values())
    resumed = Trainer(resume_from=tmp_path / CHECKPOINT_NAME)
    assert resumed.evaluate()[0] == evals[saved[-1]] <= evals[0] + 2  # the good weights, byte for byte
