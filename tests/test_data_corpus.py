from __future__ import annotations

import math

import numpy as np
import pytest

from tinylm.config import DataConfig
from tinylm.data import Corpus, load_corpus
from tinylm.errors import DataError

DOCS = ["ab", "abcde", "c", "abcdefghij", "ba"]


@pytest.fixture(scope="module")
def names():
    return load_corpus(DataConfig(source="names"), seed="42")


def tokens(corpus: Corpus, text: str) -> list[int]:
    bos = corpus.tokenizer.bos_id
    return [bos, *corpus.tokenizer.encode(text), bos]


def test_bundled_names_corpus(names):
    assert names.kind == "documents"
    assert names.tokenizer.vocab_size == 27 and names.tokenizer.bos_id == 26
    assert len(names.train_docs) + len(names.val_docs) + len(names.test_docs) == 29_910
    assert len(names.val_docs) + len(names.test_docs) == 2_991   # the held-out 10%; test is 1,000 of it
    assert names.max_doc_len == 15
    assert names.sample_prompt() == ""
    assert names.train_ids is None and names.val_ids is None
    doc = names.train_docs[0]
    assert doc.dtype == np.int64 and doc[0] == 26 and doc[-1] == 26 and 26 not in doc[1:-1]
    assert names.val_text == "\n".join(names.tokenizer.decode(d) for d in names.val_docs)


@pytest.mark.slow
def test_split_is_deterministic_and_depends_on_seed(names):
    again = load_corpus(DataConfig(source="names"), seed="42")
    other = load_corpus(DataConfig(source="names"), seed="43")
    assert again.val_text == names.val_text
    assert other.val_text != names.val_text
    everything = ("train", "val", "test")
    assert sorted(sum((other.document_texts(s) for s in everything), [])) == \
        sorted(sum((names.document_texts(s) for s in everything), []))


def test_val_fraction_controls_split_size():
    corpus = load_corpus(DataConfig(source="names", val_fraction=0.25), seed="s")
    assert len(corpus.val_docs) + len(corpus.test_docs) == round(29_910 * 0.25)


def test_document_batch_matches_the_spec():
    corpus = Corpus.from_documents("toy", DOCS, ["abc"])
    bos = corpus.tokenizer.bos_id
    x, y = corpus.sequential_batch(0, batch_size=5, block_size=8)
    assert x.dtype == np.int64 and y.dtype == np.int64
    assert x.shape == y.shape == (5, 8)   # longest n = min(8, 12 - 1) = 8
    for row, doc in enumerate(DOCS):
        tok = tokens(corpus, doc)
        n = min(8, len(tok) - 1)
        assert x[row, :n].tolist() == tok[:n]
        assert y[row, :n].tolist() == tok[1:n + 1]
        assert (x[row, n:] == bos).all() and (y[row, n:] == -1).all()


def test_batch_width_is_the_longest_n_in_the_batch():
    corpus = Corpus.from_documents("toy", ["ab", "c"], ["ab"])
    x, y = corpus.sequential_batch(0, batch_size=2, block_size=16)
    assert x.shape == (2, 3)
    assert y.tolist() == [[0, 1, 3], [2, 3, -1]]


def test_sequential_batches_wrap_around_in_order():
    corpus = Corpus.from_documents("toy", DOCS, ["abc"])
    x, _ = corpus.sequential_batch(4, batch_size=3, block_size=16)
    for row, doc in enumerate([DOCS[4], DOCS[0], DOCS[1]]):
        tok = tokens(corpus, doc)
        assert x[row, :len(tok) - 1].tolist() == tok[:-1]
    x6, _ = corpus.sequential_batch(6, batch_size=1, block_size=16)
    assert x6[0, :3].tolist() == tokens(corpus, DOCS[1])[:3]


def test_random_batches_are_deterministic_given_the_rng(names):
    a = names.batch("train", np.random.default_rng(7), 32, 16)
    b = names.batch("train", np.random.default_rng(7), 32, 16)
    c = names.batch("train", np.random.default_rng(8), 32, 16)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not np.array_equal(a[0], c[0])
    x, y = a
    real = y != -1
    assert (y[real] < 27).all() and (x < 27).all() and (x >= 0).all()
    assert (x[:, 1:][real[:, 1:]] == y[:, :-1][real[:, 1:]]).all()  # y is x shifted by one


def test_batches_are_fresh_arrays(names):
    x, y = names.batch("train", np.random.default_rng(0), 4, 16)
    x[:] = 0
    y[:] = 0
    assert names.train_docs[0][0] == 26


