"""What a corpus's own text looks like, so generated samples can be judged against it (training/phases.py).

Measured once per corpus on its train split (``Corpus.profile``, built on first use, well under a second
for tiny-shakespeare):

- letters: each character's surprisal -ln p(c) under the train text's character frequencies (add-1/2
  smoothing); the text's own mean surprisal (its unigram entropy over text characters) and the mean that
  uniformly random characters would get. A sample's mean surprisal placed between the two says how well
  its letters follow the corpus's frequencies.
- stream: the set of the train text's words (see :func:`words_of`) and the share of its non-empty lines
  that are speaker lines (see :func:`is_speaker_line`; tiny-shakespeare: about 24%).
- documents: a character-trigram model of the documents (with start and end marks, add-0.1 smoothing),
  the name threshold — the mean trigram surprisal that 90% of the held-out documents stay at or under —
  and the set of training documents.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

LETTER_SMOOTHING = 0.5
TRIGRAM_SMOOTHING = 0.1
PLAUSIBLE_QUANTILE = 0.9     # a sample is as plausible as 90% of real held-out documents
MIN_HELD_OUT = 20            # fewer held-out documents than this: calibrate on the training documents

_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")   # letter runs, inner apostrophes kept ("o'er", "i'll")


def words_of(text: str) -> list[str]:
    """The words of ``text``, lower-cased: runs of letters, with apostrophes inside a word kept."""
    return _WORD.findall(text.lower())


def is_speaker_line(line: str) -> bool:
    """A play's speaker line: one to four capitalised words and a colon, alone on the line
    ("GREMIO:", "First Citizen:", "KING RICHARD III:")."""
    line = line.strip()
    if not line.endswith(":"):
        return False
    names = line[:-1].split()
    return 1 <= len(names) <= 4 and all(n[0].isupper() and n.replace("'", "").replace("-", "").isalpha()
                                        for n in names)


@dataclass(frozen=True)
class TextProfile:
    kind: str                                 # documents | stream
    letter_surprisal: np.ndarray              # [vocab] -ln p(c); the BOS slot is unused
    letter_entropy: float                     # mean surprisal of the train text's own characters
    uniform_surprisal: float                  # mean surprisal of uniformly random characters
    words: frozenset[str] = frozenset()       # stream: the train text's words
    speaker_share: float = 0.0                # stream: share of non-empty lines that are speaker lines
    documents: frozenset[str] = frozenset()   # documents: the training documents
    name_threshold: float = 0.0               # documents: mean trigram surprisal of a typical real document
    _trigrams: tuple | None = field(default=None, repr=False)   # (sorted keys, their counts, pair counts, V)

    def doc_surprisal(self, ids: np.ndarray) -> float:
        """Mean trigram surprisal (nats per character, the end mark included) of one document's ids."""
        return float(_trigram_surprisals(self._trigrams, [ids])[0])


def stream_profile(text: str, ids: np.ndarray, vocab_size: int) -> TextProfile:
    surprisal, own, uniform = _letters(ids, vocab_size, text_ids=np.arange(vocab_size))
    lines = [line for line in text.splitlines() if line.strip()]
    speakers = sum(is_speaker_line(line) for line in lines if line.rstrip().endswith(":"))
    # words never span whitespace, so the distinct whitespace-separated pieces hold every word (and are ~5x shorter)
    pieces = " ".join(set(text.lower().split()))
    return TextProfile("stream", surprisal, own, uniform, words=frozenset(words_of(pieces)),
                       speaker_share=speakers / len(lines) if lines else 0.0)


def documents_profile(train_docs: list[str], train_ids: list[np.ndarray], held_out_ids: list[np.ndarray],
                      vocab_size: int, bos_id: int) -> TextProfile:
    """``*_ids``: each document's character ids, without BOS."""
    letters = np.concatenate(train_ids) if train_ids else np.zeros(0, dtype=np.int64)
    surprisal, own, uniform = _letters(letters, vocab_size, text_ids=np.delete(np.arange(vocab_size), bos_id))
    trigrams = _trigram_counts(train_ids, vocab_size, bos_id)
    calibration = held_out_ids if len(held_out_ids) >= MIN_HELD_OUT else train_ids
    threshold = float(np.quantile(_trigram_surprisals(trigrams, calibration), PLAUSIBLE_QUANTILE))
    return TextProfile("documents", surprisal, own, uniform, documents=frozenset(train_docs),
                       name_threshold=threshold, _trigrams=trigrams)


def _letters(ids: np.ndarray, vocab_size: int, text_ids: np.ndarray) -> tuple[np.ndarray, float, float]:
    counts = np.bincount(ids, minlength=vocab_size).astype(np.float64)
    p = (counts + LETTER_SMOOTHING)[text_ids]
    surprisal = np.zeros(vocab_size)
    surprisal[text_ids] = -np.log(p / p.sum())
    own = float((counts * surprisal).sum() / max(counts.sum(), 1.0))
    return surprisal, own, float(surprisal[text_ids].mean())


def _trigram_counts(docs: list[np.ndarray], vocab_size: int, bos_id: int) -> tuple:
    """Counts of (a, b, c) over BOS BOS doc BOS, as sorted keys a*V*V + b*V + c with counts, and [V, V]
    counts of the (a, b) contexts."""
    keys = _trigram_keys(docs, vocab_size, bos_id)
    unique, counts = np.unique(keys, return_counts=True)
    pairs = np.bincount(keys // vocab_size, minlength=vocab_size * vocab_size).astype(np.float64)
    return unique, counts.astype(np.float64), pairs, vocab_size, bos_id


def _trigram_keys(docs: list[np.ndarray], vocab_size: int, bos_id: int) -> np.ndarray:
    """Keys of every trigram of BOS BOS doc BOS, document after document (len(doc) + 1 per document)."""
    if not docs:
        return np.zeros(0, dtype=np.int64)
    lengths = np.array([len(d) for d in docs])
    width = int(lengths.max()) + 3
    table = np.full((len(docs), width), bos_id, dtype=np.int64)     # BOS BOS doc BOS BOS...
    ids = np.concatenate(docs).astype(np.int64)
    rows = np.repeat(np.arange(len(docs)), lengths)
    table[rows, 2 + np.arange(len(ids)) - np.repeat(np.cumsum(lengths) - lengths, lengths)] = ids
    v = vocab_size
    keys = table[:, :-2] * v * v + table[:, 1:-1] * v + table[:, 2:]
    return keys[np.arange(width - 2)[None, :] <= lengths[:, None]]      # row-major: document order kept


def _trigram_surprisals(trigrams: tuple, docs: list[np.ndarray]) -> np.ndarray:
    """Mean surprisal per document under the add-k trigram model."""
    unique, counts, pairs, v, bos_id = trigrams
    if not docs:
        return np.zeros(0)
    keys = _trigram_keys(docs, v, bos_id)
    slot = np.minimum(np.searchsorted(unique, keys), max(len(unique) - 1, 0))
    seen = counts[slot] * (unique[slot] == keys) if len(unique) else np.zeros(len(keys))
    surprisal = -np.log((seen + TRIGRAM_SMOOTHING) / (pairs[keys // v] + TRIGRAM_SMOOTHING * v))
    lengths = np.array([len(d) + 1 for d in docs])
    return np.add.reduceat(surprisal, np.cumsum(lengths) - lengths) / lengths
