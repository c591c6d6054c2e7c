"""The notebook API: the same loop and events as the CLI."""
from __future__ import annotations

import pytest

import tinylm


@pytest.mark.slow
def test_train_returns_history_and_samples_and_load_round_trips(tmp_path):
    seen = []
    run = tinylm.train("bigram", steps=120, seed="api", eval_every=40, sample_every=60, run_dir=tmp_path,
                       on_event=lambda e: seen.append(e.kind))
    history = run.history
    assert history["iter"] == list(range(1, 121))
    assert history["eval_iter"] == [0, 40, 60, 80, 120]  # a sample needs a current val loss for its phase
    assert history["val_loss"][-1] < history["val_loss"][0] - 0.5
    assert seen[0] == "start" and seen[-1] == "finished" and run.finished.reason == "finished"
    assert [s[0] for s in run.samples] == [0, 60, 120]  # iter 0: what the untrained model writes
    assert run.samples[0][1] == "random letters"
    model = tinylm.load(tmp_path)
    names = model.sample(8, temperature=0.5, seed="x")
    assert len(names) == 8 and names == model.sample(8, temperature=0.5, seed="x")
    live = run.sample(3)  # sampling from the live run works too: three names from the names alphabet
    assert len(live) == 3 and all(set(name) <= set("abcdefghijklmnopqrstuvwxyz") for name in live)
    assert any(live) and run.sample(3, seed="x") == model.sample(3, seed="x")   # same weights, same stream


@pytest.mark.slow
def test_overrides_reach_the_model_and_data(tmp_path, stream_text_file):
    run = tinylm.train("shakespeare-tiny", steps=3, data=str(stream_text_file), n_layer=1, n_embd=32,
                       block_size=16, batch_size=2, eval_every=0, sample_every=0)
    start = run.events[0]
    assert start.data_kind == "stream" and start.config["model"]["n_layer"] == 1
    assert start.vocab_size == len(set(stream_text_file.read_text()))
