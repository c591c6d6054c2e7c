"""Reproduce microgpt.py's random stream, so that a run here matches it step for step.

microgpt.py draws everything from Python's global ``random`` seeded with 42, in this order:
``random.shuffle(docs)``; the weights, ``random.gauss(0, 0.08)`` for wte, wpe, lm_head, then per
layer wq, wk, wv, wo, fc1, fc2, each matrix row by row ([out][in]); training draws nothing (one
document per step, in order); after the last step, ``random.choices`` samples 20 names at
temperature 0.5 (``inference``). ``MicrogptCompat`` replays that stream from a private
``random.Random(seed)``.

Its data is makemore's names list (``data.makemore``); a run on other data is still a faithful
microgpt.py, but not a retrace of *its* run, and says so with a warning.

Its vocabulary is the sorted distinct characters plus BOS = len(chars), the same ids as
``data.tokenizer.CharTokenizer`` with ``bos=True``, so the embedding rows line up.
"""
from __future__ import annotations

import random
import warnings

import numpy as np

from .. import sampling
from ..config import ModelConfig, SampleConfig
from ..data import Corpus, load_text_source
from ..data.makemore import is_makemore_names
from ..errors import ConfigError
from ..models.params import param_specs
from .base import Compat, numeric_seed

INIT_STD = 0.08
SEED = 42
INFERENCE_SAMPLES = 20
INFERENCE_TEMPERATURE = 0.5
INFERENCE_HEADER = "--- inference (new, hallucinated names) ---"


class MicrogptCompat(Compat):
    def __init__(self, docs: list[str], seed: int = SEED):
        self.seed = seed
        self.rng = random.Random(seed)
        self.docs: list[str] = list(docs)
        self.rng.shuffle(self.docs)

    @classmethod
    def for_run(cls, cfg, quiet: bool = True) -> tuple[MicrogptCompat, Corpus]:
        """The replay for a run's TrainConfig and the corpus it trains on: every document, in microgpt's
        shuffled order; val is the tail of that order (it overlaps train, as microgpt has no split)."""
        text = load_text_source(cfg.data.source, quiet=quiet)
        if not is_makemore_names(text):
            warnings.warn(f"--compat microgpt on {cfg.data.source}: not makemore's names list (microgpt.py's "
                          "data), so this run will not retrace microgpt.py's losses or samples", stacklevel=2)
        docs = [line.strip() for line in text.strip().split("\n") if line.strip()]
        compat = cls(docs, seed=numeric_seed(cfg.seed, SEED))
        n_val = max(1, int(len(docs) * cfg.data.val_fraction))
        return compat, Corpus.from_documents(cfg.data.source, compat.docs, compat.docs[-n_val:])

    def describe(self) -> str:
        return (f"replaying microgpt.py's random stream (random.seed({self.seed})): its document order "
                "and initial weights, in float64")

    def _matrix(self, n_out: int, n_in: int) -> np.ndarray:
        gauss = self.rng.gauss
        return np.array([[gauss(0, INIT_STD) for _ in range(n_in)] for _ in range(n_out)], dtype=np.float64)

    def init_params(self, cfg: ModelConfig) -> dict[str, np.ndarray]:
        """microgpt's weights (float64) under this project's names; draws from the stream."""
        if cfg.family != "gpt" or cfg.tie_weights or cfg.bias or cfg.norm_affine:
            raise ConfigError("microgpt compatibility needs a GPT with an untied lm_head, no biases and no "
                              "norm gains (the microgpt preset)")
        C, V = cfg.n_embd, cfg.vocab_size
        params = {"wte": self._matrix(V, C), "wpe": self._matrix(cfg.block_size, C),
                  "lm_head.weight": self._matrix(V, C)}
        for i in range(cfg.n_layer):
            for proj in ("wq", "wk", "wv", "wo"):
                params[f"h.{i}.attn.{proj}.weight"] = self._matrix(C, C)
            params[f"h.{i}.mlp.fc1.weight"] = self._matrix(cfg.mlp_ratio * C, C)
            params[f"h.{i}.mlp.fc2.weight"] = self._matrix(C, cfg.mlp_ratio * C)
        expected = {s.name for s in param_specs(cfg)}
        assert set(params) == expected, "parameter names drifted from models.params"
        return params

    def choose(self, weights: list[float]) -> int:
        """microgpt's sampling draw: ``random.choices(range(len(weights)), weights=weights)[0]``."""
        return self.rng.choices(range(len(weights)), weights=weights)[0]

    def inference(self, engine, tokenizer, block_size: int) -> list[str]:
        """microgpt.py's closing inference: 20 names at temperature 0.5, one after another, each token
        drawn by ``random.choices`` from the stream where training left it (right after the weights);
        a name ends at BOS or after ``block_size`` tokens. Call it once, after the last step."""
        cfg = SampleConfig(temperature=INFERENCE_TEMPERATURE, max_new_tokens=block_size)
        return [sampling.generate(engine, tokenizer, n=1, cfg=cfg, rng=None, choose=self.choose)[0]
                for _ in range(INFERENCE_SAMPLES)]


def format_inference(names: list[str]) -> str:
    """The names as microgpt.py prints them, after a blank line and its header."""
    lines = ["", INFERENCE_HEADER] + [f"sample {i + 1:2d}: {name}" for i, name in enumerate(names)]
    return "\n".join(lines)
