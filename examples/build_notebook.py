"""Writes examples/notebook.ipynb (run: python examples/build_notebook.py). The notebook is the tour of the
notebook API; tests/test_api_notebook.py executes it, so edit the cells here and rebuild."""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

CELLS = [
    ("md", "# tinylm from a notebook\n\nTrain a tiny character-level model, watch it learn, then poke at it. "
           "Every call below takes a second or two on a laptop CPU."),
    ("md", "## What can I train?\n`tinylm.presets()` lists the presets with what each one trains."),
    ("code", "import tinylm\n\ntinylm.presets()"),
    ("md", "## Train, with a progress bar\nThe bar shows the iteration, the loss, the learning rate and the "
           "throughput, with the latest evaluation, sample and diagnosis under it "
           "(`progress=False` hides it). `run_dir=` keeps the checkpoint and metrics on disk."),
    ("code", 'run = tinylm.train("microgpt", steps=300, seed="notebook", run_dir="runs/notebook-demo", force=True)\n'
             "run"),
    ("md", "`run` above is its short summary: preset, size, steps, final losses and the loss-curve doctor's verdict. "
           "Training again into the same `run_dir` without `force=True` refuses instead of overwriting:"),
    ("code", 'try:\n    tinylm.train("microgpt", steps=10, run_dir="runs/notebook-demo", progress=False)\n'
             "except tinylm.errors.ConfigError as err:\n    print(err)"),
    ("md", "## History and plot\n`run.history` holds lists per step (`iter`, `loss`, `lr`, `grad_norm`, "
           "`tokens_per_s`) and per evaluation (`eval_iter`, `train_loss`, `val_loss`)."),
    ("code", 'h = run.history\nprint(sorted(h))\nprint("last step:", h["iter"][-1], "loss", round(h["loss"][-1], 3), '
             '"lr", format(h["lr"][-1], ".2e"), "grad norm", round(h["grad_norm"][-1], 3))'),
    ("code", "run.plot()"),
    ("md", "`tinylm.plot(path)` draws the same figure from a run directory (what `tinylm plot` saves)."),
    ("code", 'fig = tinylm.plot("runs/notebook-demo")\nfig.axes[0].get_title()'),
    ("md", "## Sample\nEach call draws fresh names; a `seed=` repeats them."),
    ("code", 'model = run.model\nprint(model.sample(8, temperature=0.8))\nprint(model.sample(8, temperature=0.8))\n'
             'print(model.sample(8, temperature=0.8, seed="x") == model.sample(8, temperature=0.8, seed="x"))'),
    ("md", "## How surprised is the model?\n`score(text)` gives the mean negative log-likelihood (nats) and each "
           "character's surprisal; a made-up name should surprise it more than a common one."),
    ("code", 'for name in ["emma", "olivia", "xqzvk"]:\n    print(model.score(name))\n'
             'model.score("emma").surprisal'),
    ("md", "## What comes next?\n`next_char_probs(prefix, temperature=...)`: the distribution over the next "
           "character, likeliest first (`<end>` ends the name). A lower temperature sharpens it."),
    ("code", 'for t in (1.0, 0.5):\n    top = list(model.next_char_probs("em", temperature=t).items())[:5]\n'
             '    print(t, [(c, round(p, 3)) for c, p in top])'),
    ("md", "## Keep training\n`train_more(steps)` continues exactly where the run stopped (same result as one "
           "longer run); the new events join the same history and run directory."),
    ("code", "run.train_more(200)\nrun"),
    ("md", "## Load it back\nA run directory (or a `.safetensors` file, see `run.save(path)`) loads as a Model; "
           "the terminal's `tinylm sample runs/notebook-demo` reads the same files."),
    ("code", 'loaded = tinylm.load("runs/notebook-demo")\nprint(loaded)\nloaded.sample(5, seed="x") == run.model.sample(5, seed="x")'),
]


def build() -> nbformat.NotebookNode:
    nb = new_notebook(cells=[new_markdown_cell(src) if kind == "md" else new_code_cell(src) for kind, src in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


if __name__ == "__main__":
    out = Path(__file__).with_name("notebook.ipynb")
    nbformat.write(build(), out)
    print(out)
