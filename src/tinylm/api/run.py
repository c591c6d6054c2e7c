"""A training run in a notebook: its events, history, samples, diagnosis, plot, and more training."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError
from ..training.events import DiagnosisEvent, Event
from ..training.loop import Trainer
from .model import Model, describe_architecture
from .progress import TrainingProgress, verdict_text

HISTORY_STEP_FIELDS = ("iter", "loss", "lr", "grad_norm", "tokens_per_s")
HISTORY_EVAL_FIELDS = {"eval_iter": "iter", "train_loss": "train_loss", "val_loss": "val_loss"}


def drive(trainer: Trainer, run: Run, progress: bool, on_event: Callable[[Event], None] | None) -> None:
    """Pull every event of ``trainer`` into ``run``, showing progress and calling ``on_event``."""
    display = TrainingProgress() if progress else None
    try:
        for event in trainer.events():
            run.events.append(event)
            if display is not None:
                display.show(event)
            if on_event is not None:
                on_event(event)
    finally:
        if display is not None:
            display.close()


@dataclass(repr=False)
class Run:
    """What ``tinylm.train`` returns: every event of the run, plus views of them and the trained model.

    >>> import tinylm
    >>> run = tinylm.train("bigram", steps=40, seed="doc", eval_every=20, progress=False)
    >>> run.history["iter"][-1], run.history["eval_iter"], run.finished.reason
    (40, [0, 20, 40], 'finished')
    >>> sorted(run.history)
    ['eval_iter', 'grad_norm', 'iter', 'loss', 'lr', 'tokens_per_s', 'train_loss', 'val_loss']
    """
    trainer: Trainer
    events: list[Event] = field(default_factory=list)
    engine_options: dict = field(default_factory=dict)

    @property
    def run_dir(self) -> Path | None:
        """Where the checkpoint and metrics.jsonl were written (None: trained in memory)."""
        return self.trainer.run_dir

    @property
    def history(self) -> dict[str, list]:
        """Lists to plot: per logged step ``iter``, ``loss`` (of the batch), ``lr``, ``grad_norm``
        (before clipping), ``tokens_per_s``; per evaluation ``eval_iter``, ``train_loss``, ``val_loss``."""
        out: dict[str, list] = {name: [] for name in (*HISTORY_STEP_FIELDS, *HISTORY_EVAL_FIELDS)}
        for e in self.events:
            if e.kind == "step":
                for name in HISTORY_STEP_FIELDS:
                    out[name].append(getattr(e, name))
            elif e.kind == "eval":
                for name, attr in HISTORY_EVAL_FIELDS.items():
                    out[name].append(getattr(e, attr))
        return out

    @property
    def samples(self) -> list[tuple[int, str, list[str]]]:
        """(iter, phase, samples) of every sample taken while training, the untrained model's first."""
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
        """The last FinishedEvent: ``.reason`` (finished, stopped, diverged), final losses."""
        return self.trainer.finished

    @property
    def model(self) -> Model:
        """The model as trained so far, to sample from or score with (no run directory needed).

        >>> import tinylm
        >>> tinylm.train("bigram", steps=20, seed="doc", progress=False).model
        Model(bigram · 729 params · vocab 27 (documents) · block 16 · preset bigram, step 20)
        """
        t = self.trainer
        return Model(t.engine, t.tokenizer, t.model_cfg, t.checkpoint_meta())

    def sample(self, n: int = 10, temperature: float = 1.0, **kwargs) -> list[str]:
        """``n`` fresh samples from the model as trained so far (``seed=`` to repeat them); the options of
        ``Model.sample``.

        >>> import tinylm
        >>> run = tinylm.train("bigram", steps=20, seed="doc", progress=False)
        >>> len(run.sample(3)), run.sample(3, seed="s") == run.sample(3, seed="s")
        (3, True)
        """
        return self.model.sample(n, temperature=temperature, **kwargs)

    def plot(self):
        """A matplotlib Figure of the loss curves (batch, eval train/val, reference losses).

        >>> import tinylm
        >>> fig = tinylm.train("bigram", steps=20, seed="doc", progress=False).plot()
        >>> fig.axes[0].get_ylabel()
        'loss (nats)'
        """
        from ..plotting import loss_figure
        return loss_figure([e.to_dict() for e in self.events])

    def save(self, path: str | Path) -> Path:
        """Write the checkpoint (weights, optimizer and RNG state) to ``path``; ``tinylm.load(path)`` reads it,
        ``tinylm train --resume path`` continues it.

        >>> import tinylm, tempfile
        >>> path = tinylm.train("bigram", steps=20, seed="doc", progress=False).save(tempfile.mkdtemp() + "/b.safetensors")
        >>> tinylm.load(path).meta["step"]
        20
        """
        return self.trainer.save_checkpoint(path)

    def train_more(self, steps: int, *, progress: bool = True,
                   on_event: Callable[[Event], None] | None = None) -> Run:
        """Train ``steps`` more iterations, exactly as if the run had not stopped: weights, optimizer state,
        data order and sampling continue where they were. A run stopped early (``until=``) continues its
        planned schedule; beyond the planned ``steps`` the learning-rate schedule is stretched to the new
        total (so a constant schedule gives the same run as training that long at once). The events are
        added to this Run (and to its run directory); returns this Run.

        >>> import tinylm
        >>> run = tinylm.train("bigram", steps=20, seed="doc", progress=False)
        >>> run.train_more(10, progress=False).history["iter"][-1]
        30
        """
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ConfigError(f"train_more() needs a positive number of steps, got {steps!r}")
        old = self.trainer
        if old.finished is not None and old.finished.reason == "diverged":
            raise ConfigError("this run diverged and its weights are broken; start a new run (lower lr?)")
        target = old.iter + steps
        total = max(old.train_cfg.steps, target)
        self.trainer = Trainer(resume_from=old.checkpoint_bytes(), engine=old.engine_name, run_dir=old.run_dir,
                               engine_options=self.engine_options, steps=total,
                               stop_at=target if target < total else None)
        drive(self.trainer, self, progress, on_event)
        return self

    def __repr__(self) -> str:
        t = self.trainer
        status = self.finished.reason if self.finished is not None else "running"
        where = f"run_dir {t.run_dir}" if t.run_dir is not None else "in memory"
        arch = describe_architecture(t.model_cfg)
        name = t.preset if arch == t.preset else f"{t.preset} · {arch}"
        lines = [f"Run({name} · {t.n_params:,} params · {t.engine_name} · "
                 f"{t.iter}/{t.train_cfg.steps} steps, {status} · {where}"]
        history = self.history
        losses = []
        if history["loss"]:
            losses.append(f"batch loss {history['loss'][-1]:.4f} (iter {history['iter'][-1]})")
        if history["val_loss"]:
            losses.append(f"train {history['train_loss'][-1]:.4f}, val {history['val_loss'][-1]:.4f} "
                          f"(eval @ {history['eval_iter'][-1]})")
        if losses:
            lines.append("    " + " · ".join(losses))
        if self.diagnosis is not None:
            message = verdict_text(self.diagnosis)
            lines.append("    diagnosis " + (message if len(message) <= 100 else message[:99] + "…"))
        return "\n".join(lines) + ")"


__all__ = ["Run", "drive"]
