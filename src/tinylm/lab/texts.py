"""Texts the lab trains on that are not built-in sources: uploads (and generated corpora), by content.

A run on such a text records ``data.source = "text:<sha256>"`` in its config, never a file path, so a
checkpoint of it can be continued by any lab that holds the same text: this server's store while it
runs, or after the user uploads the same file again (same bytes, same hash). The text reaches the
Trainer as an in-memory Corpus; the short-lived temp file below only feeds the shared corpus loader.
"""
from __future__ import annotations

import collections
import dataclasses
import hashlib
import os
import tempfile
from typing import TYPE_CHECKING

from ..data.makemore import MAKEMORE_SOURCE
from ..data.sources import BUILTIN_SOURCES
from ..errors import TinyLMError

if TYPE_CHECKING:
    from ..config import DataConfig
    from ..data import Corpus

PREFIX = "text:"
# The package's built-in sources, less makemore's list: that is --compat microgpt's data (a download of nearly
# the bundled names), not a choice a learner needs.
BUILTIN = tuple(source for source in BUILTIN_SOURCES if source != MAKEMORE_SOURCE)


class TextNotAvailable(TinyLMError):
    """A run or checkpoint refers to a text this lab does not hold (or to a file it must not open)."""


def sha256_of(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def source_for(text: str) -> str:
    """The data source a run on ``text`` records in its config (and checkpoints)."""
    return PREFIX + sha256_of(text)


def sha_of_source(source: str) -> str | None:
    """The sha256 a ``text:`` source refers to; None for anything else."""
    if source.startswith(PREFIX):
        digest = source[len(PREFIX):]
        if len(digest) == 64 and all(c in "0123456789abcdef" for c in digest):
            return digest
    return None


def corpus_from_text(text: str, data_cfg: DataConfig, seed: str) -> Corpus:
    """The Corpus ``load_corpus`` makes for ``text`` (same mode detection and split), named by its hash."""
    from ..data import load_corpus
    fd, path = tempfile.mkstemp(prefix="tinylm-lab-", suffix=".txt")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        corpus = load_corpus(dataclasses.replace(data_cfg, source=path), seed, quiet=True)
    finally:
        os.unlink(path)
    corpus.name = f"text {sha256_of(text)[:12]}"
    return corpus


class TextStore:
    """Content-addressed texts held in memory (LRU beyond ``max_chars`` characters; texts in use are never dropped)."""

    def __init__(self, max_chars: int = 64 * 1024 * 1024) -> None:
        self.max_chars = max_chars
        self._texts: collections.OrderedDict[str, str] = collections.OrderedDict()

    def add(self, text: str, in_use: set[str] = frozenset()) -> str:
        digest = sha256_of(text)
        self._texts[digest] = text
        self._texts.move_to_end(digest)
        total = sum(len(t) for t in self._texts.values())
        for old in list(self._texts):
            if total <= self.max_chars:
                break
            if old != digest and old not in in_use:
                total -= len(self._texts.pop(old))
        return digest

    def get(self, digest: str) -> str | None:
        text = self._texts.get(digest)
        if text is not None:
            self._texts.move_to_end(digest)
        return text

    def __contains__(self, digest: str) -> bool:
        return digest in self._texts

    def __len__(self) -> int:
        return len(self._texts)
