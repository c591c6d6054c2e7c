"""Corpus: tokenized train/val splits and the batches a training loop draws from them.

Two kinds:
- ``documents`` (names): each document is ``[BOS] + chars + [BOS]``. A batch takes B documents and
  uses n = min(block_size, len(tokens) - 1) positions of each (x = tokens[:n], y = tokens[1:n+1]; so a
  document longer than the block is truncated, as microgpt does), padded to the batch's longest n
  with x = BOS, y = -1 (ignored by the loss).
- ``stream`` (shakespeare): one long id array; a batch is B random windows of block_size + 1 ids.

Splits: train, val and (documents only) test, a held-out part no training decision ever looks at (see
``data/load.py`` for its size). A stream has no test split: its held-out tail is val.

Documents are stored as one BOS-padded matrix [N, longest + 2], so a batch is a couple of fancy-index
operations with no Python loop over its B*T entries.

``Corpus.profile`` describes what the train text looks like (letter frequencies, its words, speaker lines,
what its documents look like; see ``data/profile.py``): built on first use, for labelling samples.
"""
from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from ..errors import DataError
from ..seeding import eval_stream, rng_for
from .profile import TextProfile, documents_profile, stream_profile
from .tokenizer import CharTokenizer

SPLITS = ("train", "val", "test")
PROMPT_CHARS = 32


