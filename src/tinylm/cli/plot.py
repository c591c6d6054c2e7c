"""Static loss plot of a run (matplotlib, headless): the figure comes from ``tinylm.plotting``."""
from __future__ import annotations

from pathlib import Path

from ..plotting import loss_figure, read_metrics


def plot_run(run_dir: Path, output: Path | None = None) -> Path:
    import matplotlib
    matplotlib.use("Agg")

    fig = loss_figure(read_metrics(run_dir))
    out = output or run_dir / "loss.png"
    fig.savefig(out)
    return out


__all__ = ["plot_run", "read_metrics"]
