"""``tinylm.train``, ``tinylm.presets`` and ``tinylm.plot``."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..errors import ConfigError
from ..presets import PRESETS, apply_overrides, get_preset
from ..training.events import Event
from ..training.loop import CHECKPOINT_NAME, METRICS_NAME, Trainer
from .run import Run, drive


def check_run_dir(run_dir: str | Path, force: bool) -> Path:
    """Refuse to overwrite a run directory that holds a run unless ``force`` (as ``tinylm train --out`` does)."""
    path = Path(run_dir)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"run_dir {path} is a file, not a directory")
    if not force and ((path / CHECKPOINT_NAME).exists() or (path / METRICS_NAME).exists()):
        raise ConfigError(f"{path} already holds a run; pass force=True to overwrite it, or choose another run_dir")
    return path


def train(preset: str = "microgpt", *, engine: str = "numpy", run_dir: str | Path | None = None,
          force: bool = False, progress: bool = True, until: int | None = None,
          on_event: Callable[[Event], None] | None = None, engine_options: dict | None = None,
          **overrides) -> Run:
    """Train a preset (see ``tinylm.presets()``) and return its Run.

    Overrides: ``steps=500``, ``lr=3e-3``, ``seed="abc"``, ``data="file.txt"`` (or "names",
    "shakespeare"), ``n_layer=2`` — any key of ``tinylm train --set``, dotted (``**{"optim.beta2": 0.95}``)
    or by its last part. ``run_dir``: write the checkpoint and metrics.jsonl there (an existing run is
    only overwritten with ``force=True``); without it the run lives in memory (``run.model``,
    ``run.save(path)``). ``progress=False`` hides the progress bar. ``until``: stop after that iteration
    without changing the schedule (``run.train_more`` continues). ``on_event(event)`` sees every event.

    >>> import tinylm
    >>> run = tinylm.train("bigram", steps=60, seed="doc", lr=0.2, progress=False)
    >>> run.history["loss"][-1] < run.history["loss"][0]
    True
    >>> run.finished.reason, run.trainer.train_cfg.optim.lr
    ('finished', 0.2)
    """
    if "data" in overrides:
        overrides["data.source"] = overrides.pop("data")
    p = apply_overrides(get_preset(preset), overrides)
    if run_dir is not None:
        run_dir = check_run_dir(run_dir, force)
    trainer = Trainer(p.model, p.train, engine=engine, preset=p.name, run_dir=run_dir,
                      engine_options=engine_options, stop_at=until)
    run = Run(trainer, engine_options=dict(engine_options or {}))
    drive(trainer, run, progress, on_event)
    return run


def presets() -> dict[str, str]:
    """Every preset's name and what it trains, in the order of ``tinylm presets``.

    >>> import tinylm
    >>> list(tinylm.presets())[:3]
    ['microgpt', 'mlp', 'bigram']
    >>> tinylm.presets()["bigram"]
    'a table of next-character logits, trained with Adam on batches of names'
    """
    return {name: p.description for name, p in PRESETS.items()}


def plot(run_or_path: Run | str | Path):
    """A matplotlib Figure of the loss curves of a Run, a run directory or its metrics.jsonl
    (the picture ``tinylm plot`` saves).

    >>> import tinylm, tempfile
    >>> run_dir = tempfile.mkdtemp() + "/run"
    >>> _ = tinylm.train("bigram", steps=20, seed="doc", run_dir=run_dir, progress=False)
    >>> tinylm.plot(run_dir).axes[0].get_title()
    'bigram · numpy · 729 params'
    """
    if isinstance(run_or_path, Run):
        return run_or_path.plot()
    from ..plotting import loss_figure, read_metrics
    return loss_figure(read_metrics(run_or_path))


__all__ = ["train", "presets", "plot", "check_run_dir"]
