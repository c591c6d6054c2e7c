"""Static loss plot of a run (matplotlib, headless)."""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import TinyLMError
from ..training.loop import METRICS_NAME


def read_metrics(run_dir: Path) -> list[dict]:
    path = run_dir / METRICS_NAME
    if not path.is_file():
        raise TinyLMError(f"no {METRICS_NAME} in {run_dir}")
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def plot_run(run_dir: Path, output: Path | None = None) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    events = read_metrics(run_dir)
    steps = [(e["iter"], e["loss"]) for e in events if e["event"] == "step"]
    evals = [(e["iter"], e["train_loss"], e["val_loss"]) for e in events if e["event"] == "eval"]
    starts = [e for e in events if e["event"] == "start"]
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
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
    ax.legend()
    ax.grid(alpha=0.3)
    out = output or run_dir / "loss.png"
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out
