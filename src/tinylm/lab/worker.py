"""The training worker: one process per lab run (spawn context), so the server stays responsive.

Commands come down a pipe (``{"cmd": "pause" | "resume" | "step" | "stop" | "speed" | "shutdown"}`` and
queries ``{"q": ..., "rid": ...}``); events go up a queue as plain dicts (the ``training.events`` dicts, plus
``status``, ``detail``, ``reply`` and ``error``). Pausing is simply not pulling the Trainer's next event,
so a paused run resumes at exactly the iteration it stopped at. Below speed 100 the loop paces itself
(``protocol.steps_per_second``), waiting on the command pipe so commands still answer at once.

In classroom mode (spec ``scheduled``) the worker loads and trains only in the turns the server's CPU
scheduler grants (``{"cmd": "turn", ...}``), telling it when it wants the next (``{"event": "cpu", ...}``):
see ``Session.loop_in_turns`` and lab/classroom/scheduler.py. The steps themselves are the same ones, so a
run trained in turns is byte-identical to one trained alone.
"""
from __future__ import annotations

import math
import os
import threading
import time
import traceback
from typing import Any

import numpy as np

from ..errors import TinyLMError
from ..checkpoints import weights_hash
from .introspect import cycle_detail_after, cycle_detail_before, inspect_update, next_char_logits
from .protocol import MAX_SPEED, steps_per_second
from .texts import BUILTIN, TextNotAvailable, corpus_from_text, source_for


def build_trainer(spec: dict):
    """A Trainer for a validated run spec (see ``app.start_run``) and the text it trains on (or None).

    A text that is not a built-in source (an upload, the overfit pathology's tiny corpus) is handed to
    the Trainer as an in-memory Corpus, and the run records it as ``text:<sha256>``: no file path ever
    enters the run's config or its checkpoints."""
    from ..config import DataConfig
    from ..presets import get_preset
    from ..training.loop import Trainer
    from .pathologies import pathology_configs

    engine = spec["engine"]
    text = spec.get("text")
    if spec.get("checkpoint") is not None:
        corpus = None
        if text is not None:
            from ..checkpoints import load_checkpoint
            from ..config import TrainConfig
            saved = TrainConfig.from_dict(load_checkpoint(spec["checkpoint"]).meta["train"])
            corpus = corpus_from_text(text, saved.data, saved.seed)
        elif spec.get("resumed", {}).get("data") not in (None, *BUILTIN):
            raise TextNotAvailable("the checkpoint's training text is not available to the lab")
        trainer = Trainer(engine=engine, resume_from=spec["checkpoint"], run_dir=None, corpus=corpus)
        if text is not None:
            trainer.train_cfg.data.source = source_for(text)
        return trainer, text
    if spec.get("pathology"):
        model_cfg, train_cfg, text = pathology_configs(spec["pathology"], spec["seed"])
    else:
        preset = get_preset(spec["preset"])
        model_cfg, train_cfg = preset.model, preset.train
        train_cfg.seed = spec["seed"]
        if spec.get("steps"):
            train_cfg.steps = spec["steps"]
        if spec.get("lr") is not None:
            train_cfg.optim.lr = spec["lr"]      # the peak: the preset's schedule still warms up and decays it
        train_cfg.sample_every = spec.get("sample_every", 200)
        # a val point every ~5% of the run draws a readable validation curve; with twice the CLI's eval points,
        # half its eval batches keep the evals' share of a shakespeare-tiny run near 8% instead of 15%
        train_cfg.eval_every = max(10, train_cfg.steps // 20)
        train_cfg.eval_batches = min(train_cfg.eval_batches, 10)
        if spec["data"] == "shakespeare":
            train_cfg.data = DataConfig(source="shakespeare", mode="stream")
        elif spec["data"] == "upload":
            train_cfg.data = DataConfig(source=source_for(text), mode="auto")
    corpus = None
    if text is not None:
        corpus = corpus_from_text(text, train_cfg.data, train_cfg.seed)
        train_cfg.data.source = source_for(text)
    trainer = Trainer(model_cfg, train_cfg, engine=engine, preset=spec.get("pathology") or spec["preset"],
                      corpus=corpus)
    return trainer, text


def _clean(value: Any) -> Any:
    """JSON-safe copy: NaN/inf become strings the page understands."""
    if isinstance(value, float):
        return value if math.isfinite(value) else ("NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity"))
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        return _clean(value.item())
    if isinstance(value, np.ndarray):
        return _clean(value.tolist())
    return value


