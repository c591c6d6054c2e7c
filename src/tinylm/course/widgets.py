"""The computations behind the course's own widgets, each a real measurement (nothing is made up):

- ``bigram``: the counting model of lesson 2 — the 27x27 table of which character follows which in the
  training names, its loss (the bigram line of the runner's chart) and names drawn from it;
- ``gradcheck``: one entry of the ``mlp`` preset's hand-derived gradient against the slope of the loss
  measured by nudging that entry by +-eps (numpy engine, float64);
- ``graph_size``: the scalar engine's computation graph of one step, plain vs fused ops (microgpt at init);
- ``mystery_curves``: the six recorded pathology curves under opaque ids, for "name the curve".

The models are built exactly as the runner builds them (``training.loop.Trainer``: the same data split,
tokenizer and initial weights for a seed string).
"""
from __future__ import annotations

import html
import time
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..data import load_corpus
from ..engines import engine_class
from ..engines.gradcheck import EngineLoss, nudged_losses, relative_error
from ..errors import TinyLMError
from ..lab.pathologies import PATHOLOGIES, canonical_curve
from ..models.params import param_count, param_specs
from ..presets import get_preset
from ..seeding import rng_for
from ..config import DataConfig

MAX_NAME_CHARS = 16          # a drawn name stops at the end marker or after this many characters
GRADCHECK_PRESET = "mlp"
GRAPH_PRESET = "microgpt"
GRAPH_SEED = "lesson-3"
MYSTERY_SEED = "course"      # the (fixed) order in which the mystery curves are shown
# The default nudge. Measured over all 2,480 entries of the mlp at init on "emma": with eps 1e-4 the median
# relative error is 2e-9 and only 1 entry exceeds 1e-6 (1.1e-6, a gradient of 3e-7); with 1e-5 rounding in
# loss(theta+eps) - loss(theta-eps) already dominates (median 2e-8, 2% of entries above 1e-6).
DEFAULT_EPS = 1e-4

PATHOLOGY_FIX = {
    "healthy": "Nothing to fix: this is what training should look like.",
    "lr-10": "The fix: a learning rate ten or a hundred times smaller.",
    "no-warmup": "The fix: a lower peak learning rate, or a warmup that ramps up to it.",
    "dead": "The fix: start from small random weights, so that units differ and gradients can flow.",
    "overfit": "The fix: more data, a smaller model or weight decay, or keep the checkpoint with the best "
               "validation loss.",
    "bad-init": "The fix: initialise with a much smaller spread (std 0.02 instead of 0.2).",
}


class WidgetError(TinyLMError):
    """A widget request that cannot be computed (an unknown parameter, a name outside the vocabulary)."""


# --- the counting model -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class BigramTable:
    chars: list[str]          # one label per token id; the start/end marker's label is ""
    marker: int               # the token id of the start/end marker
    counts: np.ndarray        # [V, V] int64: counts[a, b] = how often b follows a in the training names
    entropy: float            # mean -ln p(next | current) of the normalised table over the same pairs

    @property
    def probs(self) -> np.ndarray:
        totals = self.counts.sum(axis=1, keepdims=True)
        uniform = np.full_like(self.counts, 1, dtype=np.float64) / self.counts.shape[1]
        return np.where(totals > 0, self.counts / np.maximum(totals, 1), uniform)


@lru_cache(maxsize=16)
def bigram_table(seed: str) -> BigramTable:
    """The table of the bundled names' training split for ``seed`` (the split a names run with that seed
    trains on), with the runner's tokenizer: letters in sorted order, the marker (BOS) after them."""
    corpus = load_corpus(DataConfig(source="names", mode="documents"), seed, quiet=True)
    tok = corpus.tokenizer
    V = tok.vocab_size
    prev = np.concatenate([doc[:-1] for doc in corpus.train_docs])     # each doc is [BOS] + name + [BOS]
    nxt = np.concatenate([doc[1:] for doc in corpus.train_docs])
    counts = np.bincount(prev * V + nxt, minlength=V * V).reshape(V, V)
    totals = counts.sum(axis=1, keepdims=True)
    seen = counts > 0
    nll = -(counts[seen] * np.log(counts[seen] / np.broadcast_to(totals, counts.shape)[seen])).sum()
    chars = ["" if i == tok.bos_id else tok.chars[i] for i in range(V)]
    return BigramTable(chars, int(tok.bos_id), counts, float(nll / counts.sum()))


