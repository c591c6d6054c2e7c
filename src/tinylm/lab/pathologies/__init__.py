"""'When training breaks': six runs of the same small GPT on names, each a classic failure (or not).

Each definition is a real config; ``scripts/record_pathologies.py`` trains each one with the numpy
engine and stores the curve as ``<name>.json`` here. The page draws that canonical curve faintly under
the live run, and the training loop's loss-curve doctor (``training.doctor``) names what happened from the
live curve itself.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from ...config import DataConfig, ModelConfig, OptimConfig, TrainConfig
from ...errors import ConfigError

HERE = Path(__file__).resolve().parent
SEED = "pathology"
OVERFIT_DOCS = 64          # tiny corpus: the first 64 names, half of them held out for validation
STEPS = 200                # every run ~2-5 s on one core
INIT_STD = 0.02
BAD_INIT_STD = 0.2


@dataclass(frozen=True)
class Pathology:
    name: str
    title: str
    what: str               # the one change from the healthy run
    expect: str             # what the curve should do


PATHOLOGIES: dict[str, Pathology] = {p.name: p for p in [
    Pathology("healthy", "Healthy", "Adam, 20 warmup iters to lr 3e-3, cosine decay",
              "falls smoothly toward the bigram line"),
    Pathology("lr-10", "lr = 10", "learning rate 10 (plain SGD, no warmup)",
              "NaN within a few iters: updates overshoot until the numbers overflow"),
    Pathology("no-warmup", "lr 1e-2, no warmup", "Adam at lr 1e-2 from iter 1 (no warmup, no decay)",
              "falls normally for ~40 iters, then unwinds: the loss climbs back far above ln V and only "
              "slowly recovers (on this model a warmup to lr 1e-2 only delays it: the peak lr is too high)"),
    Pathology("dead", "Dead (zero init)", "every weight initialised to 0",
              "loss stays at ln V although updates are taken: no gradient flows"),
    Pathology("overfit", "Overfit", f"{OVERFIT_DOCS} names only (half held out), no lr decay",
              "train loss goes toward 0 while val rises"),
    Pathology("bad-init", "Bad init", f"initial weights with std {BAD_INIT_STD} instead of {INIT_STD}",
              "starts far above ln V (confidently wrong): a hockey stick that spends most of the run unlearning"),
]}


def base_model() -> ModelConfig:
    # Found by a search over small GPTs (width, depth, norm, init, Adam betas) for one where Adam at lr 1e-2
    # without warmup falls normally, then unwinds. What makes it fragile: no final norm before a head tied
    # to the embedding (the logits scale with the growing residual stream), and beta1 0.5 (little momentum
    # averaging, so noisy steps land at full size). At lr 3e-3 with warmup it trains smoothly.
    return ModelConfig(family="gpt", block_size=16, n_embd=96, n_layer=2, n_head=4, norm="layernorm",
                       norm_affine=False, embed_norm=True, final_norm=False, activation="gelu", bias=False,
                       tie_weights=True, init_std=INIT_STD)


def base_train(seed: str) -> TrainConfig:
    return TrainConfig(steps=STEPS, batch_size=16, schedule="cosine", warmup=20, min_lr=3e-4, eval_every=20,
                       eval_batches=4, sample_every=0, seed=seed,
                       optim=OptimConfig(name="adam", lr=3e-3, beta1=0.5, beta2=0.99),
                       data=DataConfig(source="names", mode="documents"))


def pathology_configs(name: str, seed: str = SEED) -> tuple[ModelConfig, TrainConfig, str | None]:
    """(model config, train config, corpus text or None for the names data) of one pathology."""
    if name not in PATHOLOGIES:
        raise ConfigError(f"unknown pathology {name!r} (choose from {', '.join(PATHOLOGIES)})")
    model, train, text = base_model(), base_train(seed), None
    constant = dict(warmup=0, schedule="constant")
    if name == "lr-10":
        train = replace(train, **constant, optim=OptimConfig(name="sgd", lr=10.0))
    elif name == "no-warmup":
        train = replace(train, **constant, optim=replace(train.optim, lr=1e-2))
    elif name == "dead":
        model = replace(model, init_std=0.0)
    elif name == "overfit":
        from ...data import load_text_source
        names = [line.strip() for line in load_text_source("names", quiet=True).splitlines() if line.strip()]
        text = "\n".join(names[:OVERFIT_DOCS]) + "\n"
        train = replace(train, schedule="constant", batch_size=32, eval_every=10,
                        data=DataConfig(source="overfit", mode="documents", val_fraction=0.5))
    elif name == "bad-init":
        model = replace(model, init_std=BAD_INIT_STD)
    return model, train, text


def preset_config(name: str, seed: str = SEED) -> dict:
    """The config a pathology run trains with, as JSON (what a recorded curve must have been made with)."""
    from ..texts import source_for
    model, train, text = pathology_configs(name, seed)
    if text is not None:
        train.data.source = source_for(text)
    return json.loads(json.dumps({"model": model.to_dict(), "train": train.to_dict()}))


def generated_text(digest: str) -> str | None:
    """A corpus a pathology makes for itself (the overfit run's few names), looked up by its sha256."""
    from ..texts import sha256_of
    for name in PATHOLOGIES:
        text = pathology_configs(name)[2]
        if text is not None and sha256_of(text) == digest:
            return text
    return None


def canonical_curve(name: str) -> dict | None:
    """The recorded curve of a pathology (None when it has not been recorded)."""
    path = HERE / f"{name}.json"
    if name not in PATHOLOGIES or not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def catalogue() -> list[dict]:
    return [{"name": p.name, "title": p.title, "what": p.what, "expect": p.expect} for p in PATHOLOGIES.values()]
