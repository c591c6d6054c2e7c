"""Events emitted by the one training loop (``training.loop.Trainer.events()``).

The CLI prints them, the lab streams them to the browser, the notebook API collects them,
and ``metrics.jsonl`` stores them (one JSON object per line, ``{"event": kind, ...fields}``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Event:
    kind = "event"

    def to_dict(self) -> dict:
        return {"event": self.kind, **asdict(self)}


@dataclass
class StartEvent(Event):
    kind = "start"
    preset: str
    engine: str
    n_params: int
    steps: int                 # total iterations of the run
    start_iter: int            # > 0 when resumed
    vocab_size: int
    block_size: int
    data: str
    data_kind: str             # documents | stream
    entropies: dict            # {"uniform": ln V, "unigram": H1, "bigram": H2} in nats (for charts/phases)
    config: dict = field(default_factory=dict)
    compat: str = ""           # what a compat mode replays, in words ("" when none)
    note: str = ""             # what the engine says as the run starts ("" when nothing)


@dataclass
class StepEvent(Event):
    kind = "step"
    iter: int                  # 1-based: the number of updates done after this step
    loss: float
    lr: float
    grad_norm: float
    tokens_per_s: float        # excludes the first iteration's one-time cost
    iters_per_s: float
    elapsed: float             # seconds of training so far (excludes evals and samples)


@dataclass
class EvalEvent(Event):
    kind = "eval"
    iter: int
    train_loss: float
    val_loss: float


@dataclass
class SampleEvent(Event):
    kind = "sample"
    iter: int
    prompt: str
    samples: list[str]         # generated continuations (documents: several names)
    phase: str                 # random | character frequency | short words | styled text


@dataclass
class PhaseEvent(Event):
    kind = "phase"
    iter: int
    phase: str
    previous: str
    val_loss: float


@dataclass
class CheckpointEvent(Event):
    kind = "checkpoint"
    iter: int
    path: str


@dataclass
class DiagnosisEvent(Event):
    """The loss-curve doctor's verdict (``training.doctor``): emitted when it changes and once more, final,
    just before ``FinishedEvent``. Serialised as ``{"event": "diagnosis", "iter", "kind", "message"}``; the
    Python field is ``verdict`` because ``kind`` names the event type on every event."""
    kind = "diagnosis"
    iter: int
    verdict: str               # healthy | diverged | unstable | dead | overfit | bad-init | plateau
    message: str               # plain words: what happened, the likely cause, what to try

    def to_dict(self) -> dict:
        return {"event": self.kind, "iter": self.iter, "kind": self.verdict, "message": self.message}


@dataclass
class FinishedEvent(Event):
    kind = "finished"
    iter: int
    reason: str                # finished | stopped | diverged (stopped by the doctor)
    message: str = ""          # diverged: the diagnosis, and which checkpoint was kept
    final_train_loss: float | None = None
    final_val_loss: float | None = None
    eval_iter: int | None = None      # the iter of the eval those two losses come from
