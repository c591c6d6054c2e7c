"""--compat microgpt retraces microgpt.py's whole run: 1000 losses (last-100 mean 2.2761) and its closing
inference, 20 names at temperature 0.5 drawn from the same random stream and printed as it prints them."""
from __future__ import annotations

import pytest

from tinylm.cli.main import main
from tinylm.compat.microgpt import INFERENCE_HEADER, format_inference
from tinylm.presets import apply_overrides, get_preset
from tinylm.training.events import StepEvent
from tinylm.training.loop import Trainer

from conftest import REPO, shared_file

# microgpt.py's own output (random.seed(42), makemore's names.txt, 1000 steps), measured by running it:
# tests/data/microgpt-seed42-samples.txt
MICROGPT_SAMPLES = REPO / "tests" / "data" / "microgpt-seed42-samples.txt"


@pytest.fixture
def makemore(monkeypatch):
    monkeypatch.setenv("TINYLM_NAMES_MAKEMORE", str(shared_file("names.txt")))


def reference_first100() -> list[float]:
    path = shared_file("microgpt-seed42-first100.txt", folder="reference")
    return [float(line.split()[1]) for line in path.read_text().splitlines() if line.strip()]


def microgpt_output() -> list[str]:
    """What microgpt.py printed after its last step (header and 20 sample lines)."""
    return [line for line in MICROGPT_SAMPLES.read_text().splitlines() if line and not line.startswith("#")]


def full_run(engine: str) -> tuple[Trainer, list[float]]:
    p = apply_overrides(get_preset("microgpt"), {"compat": "microgpt", "eval_every": 0, "sample_every": 0})
    trainer = Trainer(p.model, p.train, engine=engine, preset="microgpt")
    losses = [e.loss for e in trainer.events() if isinstance(e, StepEvent)]
    return trainer, losses


def check_retrace(trainer: Trainer, losses: list[float]) -> list[str]:
    assert len(losses) == 1000 and trainer.finished.reason == "finished"
    assert [round(v, 4) for v in losses[:100]] == reference_first100()
    assert round(sum(losses[-100:]) / 100, 4) == 2.2761
    names = trainer.compat.inference(trainer.engine, trainer.tokenizer, trainer.model_cfg.block_size)
    if MICROGPT_SAMPLES.is_file():    # recorded from microgpt.py itself: the same names, printed the same way
        assert format_inference(names).splitlines()[1:] == microgpt_output()
    return names


@pytest.mark.slow
def test_numpy_engine_retraces_microgpt_losses_and_names(makemore):
    trainer, losses = full_run("numpy")
    names = check_retrace(trainer, losses)
    # deterministic: a fresh replay of the stream from the saved run draws the same 20 names again
    again = Trainer(resume_from=trainer.checkpoint_bytes(), engine="numpy")
    assert again.compat.inference(again.engine, again.tokenizer, again.model_cfg.block_size) == names
    assert len(names) == 20 and all(n.isalpha() and n.islower() and len(n) <= 16 for n in names)


@pytest.mark.slow
def test_scalar_engine_retraces_microgpt_losses_and_names(makemore):
    check_retrace(*full_run("scalar"))


@pytest.mark.slow
def test_cli_prints_the_inference_as_microgpt_does(makemore, tmp_path, capsys):
    assert main(["train", "--compat", "microgpt", "--steps", "20", "--quiet", "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out.splitlines()
    tail = out[out.index(INFERENCE_HEADER) - 1:]
    assert tail[0] == "" and len(tail) == 22
    assert [line[:11] for line in tail[2:]] == [f"sample {i:2d}: " for i in range(1, 21)]
    assert "\n".join(tail) == format_inference([line[11:] for line in tail[2:]])
    # a stopped run (--until) is not microgpt.py's finished run: no inference
    assert main(["train", "--compat", "microgpt", "--steps", "20", "--until", "5", "--quiet",
                 "--out", str(tmp_path / "s")]) == 0
    assert INFERENCE_HEADER not in capsys.readouterr().out
