"""`tinylm sample --novelty / --prompt-file`, `tinylm train --config FILE.toml` and `--tensorboard DIR`."""
from __future__ import annotations

import pytest

import tinylm
from tinylm.checkpoints import load_checkpoint
from tinylm.cli.main import main
from tinylm.config import DataConfig
from tinylm.data import load_corpus


@pytest.fixture(scope="module")
def names_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("peer_cli") / "run"
    tinylm.train("bigram", steps=150, seed="cli", run_dir=path, progress=False)
    return path


def _one_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tinylm: error:"), err
    return err[0]


@pytest.mark.slow
def test_sample_novelty_marks_each_name_against_the_split(names_run, capsys):
    assert main(["sample", str(names_run), "-n", "40", "--seed", "nov", "--temperature", "0.6", "--novelty"]) == 0
    lines = capsys.readouterr().out.splitlines()
    corpus = load_corpus(DataConfig(source="names"), seed="cli")
    splits = {s: set(corpus.document_texts(s)) for s in ("train", "val", "test")}
    marks = [line.split() for line in lines[:-1]]
    assert len(marks) == 40
    for name, mark in marks:
        expected = next((f"in-{s}" for s in ("train", "val", "test") if name in splits[s]), "new")
        assert mark == expected, name
    counts = {m: sum(mark == m for _, mark in marks) for m in ("in-train", "in-val", "in-test", "new")}
    assert counts["in-train"] > 0 and counts["new"] > 0       # a bigram model copies short names, invents others
    assert lines[-1] == (f"novelty: {counts['in-train']} in-train, {counts['in-val']} in-val, "
                         f"{counts['in-test']} in-test, {counts['new']} new (of 40 samples)")


def test_sample_novelty_refuses_a_stream(tmp_path, stream_text_file, capsys):
    run = tmp_path / "stream"
    tinylm.train("bigram", steps=5, seed="s", data=str(stream_text_file), run_dir=run, progress=False,
                 **{"data.mode": "stream"})
    assert main(["sample", str(run), "--novelty"]) == 2
    assert "stream" in _one_error(capsys)


def test_prompt_file(names_run, tmp_path, capsys):
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("em\n")                     # the editor's trailing newline is not part of the prompt
    assert main(["sample", str(names_run), "--prompt-file", str(prompt), "-n", "5", "--seed", "p"]) == 0
    names = capsys.readouterr().out.split()
    assert len(names) == 5 and all(name.startswith("em") for name in names)
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"ab\x00cd")
    huge = tmp_path / "huge.txt"
    huge.write_text("a" * 200_000)
    for path, words in ((tmp_path / "missing.txt", "prompt file not found"), (binary, "looks binary"),
                        (huge, "more than the 100,000 bytes limit")):
        assert main(["sample", str(names_run), "--prompt-file", str(path)]) != 0
        assert words in _one_error(capsys)


@pytest.mark.slow
def test_train_config_file_with_command_line_overrides(tmp_path, capsys):
    config = tmp_path / "my.toml"
    config.write_text('preset = "bigram"\n[train]\nsteps = 30\nseed = "toml"\neval_every = 10\n'
                      '[optim]\nlr = 0.05\n')
    out = tmp_path / "run"
    assert main(["train", "--config", str(config), "--steps", "20", "--out", str(out), "--quiet"]) == 0
    meta = load_checkpoint(out / "checkpoint.safetensors").meta
    assert meta["preset"] == "bigram"
    assert (meta["train"]["steps"], meta["train"]["seed"], meta["train"]["optim"]["lr"]) == (20, "toml", 0.05)
    # dotted keys mean the same; the file is the same as --set
    dotted = tmp_path / "dotted.toml"
    dotted.write_text('preset = "bigram"\ntrain.steps = 30\ntrain.seed = "toml"\ntrain.eval_every = 10\n'
                      'optim.lr = 0.05\n')
    assert main(["train", "--config", str(dotted), "--steps", "20", "--out", str(tmp_path / "b"), "--quiet"]) == 0
    assert (tmp_path / "b" / "checkpoint.safetensors").read_bytes() == (out / "checkpoint.safetensors").read_bytes()


@pytest.mark.parametrize("text, words", [
    ("[train]\nstpes = 3\n", "unknown config key 'train.stpes'"),
    ("[train]\nsteps = -3\n", "steps must be"),
    ("[optim]\nlr = \"fast\"\n", "bad value 'fast' for optim.lr"),
    ("[trian]\nsteps = 3\n", "unknown section [trian]"),
    ("[train\nsteps = 3\n", "not valid TOML"),
])
def test_config_file_mistakes_are_one_line_errors(tmp_path, capsys, text, words):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    assert main(["train", "--config", str(config), "--out", str(tmp_path / "r")]) != 0
    assert words in _one_error(capsys)
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_tensorboard_logs_the_scalars(tmp_path, capsys):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logs = tmp_path / "tb"
    assert main(["train", "--preset", "bigram", "--steps", "20", "--eval-every", "10", "--seed", "tb",
                 "--out", str(tmp_path / "run"), "--quiet", "--tensorboard", str(logs)]) == 0
    events = EventAccumulator(str(logs))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train/loss", "train/lr", "train/grad_norm", "eval/train_loss", "eval/val_loss"} <= tags
    assert [e.step for e in events.Scalars("train/loss")] == list(range(1, 21))
    assert [e.step for e in events.Scalars("eval/val_loss")] == [0, 10, 20]
    run = tinylm.load(tmp_path / "run")
    assert run.meta["step"] == 20


def test_tensorboard_missing_is_a_one_line_install_hint(tmp_path, capsys, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "tensorboard", None)     # as if it were not installed
    assert main(["train", "--preset", "bigram", "--steps", "3", "--out", str(tmp_path / "run"), "--quiet",
                 "--tensorboard", str(tmp_path / "tb")]) != 0
    assert "pip install 'tinylm[tensorboard]'" in _one_error(capsys)
