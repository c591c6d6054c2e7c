"""Phase labels (training/phases.py): decided from the samples' own statistics, checked against the loss."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from conftest import shared_file
from tinylm.config import DataConfig
from tinylm.data import load_corpus
from tinylm.data.profile import is_speaker_line, words_of
from tinylm.presets import apply_overrides, get_preset
from tinylm.training.loop import CHECKPOINT_NAME, Trainer
from tinylm.training.phases import (DOCUMENT_PHASES, STREAM_PHASES, SampleStats, measure, phase_for)

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def names():
    return load_corpus(DataConfig(source="names"), seed="1")


@pytest.fixture(scope="module")
def shakespeare():
    return load_corpus(DataConfig(source=str(shared_file("tinyshakespeare.txt")), mode="stream"), seed="1")


@pytest.fixture
def prose(stream_text_file):
    return load_corpus(DataConfig(source=str(stream_text_file), mode="stream"), seed="1")


def label(corpus, texts, val_loss, previous=""):
    return phase_for(measure(texts, corpus.profile, corpus.tokenizer), val_loss, corpus.entropies,
                     corpus.profile, previous)


def good_loss(corpus) -> float:
    """A val loss clearly beyond a bigram table: the loss column then lets the samples decide."""
    return corpus.entropies["bigram"] - 0.4


# --- what the corpus looks like (data/profile.py) --------------------------------------------------

def test_speaker_lines_and_words_are_read_the_way_a_reader_would():
    assert all(map(is_speaker_line, ["GREMIO:", "First Citizen:", "KING RICHARD III:", "LADY CAPULET:"]))
    assert not any(map(is_speaker_line, ["And thus I clothe my naked villany:", "GREMIO: Good morrow", ":", "3:"]))
    assert words_of("O'er the hills, I'll go -- 3 times!") == ["o'er", "the", "hills", "i'll", "go", "times"]


def test_shakespeare_profile_knows_its_words_and_its_speaker_lines(shakespeare):
    profile = shakespeare.profile
    assert {"gremio", "morrow", "thou", "o'er"} <= profile.words and "qzx" not in profile.words
    assert 0.15 < profile.speaker_share < 0.3          # about one non-empty line in five names a speaker
    assert profile.letter_entropy < profile.uniform_surprisal


@pytest.mark.slow
def test_names_profile_threshold_admits_most_real_names_and_few_random_strings(names):
    profile, tok = names.profile, names.tokenizer
    held_out = names.val_text.split("\n")
    plausible = [profile.doc_surprisal(tok.encode_array(n)) <= profile.name_threshold for n in held_out]
    assert np.mean(plausible) == pytest.approx(0.9, abs=0.01)    # calibrated on exactly these
    assert profile.doc_surprisal(tok.encode_array("emma")) <= profile.name_threshold
    assert profile.doc_surprisal(tok.encode_array("xqzkvw")) > profile.name_threshold


# --- made-up samples: the label follows what the text looks like ---------------------------------

def line_rows(text: str, n: int = 32, width: int = 63, seed: int = 0) -> list[str]:
    """Rows the way the trainer draws them: starting at a line start, ``width`` characters long."""
    starts = [i + 1 for i, ch in enumerate(text) if ch == "\n" and i + 1 + width <= len(text)]
    picks = np.random.default_rng(seed).choice(starts, size=n, replace=False)
    return [text[s:s + width] for s in picks]


def chars_from(corpus, probs: np.ndarray, n: int, length: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    chars = np.array(corpus.tokenizer.chars)
    return ["".join(rng.choice(chars, size=length, p=probs)) for _ in range(n)]


def bigram_rows(corpus, n: int, length: int, seed: int = 0) -> list[str]:
    """Text drawn from the train split's character-bigram table (right letter pairs, no words)."""
    v = len(corpus.tokenizer.chars)
    ids = corpus.train_ids
    table = np.bincount(ids[:-1] * v + ids[1:], minlength=v * v).reshape(v, v) + 1e-9
    table /= table.sum(axis=1, keepdims=True)
    rng, prev, rows = np.random.default_rng(seed), corpus.tokenizer.chars.index("\n"), []
    for _ in range(n):
        row = []
        for _ in range(length):
            prev = rng.choice(v, p=table[prev])
            row.append(corpus.tokenizer.chars[prev])
        rows.append("".join(row))
    return rows


def test_real_shakespeare_lines_are_styled_text(shakespeare):
    assert label(shakespeare, line_rows(shakespeare.val_text), good_loss(shakespeare)) == "styled text"


