"""Settings that contradict each other start the run with one warning line each, wherever the run is made
(CLI, notebook API, lab: the Trainer checks them); sensible settings never warn."""
from __future__ import annotations

import re
import subprocess
import sys
import warnings

import pytest

import tinylm
from tinylm.data import load_corpus
from tinylm.presets import PRESETS, apply_overrides, get_preset
from tinylm.training.contradictions import SettingsWarning, contradictions
from tinylm.training.loop import Trainer

from conftest import REPO


def settings_warnings(preset: str = "bigram", **overrides) -> list[str]:
    p = apply_overrides(get_preset(preset), overrides)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Trainer(p.model, p.train)
    return [str(w.message) for w in caught if issubclass(w.category, SettingsWarning)]


def test_each_contradiction_is_one_warning():
    [warmup] = settings_warnings(steps=30, warmup=100, eval_every=10, sample_every=10)
    assert warmup.startswith("warmup 100 >= steps 30") and "never reaches its peak 0.1" in warmup
    [evals, samples] = settings_warnings(steps=30, eval_every=50, sample_every=40)
    assert evals.startswith("eval_every 50 > steps 30") and samples.startswith("sample_every 40 > steps 30")
    assert settings_warnings(steps=30, eval_every=30, sample_every=30, warmup=29) == []


def test_batch_larger_than_the_training_data_warns(tmp_path, stream_text_file):
    few = tmp_path / "few.txt"
    few.write_text("\n".join(["anna", "bob", "carl", "dave", "eve"] * 5) + "\n")   # 25 names, ~22 to train
    [message] = settings_warnings(source=str(few), steps=10, eval_every=5, sample_every=5, batch_size=32)
    found = re.fullmatch(r"batch_size 32 is larger than the training data \((\d+) documents\): every batch "
                         r"repeats documents", message)
    n_train = int(found.group(1))
    assert 20 <= n_train <= 24
    assert settings_warnings(source=str(few), steps=10, eval_every=5, sample_every=5, batch_size=n_train) == []
    [stream] = settings_warnings("shakespeare-tiny", source=str(stream_text_file), steps=10, eval_every=5,
                                 sample_every=5, batch_size=1024, n_layer=1, n_embd=16,
                                 warmup=0)
    assert stream.startswith("batch_size 1024 x block_size 64 = 65,536 tokens is more than the training data")


@pytest.mark.slow
def test_presets_as_they_are_raise_no_false_alarm():
    for name, preset in PRESETS.items():
        if preset.train.data.source != "names":
            continue                          # the others need downloaded data; same rules
        corpus = load_corpus(preset.train.data, preset.train.seed, quiet=True)
        assert contradictions(preset.train, corpus, preset.model.block_size or 16) == [], name


def test_notebook_api_warns_too():
    with pytest.warns(SettingsWarning, match="warmup 50 >= steps 20"):
        tinylm.train("bigram", steps=20, warmup=50, eval_every=10, sample_every=10, progress=False)


@pytest.mark.slow
def test_cli_prints_each_warning_on_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "tinylm", "train", "--preset", "bigram", "--steps", "30",
                             "--warmup", "100", "--quiet", "--out", str(tmp_path / "r")],
                            capture_output=True, text=True, timeout=120, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "tinylm: warning: warmup 100 >= steps 30: the learning rate never reaches its peak 0.1 (it stops at 0.0297)",
        "tinylm: warning: eval_every 250 > steps 30: the run is evaluated only at the start and at the end",
        "tinylm: warning: sample_every 200 > steps 30: the run is sampled only at the start and at the end"]