def draw_names(table: BigramTable, count: int, seed: str) -> list[str]:
    """``count`` names drawn from the normalised rows, each from the marker until the marker comes out
    again (or MAX_NAME_CHARS characters)."""
    rng = rng_for(seed, "bigram-names")
    cumulative = np.cumsum(table.probs, axis=1)
    names = []
    for _ in range(count):
        current, letters = table.marker, []
        while len(letters) < MAX_NAME_CHARS:
            row = cumulative[current]
            current = min(int(np.searchsorted(row, rng.random() * row[-1], side="right")), len(row) - 1)
            if current == table.marker:
                break
            letters.append(table.chars[current])
        names.append("".join(letters))
    return names


def bigram(seed: str, count: int) -> dict:
    table = bigram_table(seed)
    return {"chars": table.chars, "marker": table.marker, "counts": table.counts.tolist(),
            "entropy": table.entropy, "names": draw_names(table, count, seed), "data": "names"}


# --- models as the runner builds them ------------------------------------------------------------------------
def build_trainer(preset_name: str, seed: str, engine: str, dtype: str | None = None,
                  engine_options: dict | None = None):
    from ..training.loop import Trainer
    preset = get_preset(preset_name)
    preset.train.seed = seed
    if dtype is not None:
        preset.train.dtype = dtype
    return Trainer(preset.model, preset.train, engine=engine, preset=preset_name, engine_options=engine_options)


def wrapped_name(tokenizer, name: str) -> tuple[np.ndarray, np.ndarray]:
    """The training example a name makes: inputs [BOS] + letters, targets letters + [BOS]."""
    if not name or any(ch not in tokenizer.chars for ch in name):
        raise WidgetError(f"the name {name!r} must be letters a-z")
    ids = np.array([tokenizer.bos_id, *tokenizer.encode(name), tokenizer.bos_id], dtype=np.int64)[None, :]
    return ids[:, :-1], ids[:, 1:]


# --- gradient check ------------------------------------------------------------------------------------
@lru_cache(maxsize=8)
def _gradcheck_start(seed: str):
    """(model config, initial float64 parameters, tokenizer) of the mlp preset for ``seed``."""
    trainer = build_trainer(GRADCHECK_PRESET, seed, "numpy", dtype="float64")
    return trainer.model_cfg, trainer.engine.get_params(), trainer.tokenizer


def gradcheck_params(seed: str = "lesson-2") -> dict:
    cfg = _gradcheck_start(seed)[0]
    params = [{"name": s.name, "shape": list(s.shape), "size": int(np.prod(s.shape))} for s in param_specs(cfg)]
    return {"params": params, "total": param_count(cfg), "preset": GRADCHECK_PRESET}


def gradcheck(param: str, index: int, eps: float = DEFAULT_EPS, name: str = "emma", seed: str = "lesson-2") -> dict:
    """The hand-derived gradient of one parameter entry against (loss(theta+eps) - loss(theta-eps)) / 2 eps."""
    cfg, initial, tokenizer = _gradcheck_start(seed)
    if param not in initial:
        raise WidgetError(f"unknown parameter {param!r} (choose from {', '.join(initial)})")
    size = initial[param].size
    if not 0 <= index < size:
        raise WidgetError(f"index must be between 0 and {size - 1} for {param} (shape {list(initial[param].shape)})")
    x, y = wrapped_name(tokenizer, name)
    engine = engine_class("numpy")(cfg, initial, dtype="float64")    # a fresh engine: requests never share state
    loss, grads = engine.forward_backward(x, y)
    entry = tuple(int(i) for i in np.unravel_index(index, initial[param].shape))
    analytic = float(grads[param][entry])
    at = EngineLoss(engine, x, y)           # the code `tinylm gradcheck` runs, on one entry
    value = float(at.params[param][entry])
    loss_plus, loss_minus = nudged_losses(at, at.params[param], entry, eps)
    numeric = (loss_plus - loss_minus) / (2 * eps)
    # |a - n| / (|a| + |n|), with a floor so that an entry whose gradient is exactly 0 both ways reads 0
    rel = relative_error(np.array([analytic]), np.array([numeric]))
    return {"param": param, "index": index, "value": value, "eps": eps, "name": name, "loss": float(loss),
            "loss_plus": loss_plus, "loss_minus": loss_minus, "numeric": numeric, "analytic": analytic,
            "rel_error": rel}


