"""The notebook API: the same Trainer and events as the CLI and the lab.

    import tinylm
    tinylm.presets()                                             # {name: description}
    run = tinylm.train("microgpt", steps=500, seed="hello")      # a progress bar; returns a Run
    run                                                          # preset, params, steps, losses, diagnosis
    run.history["val_loss"], run.samples[-1]
    run.diagnosis.verdict, run.diagnosis.message                 # the loss-curve doctor's final word
    run.plot()                                                   # a matplotlib Figure
    run.train_more(500)                                          # continue exactly where it stopped
    model = run.model                                            # or tinylm.load(run_dir / a .safetensors file)
    model.sample(10, temperature=0.5)                            # fresh names each call; seed="x" repeats
    model.score("emma"), model.next_char_probs("em")

A run lives in memory unless ``train(..., run_dir="runs/hello")`` (then ``tinylm.load("runs/hello")``,
``tinylm.plot("runs/hello")`` and the CLI's ``tinylm sample runs/hello`` read it; an existing run is only
overwritten with ``force=True``); ``run.save("hello.safetensors")`` writes the checkpoint of one in memory.

>>> import tinylm, tempfile
>>> run_dir = tempfile.mkdtemp() + "/hello"
>>> run = tinylm.train("microgpt", steps=30, seed="hello", run_dir=run_dir, progress=False)
>>> run.history["iter"][-1], run.diagnosis.verdict in ("healthy", "plateau")
(30, True)
>>> model = tinylm.load(run.run_dir)
>>> len(model.sample(10, temperature=0.5))
10
"""
from __future__ import annotations

from .evaluation import BROKEN_LOSS_FACTOR, evaluate, perplexity
from .model import END, Model, Score, checkpoint_path, load
from .run import Run
from .toplevel import plot, presets, train

__all__ = ["Model", "Run", "Score", "END", "load", "train", "presets", "plot", "evaluate", "checkpoint_path",
           "perplexity", "BROKEN_LOSS_FACTOR"]