class Corpus:
    """Use :meth:`from_documents` / :meth:`from_stream` (or :func:`tinylm.data.load_corpus`)."""

    def __init__(self, name: str, kind: str, tokenizer: CharTokenizer) -> None:
        self.name = name
        self.kind = kind
        self.tokenizer = tokenizer
        self.train_docs: list[np.ndarray] = []
        self.val_docs: list[np.ndarray] = []
        self.test_docs: list[np.ndarray] = []
        self.train_ids: np.ndarray | None = None
        self.val_ids: np.ndarray | None = None
        self.max_doc_len = 0
        self.val_text = ""
        self.entropies: dict = {}
        self._train_text = ""                  # stream: the train split's text (for its profile)
        self._train_strings: list[str] = []    # documents: the train documents (for its profile)
        self._test_strings: list[str] = []     # documents: the test documents (for sample novelty)
        self._profile: TextProfile | None = None
        self._tables: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # documents: split -> (matrix, lengths)
        self._eval_cache: dict[tuple, list[tuple[np.ndarray, np.ndarray]]] = {}

    # ---- construction -------------------------------------------------------------------------

    @classmethod
    def from_documents(cls, name: str, train_docs: list[str], val_docs: list[str],
                       tokenizer: CharTokenizer | None = None, test_docs: list[str] = ()) -> Corpus:
        """Documents corpus; the tokenizer defaults to the sorted characters of all documents + BOS
        (test documents included, so carving a test split out of val changes neither vocabulary nor model)."""
        test_docs = list(test_docs)
        if not train_docs:
            raise DataError(f"{name}: no training documents")
        if tokenizer is None:
            tokenizer = CharTokenizer.from_text("".join(train_docs) + "".join(val_docs) + "".join(test_docs),
                                                bos=True)
        if tokenizer.bos_id is None:
            raise DataError(f"{name}: a documents corpus needs a tokenizer with a BOS token")
        corpus = cls(name, "documents", tokenizer)
        for split, docs in (("train", train_docs), ("val", val_docs), ("test", test_docs)):
            matrix, lengths = _document_table(docs, tokenizer)
            corpus._tables[split] = (matrix, lengths)
            rows = [matrix[i, :length] for i, length in enumerate(lengths.tolist())]
            setattr(corpus, f"{split}_docs", rows)
        corpus.max_doc_len = max(len(doc) for doc in [*train_docs, *val_docs, *test_docs])
        corpus._train_strings = list(train_docs)
        corpus._test_strings = test_docs
        corpus.val_text = "\n".join(val_docs)
        matrix, lengths = corpus._tables["train"]
        has_next = np.arange(matrix.shape[1] - 1)[None, :] < (lengths - 1)[:, None]
        corpus.entropies = _entropies(matrix[:, :-1][has_next], matrix[:, 1:][has_next], tokenizer.vocab_size)
        return corpus

    @classmethod
    def from_stream(cls, name: str, train_text: str, val_text: str,
                    tokenizer: CharTokenizer | None = None) -> Corpus:
        """Stream corpus; the tokenizer defaults to the sorted characters of both texts, no BOS."""
        if len(train_text) < 2:
            raise DataError(f"{name}: the training text is too short for a stream ({len(train_text)} characters)")
        if tokenizer is None:
            tokenizer = CharTokenizer.from_text(train_text + val_text, bos=False)
        corpus = cls(name, "stream", tokenizer)
        corpus.train_ids = tokenizer.encode_array(train_text)
        corpus.val_ids = tokenizer.encode_array(val_text)
        corpus.val_text = val_text
        corpus._train_text = train_text
        ids = corpus.train_ids
        corpus.entropies = _entropies(ids[:-1], ids[1:], tokenizer.vocab_size)
        return corpus

    @property
    def profile(self) -> TextProfile:
        """What the train text looks like (``data/profile.py``); measured once, on first use."""
        if self._profile is None:
            vocab = self.tokenizer.vocab_size
            if self.kind == "stream":
                self._profile = stream_profile(self._train_text, self.train_ids, vocab)
            else:
                self._profile = documents_profile(self._train_strings, [doc[1:-1] for doc in self.train_docs],
                                                  [doc[1:-1] for doc in self.val_docs], vocab,
                                                  self.tokenizer.bos_id)
        return self._profile

    # ---- batches ------------------------------------------------------------------------------

    def batch(self, split: str, rng: np.random.Generator, batch_size: int,
              block_size: int) -> tuple[np.ndarray, np.ndarray]:
        """A random batch (x, y), int64 [B, T]; y = -1 marks padding."""
        _check_sizes(batch_size, block_size)
        if self.kind == "stream":
            ids = self._stream_ids(split)
            high = len(ids) - block_size - 1
            if high <= 0:
                raise DataError(f"{self.name}: the {split} split has {len(ids):,} characters; block_size "
                                f"{block_size} needs at least {block_size + 2}")
            return stream_windows(ids, rng.integers(0, high, size=batch_size), block_size)
        matrix, lengths = self._table(split)
        rows = rng.integers(0, len(lengths), size=batch_size)
        return self._document_batch(matrix, lengths, rows, block_size)

    def sequential_batch(self, index: int, batch_size: int, block_size: int) -> tuple[np.ndarray, np.ndarray]:
        """Train documents index .. index+B-1 (wrapping around): microgpt's one-after-another order."""
        _check_sizes(batch_size, block_size)
        if self.kind != "documents":
            raise DataError(f"{self.name}: sequential order needs a documents corpus, not a stream")
        matrix, lengths = self._table("train")
        rows = (index + np.arange(batch_size)) % len(lengths)
        return self._document_batch(matrix, lengths, rows, block_size)

    def eval_batches(self, split: str, n_batches: int, batch_size: int, block_size: int,
                     seed: str) -> list[tuple[np.ndarray, np.ndarray]]:
        """A fixed list of batches (drawn with rng_for(seed, "eval/<split>")); the same list every call."""
        key = (split, n_batches, batch_size, block_size, seed)
        if key not in self._eval_cache:
            rng = rng_for(seed, eval_stream(split))
            self._eval_cache[key] = [self.batch(split, rng, batch_size, block_size) for _ in range(n_batches)]
        return self._eval_cache[key]

    def split_batches(self, split: str, batch_size: int, block_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The whole split once, in order: a stream as consecutive non-overlapping windows of block_size,
        documents each as one row (truncated to the block, as in training); y = -1 marks padding."""
        _check_sizes(batch_size, block_size)
        if self.kind == "stream":
            ids = self._stream_ids(split)
            n = (len(ids) - 1) // block_size
            if n == 0:
                raise DataError(f"{self.name}: the {split} split is shorter than one block ({len(ids)} tokens)")
            x = ids[: n * block_size].reshape(n, block_size)
            y = ids[1: n * block_size + 1].reshape(n, block_size)
            for i in range(0, n, batch_size):
                yield x[i:i + batch_size].astype(np.int64), y[i:i + batch_size].astype(np.int64)
            return
        matrix, lengths = self._table(split)
        for i in range(0, len(lengths), batch_size):
            yield self._document_batch(matrix, lengths, np.arange(i, min(i + batch_size, len(lengths))), block_size)

    def document_texts(self, split: str) -> list[str]:
        """A documents corpus's documents of ``split`` as strings (e.g. to tell a sample that copies a training
        name from a new one)."""
        _check_split(split)
        if self.kind != "documents":
            raise DataError(f"{self.name} is a stream, not a list of documents")
        return {"train": self._train_strings, "val": self.val_text.split("\n") if self.val_docs else [],
                "test": self._test_strings}[split]

    def sample_prompt(self) -> str:
        """Stream: the first 32 characters of the val text. Documents: "" (sampling starts from BOS)."""
        return self.val_text[:PROMPT_CHARS] if self.kind == "stream" else ""

    def describe(self) -> dict:
        """Sizes for logs and the lab (JSON-serialisable)."""
        if self.kind == "stream":
            sizes = {"train_chars": len(self.train_ids), "val_chars": len(self.val_ids)}
        else:
            sizes = {"train_docs": len(self.train_docs), "val_docs": len(self.val_docs),
                     "test_docs": len(self.test_docs), "max_doc_len": self.max_doc_len}
        return {"name": self.name, "kind": self.kind, "vocab_size": self.tokenizer.vocab_size,
                **sizes, "entropies": dict(self.entropies)}

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={v}" for k, v in self.describe().items() if k not in ("name", "kind", "entropies"))
        return f"Corpus({self.name!r}, {self.kind}, {sizes})"

    # ---- internals ----------------------------------------------------------------------------

    def _document_batch(self, matrix: np.ndarray, lengths: np.ndarray, rows: np.ndarray,
                        block_size: int) -> tuple[np.ndarray, np.ndarray]:
        n = np.minimum(block_size, lengths[rows] - 1)
        width = int(n.max())
        x = matrix[rows, :width]               # fancy indexing copies, so editing x/y is safe
        y = matrix[rows, 1:width + 1]
        padding = np.arange(width)[None, :] >= n[:, None]
        x[padding] = self.tokenizer.bos_id
        y[padding] = -1
        return x, y

    def _table(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        _check_split(split)
        matrix, lengths = self._tables[split]
        if len(lengths) == 0 and split == "test":
            raise DataError(f"{self.name}: this run has no test split (too few held-out documents, "
                            "or a compat mode without one); use --split val")
        if len(lengths) == 0:
            raise DataError(f"{self.name}: the {split} split has no documents")
        return matrix, lengths

    def _stream_ids(self, split: str) -> np.ndarray:
        _check_split(split)
        if split == "test":
            raise DataError(f"{self.name} is a stream: streams have no test split (the held-out tail is val); "
                            "use --split val")
        return self.train_ids if split == "train" else self.val_ids


def stream_windows(ids: np.ndarray, starts: np.ndarray, block_size: int) -> tuple[np.ndarray, np.ndarray]:
    """x = ids[s : s+T] and y = ids[s+1 : s+T+1] for each start s: two contiguous [B, T] arrays."""
    index = starts[:, None] + np.arange(block_size)
    return ids[index], ids[index + 1]


def _document_table(docs: list[str], tokenizer: CharTokenizer) -> tuple[np.ndarray, np.ndarray]:
    """BOS-wrapped token rows padded with BOS into one int64 matrix [N, longest + 2], and row lengths."""
    char_counts = np.array([len(doc) for doc in docs], dtype=np.int64)
    lengths = char_counts + 2
    width = int(lengths.max()) if len(docs) else 2
    matrix = np.full((len(docs), width), tokenizer.bos_id, dtype=np.int64)
    ids = tokenizer.encode_array("".join(docs))
    rows = np.repeat(np.arange(len(docs)), char_counts)
    starts = np.cumsum(char_counts) - char_counts
    cols = 1 + np.arange(len(ids)) - np.repeat(starts, char_counts)
    matrix[rows, cols] = ids
    matrix.flags.writeable = False  # train_docs/val_docs are views of it
    return matrix, lengths


def _entropies(prev: np.ndarray, nxt: np.ndarray, vocab_size: int) -> dict:
    """Loss floors in nats: uniform ln V, unigram H(next), bigram H(next | prev) over the given pairs."""
    # counts of the pairs that occur (not a V x V table: a large vocabulary would square the memory)
    _, pair_counts = np.unique(prev * vocab_size + nxt, return_counts=True)
    total = max(len(prev), 1)
    return {"uniform": math.log(vocab_size),
            "unigram": _entropy(np.bincount(nxt, minlength=vocab_size) / total),
            "bigram": _entropy(pair_counts / total) - _entropy(np.bincount(prev, minlength=vocab_size) / total)}


def _entropy(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r} (choose from {', '.join(SPLITS)})")


def _check_sizes(batch_size: int, block_size: int) -> None:
    if int(batch_size) < 1 or int(block_size) < 1:
        raise DataError(f"batch_size and block_size must be >= 1, got {batch_size} and {block_size}")
