"""``--tensorboard DIR``: the run's scalars as TensorBoard event files, next to ``metrics.jsonl``.

Logged per step: ``train/loss``, ``train/lr``, ``train/grad_norm``; per eval: ``eval/train_loss`` and
``eval/val_loss`` (x axis: the iteration). Written with ``torch.utils.tensorboard`` when torch is installed,
else with the ``tensorboard`` package's own writer; both need the ``tensorboard`` package (the optional extra
``pip install 'tinylm[tensorboard]'``), and its absence is a one-line error before training starts.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError
from .events import EvalEvent, Event, StepEvent

INSTALL_HINT = "pip install 'tinylm[tensorboard]' (or pip install tensorboard)"


def _writer(log_dir: Path):
    try:
        import tensorboard  # noqa: F401  (both writers need it; torch's import error would be less clear)
    except ImportError:
        raise ConfigError(f"--tensorboard needs the tensorboard package: {INSTALL_HINT}") from None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:      # no torch: the tensorboard package's own (numpy-only) writer
        from tensorboard.summary import Writer
        return Writer(str(log_dir))
    return SummaryWriter(log_dir=str(log_dir))


class TensorBoardLogger:
    """Feed it every training event (``log``); ``close`` flushes the files."""

    def __init__(self, log_dir: str | Path):
        self.log_dir = Path(log_dir)
        if self.log_dir.exists() and not self.log_dir.is_dir():
            raise ConfigError(f"--tensorboard {self.log_dir} is a file, not a directory")
        try:
            self.log_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"--tensorboard cannot create {self.log_dir} ({exc.strerror or exc})") from None
        self._writer = _writer(self.log_dir)

    def log(self, event: Event) -> None:
        if isinstance(event, StepEvent):
            for name in ("loss", "lr", "grad_norm"):
                self._writer.add_scalar(f"train/{name}", float(getattr(event, name)), event.iter)
        elif isinstance(event, EvalEvent):
            self._writer.add_scalar("eval/train_loss", float(event.train_loss), event.iter)
            self._writer.add_scalar("eval/val_loss", float(event.val_loss), event.iter)

    def close(self) -> None:
        self._writer.flush()
        self._writer.close()

    def __enter__(self) -> TensorBoardLogger:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = ["TensorBoardLogger", "INSTALL_HINT"]
