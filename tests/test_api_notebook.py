"""The example notebook runs top to bottom in a real Jupyter kernel and shows what its text promises."""
from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "notebook.ipynb"


def _text(output) -> str:
    if output.get("output_type") == "stream":
        return output["text"]
    return output.get("data", {}).get("text/plain", "")


@pytest.mark.slow
def test_example_notebook_executes_and_shows_progress_plot_and_results(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")

    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()          # raises CellExecutionError on any failing cell

    code = [c for c in nb.cells if c.cell_type == "code"]
    outputs = {c.source.splitlines()[0]: c.outputs for c in code}
    train = outputs['run = tinylm.train("microgpt", steps=300, seed="notebook", run_dir="runs/notebook-demo", force=True)']
    # the progress display is one output updated in place, ending at the last iteration
    progress = [o for o in train if o.get("output_type") == "display_data"]
    assert len(progress) == 1
    assert "300/300" in _text(progress[0]) and "loss" in _text(progress[0]) and "lr" in _text(progress[0])
    assert "300/300 steps, finished" in _text(train[-1])                     # the Run's repr
    assert "already holds a run; pass force=True" in "".join(_text(o) for o in outputs["try:"])
    assert any("image/png" in o.get("data", {}) for o in outputs["run.plot()"])
    assert "500/500 steps, finished" in _text(outputs["run.train_more(200)"][-1])
    assert _text(outputs['loaded = tinylm.load("runs/notebook-demo")'][-1]) == "True"
    assert (tmp_path / "runs" / "notebook-demo" / "checkpoint.safetensors").is_file()
    assert not any(o.get("output_type") == "stream" and o.get("name") == "stderr" for c in code for o in c.outputs)
