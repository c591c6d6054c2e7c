"""The notebook API: the same Trainer and events as the CLI and the lab.

    import tinylm
    run = tinylm.train("microgpt", steps=500, seed="hello")     # prints nothing; returns a Run
    run.history["val_loss"], run.samples[-1]
    run.diagnosis.verdict, run.diagnosis.message                 # the loss-curve doctor's final word
    model = tinylm.load(run.run_dir)                             # or a .safetensors file
    model.sample(10, temperature=0.5)
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import checkpoints, sampling
from .data import CharTokenizer
from .engines import Engine, engine_class
from .errors import CheckpointError
from .models.config import ModelConfig
from .presets import apply_overrides, get_preset
from .seeding import rng_for
from .training.events import DiagnosisEvent, Event
from .training.loop import CHECKPOINT_NAME, Trainer

def checkpoint_path(run: str | Path) -> Path:
    """A run directory or a checkpoint file → the checkpoint file."""
    path = Path(run)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
        if not path.exists():
            raise CheckpointError(f"no {CHECKPOINT_NAME} in run directory {run}")
    return path

@dataclass
class Model:
    """A trained model ready to sample from."""
    engine: Engine
    tokenizer: CharTokenizer
    config: ModelConfig
    meta: dict

    def sample(self, n: int = 10, *, temperature: float = 1.0, top_k: int = 0, greedy: bool = False,
               prompt: str = "", max_new_tokens: int | None = None, seed: str = "sample") -> list[str]:
        documents = self.tokenizer.bos_id is not None
        cfg = sampling.SampleConfig(temperature=temperature, top_k=top_k, greedy=greedy,
                                    max_new_tokens=max_new_tokens or (self.config.block_size if documents else 200))
        return sampling.generate(self.engine, self.tokenizer, prompt=prompt, n=n, cfg=cfg,
                                 rng=rng_for(seed, "cli-sample"))

def load(run: str | Path | bytes, engine: str = "numpy", dtype: str | None = None, **engine_options) -> Model:
    ckpt = checkpoints.load_checkpoint(run if isinstance(run, bytes) else checkpoint_path(run))
    cfg = ckpt.model_config
    dtype = dtype or str(ckpt.meta.get("dtype", "float32"))
    eng = engine_class(engine)(cfg, ckpt.params, dtype=dtype, **engine_options)
    return Model(engine=eng, tokenizer=CharTokenizer.from_dict(ckpt.meta.get("tokenizer")), config=cfg, meta=ckpt.meta)

@dataclass
class Run:
    trainer: Trainer
    events: list[Event] = field(default_factory=list)

    @property
    def run_dir(self) -> Path | None:
        return self.trainer.run_dir

    @property
    def history(self) -> dict[str, list]:
        out: dict[str, list] = {"iter": [], "loss": [], "eval_iter": [], "train_loss": [], "val_loss": []}
        for e in self.events:
            if e.kind == "step":
                out["iter"].append(e.iter)
                out["loss"].append(e.loss)
            elif e.kind == "eval":
                out["eval_iter"].append(e.iter)
                out["train_loss"].append(e.train_loss)
                out["val_loss"].append(e.val_loss)
        return out

    @property
    def samples(self) -> list:
        return [(e.iter, e.phase, e.samples) for e in self.events if e.kind == "sample"]

    @property
    def diagnoses(self) -> list[DiagnosisEvent]:
        """Every verdict of the loss-curve doctor, in order (a change of kind, then the final one)."""
        return [e for e in self.events if e.kind == "diagnosis"]

    @property
    def diagnosis(self) -> DiagnosisEvent | None:
        """The doctor's final verdict (``.verdict``: healthy, diverged, unstable, ...; ``.message``)."""
        found = self.diagnoses
        return found[-1] if found else None

    @property
    def finished(self):
        return self.trainer.finished

    def sample(self, n: int = 10, temperature: float = 1.0, **kwargs) -> list[str]:
        model = Model(self.trainer.engine, self.trainer.tokenizer, self.trainer.model_cfg, {})
        return model.sample(n, temperature=temperature, **kwargs)

def train(preset: str = "microgpt", *, engine: str = "numpy", run_dir: str | Path | None = None,
          on_event: Callable[[Event], None] | None = None, engine_options: dict | None = None,
          **overrides) -> Run:
    """Train a preset with overrides (``steps=500``, ``lr=3e-3``, ``seed="abc"``, ``data="file.txt"``,
    any dotted key as in ``tinylm train --set``). Returns a Run with every event."""
    if "data" in overrides:
        overrides["data.source"] = overrides.pop("data")
    p = apply_overrides(get_preset(preset), overrides)
    trainer = Trainer(p.model, p.train, engine=engine, preset=p.name, run_dir=run_dir,
                      engine_options=engine_options)
    run = Run(trainer)
    for event in trainer.events():
        run.events.append(event)
        if on_event is not None:
            on_event(event)
    return run

BROKEN_LOSS_FACTOR = 100


def evaluate(run: str | Path, splits: tuple[str, ...] = ("val",), engine: str = "numpy") -> dict[str, dict]:
    """Loss over every token of each split for a run directory or checkpoint, with the data rebuilt from the
    checkpoint's config (same source, same seed, so the same split): {split: {"loss", "ppl", "tokens"}}."""
    from .training.evaluate import split_loss

    trainer = Trainer(resume_from=checkpoint_path(run), engine=engine)
    out = {}
    for split in splits:
        loss, tokens = split_loss(trainer.engine, trainer.corpus, split, trainer.model_cfg.block_size)
        # nan, inf or a loss a hundred times that of uniform guessing is a broken model, not a result
        if not (math.isfinite(loss) and loss <= BROKEN_LOSS_FACTOR * math.log(trainer.model_cfg.vocab_size)):
            raise CheckpointError(f"the model's {split} loss is {loss:.4g}: its weights are broken "
                                  "(saved from a run that was blowing up?)")
        out[split] = {"loss": loss, "ppl": perplexity(loss), "tokens": tokens}
    return out


def perplexity(loss: float) -> float:
    return math.exp(loss) if loss < 700 else float("inf")

__all__ = ["Model", "Run", "load", "train", "checkpoint_path", "perplexity"]
