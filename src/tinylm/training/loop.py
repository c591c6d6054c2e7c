"""The one training loop. ``Trainer.events()`` is a generator of ``training.events``; the CLI, the lab
and the notebook API all consume it. Pausing is simply not pulling the next event.

A run directory (optional) receives ``metrics.jsonl`` (every event, one JSON object per line) and
``checkpoint.safetensors`` (written atomically at each eval, at the end and when stopped; never while the
loss-curve doctor (``training.doctor``) sees broken weights, so the last good checkpoint survives a blow-up),
and ``best.safetensors``: the checkpoint of the eval with the lowest val loss so far, written when an eval
improves on it (after that iteration's samples, like the last one; it changes nothing in the run, so the last
checkpoint's bytes are the same with or without it).
The doctor's verdicts are ``DiagnosisEvent``s; a ``diverged`` verdict ends the run (reason "diverged").

Samples: one at iter 0 and every ``sample_every`` iters (and at the end), each with a phase label decided
then (``training.phases``, from more text drawn with the sample RNG); a ``PhaseEvent`` when it changes.

Exact resume: the checkpoint holds parameters, optimizer state, the data RNG, the sample RNG, the phase
label and the iteration, so N steps + resume + N steps equals 2N straight steps byte for byte (``stop_at`` ends a
run early without changing its schedule, which is defined by ``TrainConfig.steps``).
"""
from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .. import checkpoints, sampling
from ..compat.base import Compat
from ..compat.microgpt import MicrogptCompat
from ..compat.nanogpt import NanogptCompat
from ..config import ModelConfig, SampleConfig, TrainConfig
from ..data import Corpus, load_corpus
from ..engines import engine_class
from ..errors import CheckpointError, ConfigError
from ..checkpoints import validate_resume_sections
from ..models.params import init_params, param_count
from ..seeding import BATCH_STREAM, INIT_STREAM, RUN_SAMPLE_STREAM, rng_for, rng_from_state, rng_state
from .doctor import Doctor, Verdict
from .contradictions import warn_contradictions
from .memory import check_fits
from .events import (CheckpointEvent, DiagnosisEvent, EvalEvent, Event, FinishedEvent, PhaseEvent, SampleEvent,
                     StartEvent, StepEvent)
from .phases import DOCUMENT_DECISION_SAMPLES, STREAM_DECISION_CHARS, SampleStats, measure, phase_for
from .schedules import learning_rate

CHECKPOINT_NAME = "checkpoint.safetensors"
BEST_NAME = "best.safetensors"
METRICS_NAME = "metrics.jsonl"


def remove_stale_temp_files(run_dir: Path) -> None:
    """Temp files of checkpoint writes cut short by a kill (the atomic write's rename never happened)."""
    for stale in run_dir.glob(f".{CHECKPOINT_NAME}.*.tmp"):
        try:
            stale.unlink()
        except OSError:
            pass


def truncate_metrics(path: Path, start_iter: int) -> None:
    """Drop the events logged after the checkpoint a run resumes from (a crash after it would otherwise
    leave them in twice: once from before the crash, once replayed). Lines cut off by the crash go too."""
    if not path.is_file():
        return
    kept = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                event = json.loads(line)
            except ValueError:
                break                       # a half-written last line
            if isinstance(event, dict) and isinstance(event.get("iter"), int) and event["iter"] > start_iter:
                break
            kept.append(line if line.endswith("\n") else line + "\n")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(kept), encoding="utf-8")
    tmp.replace(path)


def resolve_model_config(model_cfg: ModelConfig, corpus: Corpus) -> ModelConfig:
    """vocab_size always comes from the data; block_size 0 means longest document + 1."""
    block = model_cfg.block_size or (corpus.max_doc_len + 1 if corpus.kind == "documents" else 64)
    return dataclasses.replace(model_cfg, vocab_size=corpus.tokenizer.vocab_size, block_size=block)


