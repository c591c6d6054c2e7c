"""Settings that are each valid but contradict one another (a 100-step warmup in a 30-step run): the run
still starts, with a one-line ``warnings.warn`` per contradiction, so that the CLI (which prints warnings
as ``tinylm: warning: ...``), the notebook API and the lab all say it. Checked by the Trainer, where the
config meets its data."""
from __future__ import annotations

import warnings

from ..data import Corpus
from ..config import TrainConfig
from .schedules import learning_rate


class SettingsWarning(UserWarning):
    """Two settings of a run contradict each other."""


def contradictions(cfg: TrainConfig, corpus: Corpus, block_size: int) -> list[str]:
    """One sentence per contradiction between ``cfg`` and itself or its data (empty when none)."""
    found = []
    steps = cfg.steps
    if cfg.warmup and cfg.warmup >= steps:
        found.append(f"warmup {cfg.warmup} >= steps {steps}: the learning rate never reaches its peak "
                     f"{cfg.optim.lr:g} (it stops at {learning_rate(cfg, steps - 1):.3g})")
    if cfg.eval_every > steps:
        found.append(f"eval_every {cfg.eval_every} > steps {steps}: the run is evaluated only at the start "
                     "and at the end")
    if cfg.sample_every > steps:
        found.append(f"sample_every {cfg.sample_every} > steps {steps}: the run is sampled only at the start "
                     "and at the end")
    if cfg.compat:   # a replayed program fixes its own batches
        return found
    if corpus.kind == "documents":
        n_docs = len(corpus.train_docs)
        if cfg.batch_size > n_docs:
            found.append(f"batch_size {cfg.batch_size} is larger than the training data ({n_docs:,} "
                         f"document{'s' if n_docs != 1 else ''}): every batch repeats documents")
    elif corpus.train_ids is not None:
        tokens, n_ids = cfg.batch_size * block_size, len(corpus.train_ids)
        if tokens > n_ids:
            found.append(f"batch_size {cfg.batch_size} x block_size {block_size} = {tokens:,} tokens is more "
                         f"than the training data ({n_ids:,} tokens): every batch repeats the text")
    return found


def warn_contradictions(cfg: TrainConfig, corpus: Corpus, block_size: int) -> list[str]:
    """Warn (``SettingsWarning``) once per contradiction; returns them."""
    found = contradictions(cfg, corpus, block_size)
    for message in found:
        warnings.warn(message, SettingsWarning, stacklevel=3)
    return found