def test_stream_ladder_from_uniform_to_letter_frequencies_to_letter_pairs(shakespeare):
    v = len(shakespeare.tokenizer.chars)
    uniform = chars_from(shakespeare, np.full(v, 1 / v), 32, 63)
    assert label(shakespeare, uniform, shakespeare.entropies["uniform"]) == "random"
    counts = np.bincount(shakespeare.train_ids, minlength=v).astype(float)
    unigram = chars_from(shakespeare, counts / counts.sum(), 32, 63)
    assert label(shakespeare, unigram, shakespeare.entropies["unigram"]) == "character frequency"
    # right letter pairs but few real words: still character frequency, however low the loss
    assert label(shakespeare, bigram_rows(shakespeare, 32, 63), good_loss(shakespeare)) == "character frequency"


def test_real_prose_without_speaker_lines_is_styled_text(prose):
    # the prose has no "NAME:" lines, so that format is not asked for
    assert prose.profile.speaker_share == 0.0
    assert label(prose, line_rows(prose.val_text.replace(". ", ".\n")), good_loss(prose)) == "styled text"


def test_the_loss_keeps_real_looking_text_from_claiming_too_much(shakespeare):
    rows = line_rows(shakespeare.val_text)
    e = shakespeare.entropies
    assert label(shakespeare, rows, e["uniform"]) == "random"
    assert label(shakespeare, rows, (e["unigram"] + e["bigram"]) / 2 + 0.01) == "character frequency"
    assert label(shakespeare, rows, e["bigram"] + 0.01) == "short words"
    assert label(shakespeare, rows, math.nan) == "random"


def test_real_names_are_name_shaped_words(names):
    held_out = names.val_text.split("\n")[:128]
    stats = measure(held_out, names.profile, names.tokenizer)
    assert stats.name_share >= 0.85 and stats.letter_match > 0.9
    assert phase_for(stats, good_loss(names), names.entropies, names.profile) == "name-shaped words"


@pytest.mark.slow
def test_names_ladder_from_random_letters_to_name_like_pieces(names):
    letters = names.tokenizer.chars
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 9, size=128)
    uniform = ["".join(rng.choice(letters, size=k)) for k in lengths]
    assert label(names, uniform, names.entropies["uniform"]) == "random letters"
    counts = np.bincount(np.concatenate([d[1:-1] for d in names.train_docs]), minlength=len(letters) + 1)
    p = counts[:len(letters)] / counts[:len(letters)].sum()
    unigram = ["".join(rng.choice(letters, size=k, p=p)) for k in lengths]
    assert label(names, unigram, names.entropies["unigram"]) == "letter frequency"
    assert label(names, bigram_names(names, 128), names.entropies["bigram"] - 0.01) == "name-like pieces"


def bigram_names(corpus, n: int, seed: int = 0) -> list[str]:
    """Names drawn from the train split's bigram table, start and end marks included."""
    v, bos = corpus.tokenizer.vocab_size, corpus.tokenizer.bos_id
    table = np.zeros((v, v))
    for doc in corpus.train_docs:
        np.add.at(table, (doc[:-1], doc[1:]), 1)
    table /= table.sum(axis=1, keepdims=True).clip(1)
    rng, out = np.random.default_rng(seed), []
    for _ in range(n):
        prev, name = bos, []
        while len(name) < 20:
            prev = rng.choice(v, p=table[prev])
            if prev == bos:
                break
            name.append(corpus.tokenizer.chars[prev])
        out.append("".join(name))
    return out


def test_a_label_is_kept_through_noise_and_dropped_when_the_samples_fall_short(names):
    e, profile = names.entropies, names.profile
    loss = good_loss(names)
    assert phase_for(SampleStats(letter_match=1, name_share=0.72), loss, e, profile) == "name-shaped words"
    dip = SampleStats(letter_match=1, name_share=0.6)       # below 0.70, above 3/4 of it
    assert phase_for(dip, loss, e, profile) == "name-like pieces"
    assert phase_for(dip, loss, e, profile, previous="name-shaped words") == "name-shaped words"
    fall = SampleStats(letter_match=1, name_share=0.4)      # clearly short
    assert phase_for(fall, loss, e, profile, previous="name-shaped words") == "name-like pieces"
    assert phase_for(SampleStats(), e["uniform"], e, profile, previous="name-shaped words") == "random letters"


# --- recorded samples of real runs (benchmarks/phases.py --fixture-dir tests/data) -----------------

def replay(corpus, fixture: dict) -> list[tuple[int, str]]:
    labels, previous = [], ""
    for point in fixture["points"]:
        previous = label(corpus, point["rows"], point["val_loss"], previous)
        labels.append((point["iter"], previous))
    return labels