# --- graph size ----------------------------------------------------------------------------------------
def _one_step_graph(engine, x: np.ndarray, y: np.ndarray) -> tuple[float, dict, float]:
    """(loss, graph_stats, seconds) of one forward + backward of a ScalarEngine: the steps of its
    ``forward_backward``, keeping the graph so that its leaves can be counted too."""
    from ..engines.scalar_engine.engine import gc_paused
    from ..engines.scalar_engine.graph import graph_stats
    from ..engines.scalar_engine.value import backpropagate, topological_order
    with gc_paused():
        start = time.perf_counter()
        model, _ = engine._model()
        loss = engine.ops.mean(engine._losses(model, x, y))
        topo = topological_order(loss, include_leaves=False)
        loss.grad = 1.0
        backpropagate(topo)
        seconds = time.perf_counter() - start
        return float(loss.data), graph_stats(topo), seconds


@lru_cache(maxsize=64)
def graph_size(name: str) -> dict:
    """Plain vs fused scalar ops on one step of microgpt at init (seed GRAPH_SEED) on ``name``."""
    out: dict = {"name": name, "preset": GRAPH_PRESET, "seed": GRAPH_SEED}
    for mode in ("plain", "fused"):
        trainer = build_trainer(GRAPH_PRESET, GRAPH_SEED, "scalar", engine_options={"mode": mode})
        x, y = wrapped_name(trainer.tokenizer, name)
        loss, stats, seconds = _one_step_graph(trainer.engine, x, y)
        out["params"] = trainer.n_params
        out[mode] = {**stats, "loss": loss, "seconds": seconds}
    return out


# --- mystery curves ----------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _mystery_order() -> tuple[str, ...]:
    names = list(PATHOLOGIES)
    return tuple(names[i] for i in rng_for(MYSTERY_SEED, "mystery").permutation(len(names)))


def mystery_key() -> dict[str, str]:
    """Opaque curve id (c1..c6) -> pathology name."""
    return {f"c{i + 1}": name for i, name in enumerate(_mystery_order())}


def mystery_curves() -> dict:
    curves = []
    for curve_id, name in mystery_key().items():
        curve = canonical_curve(name)
        if curve is None:
            raise WidgetError(f"the {name} curve has not been recorded")
        curves.append({"id": curve_id, "loss": curve["loss"], "val": curve["val"], "uniform": curve["uniform"],
                       "steps": curve["steps"]})
    return {"curves": curves, "choices": [{"name": p.name, "title": p.title} for p in PATHOLOGIES.values()]}


def mystery_explain(name: str) -> str:
    p = PATHOLOGIES[name]
    expect = p.expect[0].upper() + p.expect[1:]
    text = f"This was the \u201c{p.title}\u201d run ({p.what}). {expect}. {PATHOLOGY_FIX[name]}"
    return html.escape(text, quote=False)      # the page shows it as HTML, like every other explanation


def mystery_answer(curve_id: str, answer: str) -> dict | None:
    """The verdict on naming curve ``curve_id`` as ``answer`` (None: no such curve)."""
    name = mystery_key().get(curve_id)
    if name is None:
        return None
    if answer not in PATHOLOGIES:
        raise WidgetError(f"unknown pathology {answer!r} (choose from {', '.join(PATHOLOGIES)})")
    return {"correct": answer == name, "name": name, "title": PATHOLOGIES[name].title,
            "explain": mystery_explain(name)}
