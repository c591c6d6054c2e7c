"""The notebook API's everyday use: what a learner checks after each call."""
from __future__ import annotations

import math

import pytest

import tinylm
from tinylm.api import END
from tinylm.errors import ConfigError, TinyLMError
from tinylm.training.loop import CHECKPOINT_NAME


@pytest.fixture(scope="module")
def bigram_run():
    return tinylm.train("bigram", steps=200, seed="feat", eval_every=100, sample_every=100, progress=False)


@pytest.mark.slow
def test_train_refuses_to_overwrite_a_run_dir_unless_forced(tmp_path):
    out = tmp_path / "run"
    tinylm.train("bigram", steps=5, seed="a", run_dir=out, progress=False)
    before = (out / CHECKPOINT_NAME).read_bytes()
    with pytest.raises(ConfigError, match="already holds a run; pass force=True") as err:
        tinylm.train("bigram", steps=5, seed="b", run_dir=out, progress=False)
    assert "\n" not in str(err.value)
    assert (out / CHECKPOINT_NAME).read_bytes() == before          # nothing was touched
    tinylm.train("bigram", steps=5, seed="b", run_dir=out, force=True, progress=False)
    assert (out / CHECKPOINT_NAME).read_bytes() != before
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        tinylm.train("bigram", steps=5, run_dir=tmp_path / "file", progress=False)


def test_a_run_without_run_dir_lives_in_memory_and_can_be_saved(tmp_path, bigram_run):
    assert bigram_run.run_dir is None
    with pytest.raises(TinyLMError, match="trained in memory"):
        tinylm.load(bigram_run.run_dir)
    path = bigram_run.save(tmp_path / "b.safetensors")
    loaded = tinylm.load(path)
    assert loaded.sample(4, seed="s") == bigram_run.model.sample(4, seed="s")
    assert loaded.score("anna").loss == pytest.approx(bigram_run.model.score("anna").loss, rel=1e-6)


def test_reprs_are_short_and_say_what_matters(bigram_run):
    text = repr(bigram_run)
    assert len(text.splitlines()) <= 4 and len(text) < 500
    for part in ("bigram", "729 params", "200/200 steps", "finished", "val", "diagnosis"):
        assert part in text
    assert f"{bigram_run.history['val_loss'][-1]:.4f}" in text
    model = repr(bigram_run.model)
    assert "\n" not in model and "729 params" in model and "step 200" in model


def test_history_has_lr_grad_norm_and_throughput(bigram_run):
    h = bigram_run.history
    n = len(h["iter"])
    assert n == 200 and all(len(h[k]) == n for k in ("loss", "lr", "grad_norm", "tokens_per_s"))
    assert set(h["lr"]) == {0.1}                                      # the bigram preset's constant lr
    assert all(g > 0 and math.isfinite(g) for g in h["grad_norm"])
    assert all(t > 0 for t in h["tokens_per_s"])
    assert h["eval_iter"] == [0, 100, 200] and len(h["val_loss"]) == 3


@pytest.mark.slow
def test_plot_returns_a_figure_for_a_run_and_for_a_run_dir(tmp_path):
    from matplotlib.figure import Figure

    run = tinylm.train("bigram", steps=20, seed="p", eval_every=10, run_dir=tmp_path / "r", progress=False)
    for fig in (run.plot(), tinylm.plot(run), tinylm.plot(tmp_path / "r"), tinylm.plot(tmp_path / "r" / "metrics.jsonl")):
        assert isinstance(fig, Figure)
        ax = fig.axes[0]
        assert {line.get_label() for line in ax.get_lines()} >= {"train (batch)", "val"}
        assert ax.get_title() == "bigram · numpy · 729 params"
    with pytest.raises(TinyLMError, match="no metrics.jsonl"):
        tinylm.plot(tmp_path)


def test_score_is_the_mean_of_per_character_surprisal(bigram_run):
    model = bigram_run.model
    s = model.score("emma")
    assert [c for c, _ in s.surprisal] == ["e", "m", "m", "a", END]
    assert s.loss == pytest.approx(sum(v for _, v in s.surprisal) / 5)
    # each surprisal is -ln of the probability next_char_probs gives that character
    assert s.surprisal[1][1] == pytest.approx(-math.log(model.next_char_probs("e")["m"]), rel=1e-5)
    assert s.surprisal[4][1] == pytest.approx(-math.log(model.next_char_probs("emma")[END]), rel=1e-5)
    assert model.score("anna").loss < model.score("qxzj").loss      # a name is less surprising than noise
    with pytest.raises(TinyLMError, match="not in the vocabulary"):
        model.score("Émile")


