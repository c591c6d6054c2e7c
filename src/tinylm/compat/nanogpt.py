"""Reproduce nanoGPT's random stream (char-level train.py), so a run here sees nanoGPT's exact weights,
batches and eval batches.

nanoGPT draws everything from torch's global CPU generator seeded with 1337, in this order:
1. building the modules — each ``nn.Embedding`` fills its weight with ``normal_()``, each ``nn.Linear``
   with ``kaiming_uniform_(a=sqrt(5))`` (bound 1/sqrt(fan_in)), then its bias: wte, wpe, per block
   c_attn, attn.c_proj, c_fc, mlp.c_proj, then lm_head;
2. ``_init_weights``: ``normal_(0, 0.02)`` on every Linear/Embedding weight in module order (lm_head last;
   it is tied to wte, so lm_head's draw is the embedding), then ``normal_(0, 0.02/sqrt(2·n_layer))``
   on every ``c_proj.weight``;
3. ``get_batch``: ``torch.randint(len(split) - block_size, (batch_size,))`` window starts. The first
   training batch is fetched before the loop and each next one right after the forward pass;
   ``estimate_loss`` draws ``eval_iters`` fresh train batches, then as many val batches, at every eval.

``NanogptCompat`` replays that stream from a private ``torch.Generator``; torch is needed only here.
nanoGPT's fused ``c_attn`` [3C, C] is split row-wise into this project's wq, wk, wv.
"""
from __future__ import annotations

import base64
import math

import numpy as np

from ..config import ModelConfig
from ..data import Corpus
from ..data.corpus import stream_windows
from ..errors import ConfigError, EngineUnavailable
from ..models.params import param_specs
from .base import Compat, numeric_seed

SEED = 1337
INIT_STD = 0.02


def _torch():
    try:
        import torch
    except ImportError:
        raise EngineUnavailable("nanoGPT compatibility replays torch's random stream and needs torch: "
                                "pip install 'tinylm[torch]'") from None
    return torch


