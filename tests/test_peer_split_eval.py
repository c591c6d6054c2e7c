"""The test split (makemore's rule, carved from the held-out part) and `tinylm eval --split test`."""
from __future__ import annotations

import json

import numpy as np
import pytest

import tinylm
from tinylm.cli.main import main
from tinylm.config import DataConfig
from tinylm.data import Corpus, load_corpus
from tinylm.data.load import n_test_documents
from tinylm.engines import fused
from tinylm.errors import DataError

# tinylm.train("microgpt", steps=50, seed="x").history["loss"], recorded with the code from before the test
# split existed (git e266b67): carving the test split out of val must not move a single training loss.
BEFORE_TEST_SPLIT_FIRST_LOSSES = [3.27687178339277, 3.3934326569239297, 3.58990478515625]


def test_names_get_a_1000_name_test_split_carved_from_the_held_out_part():
    corpus = load_corpus(DataConfig(source="names"), seed="x")
    train, val, test = (set(corpus.document_texts(s)) for s in ("train", "val", "test"))
    assert (len(corpus.train_docs), len(corpus.val_docs), len(corpus.test_docs)) == (26_919, 1_991, 1_000)
    assert not (train & test) and not (val & test)
    assert corpus.describe()["test_docs"] == 1000
    # a corpus of 40 names: 10% is 4 held out, half of which become the test split
    assert n_test_documents(40, 4) == 2 and n_test_documents(2, 1) == 0


@pytest.mark.slow
def test_training_losses_are_byte_identical_to_before_the_test_split():
    # the record was made on the numpy reference ops; the compiled kernels (engines/fused) round differently
    with fused.disabled():
        run = tinylm.train("microgpt", steps=50, seed="x", progress=False)
    with open(__file__.replace("test_peer_split_eval.py", "data/peer_microgpt_x_losses.json")) as f:
        before = json.load(f)
    assert run.history["loss"][:3] == BEFORE_TEST_SPLIT_FIRST_LOSSES
    assert run.history["loss"] == before        # all 50, exactly (floats compared bit for bit)
    if fused.kernels() == "numba":              # and the compiled kernels follow the same run to float32 rounding
        fast = tinylm.train("microgpt", steps=50, seed="x", progress=False).history["loss"]
        np.testing.assert_allclose(fast, before, rtol=1e-5)


def test_stream_corpora_say_they_have_no_test_split(stream_text_file):
    corpus = load_corpus(DataConfig(source=str(stream_text_file), mode="stream"), seed="s")
    with pytest.raises(DataError, match="streams have no test split"):
        next(corpus.split_batches("test", 4, 8))


@pytest.mark.slow
def test_eval_split_test_and_all(tmp_path, capsys):
    run_dir = tmp_path / "run"
    tinylm.train("bigram", steps=60, seed="e", run_dir=run_dir, progress=False)
    assert main(["eval", str(run_dir), "--split", "all", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert sorted(result) == ["test", "train", "val"]
    assert 2.0 < result["test"]["loss"] < 3.4
    # 1,000 test names: their characters plus one end-of-name each
    corpus = load_corpus(DataConfig(source="names"), seed="e")
    assert result["test"]["tokens"] == sum(len(d) - 1 for d in corpus.test_docs)
    assert main(["eval", str(run_dir), "--split", "test"]) == 0
    assert capsys.readouterr().out.startswith("test  loss ")


def test_eval_test_split_of_a_tiny_corpus_is_a_one_line_error(tmp_path, capsys):
    data = tmp_path / "few.txt"
    data.write_text("\n".join(["ab", "ba", "abba", "baab", "aab"] * 4) + "\n")   # 20 lines: 2 held out
    corpus = load_corpus(DataConfig(source=str(data)), seed="t")
    assert (len(corpus.val_docs), len(corpus.test_docs)) == (1, 1)
    tiny = Corpus.from_documents("tiny", ["ab", "ba"], ["ab"])
    with pytest.raises(DataError, match="no test split"):
        next(tiny.split_batches("test", 4, 8))