def test_score_of_a_long_stream_text_uses_windows(stream_text_file):
    run = tinylm.train("shakespeare-tiny", steps=2, data=str(stream_text_file), n_layer=1, n_embd=16,
                       block_size=8, batch_size=2, eval_every=0, sample_every=0, progress=False)
    text = stream_text_file.read_text()[:50]
    s = run.model.score(text)
    assert len(s.surprisal) == 50 and "".join(c for c, _ in s.surprisal) == text
    assert all(math.isfinite(v) and v > 0 for _, v in s.surprisal)


def test_next_char_probs_sorted_and_sharpened_by_temperature(bigram_run):
    model = bigram_run.model
    probs = model.next_char_probs("ann")
    values = list(probs.values())
    assert sum(values) == pytest.approx(1.0) and values == sorted(values, reverse=True)
    assert set(probs) == set("abcdefghijklmnopqrstuvwxyz") | {END}
    cold = model.next_char_probs("ann", temperature=0.5)
    assert list(cold)[0] == list(probs)[0] and list(cold.values())[0] > values[0]
    with pytest.raises(TinyLMError, match="temperature"):
        model.next_char_probs("ann", temperature=0)


def test_presets_lists_names_and_descriptions():
    presets = tinylm.presets()
    assert {"microgpt", "bigram", "shakespeare-tiny"} <= set(presets)
    assert all(isinstance(d, str) and d for d in presets.values())


def test_sample_draws_fresh_names_unless_seeded(bigram_run):
    model = bigram_run.model
    draws = [tuple(model.sample(20)) for _ in range(3)]
    assert len(set(draws)) == 3                                          # fresh every call
    assert model.sample(20, seed="7") == model.sample(20, seed="7")       # a seed repeats them


def test_cli_sample_keeps_its_default_seed(tmp_path, capsys):
    from tinylm.cli.main import main

    tinylm.train("bigram", steps=30, seed="cli", run_dir=tmp_path / "r", progress=False)
    outputs = []
    for _ in range(2):
        assert main(["sample", str(tmp_path / "r"), "-n", "8"]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] and len(outputs[0].splitlines()) == 8
    assert outputs[0].splitlines() == tinylm.load(tmp_path / "r").sample(8, seed="sample")


@pytest.mark.slow
def test_train_more_equals_one_longer_run_byte_for_byte(tmp_path):
    kw = dict(seed="more", eval_every=50, sample_every=50, progress=False)
    run = tinylm.train("bigram", steps=100, run_dir=tmp_path / "a", **kw)
    assert run.train_more(50, progress=False) is run
    straight = tinylm.train("bigram", steps=150, run_dir=tmp_path / "b", **kw)
    assert (tmp_path / "a" / CHECKPOINT_NAME).read_bytes() == (tmp_path / "b" / CHECKPOINT_NAME).read_bytes()
    assert run.history["loss"] == straight.history["loss"] and run.history["iter"] == list(range(1, 151))


@pytest.mark.slow
def test_train_more_continues_an_early_stop_on_its_schedule():
    kw = dict(steps=40, seed="until", eval_every=0, sample_every=0, progress=False)
    run = tinylm.train("microgpt", until=20, **kw)                       # linear decay planned over 40
    assert run.finished.reason == "stopped" and run.history["iter"][-1] == 20
    run.train_more(20, progress=False)
    straight = tinylm.train("microgpt", **kw)
    assert run.history["loss"] == straight.history["loss"] and run.history["lr"] == straight.history["lr"]
    assert run.trainer.checkpoint_bytes() == straight.trainer.checkpoint_bytes()
    with pytest.raises(ConfigError, match="positive number of steps"):
        run.train_more(0)


@pytest.mark.slow
def test_progress_bar_shows_iter_loss_lr_and_can_be_silenced(capsys):
    tinylm.train("bigram", steps=30, seed="bar", eval_every=15, sample_every=0)
    err = capsys.readouterr().err
    assert "30/30" in err and "iter 30 · loss " in err and "lr 1.00e-01" in err and "val " in err
    tinylm.train("bigram", steps=30, seed="bar", eval_every=15, sample_every=0, progress=False)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""
