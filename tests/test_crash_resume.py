"""Crash and resume: whatever iteration a run dies at, resuming it gives the uninterrupted run's bytes,
metrics.jsonl has each step once, stale temp files go, and Ctrl-C saves a checkpoint."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from tinylm.presets import get_preset
from tinylm.training.events import CheckpointEvent
from tinylm.training.loop import CHECKPOINT_NAME, METRICS_NAME, Trainer

ARGS = ["--preset", "bigram", "--steps", "300", "--eval-every", "20", "--sample-every", "20", "--seed", "crash"]


def small_trainer(run_dir, **kw) -> Trainer:
    preset = get_preset("bigram")
    preset.train.steps, preset.train.eval_every, preset.train.sample_every = 40, 10, 10
    return Trainer(preset.model, preset.train, preset="bigram", run_dir=run_dir, quiet=True, **kw)


def steps_logged(run_dir) -> list[tuple[int, float]]:
    lines = (run_dir / METRICS_NAME).read_text().splitlines()
    return [(e["iter"], e["loss"]) for e in map(json.loads, lines) if e["event"] == "step"]


@pytest.mark.slow
def test_a_crash_right_after_a_checkpoint_on_a_sample_iteration_resumes_byte_identical(tmp_path):
    straight = tmp_path / "straight"
    small_trainer(straight).run()

    crashed = tmp_path / "crashed"
    events = small_trainer(crashed).events()
    for event in events:        # "crash" as soon as the iter-20 checkpoint is on disk (20 is also a sample iter)
        if isinstance(event, CheckpointEvent) and event.iter == 20:
            break
    events.close()
    stale = crashed / f".{CHECKPOINT_NAME}.x1y2.tmp"
    stale.write_bytes(b"half a checkpoint")
    with open(crashed / METRICS_NAME, "a") as f:      # the crash also cut the log mid-line
        f.write('{"event": "step", "iter": 21, "lo')

    Trainer(resume_from=crashed / CHECKPOINT_NAME, run_dir=crashed, quiet=True).run()
    assert (crashed / CHECKPOINT_NAME).read_bytes() == (straight / CHECKPOINT_NAME).read_bytes()
    assert steps_logged(crashed) == steps_logged(straight)            # every step once, same losses
    assert not stale.exists()


def run_cli(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tinylm", *args], capture_output=True, text=True, timeout=300, **kw)


@pytest.mark.slow
def test_kill_9_at_random_points_then_resume_matches_the_straight_run(tmp_path):
    straight = tmp_path / "straight"
    assert run_cli("train", *ARGS, "--out", str(straight), "--quiet").returncode == 0
    want = (straight / CHECKPOINT_NAME).read_bytes()
    rng = random.Random("kill points")
    killed_at = []
    for attempt in range(3):
        out = tmp_path / f"killed{attempt}"
        proc = subprocess.Popen([sys.executable, "-m", "tinylm", "train", *ARGS, "--out", str(out), "--quiet"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60            # wait for the first checkpoint, then kill at a random moment
        while not (out / CHECKPOINT_NAME).exists() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.02)
        time.sleep(rng.uniform(0, 0.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        logged = steps_logged(out)
        killed_at.append(logged[-1][0] if logged else 0)
        result = run_cli("train", "--resume", str(out), "--quiet")
        assert result.returncode == 0, result.stderr
        assert (out / CHECKPOINT_NAME).read_bytes() == want, f"killed near iter {killed_at[-1]}"
        iters = [i for i, _ in steps_logged(out)]
        assert iters == list(range(1, 301))
        assert not list(out.glob("*.tmp"))
    print(f"killed at iters {killed_at}")


@pytest.mark.slow
def test_ctrl_c_saves_a_checkpoint_and_says_how_to_resume(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "tinylm", "train", "--preset", "bigram", "--steps", "100000",
                             "--out", str(out), "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not ((out / METRICS_NAME).exists() and len(steps_logged(out)) > 30):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Traceback" not in err
    assert f"continue with: tinylm train --resume {out}" in err
    last = steps_logged(out)[-1][0]
    from tinylm.checkpoints import load_checkpoint
    assert load_checkpoint(out / CHECKPOINT_NAME).step == last


@pytest.mark.slow
def test_a_full_disk_is_a_clean_error_that_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    import errno

    from tinylm.checkpoints import atomic
    from tinylm.checkpoints import load_checkpoint
    from tinylm.cli.main import main

    out = tmp_path / "run"
    assert main(["train", "--preset", "bigram", "--steps", "20", "--until", "10", "--eval-every", "10",
                 "--out", str(out), "--quiet"]) == 0
    good = (out / CHECKPOINT_NAME).read_bytes()
    real_fdopen = atomic.os.fdopen

    class FullDisk:
        def __init__(self, handle):
            self.handle = handle
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            self.handle.close()
        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fdopen", lambda fd, mode: FullDisk(real_fdopen(fd, mode)))
    capsys.readouterr()
    code = main(["train", "--resume", str(out), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and "No space left on device" in err[0], err
    assert (out / CHECKPOINT_NAME).read_bytes() == good                    # the last good one is untouched
    assert load_checkpoint(out / CHECKPOINT_NAME).step == 10
    assert not list(out.glob("*.tmp"))


@pytest.mark.slow
def test_eval_never_reports_a_non_finite_loss(tmp_path):
    import numpy as np

    import tinylm
    from tinylm.checkpoints import load_checkpoint, save_checkpoint
    from tinylm.errors import TinyLMError

    out = tmp_path / "run"
    tinylm.train("bigram", steps=3, seed="nan", run_dir=out)
    ckpt = load_checkpoint(out / CHECKPOINT_NAME)
    rng = np.random.default_rng(0)                        # finite, but absurd: losses of ~1e38 nats
    params = {k: (rng.choice([-1.0, 1.0], v.shape) * 3e38).astype(v.dtype) for k, v in ckpt.params.items()}
    save_checkpoint(out / CHECKPOINT_NAME, params, ckpt.optimizer_steps, ckpt.optimizer_state, ckpt.meta)
    with pytest.raises(TinyLMError, match="loss is .*: its weights are broken"):
        tinylm.evaluate(out, ("val",))
