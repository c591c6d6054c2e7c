"""tinylm: train tiny character-level language models from scratch and watch them learn."""
__version__ = "0.1.0"

import os

# OpenBLAS worker threads spin for ~2^28 cycles waiting for work. When another process shares the cores
# (two runs side by side on a laptop) the spinning steals their time: a shakespeare-cpu step went from
# ~70 to 150-177 ms. Sleeping after 2^16 cycles (~25 us) keeps it at ~66 ms and costs nothing on an idle
# machine (46.8 vs 46.3 ms). Read when numpy loads OpenBLAS, so it only helps if numpy is imported here first.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "16")

from .api import Model, Run, Score, evaluate, load, plot, presets, train  # noqa: E402

__all__ = ["Model", "Run", "Score", "evaluate", "load", "plot", "presets", "train", "__version__"]
