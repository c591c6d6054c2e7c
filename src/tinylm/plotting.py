"""Loss-curve figures (matplotlib) from a run's events: the CLI's ``tinylm plot`` saves one to a PNG, the
notebook API's ``run.plot()`` / ``tinylm.plot(...)`` returns it. Events are the dicts of ``metrics.jsonl``
(``Event.to_dict()``), so a live run and a run directory draw the same picture."""
from __future__ import annotations

import json
from pathlib import Path

from .errors import TinyLMError
from .training.loop import METRICS_NAME


def read_metrics(run_dir: str | Path) -> list[dict]:
    """The events a run directory's ``metrics.jsonl`` holds (or that file itself), one dict per event."""
    path = Path(run_dir)
    if path.is_dir():
        path = path / METRICS_NAME
    if not path.is_file():
        raise TinyLMError(f"no {METRICS_NAME} in {run_dir}")
    with open(path, encoding="utf-8") as f:
        try:
            return [json.loads(line) for line in f if line.strip()]
        except ValueError:
            raise TinyLMError(f"{path} is not a tinylm metrics file (one JSON event per line)") from None


def loss_figure(events: list[dict]):
    """A matplotlib Figure: batch loss, eval train/val losses and the uniform/unigram/bigram reference
    losses, titled with the preset, engine and parameter count. The figure is closed in pyplot, so a
    notebook shows it once (as the value returned), and ``fig.savefig(...)`` still works."""
    import matplotlib.pyplot as plt

    steps = [(e["iter"], e["loss"]) for e in events if e.get("event") == "step"]
    evals = [(e["iter"], e["train_loss"], e["val_loss"]) for e in events if e.get("event") == "eval"]
    starts = [e for e in events if e.get("event") == "start"]
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    plt.close(fig)     # not managed by pyplot: no second copy drawn at the end of a notebook cell
    if steps:
        ax.plot(*zip(*steps), lw=0.6, alpha=0.45, label="train (batch)")
    if evals:
        its, tr, va = zip(*evals)
        ax.plot(its, tr, "o-", ms=3, label="train (eval)")
        ax.plot(its, va, "o-", ms=3, label="val")
    if starts:
        ent = starts[0]["entropies"]
        for key, style in (("uniform", "--"), ("unigram", ":"), ("bigram", "-.")):
            ax.axhline(ent[key], color="gray", ls=style, lw=1)
            ax.text(0, ent[key], f" {key} {ent[key]:.2f}", va="bottom", fontsize=8, color="gray")
        ax.set_title(f"{starts[0]['preset']} · {starts[0]['engine']} · {starts[0]['n_params']:,} params")
    ax.set_xlabel("iter")
    ax.set_ylabel("loss (nats)")
    if steps or evals:
        ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


__all__ = ["read_metrics", "loss_figure"]