class Session:
    def __init__(self, spec: dict, commands, events) -> None:
        self.spec = spec
        self.commands = commands
        self.events = events
        self.trainer = None
        self.stream = None
        self.running = not spec.get("paused", False)
        self.steps_wanted = 0            # single steps requested while paused
        self.finished = False
        self.detail = bool(spec.get("detail"))
        self.speed = int(spec.get("speed", MAX_SPEED))
        self.next_step_at = 0.0          # monotonic time the paced loop may take its next step
        self.clock = RunClock()
        # classroom mode (spec "scheduled"): the server's CPU scheduler hands out turns; steps only in one
        self.turn = 0                    # the turn held now (its number), 0: none
        self.turn_until = 0.0            # monotonic end of that turn
        self.announced: object = None    # the demand last told to the scheduler

    def send(self, message: dict) -> None:
        """Forward one event (the Trainer's diagnosis events included: the lab says what the CLI says)."""
        self.events.put(_clean(message))

    def status(self) -> None:
        state = "finished" if self.finished else ("running" if self.running else "paused")
        self.clock.set_running(state == "running")
        self.send({"event": "status", "state": state, "iter": self.trainer.iter if self.trainer else 0,
                   "speed": self.speed})

    def wait_before_step(self) -> float:
        """Seconds the pace asks for before the next step (0: take it now). Single steps are never paced."""
        if self.steps_wanted or steps_per_second(self.speed) is None:
            return 0.0
        return max(0.0, self.next_step_at - time.monotonic())

    # --- commands and queries -------------------------------------------------------------
    def handle(self, message: dict) -> bool:
        """Apply one message; False when the worker should exit."""
        if "q" in message:
            self.reply(message)
            return True
        cmd = message.get("cmd")
        if cmd == "shutdown":
            return False
        if cmd == "turn":                # the scheduler's, not the learner's: nothing to show
            self.turn, self.turn_until = int(message["n"]), time.monotonic() + float(message["s"])
            return True
        if cmd == "pause":
            self.running, self.steps_wanted = False, 0
        elif cmd == "resume" and not self.finished:
            self.running = True
        elif cmd == "step" and not self.finished:
            self.running = False
            self.steps_wanted += int(message.get("n", 1))
        elif cmd == "stop" and not self.finished:
            self.trainer.stop()
            self.running = True   # pull through to the FinishedEvent
        elif cmd == "speed":
            self.speed = int(message["n"])
            self.next_step_at = 0.0     # the new pace starts from now, not from the old deadline
        self.status()
        return True

    def reply(self, message: dict) -> None:
        rid, q = message.get("rid"), message["q"]
        try:
            trainer = self.trainer
            if q == "checkpoint":
                data: Any = trainer.checkpoint_bytes()
            elif q == "hash":
                data = self.reply_hash()
            elif q == "logits":
                data = next_char_logits(trainer, message["prefix"])
            elif q == "generate":
                data = self.generate(message)
            elif q == "inspect":
                data = inspect_update(trainer, message["document"], message["param"], message["apply"])
            elif q == "detail":
                data = cycle_detail_before(trainer)
            else:
                raise TinyLMError(f"unknown query {q!r}")
            self.events.put({"event": "reply", "rid": rid, "ok": True, "data": data if q == "checkpoint" else _clean(data)})
        except TinyLMError as exc:
            self.events.put({"event": "reply", "rid": rid, "ok": False, "error": str(exc)})
        except Exception as exc:  # a bug must not kill the run; report it in one line
            self.events.put({"event": "reply", "rid": rid, "ok": False, "error": f"{type(exc).__name__}: {exc}"})

    def generate(self, message: dict) -> dict:
        from ..config import SampleConfig
        from ..sampling import default_max_new_tokens, generate
        from ..seeding import SANDBOX_STREAM, rng_for
        trainer = self.trainer
        docs = trainer.corpus.kind == "documents"
        cfg = SampleConfig(temperature=message["temperature"],
                           max_new_tokens=default_max_new_tokens(trainer.model_cfg.block_size, docs))
        prompt = message["prompt"] if message["prompt"] or docs else trainer.corpus.sample_prompt()
        samples = generate(trainer.engine, trainer.tokenizer, prompt=prompt, n=message["count"], cfg=cfg,
                           rng=rng_for(message["seed"], SANDBOX_STREAM))
        return {"prompt": prompt, "samples": samples, "temperature": message["temperature"]}

    # --- the loop ---------------------------------------------------------------------------
    def pull_one_step(self) -> None:
        """Pull events until one training step has been taken (or the run ends)."""
        before = cycle_detail_before(self.trainer) if self.detail and not self.finished else None
        pace = steps_per_second(self.speed)
        self.next_step_at = time.monotonic() + (1.0 / pace if pace else 0.0)
        for event in self.stream:
            payload = event.to_dict()
            if payload["event"] == "step":
                payload["wall"] = self.clock.seconds()   # running time, with evals, samples and pacing
            self.send(payload)
            if payload["event"] == "finished":
                self.finished = True
                self.running = False
                self.send({"event": "hash", **self.reply_hash()})
                self.status()
                return
            if payload["event"] == "step":
                if before is not None:
                    self.send({"event": "detail", **cycle_detail_after(self.trainer, before, payload)})
                return
        self.finished = True
        self.running = False
        self.status()

    def reply_hash(self) -> dict:
        return {"hash": weights_hash(self.trainer.engine.get_params()), "iter": self.trainer.iter}

    def main(self) -> None:
        if self.spec.get("scheduled") and not self.wait_for_first_turn():
            return
        try:
            self.trainer, _ = build_trainer(self.spec)
            self.stream = self.trainer.events()
            # the StartEvent (and the initial evaluation) come before the first step
            for event in self.stream:
                payload = event.to_dict()
                self.send(payload)
                if payload["event"] == "start":
                    break
        except TinyLMError as exc:
            self.send({"event": "error", "message": str(exc)})
            return
        self.status()
        if self.spec.get("scheduled"):
            return self.loop_in_turns()
        while True:
            if self.running or self.steps_wanted:
                # take every waiting command; a paced run waits here (for its next step, or a command)
                while self.commands.poll(self.wait_before_step()):
                    if not self.handle(self.commands.recv()):
                        return
            else:
                if not self.handle(self.commands.recv()):
                    return
            if (self.running or self.steps_wanted) and not self.finished and not self.wait_before_step():
                self.take_step()


    # --- classroom mode: training in the scheduler's turns ------------------------------------------------
    def demand(self) -> float | None:
        """When this run next wants the CPU (monotonic seconds; 0.0: now), None: not at all (paused, done)."""
        if self.finished or not (self.running or self.steps_wanted):
            return None
        if self.steps_wanted or steps_per_second(self.speed) is None:
            return 0.0
        return self.next_step_at

    def announce(self, give_back: bool = False) -> None:
        """Tell the scheduler what this run wants now; ``give_back`` also ends the turn it holds."""
        want = self.demand()
        if give_back:
            self.events.put({"event": "cpu", "at": want, "turn": self.turn})
            self.turn, self.turn_until = 0, 0.0
        elif want == self.announced:
            return
        else:
            self.events.put({"event": "cpu", "at": want})
        self.announced = want

    def wait_for_first_turn(self) -> bool:
        """Building the model and its data take CPU too: they wait for a loading turn (a lane of the scheduler's
        own), so twenty learners pressing Start at once do not all load at once. Other messages wait for the start."""
        self.events.put({"event": "cpu", "load": True})
        self.deferred: list[dict] = []
        while True:
            message = self.commands.recv()
            cmd = message.get("cmd")
            if cmd == "shutdown":
                return False
            if cmd == "turn":
                self.handle(message)
                return True
            self.deferred.append(message)

    def loop_in_turns(self) -> None:
        """Train only during the turns the server grants; between them, answer commands and queries.

        A turn ends when its time is up or when there is nothing to do now (paused, finished, or a paced run
        ahead of its pace); the run then gives it back, saying when it wants the next one."""
        self.announce(give_back=True)        # the loading turn, and what it wants now
        for message in self.deferred:
            if not self.handle(message):
                return
        if not self.turn:
            self.announce()
        while True:
            if self.turn:
                while self.commands.poll(0):
                    if not self.handle(self.commands.recv()):
                        return
                want, now = self.demand(), time.monotonic()
                if want is not None and want <= now < self.turn_until:
                    self.take_step()
                    continue
                self.announce(give_back=True)
                continue
            if not self.handle(self.commands.recv()):
                return
            if not self.turn:
                self.announce()

    def take_step(self) -> None:
        """One training step (a single-step request counted down); an error ends the run with its message."""
        try:
            self.pull_one_step()
        except TinyLMError as exc:
            self.send({"event": "error", "message": str(exc)})
            self.finished, self.running = True, False
            self.status()
        if self.steps_wanted:
            self.steps_wanted -= 1
            if not self.steps_wanted:
                self.status()


