"""Loss over a whole split — the number without eval-batch sampling noise.

The loop's evals average a few fixed random batches (cheap, comparable over a run). ``split_loss``
visits every token of a split once: a stream as consecutive non-overlapping windows, documents each as
one BOS-wrapped row. Batches are weighted by their number of predicted tokens, so the result equals the
mean over all of them.
"""
from __future__ import annotations

import numpy as np

from ..data import Corpus
from ..engines import Engine

EVAL_BATCH = 64


def split_loss(engine: Engine, corpus: Corpus, split: str, block_size: int,
               batch_size: int = EVAL_BATCH) -> tuple[float, int]:
    """(mean loss per predicted token, number of predicted tokens) over the whole split."""
    total, count = 0.0, 0
    for x, y in corpus.split_batches(split, batch_size, block_size):
        n = int(np.count_nonzero(y >= 0))
        with np.errstate(over="ignore", invalid="ignore"):
            total += engine.loss(x, y) * n
        count += n
    return total / count, count