def test_stream_batch_windows_follow_the_text():
    text = "".join(chr(ord("a") + (i * 7) % 26) for i in range(1000))
    corpus = Corpus.from_stream("s", text[:900], text[900:])
    rng = np.random.default_rng(3)
    x, y = corpus.batch("train", rng, batch_size=6, block_size=10)
    assert x.shape == y.shape == (6, 10) and x.dtype == np.int64
    assert np.array_equal(x[:, 1:], y[:, :-1])
    starts = np.random.default_rng(3).integers(0, 900 - 10 - 1, size=6)
    for row, start in enumerate(starts):
        assert corpus.tokenizer.decode(x[row]) == text[start:start + 10]
        assert corpus.tokenizer.decode(y[row]) == text[start + 1:start + 11]
    xv, _ = corpus.batch("val", rng, 2, 10)
    assert corpus.tokenizer.decode(xv[0]) in text[900:]


def test_stream_block_longer_than_split_is_a_clear_error():
    corpus = Corpus.from_stream("s", "abcdefghij" * 10, "abcdefghij")
    with pytest.raises(DataError, match="val split has 10 characters; block_size 16"):
        corpus.batch("val", np.random.default_rng(0), 2, 16)


def test_eval_batches_are_fixed(names):
    first = names.eval_batches("val", 3, 8, 16, seed="e")
    second = names.eval_batches("val", 3, 8, 16, seed="e")
    fresh = load_corpus(DataConfig(source="names"), seed="42").eval_batches("val", 3, 8, 16, seed="e")
    assert len(first) == 3
    for (x1, y1), (x2, y2), (x3, y3) in zip(first, second, fresh):
        assert np.array_equal(x1, x2) and np.array_equal(y1, y3) and np.array_equal(x1, x3)
    other = names.eval_batches("train", 3, 8, 16, seed="e")
    assert not np.array_equal(other[0][0], first[0][0])


def test_entropies_of_a_known_stream():
    # "abab...": unigram 1 bit, bigram 0 (b always follows a and vice versa).
    corpus = Corpus.from_stream("ab", "ab" * 500, "ab" * 10)
    assert corpus.entropies["uniform"] == pytest.approx(math.log(2))
    assert corpus.entropies["unigram"] == pytest.approx(math.log(2))
    assert corpus.entropies["bigram"] == pytest.approx(0.0, abs=1e-12)


def test_entropies_count_bos_in_documents():
    # docs "a" and "b": pairs (BOS,a)(a,BOS)(BOS,b)(b,BOS); next-token distribution {a:.25, b:.25, BOS:.5};
    # given BOS the next is a or b (1 bit), given a or b it is BOS -> bigram = 0.5 * ln 2.
    corpus = Corpus.from_documents("ab", ["a", "b"], ["a"])
    h = corpus.entropies
    assert h["uniform"] == pytest.approx(math.log(3))
    assert h["unigram"] == pytest.approx(-(2 * 0.25 * math.log(0.25) + 0.5 * math.log(0.5)))
    assert h["bigram"] == pytest.approx(0.5 * math.log(2))


def test_names_entropies_are_ordered(names):
    h = names.entropies
    assert h["uniform"] == pytest.approx(math.log(27))
    assert h["uniform"] > h["unigram"] > h["bigram"] > 2.0


def test_from_documents_with_a_given_tokenizer_rejects_foreign_characters(names):
    with pytest.raises(DataError, match="'!'"):
        Corpus.from_documents("x", ["ab!"], [], tokenizer=names.tokenizer)
    corpus = Corpus.from_documents("x", ["ab"], [], tokenizer=names.tokenizer)
    assert corpus.tokenizer.vocab_size == 27
    with pytest.raises(DataError, match="val split has no documents"):
        corpus.batch("val", np.random.default_rng(0), 1, 4)


def test_stream_rejects_sequential_order_and_unknown_splits():
    corpus = Corpus.from_stream("s", "abcdefghij" * 10, "abcdefghij" * 3)
    with pytest.raises(DataError, match="sequential"):
        corpus.sequential_batch(0, 1, 4)
    with pytest.raises(DataError, match="unknown split 'dev'"):
        corpus.batch("dev", np.random.default_rng(0), 1, 4)
    with pytest.raises(DataError, match="streams have no test split"):
        corpus.batch("test", np.random.default_rng(0), 1, 4)