class RunClock:
    """Seconds a run has spent running (training, evals, samples, pacing), not counting its pauses."""

    def __init__(self) -> None:
        self.total = 0.0
        self.since: float | None = None

    def set_running(self, running: bool) -> None:
        now = time.monotonic()
        if self.since is not None:
            self.total += now - self.since
        self.since = now if running else None

    def seconds(self) -> float:
        return self.total + (time.monotonic() - self.since if self.since is not None else 0.0)


def exit_when_orphaned(parent: int, every: float = 1.0) -> threading.Thread:
    """A worker whose server died (even by SIGKILL, which runs no clean-up) is re-parented; it then exits at
    once instead of training on, holding memory and a core, with nobody to talk to."""
    def watch() -> None:
        while True:
            time.sleep(every)
            if os.getppid() != parent:
                os._exit(0)
    thread = threading.Thread(target=watch, name="tinylm-parent-watch", daemon=True)
    thread.start()
    return thread


def worker_main(spec: dict, commands, events, parent: int | None = None) -> None:
    """Process entry point (must be importable for the spawn context). ``parent``: the server's pid (0: the
    parent this process has now, a fork server that exits with the server)."""
    if parent is not None:
        exit_when_orphaned(parent or os.getppid())

    try:
        Session(spec, commands, events).main()
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        pass  # the server went away or closed the pipe: exit quietly
    except Exception as exc:
        events.put({"event": "error", "message": f"worker crashed: {type(exc).__name__}: {exc}",
                    "trace": traceback.format_exc(limit=5)})
