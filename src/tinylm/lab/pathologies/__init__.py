"""'When training breaks': six runs of the same small GPT on names, each a classic failure (or not).

Each definition is a real config; ``scripts/record_pathologies.py`` trains each one with the numpy
engine and stores the curve as ``<name>.json`` here. The page draws that canonical curve faintly under
the live run, and ``lab.diagnosis`` names what happened from the live curve itself.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from ...engines.base import OptimConfig
from ...errors import ConfigError
from ...models.config import ModelConfig
from ...training.config import DataConfig, TrainConfig

HERE = Path(__file__).resolve().parent
SEED = "pathology"
OVERFIT_DOCS = 64          # tiny corpus: the first 64 names, half of them held out for validation


@dataclass(frozen=True)
class Pathology:
    name: str
    title: str
    what: str               # the one change from the healthy run
    expect: str             # what the curve should do


PATHOLOGIES: dict[str, Pathology] = {p.name: p for p in [
    Pathology("healthy", "Healthy", "Adam lr 1e-2 with 30 warmup iters, cosine decay",
              "falls smoothly toward the bigram line"),
    Pathology("lr-10", "lr = 10", "learning rate 10 (plain SGD, no warmup)",
              "NaN within a few iters: updates overshoot until the numbers overflow"),
    Pathology("no-warmup", "No warmup", "Adam at lr 1e-1 from iter 1 (no warmup, no decay)",
              "the first updates overshoot: the loss shoots far above ln V, then slowly recovers"),
    Pathology("dead", "Dead (zero init)", "every weight initialised to 0",
              "loss stays at ln V although updates are taken: no gradient flows"),
    Pathology("overfit", "Overfit", f"{OVERFIT_DOCS} names only (half held out), long training",
              "train loss goes toward 0 while val rises"),
    Pathology("bad-init", "Bad init", "initial weights with std 1.0 instead of 0.08",
              "starts far above ln V (confidently wrong), a hockey-stick curve"),
]}


def base_model() -> ModelConfig:
    # microgpt's block, two layers of 32: no final norm, so a runaway lr can really overflow
    return ModelConfig(family="gpt", block_size=16, n_embd=32, n_layer=2, n_head=4, norm="rmsnorm",
                       norm_affine=False, embed_norm=True, final_norm=False, activation="relu", bias=False,
                       tie_weights=False, init_std=0.08)


def base_train(seed: str) -> TrainConfig:
    return TrainConfig(steps=300, batch_size=16, schedule="cosine", warmup=30, min_lr=1e-3, eval_every=25,
                       eval_batches=4, sample_every=0, seed=seed,
                       optim=OptimConfig(name="adam", lr=1e-2, beta1=0.9, beta2=0.99),
                       data=DataConfig(source="names", mode="documents"))


def pathology_configs(name: str, seed: str = SEED) -> tuple[ModelConfig, TrainConfig, str | None]:
    """(model config, train config, corpus text or None for the names data) of one pathology."""
    if name not in PATHOLOGIES:
        raise ConfigError(f"unknown pathology {name!r} (choose from {', '.join(PATHOLOGIES)})")
    model, train, text = base_model(), base_train(seed), None
    if name == "lr-10":
        train = replace(train, warmup=0, schedule="constant", optim=OptimConfig(name="sgd", lr=10.0))
    elif name == "no-warmup":
        # on this model lr 1e-2 without warmup stays healthy (measured); 1e-1 is where it breaks
        train = replace(train, warmup=0, schedule="constant", optim=replace(train.optim, lr=1e-1))
    elif name == "dead":
        model = replace(model, init_std=0.0)
    elif name == "overfit":
        from ...data import load_text_source
        names = [line.strip() for line in load_text_source("names", quiet=True).splitlines() if line.strip()]
        text = "\n".join(names[:OVERFIT_DOCS]) + "\n"
        train = replace(train, steps=200, warmup=0, schedule="constant", batch_size=32, eval_every=10,
                        data=DataConfig(source="overfit", mode="documents", val_fraction=0.5))
    elif name == "bad-init":
        model = replace(model, init_std=1.0)
    return model, train, text


def canonical_curve(name: str) -> dict | None:
    """The recorded curve of a pathology (None when it has not been recorded)."""
    path = HERE / f"{name}.json"
    if name not in PATHOLOGIES or not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def catalogue() -> list[dict]:
    return [{"name": p.name, "title": p.title, "what": p.what, "expect": p.expect} for p in PATHOLOGIES.values()]
