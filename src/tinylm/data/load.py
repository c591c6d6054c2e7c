"""load_corpus: DataConfig + seed -> Corpus (source text, mode, tokenizer, deterministic split).

Mode ``auto`` picks ``documents`` when the file looks like a list of short items and ``stream``
otherwise. The rule, over the non-empty lines (stripped):
    at least 20 lines, median length <= 32 characters, and >= 90% of lines at most 64 characters.
So names.txt (median 6) is documents; tiny-shakespeare (median line 39) and any prose is a stream.

Split (DataConfig.val_fraction, 0.1 by default):
- documents: one per non-empty stripped line, shuffled with rng_for(seed, "split"); the first
  1 - val_fraction of the shuffled list is train, the rest is held out (at least one document in each).
  The last ``n_test_documents(N, held_out)`` held-out documents are the test split (makemore's rule,
  min(1000, int(10% of the N documents)), but at most half the held-out part so val keeps the rest); carving
  it from the held-out part leaves the training documents and their order exactly as before it existed;
- stream: the first 1 - val_fraction of the text is train, the rest val (no shuffling); streams have no
  test split (a second held-out cut would shorten val, which every stream figure is measured on).

Data with a single distinct character is rejected: there is nothing to learn.
"""
from __future__ import annotations

import statistics
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import DataError
from ..seeding import SPLIT_STREAM, rng_for
from .corpus import Corpus
from .sources import BUILTIN_SOURCES, load_text_source

if TYPE_CHECKING:
    from ..config import DataConfig

MIN_DOCUMENT_LINES = 20
MAX_VOCAB = 8192               # distinct characters (embedding and output rows; a bigram model squares it)
MAX_DOCUMENT_CHARS = 4094      # a BOS-wrapped document must fit the largest block size (4096)
MAX_MEDIAN_LINE = 32
SHORT_LINE = 64
MIN_SHORT_FRACTION = 0.9


MAX_TEST_DOCS = 1000
TEST_FRACTION = 0.1


def n_test_documents(n_docs: int, n_held_out: int) -> int:
    """How many of the held-out documents form the test split: makemore's min(1000, int(10% of all)),
    capped at half the held-out part (val is what the loop evaluates; it must not shrink to nothing).

    >>> n_test_documents(29_910, 2_991), n_test_documents(40, 4), n_test_documents(20, 2), n_test_documents(2, 1)
    (1000, 2, 1, 0)
    """
    return min(MAX_TEST_DOCS, int(n_docs * TEST_FRACTION), n_held_out // 2)


def split_documents(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def detect_mode(text: str) -> str:
    """"documents" if ``text`` looks like a list of short lines (rule in the module docstring), else "stream"."""
    lengths = [len(line) for line in split_documents(text)]
    if len(lengths) < MIN_DOCUMENT_LINES:
        return "stream"
    short_fraction = sum(length <= SHORT_LINE for length in lengths) / len(lengths)
    if statistics.median(lengths) <= MAX_MEDIAN_LINE and short_fraction >= MIN_SHORT_FRACTION:
        return "documents"
    return "stream"


def load_corpus(cfg: DataConfig, seed: str, quiet: bool = False) -> Corpus:
    """The corpus for ``cfg.source`` (names | shakespeare | path), split deterministically by ``seed``."""
    cfg.validate()
    text = load_text_source(cfg.source, quiet=quiet)
    name = cfg.source if cfg.source in BUILTIN_SOURCES else Path(cfg.source).name
    mode = detect_mode(text) if cfg.mode == "auto" else cfg.mode
    if mode == "documents":
        return _documents_corpus(name, text, cfg.val_fraction, seed)
    return _stream_corpus(name, text, cfg.val_fraction)


def _documents_corpus(name: str, text: str, val_fraction: float, seed: str) -> Corpus:
    docs = split_documents(text)
    _require_two_characters(name, "".join(docs))
    longest = max(range(len(docs)), key=lambda i: len(docs[i]))
    if len(docs[longest]) > MAX_DOCUMENT_CHARS:
        # every document becomes a row as wide as the longest one (and the block size follows it)
        raise DataError(f"{name}: a line of {len(docs[longest]):,} characters is longer than documents mode "
                        f"allows ({MAX_DOCUMENT_CHARS:,}); use --data-mode stream for running text")
    if len(docs) < 2:
        raise DataError(f"{name}: documents mode needs at least 2 non-empty lines (one for train, "
                        f"one for val), found {len(docs)}; use mode=stream for running text")
    order = rng_for(seed, SPLIT_STREAM).permutation(len(docs))
    n_val = min(len(docs) - 1, max(1, round(len(docs) * val_fraction)))
    n_train = len(docs) - n_val
    n_test = n_test_documents(len(docs), n_val)
    train = [docs[i] for i in order[:n_train]]
    val = [docs[i] for i in order[n_train:len(docs) - n_test]]
    test = [docs[i] for i in order[len(docs) - n_test:]]
    return Corpus.from_documents(name, train, val, test_docs=test)


def _stream_corpus(name: str, text: str, val_fraction: float) -> Corpus:
    _require_two_characters(name, text)
    split_at = int(len(text) * (1.0 - val_fraction))
    if split_at < 2 or len(text) - split_at < 2:
        raise DataError(f"{name}: {len(text)} characters is too short to split into train and val streams")
    return Corpus.from_stream(name, text[:split_at], text[split_at:])


def _require_two_characters(name: str, text: str) -> None:
    distinct = set(text)
    if len(distinct) > MAX_VOCAB:
        raise DataError(f"{name}: the text uses {len(distinct):,} distinct characters; tinylm's character "
                        f"models take at most {MAX_VOCAB:,}")
    if len(distinct) < 2:
        raise DataError(f"{name}: the data has a single distinct character ({''.join(distinct)!r}); "
                        "a language model needs at least two")