class Trainer:
    def __init__(self, model_cfg: ModelConfig | None = None, train_cfg: TrainConfig | None = None, *,
                 engine: str = "numpy", preset: str = "custom", run_dir: str | Path | None = None,
                 engine_options: dict | None = None, resume_from: str | Path | bytes | None = None,
                 steps: int | None = None, stop_at: int | None = None, corpus: Corpus | None = None,
                 quiet: bool = True):
        self.engine_name = engine
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.stop_at = stop_at
        self.quiet = quiet
        self._stop_requested = False
        self.finished: FinishedEvent | None = None
        self.doctor: Doctor | None = None           # judges the curves while events() runs
        self._writes = False
        self._last_checkpoint_iter: int | None = None

        ckpt = checkpoints.load_checkpoint(resume_from) if resume_from is not None else None
        if ckpt is not None:
            model_cfg = ckpt.model_config
            train_cfg = ckpt.train_config
            preset = ckpt.meta.get("preset", preset)
        if model_cfg is None or train_cfg is None:
            raise ConfigError("Trainer needs a model config and a train config (or resume_from)")
        train_cfg = dataclasses.replace(train_cfg)
        if steps is not None:
            train_cfg.steps = steps
        if train_cfg.compat == "microgpt":
            train_cfg.dtype = "float64"   # microgpt computes in Python floats
        train_cfg.validate()
        self.train_cfg = train_cfg
        self.preset = preset
        seed = train_cfg.seed

        self.compat, self.corpus = self._load_data(train_cfg, corpus, quiet)
        if ckpt is not None:
            validate_resume_sections(ckpt.meta, "the checkpoint")
            saved_chars = ckpt.meta["tokenizer"].get("chars")
            if list(saved_chars) != list(self.corpus.tokenizer.chars):
                raise CheckpointError("the data's vocabulary differs from the checkpoint's; resume with the same data")
        self.tokenizer = self.corpus.tokenizer
        self.model_cfg = resolve_model_config(model_cfg, self.corpus) if ckpt is None else model_cfg
        self.model_cfg.validate()
        check_fits(self.model_cfg, train_cfg.batch_size, 8 if train_cfg.dtype == "float64" else 4)
        warn_contradictions(train_cfg, self.corpus, self.model_cfg.block_size)

        params = self.compat.init_params(self.model_cfg)
        if params is None:
            params = init_params(self.model_cfg, rng_for(seed, INIT_STREAM))
        cls = engine_class(engine)
        self.engine = cls(self.model_cfg, params, dtype=train_cfg.dtype, **(engine_options or {}))
        self.engine.configure_optimizer(train_cfg.optim)
        self.n_params = param_count(self.model_cfg)

        self.iter = 0
        self.phase = ""
        self.data_rng = rng_for(seed, BATCH_STREAM)
        self.sample_rng = rng_for(seed, RUN_SAMPLE_STREAM)
        self.compat.start(self.corpus, self.model_cfg.block_size, train_cfg.batch_size)
        if ckpt is not None:
            self.compat.set_state(ckpt.meta["rng"].get("compat", {}))
            if ckpt.optimizer_steps and ckpt.meta["optimizer"]["name"] != train_cfg.optim.name:
                raise CheckpointError("the checkpoint's optimizer differs from the run's")
            self.engine.set_params(ckpt.params)
            self.engine.set_optimizer_state(ckpt.optimizer_steps, ckpt.optimizer_state)
            self.iter = int(ckpt.meta["step"])
            self.data_rng = rng_from_state(ckpt.meta["rng"]["data"])
            self.sample_rng = rng_from_state(ckpt.meta["rng"]["sample"])
            self.phase = ckpt.meta.get("phase", "")   # the label has hysteresis: resume it too
        self.start_iter = self.iter
        self.last_val_loss: float | None = None
        self.last_train_loss: float | None = None
        self.best_val_loss: float | None = None       # of best.safetensors (restored from it on resume)
        self._eval_improved = False
        self.phase_stats: SampleStats | None = None   # what the last phase decision measured
        self._last_eval_iter = -1

    # --- data ------------------------------------------------------------------------
    @staticmethod
    def _load_data(cfg: TrainConfig, corpus: Corpus | None, quiet: bool) -> tuple[Compat, Corpus]:
        """The compat mode's hooks (tinylm's own behaviour when none) and the corpus the run trains on."""
        if cfg.compat == "microgpt" and corpus is None:   # microgpt fixes its own document order and split
            return MicrogptCompat.for_run(cfg, quiet)
        if corpus is None:
            corpus = load_corpus(cfg.data, cfg.seed, quiet=quiet)
        if cfg.compat == "nanogpt":     # torch is imported only when a NanogptCompat is made
            return NanogptCompat.for_run(cfg, corpus), corpus
        return Compat(), corpus

    def train_batch(self, it: int) -> tuple[np.ndarray, np.ndarray]:
        """The (x, y) batch the loop trains on at iteration ``it``. Random batches advance ``data_rng``
        (the run's data stream): a caller that only looks must save and restore its state."""
        cfg, block = self.train_cfg, self.model_cfg.block_size
        batch = self.compat.train_batch(self.corpus, block, cfg.batch_size)
        if batch is not None:
            return batch
        if self.corpus.kind == "documents" and cfg.data.order == "sequential":
            return self.corpus.sequential_batch(it * cfg.batch_size, cfg.batch_size, block)
        return self.corpus.batch("train", self.data_rng, cfg.batch_size, block)

    def _eval_batches(self, split: str) -> list:
        cfg = self.train_cfg
        batches = self.compat.eval_batches(self.corpus, split, cfg.eval_batches, self.model_cfg.block_size,
                                           cfg.eval_batch_size or cfg.batch_size)
        if batches is not None:
            return batches
        n, size = cfg.eval_batches, cfg.eval_batch_size or cfg.batch_size
        if self.corpus.kind == "documents" and not cfg.eval_batch_size:
            size = max(size, 32)
        if self.engine_name == "scalar":  # pure Python: keep evals to a few seconds
            n, size = min(n, 4), min(size, 8)
        return self.corpus.eval_batches(split, n, size, self.model_cfg.block_size, cfg.seed)  # fixed, cached

    # --- pieces of the loop -------------------------------------------------------------
    def evaluate(self) -> tuple[float, float]:
        losses = []
        for split in ("train", "val"):
            batches = self._eval_batches(split)
            with np.errstate(over="ignore", invalid="ignore"):
                losses.append(float(np.mean([self.engine.loss(x, y) for x, y in batches])))
        self.last_train_loss, self.last_val_loss = losses
        return losses[0], losses[1]

    def sample(self, n: int | None = None, temperature: float = 1.0) -> tuple[str, list[str]]:
        docs = self.corpus.kind == "documents"
        prompt = self.corpus.sample_prompt()
        cfg = SampleConfig(temperature=temperature,
                                    max_new_tokens=self.model_cfg.block_size if docs else self.train_cfg.sample_chars)
        count = n or (self.train_cfg.sample_count if docs else 1)
        return prompt, sampling.generate(self.engine, self.tokenizer, prompt=prompt, n=count, cfg=cfg,
                                         rng=self.sample_rng)

    def phase_samples(self) -> list[str]:
        """The text the phase label is decided from: more than a sample shows (128 names, or about 4,000
        characters in rows that start at a line start), drawn with the sample RNG so training is untouched.
        Stream rows are block_size - 1 characters (48 to 256) after the newline primer, so the decoder of a
        GPT with block_size >= 49 never has to re-prime its context (which costs a pass per character)."""
        block = self.model_cfg.block_size
        if self.corpus.kind == "documents":
            n, length = DOCUMENT_DECISION_SAMPLES, block
        else:
            length = min(max(block - 1, 48), 256)   # at least 48 so that most words are whole
            n = -(-STREAM_DECISION_CHARS // length)
        if self.engine_name == "scalar":  # pure Python: keep samples to a few seconds
            n = max(1, n // 4)
        cfg = SampleConfig(temperature=1.0, max_new_tokens=length)
        return sampling.generate(self.engine, self.tokenizer, prompt="", n=n, cfg=cfg, rng=self.sample_rng)

    def checkpoint_meta(self) -> dict:
        return {
            "model": self.model_cfg.to_dict(),
            "train": self.train_cfg.to_dict(),
            "preset": self.preset,
            "engine": self.engine_name,
            "dtype": self.train_cfg.dtype,
            "tokenizer": self.tokenizer.to_dict(),
            "step": self.iter,
            "optimizer": {"name": self.train_cfg.optim.name},
            "rng": {"data": rng_state(self.data_rng), "sample": rng_state(self.sample_rng),
                    **({"compat": state} if (state := self.compat.state()) else {})},
            "data_position": {"cursor": (self.iter * self.train_cfg.batch_size) % max(1, len(self.corpus.train_docs))
                              if self.corpus.kind == "documents" else 0},
            "phase": self.phase,
        }

    def _checkpoint_parts(self) -> tuple:
        steps, state = self.engine.get_optimizer_state()
        return self.engine.get_params(), steps, state, self.checkpoint_meta()

    def checkpoint_bytes(self) -> bytes:
        return checkpoints.checkpoint_bytes(*self._checkpoint_parts())

    def save_checkpoint(self, path: str | Path | None = None) -> Path:
        path = Path(path) if path is not None else self.run_dir / CHECKPOINT_NAME
        return checkpoints.save_checkpoint(path, *self._checkpoint_parts())

    def stop(self) -> None:
        """Finish after the current step (the run is checkpointed and a 'stopped' event is emitted)."""
        self._stop_requested = True

    # --- the loop -----------------------------------------------------------------------
    def events(self) -> Iterator[Event]:
        writes = self.run_dir is not None and self.engine.is_main
        metrics = None
        if writes:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            remove_stale_temp_files(self.run_dir)
            self._restore_best()
            if self.start_iter:
                truncate_metrics(self.run_dir / METRICS_NAME, self.start_iter)
            metrics = open(self.run_dir / METRICS_NAME, "a" if self.start_iter else "w", encoding="utf-8")
        try:
            for event in self._events(writes):
                if metrics is not None:
                    metrics.write(json.dumps(event.to_dict()) + "\n")
                    metrics.flush()
                yield event
        finally:
            if metrics is not None:
                metrics.close()
            self.engine.close()

    def _events(self, writes: bool) -> Iterator[Event]:
        cfg = self.train_cfg
        end = min(cfg.steps, self.stop_at) if self.stop_at is not None else cfg.steps
        self.doctor = Doctor(self.corpus.entropies, start_iter=self.start_iter)
        self._writes = writes
        yield StartEvent(preset=self.preset, engine=self.engine_name, n_params=self.n_params, steps=cfg.steps,
                         start_iter=self.start_iter, vocab_size=self.model_cfg.vocab_size,
                         block_size=self.model_cfg.block_size, data=cfg.data.source, data_kind=self.corpus.kind,
                         entropies=dict(self.corpus.entropies),
                         config={"model": self.model_cfg.to_dict(), "train": cfg.to_dict()},
                         compat=self.compat.describe(), note=self.engine.start_note())
        if self.iter == 0 and cfg.eval_every:
            yield from self._eval_events()
        if self.iter == 0 and cfg.sample_every:   # what the untrained model writes
            yield from self._sample_events()
        self._save_best_if_improved()

        train_time = 0.0          # seconds spent in steps (evals and samples excluded)
        timed_time = 0.0          # same, without the first iteration's one-time cost
        timed_tokens = timed_iters = 0
        while self.iter < end and not self._stop_requested:
            it = self.iter
            lr = learning_rate(cfg, it)
            x, y = self.train_batch(it)
            t0 = time.perf_counter()
            with np.errstate(over="ignore", invalid="ignore"):  # divergence is detected and explained below
                stats = self.engine.train_step(x, y, lr)
            dt = time.perf_counter() - t0
            train_time += dt
            if it > self.start_iter:
                timed_time += dt
                timed_tokens += stats.n_tokens
                timed_iters += 1
            self.iter = it + 1
            verdict = self.doctor.observe_step(self.iter, stats.loss, stats.grad_norm, lr)
            if self.iter % cfg.log_every == 0 or self.iter == end or self.doctor.stopped:
                yield StepEvent(iter=self.iter, loss=stats.loss, lr=lr, grad_norm=stats.grad_norm,
                                tokens_per_s=timed_tokens / timed_time if timed_time else stats.n_tokens / dt,
                                iters_per_s=timed_iters / timed_time if timed_time else 1.0 / dt,
                                elapsed=train_time)
            if verdict is not None and not self.doctor.stopped:   # a stop's verdict comes once, as the final one
                yield self._diagnosis_event(verdict)
            if self.doctor.stopped:   # NaN/inf, or a sustained or runaway blow-up: stop, keep the last checkpoint
                yield from self._finish("diverged", train_loss=stats.loss)
                return
            at_end = self.iter == end
            evaluated = (cfg.eval_every and self.iter % cfg.eval_every == 0) or (at_end and self.iter == cfg.steps)
            if evaluated:
                yield from self._eval_events()
                if self.doctor.stopped:   # the last update broke the weights
                    yield from self._finish("diverged", train_loss=self.last_train_loss, val_loss=self.last_val_loss)
                    return
            if (cfg.sample_every and self.iter % cfg.sample_every == 0) or (at_end and self.iter == cfg.steps):
                yield from self._sample_events()
            if self.doctor.stopped:   # an evaluation made for the sample found broken weights
                yield from self._finish("diverged", train_loss=self.last_train_loss, val_loss=self.last_val_loss)
                return
            # checkpoint after this iteration's samples, so the saved sample RNG has made their draws: a resume
            # from it replays the rest of the run byte for byte
            self._save_best_if_improved()
            every = cfg.checkpoint_every
            if writes and not at_end and ((every and self.iter % every == 0) or (not every and evaluated)):
                yield from self._checkpoint_events()

        yield from self._finish("finished" if self.iter >= cfg.steps else "stopped",
                                train_loss=self.last_train_loss, val_loss=self.last_val_loss)

    def _finish(self, reason: str, train_loss: float | None, val_loss: float | None = None) -> Iterator[Event]:
        """The last checkpoint (unless the weights look broken), the final diagnosis, the FinishedEvent."""
        verdict = self.doctor.final()
        if self._writes and reason != "diverged":
            yield from self._checkpoint_events()
        yield self._diagnosis_event(verdict)
        message = verdict.message + self._kept_checkpoint_note() if reason == "diverged" else ""
        eval_iter = self._last_eval_iter if val_loss is not None else None
        self.finished = FinishedEvent(iter=self.iter, reason=reason, message=message, final_train_loss=train_loss,
                                      final_val_loss=val_loss, eval_iter=eval_iter)
        yield self.finished

    def _diagnosis_event(self, verdict: Verdict) -> DiagnosisEvent:
        return DiagnosisEvent(iter=verdict.iter, verdict=verdict.kind, message=verdict.message)

    def _eval_events(self) -> Iterator[Event]:
        train_loss, val_loss = self.evaluate()
        self._last_eval_iter = self.iter
        if math.isfinite(val_loss) and (self.best_val_loss is None or val_loss < self.best_val_loss):
            self.best_val_loss = val_loss
            self._eval_improved = True
        yield EvalEvent(iter=self.iter, train_loss=train_loss, val_loss=val_loss)
        verdict = self.doctor.observe_eval(self.iter, train_loss, val_loss)
        if verdict is not None and not self.doctor.stopped:
            yield self._diagnosis_event(verdict)

    def _sample_events(self) -> Iterator[Event]:
        """A sample with its phase label (training/phases.py), decided from more text drawn with it and the
        current val loss; a PhaseEvent first when the label changes."""
        if self._last_eval_iter != self.iter:  # the label also weighs the current val loss
            yield from self._eval_events()
            if self.doctor.stopped:             # broken weights: nothing worth sampling
                return
        prompt, samples = self.sample()
        profile = self.corpus.profile
        self.phase_stats = measure(self.phase_samples(), profile, self.tokenizer)
        phase = phase_for(self.phase_stats, self.last_val_loss, self.corpus.entropies, profile, self.phase)
        if phase != self.phase:
            yield PhaseEvent(iter=self.iter, phase=phase, previous=self.phase, val_loss=self.last_val_loss)
            self.phase = phase
        yield SampleEvent(iter=self.iter, prompt=prompt, samples=samples, phase=phase)

    def _checkpoint_events(self) -> Iterator[CheckpointEvent]:
        """Checkpoint the current weights, unless the doctor says they are broken: the last good checkpoint
        on disk must survive a blow-up."""
        if self.doctor.weights_look_broken():
            return
        self._last_checkpoint_iter = self.iter
        yield CheckpointEvent(iter=self.iter, path=str(self.save_checkpoint()))

    def _save_best_if_improved(self) -> None:
        """best.safetensors when this iteration's eval beat every earlier one (and the weights look sound)."""
        if not self._eval_improved:
            return
        self._eval_improved = False
        if self._writes and not self.doctor.weights_look_broken():
            meta = {**self.checkpoint_meta(), "best": {"iter": self.iter, "val_loss": self.best_val_loss}}
            steps, state = self.engine.get_optimizer_state()
            checkpoints.save_checkpoint(self.run_dir / BEST_NAME, self.engine.get_params(), steps, state, meta)

    def _restore_best(self) -> None:
        """A fresh run removes a best.safetensors left by an earlier run in the directory; a resumed run
        continues from the best val loss recorded in it (if it is not from later than the resume point)."""
        path = self.run_dir / BEST_NAME
        if not path.exists():
            return
        if self.start_iter:
            try:
                best = checkpoints.load_checkpoint(path).meta.get("best") or {}
                if isinstance(best.get("iter"), int) and best["iter"] <= self.start_iter:
                    self.best_val_loss = float(best["val_loss"])
                    return
            except (CheckpointError, TypeError, ValueError):
                pass
        path.unlink(missing_ok=True)

    def _kept_checkpoint_note(self) -> str:
        if not self._writes:
            return ""
        if self._last_checkpoint_iter is not None:
            return f". The checkpoint keeps the good weights of iter {self._last_checkpoint_iter}"
        if (self.run_dir / CHECKPOINT_NAME).exists():
            return ". The checkpoint from before was left as it was"
        return ". No checkpoint was written (there were no good weights to keep yet)"

    def run(self, on_event=None) -> FinishedEvent:
        """Run to the end, calling ``on_event(event)`` for each event; returns the final event."""
        for event in self.events():
            if on_event is not None:
                on_event(event)
        return self.finished
