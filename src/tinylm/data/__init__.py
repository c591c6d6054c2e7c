"""Data: bundled names, downloaded tiny-shakespeare or any text file -> tokenizer + batched corpus.

    corpus = load_corpus(DataConfig(source="names"), seed="42")
    x, y = corpus.batch("train", rng, batch_size=32, block_size=16)
"""
from __future__ import annotations

from .corpus import Corpus
from .load import detect_mode, load_corpus
from .shakespeare import SHAKESPEARE_SHA256, SHAKESPEARE_URL, ensure_shakespeare
from .sources import load_text_source, names_text
from .tokenizer import CharTokenizer

__all__ = ["CharTokenizer", "Corpus", "load_corpus", "load_text_source", "ensure_shakespeare",
           "detect_mode", "names_text", "SHAKESPEARE_SHA256", "SHAKESPEARE_URL"]
