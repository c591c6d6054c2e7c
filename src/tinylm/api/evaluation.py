"""Whole-split losses of a saved run (``tinylm eval``)."""
from __future__ import annotations

import math
from pathlib import Path

from ..errors import CheckpointError
from .model import load

BROKEN_LOSS_FACTOR = 100


def evaluate(run: str | Path, splits: tuple[str, ...] = ("val",), engine: str = "numpy") -> dict[str, dict]:
    """Loss over every token of each split (train, val, test) for a run directory or checkpoint (full,
    best.safetensors or a weights-only export), with the data rebuilt from the checkpoint's config (same source,
    same seed, so the same split): {split: {"loss", "ppl", "tokens"}}.

    >>> import tinylm, tempfile
    >>> run_dir = tempfile.mkdtemp() + "/run"
    >>> _ = tinylm.train("bigram", steps=100, seed="doc", run_dir=run_dir, progress=False)
    >>> result = tinylm.evaluate(run_dir)
    >>> sorted(result["val"]), result["val"]["loss"] < 3.0
    (['loss', 'ppl', 'tokens'], True)
    """
    from ..training.evaluate import split_loss
    from ..training.run_data import run_corpus

    model = load(run, engine=engine)
    corpus = run_corpus(model.meta)
    out = {}
    for split in splits:
        loss, tokens = split_loss(model.engine, corpus, split, model.config.block_size)
        # nan, inf or a loss a hundred times that of uniform guessing is a broken model, not a result
        if not (math.isfinite(loss) and loss <= BROKEN_LOSS_FACTOR * math.log(model.config.vocab_size)):
            raise CheckpointError(f"the model's {split} loss is {loss:.4g}: its weights are broken "
                                  "(saved from a run that was blowing up?)")
        out[split] = {"loss": loss, "ppl": perplexity(loss), "tokens": tokens}
    return out


def perplexity(loss: float) -> float:
    """e ** loss (inf when that overflows).

    >>> round(perplexity(1.0), 4), perplexity(1000.0)
    (2.7183, inf)
    """
    return math.exp(loss) if loss < 700 else float("inf")


__all__ = ["evaluate", "perplexity", "BROKEN_LOSS_FACTOR"]