class NanogptCompat(Compat):
    def __init__(self, seed: int = SEED):
        self.torch = _torch()
        self.seed = int(seed)
        self.gen = self.torch.Generator().manual_seed(self.seed)
        self.pending: np.ndarray | None = None   # starts of the prefetched training batch

    @classmethod
    def for_run(cls, cfg, corpus: Corpus) -> NanogptCompat:
        if corpus.kind != "stream":
            raise ConfigError("nanoGPT compatibility trains on a stream of text (random windows), "
                              "not on documents; use e.g. --preset shakespeare-cpu")
        return cls(numeric_seed(cfg.seed, SEED))

    def describe(self) -> str:
        return (f"replaying nanoGPT's torch random stream (seed {self.seed}): its initial weights, "
                "training batches and eval batches")

    # --- weights ----------------------------------------------------------------------
    def _draw(self, shape: tuple[int, ...], how: str, scale: float) -> np.ndarray:
        t = self.torch.empty(shape, dtype=self.torch.float32)
        if how == "normal":
            t.normal_(0.0, scale, generator=self.gen)
        else:
            t.uniform_(-scale, scale, generator=self.gen)
        return t.numpy().astype(np.float64)

    def init_params(self, cfg: ModelConfig) -> dict[str, np.ndarray]:
        """nanoGPT's initial weights (float32 values, returned as float64) under this project's names."""
        if (cfg.family != "gpt" or cfg.norm != "layernorm" or not cfg.norm_affine or not cfg.tie_weights
                or not cfg.final_norm or cfg.embed_norm or cfg.activation != "gelu"):
            raise ConfigError("nanoGPT compatibility needs nanoGPT's model: a GPT with LayerNorm gains, GELU, "
                              "a final norm and a tied head (e.g. the shakespeare-cpu preset)")
        C, V, R, L = cfg.n_embd, cfg.vocab_size, cfg.mlp_ratio, cfg.n_layer
        linears = []  # (name, [out, in]) in module order
        for i in range(L):
            linears += [(f"h.{i}.attn.c_attn", (3 * C, C)), (f"h.{i}.attn.c_proj", (C, C)),
                        (f"h.{i}.mlp.c_fc", (R * C, C)), (f"h.{i}.mlp.c_proj", (C, R * C))]
        # 1. module construction (the values are overwritten below; the draws still move the stream)
        self._draw((V, C), "normal", 1.0)
        self._draw((cfg.block_size, C), "normal", 1.0)
        for _, (n_out, n_in) in linears + [("lm_head", (V, C))]:
            bound = 1.0 / math.sqrt(n_in)
            self._draw((n_out, n_in), "uniform", bound)
            if cfg.bias and _ != "lm_head":
                self._draw((n_out,), "uniform", bound)
        # 2. _init_weights in module order, then the scaled residual projections
        self._draw((V, C), "normal", INIT_STD)                 # wte (overwritten by lm_head: tied)
        wpe = self._draw((cfg.block_size, C), "normal", INIT_STD)
        w = {name: self._draw(shape, "normal", INIT_STD) for name, shape in linears}
        wte = self._draw((V, C), "normal", INIT_STD)           # lm_head.weight is wte
        resid_std = INIT_STD / math.sqrt(2 * L) if cfg.scaled_residual_init else INIT_STD
        for name, shape in linears:
            if name.endswith("c_proj"):
                w[name] = self._draw(shape, "normal", resid_std)

        params = {"wte": wte, "wpe": wpe}
        for i in range(L):
            q, k, v = np.split(w[f"h.{i}.attn.c_attn"], 3, axis=0)
            ours = {"attn.wq": q, "attn.wk": k, "attn.wv": v, "attn.wo": w[f"h.{i}.attn.c_proj"],
                    "mlp.fc1": w[f"h.{i}.mlp.c_fc"], "mlp.fc2": w[f"h.{i}.mlp.c_proj"]}
            for short, value in ours.items():
                params[f"h.{i}.{short}.weight"] = value
        for spec in param_specs(cfg):   # norm gains 1, biases 0 (nanoGPT zeroes Linear biases)
            if spec.name not in params:
                params[spec.name] = np.ones(spec.shape) if spec.init == "ones" else np.zeros(spec.shape)
        assert set(params) == {s.name for s in param_specs(cfg)}, "parameter names drifted from models.params"
        return params

    # --- batches ----------------------------------------------------------------------
    def _starts(self, n_ids: int, block_size: int, batch_size: int) -> np.ndarray:
        if n_ids - block_size <= 0:
            raise ConfigError(f"the split has {n_ids:,} tokens; block_size {block_size} needs more")
        return self.torch.randint(n_ids - block_size, (batch_size,), generator=self.gen).numpy()

    def start(self, corpus: Corpus, block_size: int, batch_size: int) -> None:
        """nanoGPT's ``X, Y = get_batch('train')`` before the loop, after building the model."""
        self.pending = self._starts(len(corpus.train_ids), block_size, batch_size)

    def train_batch(self, corpus: Corpus, block_size: int, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """The prefetched batch; the next one is drawn at once, as nanoGPT does after the forward pass."""
        batch = stream_windows(corpus.train_ids, self.pending, block_size)
        self.pending = self._starts(len(corpus.train_ids), block_size, batch_size)
        return batch

    def eval_batches(self, corpus: Corpus, split: str, n_batches: int, block_size: int, batch_size: int) -> list:
        """Fresh batches at every eval (nanoGPT's ``estimate_loss``)."""
        ids = corpus.train_ids if split == "train" else corpus.val_ids
        return [stream_windows(ids, self._starts(len(ids), block_size, batch_size), block_size)
                for _ in range(n_batches)]

    # --- exact resume -----------------------------------------------------------------
    def state(self) -> dict:
        return {"generator": base64.b64encode(self.gen.get_state().numpy().tobytes()).decode("ascii"),
                "pending": [] if self.pending is None else [int(s) for s in self.pending]}

    def set_state(self, state: dict) -> None:
        try:
            raw = np.frombuffer(base64.b64decode(state["generator"]), dtype=np.uint8).copy()
            self.gen.set_state(self.torch.from_numpy(raw))
            self.pending = np.array(state["pending"], dtype=np.int64) if state["pending"] else None
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise ConfigError(f"the checkpoint's nanoGPT random state is unreadable ({exc})") from None
