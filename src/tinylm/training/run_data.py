"""The corpus a saved run trained on, rebuilt from its checkpoint's train config (same source, same seed,
so the same train / val / test split): what ``tinylm eval`` and ``tinylm sample --novelty`` measure against."""
from __future__ import annotations

from ..data import Corpus
from ..errors import CheckpointError
from ..config import TrainConfig


def run_corpus(meta: dict, quiet: bool = True) -> Corpus:
    """The run's corpus from a checkpoint's metadata (full or weights-only)."""
    from .loop import Trainer   # the loop owns how each compat mode builds its data

    if not isinstance(meta.get("train"), dict):
        raise CheckpointError("the checkpoint does not record its train config, so its data cannot be rebuilt")
    cfg = TrainConfig.from_dict(meta["train"])
    _, corpus = Trainer._load_data(cfg, None, quiet)
    saved = (meta.get("tokenizer") or {}).get("chars")
    if saved is not None and list(saved) != list(corpus.tokenizer.chars):
        raise CheckpointError(f"the data {cfg.data.source!r} no longer matches the checkpoint's vocabulary "
                              "(the file changed since training?)")
    return corpus


__all__ = ["run_corpus"]