def test_shakespeare_tiny_run_reads_random_then_character_frequency_then_short_words_then_styled(shakespeare):
    """One seed of the preset (2,000 iters, a sample every 200): the text each label was decided from."""
    fixture = json.loads((DATA / "phase_samples_shakespeare-tiny.json").read_text(encoding="utf-8"))
    labels = replay(shakespeare, fixture)
    assert [phase for _, phase in labels] == [p["phase"] for p in fixture["points"]]   # what the run said
    first = {phase: min(it for it, p in labels if p == phase) for phase in STREAM_PHASES}
    assert labels[0] == (0, "random")
    assert first["character frequency"] <= 400
    assert 300 <= first["short words"] <= 1200
    assert 1300 <= first["styled text"] <= 1700
    order = [STREAM_PHASES.index(p) for _, p in labels]
    assert order == sorted(order)                      # it never steps back


@pytest.mark.slow
@pytest.mark.parametrize("preset,final", [("microgpt", "name-like pieces"), ("names-gpt", "name-shaped words")])
def test_names_runs_climb_to_labels_that_fit_the_model(preset, final):
    fixture = json.loads((DATA / f"phase_samples_{preset}.json").read_text(encoding="utf-8"))
    corpus = load_corpus(get_preset(preset).train.data, seed=fixture["seed"])
    labels = replay(corpus, fixture)
    assert [phase for _, phase in labels] == [p["phase"] for p in fixture["points"]]
    assert labels[0] == (0, "random letters") and labels[-1][1] == final
    assert all(phase in DOCUMENT_PHASES for _, phase in labels)


# --- the trainer: a labelled sample at iter 0, decided at sample time --------------------------------

def tiny_stream(stream_text_file, run_dir=None, stop_at=None, **overrides):
    p = apply_overrides(get_preset("shakespeare-tiny"), {
        "data.source": str(stream_text_file), "n_layer": 1, "n_embd": 16, "n_head": 2, "block_size": 16,
        "batch_size": 4, "warmup": 2, "eval_batches": 2, "seed": "phases", **overrides})
    return Trainer(p.model, p.train, preset=p.name, run_dir=run_dir, stop_at=stop_at)


@pytest.mark.slow
def test_iter_0_gets_a_sample_labelled_random_and_its_phase_event(stream_text_file):
    events = list(tiny_stream(stream_text_file, steps=4, eval_every=2, sample_every=2).events())
    samples = [e for e in events if e.kind == "sample"]
    assert [s.iter for s in samples] == [0, 2, 4]
    assert samples[0].phase == "random" and samples[0].samples[0]
    phases = [e for e in events if e.kind == "phase"]
    assert (phases[0].iter, phases[0].phase, phases[0].previous) == (0, "random", "")
    kinds = [e.kind for e in events]
    assert kinds.index("phase") < kinds.index("sample")   # the change is announced with the sample that shows it


def test_names_iter_0_sample_is_random_letters():
    p = apply_overrides(get_preset("bigram"), {"steps": 2, "eval_every": 0, "sample_every": 2, "seed": "phases"})
    events = list(Trainer(p.model, p.train, preset="bigram").events())
    samples = [e for e in events if e.kind == "sample"]
    assert [(s.iter, s.phase) for s in samples][0] == (0, "random letters")
    assert [e.iter for e in events if e.kind == "eval"][0] == 0   # the label weighs a current val loss


@pytest.mark.slow
def test_sampling_and_labelling_do_not_change_the_training_trajectory(stream_text_file):
    runs = [tiny_stream(stream_text_file, steps=6, eval_every=3, sample_every=every) for every in (0, 2)]
    for trainer in runs:
        list(trainer.events())
    a, b = (t.engine.get_params() for t in runs)
    assert all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_resume_continues_the_labels_exactly(tmp_path, stream_text_file):
    overrides = dict(steps=12, eval_every=4, sample_every=4)
    straight = list(tiny_stream(stream_text_file, tmp_path / "straight", **overrides).events())
    first = list(tiny_stream(stream_text_file, tmp_path / "split", stop_at=6, **overrides).events())
    resumed = Trainer(run_dir=tmp_path / "split", resume_from=tmp_path / "split" / CHECKPOINT_NAME)
    second = list(resumed.events())

    def labelled(events):
        return [(e.kind, e.iter, e.phase) for e in events if e.kind in ("sample", "phase")]

    assert labelled(first) + labelled(second) == labelled(straight)
    assert [e.samples for e in first + second if e.kind == "sample"] == \
        [e.samples for e in straight if e.kind == "sample"]
