"""Loss over a whole split (`tinylm eval`, `tinylm.evaluate`): every token once, weighted correctly."""
from __future__ import annotations

import json

import numpy as np
import pytest

import tinylm
from tinylm.cli.main import main
from tinylm.training.evaluate import split_loss
from tinylm.training.loop import Trainer

from test_cli import run_cli


def trained(preset: str, run_dir=None, **overrides) -> Trainer:
    return tinylm.train(preset, run_dir=run_dir, **{"sample_every": 0, "eval_every": 0, **overrides}).trainer


@pytest.mark.slow
def test_stream_split_loss_is_the_mean_over_every_window(stream_text_file):
    trainer = trained("shakespeare-tiny", **{"data.source": str(stream_text_file), "n_layer": 1, "n_embd": 32,
                                             "block_size": 16, "batch_size": 4, "steps": 20, "dtype": "float64"})
    ids, block = trainer.corpus.val_ids, 16
    n = (len(ids) - 1) // block
    x = ids[: n * block].reshape(n, block).astype(np.int64)
    y = ids[1: n * block + 1].reshape(n, block).astype(np.int64)
    expected = trainer.engine.loss(x, y)          # one batch holding every window
    loss, tokens = split_loss(trainer.engine, trainer.corpus, "val", block, batch_size=7)  # ragged last batch
    assert tokens == n * block
    assert loss == pytest.approx(expected, rel=1e-12)


@pytest.mark.slow
def test_document_split_loss_weights_each_name_by_its_length():
    trainer = trained("bigram", steps=30, seed="eval", dtype="float64")
    corpus, block = trainer.corpus, trainer.model_cfg.block_size
    total, count = 0.0, 0
    for doc in corpus.val_docs:                  # one name at a time, no padding anywhere
        tokens = np.asarray(doc[: block + 1], dtype=np.int64)[None, :]
        x, y = tokens[:, :-1], tokens[:, 1:]
        total += trainer.engine.loss(x, y) * y.size
        count += y.size
    loss, tokens = split_loss(trainer.engine, corpus, "val", block, batch_size=50)
    assert tokens == count
    assert loss == pytest.approx(total / count, rel=1e-12)


@pytest.mark.slow
def test_eval_command_rebuilds_the_split_from_the_checkpoint(tmp_path, capsys):
    run = tmp_path / "run"
    trainer = trained("bigram", run_dir=run, steps=40, seed="cli eval")
    expected_val, _ = split_loss(trainer.engine, trainer.corpus, "val", trainer.model_cfg.block_size)
    expected_train, _ = split_loss(trainer.engine, trainer.corpus, "train", trainer.model_cfg.block_size)
    assert main(["eval", str(run), "--split", "both", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["val"]["loss"] == pytest.approx(expected_val, rel=1e-6)
    assert result["train"]["loss"] == pytest.approx(expected_train, rel=1e-6)
    assert result["val"]["ppl"] == pytest.approx(np.exp(expected_val), rel=1e-6)
    assert tinylm.evaluate(run)["val"]["tokens"] == result["val"]["tokens"]


@pytest.mark.slow
def test_eval_of_a_missing_run_is_one_line_and_nonzero(tmp_path):
    result = run_cli("eval", str(tmp_path / "nope"))
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0 and "does not exist" in result.stderr
