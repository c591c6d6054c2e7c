"""best.safetensors (lowest val loss) next to the last checkpoint, and weights-only export."""
from __future__ import annotations

import pytest

import tinylm
from tinylm.checkpoints import load_checkpoint
from tinylm.cli.main import main
from tinylm.training.loop import Trainer


def _train(run_dir, **kw):
    return tinylm.train("bigram", steps=120, seed="best", run_dir=run_dir, progress=False, eval_every=40, **kw)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("peer") / "run"
    _train(path)
    return path


@pytest.mark.slow
def test_best_checkpoint_holds_the_lowest_val_loss(run_dir):
    evals = _evals(run_dir)
    assert len(evals) == 4                           # iters 0, 40, 80, 120
    best = load_checkpoint(run_dir / "best.safetensors").meta["best"]
    lowest = min(evals, key=lambda e: e["val_loss"])
    assert best == {"iter": lowest["iter"], "val_loss": lowest["val_loss"]}
    assert tinylm.evaluate(run_dir / "best.safetensors")["val"]["loss"] < 3.0
    model = tinylm.load(run_dir / "best.safetensors")
    assert model.meta["step"] == best["iter"]


def _evals(run_dir):
    import json
    lines = (json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines())
    return [e for e in lines if e["event"] == "eval"]


def test_best_checkpoint_leaves_the_last_checkpoint_bytes_unchanged(run_dir, tmp_path):
    # the same run in memory (no best.safetensors written) gives the same last checkpoint, byte for byte
    trainer = Trainer(*_configs(), engine="numpy", preset="bigram")
    trainer.run()
    assert trainer.checkpoint_bytes() == (run_dir / "checkpoint.safetensors").read_bytes()


def _configs():
    from tinylm.presets import apply_overrides, get_preset
    preset = apply_overrides(get_preset("bigram"), {"train.steps": 120, "train.seed": "best", "train.eval_every": 40})
    return preset.model, preset.train


@pytest.mark.slow
def test_a_fresh_run_in_the_same_directory_drops_an_old_best(tmp_path):
    path = tmp_path / "run"
    _train(path)
    (path / "best.safetensors").write_bytes(b"stale")
    # stopped at iter 3: its only eval is the untrained model's (for the iter-0 sample), which is its best
    tinylm.train("bigram", steps=5, seed="b2", run_dir=path, progress=False, force=True, eval_every=0, until=3)
    assert load_checkpoint(path / "best.safetensors").meta["best"]["iter"] == 0
    # without any eval there is no best, and the old run's must not pass for one
    (path / "best.safetensors").write_bytes(b"stale")
    tinylm.train("bigram", steps=5, seed="b3", run_dir=path, progress=False, force=True, eval_every=0,
                 sample_every=0, until=3)
    assert (path / "checkpoint.safetensors").exists() and not (path / "best.safetensors").exists()


def test_weights_only_export_samples_the_same_and_refuses_resume(run_dir, tmp_path, capsys):
    out = tmp_path / "weights.safetensors"
    assert main(["export", str(run_dir), "--weights-only", str(out)]) == 0
    assert "weights only" in capsys.readouterr().out
    full = (run_dir / "checkpoint.safetensors").stat().st_size
    assert out.stat().st_size < 0.45 * full            # no Adam moments: about a third
    small = load_checkpoint(out)
    assert small.optimizer_state == {} and "rng" not in small.meta
    assert tinylm.load(out).sample(5, seed="s") == tinylm.load(run_dir).sample(5, seed="s")
    assert tinylm.evaluate(out)["val"] == tinylm.evaluate(run_dir)["val"]
    assert main(["sample", str(out), "-n", "3", "--seed", "q"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3
    assert main(["train", "--resume", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "weights-only" in err and "cannot be resumed" in err


def test_export_mistakes_are_one_line_errors(run_dir, tmp_path, capsys):
    assert main(["export", str(tmp_path / "missing"), "--weights-only", str(tmp_path / "w.safetensors")]) != 0
    assert main(["export", str(run_dir), "--weights-only", str(tmp_path)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("tinylm: error:") for line in err)
