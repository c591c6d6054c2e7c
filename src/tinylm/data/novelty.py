"""Is a sampled document a copy of the data or new? (makemore's "in train / in test / new" marks.)

A documents model that reproduces training names has memorised; one that writes test names (never trained on)
has generalised to real ones; ``new`` is a name in no split. Val names are marked ``in-val`` (makemore has no
val split; calling them new would be wrong). A stream has no documents to compare with.
"""
from __future__ import annotations

from collections import Counter

from ..errors import DataError
from .corpus import Corpus

MARKS = ("in-train", "in-val", "in-test", "new")


def novelty_marks(samples: list[str], corpus: Corpus) -> list[str]:
    """One mark per sample: in-train, in-val, in-test or new (checked in that order)."""
    if corpus.kind != "documents":
        raise DataError("--novelty compares samples with the training documents: this run trained on a stream "
                        "of text, which has no documents to compare with")
    splits = [(f"in-{split}", set(corpus.document_texts(split))) for split in ("train", "val", "test")]
    return [next((mark for mark, docs in splits if text in docs), "new") for text in samples]


def novelty_summary(marks: list[str]) -> str:
    """'novelty: 3 in-train, 0 in-val, 1 in-test, 6 new (of 10 samples)'."""
    counts = Counter(marks)
    parts = ", ".join(f"{counts[mark]} {mark}" for mark in MARKS)
    return f"novelty: {parts} (of {len(marks)} samples)"


__all__ = ["MARKS", "novelty_marks", "novelty_summary"]
