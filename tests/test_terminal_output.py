"""`tinylm presets` reads at 80 columns; `tinylm info` is all human-readable, or all JSON with --json."""
from __future__ import annotations

import io
import json
import re

import pytest
from rich.console import Console

from tinylm.cli.main import main
from tinylm.cli.tables import info_dict, info_text, preset_summary, presets_table
from tinylm.checkpoints import load_checkpoint, weights_hash
from tinylm.presets import PRESETS


def render(table, width: int) -> list[str]:
    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(table)
    return out.getvalue().splitlines()


@pytest.mark.parametrize("width", [80, 120])
def test_presets_table_fits_and_never_breaks_a_word(width):
    lines = render(presets_table(), width)
    assert all(len(line) <= width for line in lines)
    words = {w for line in lines for w in line.split()}
    for name, preset in PRESETS.items():
        cells = f"{name} {preset_summary(preset)} {preset.description}"
        assert set(cells.split()) <= words, name          # every word whole, somewhere in the table
    names = [line.split()[0] for line in lines if line and not line.startswith(" ") and line.split()[0] in PRESETS]
    assert names == list(PRESETS)                          # one row per preset, in order, name on the left


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("info") / "run"
    assert main(["train", "--preset", "bigram", "--steps", "5", "--eval-every", "5", "--sample-every", "5",
                 "--out", str(out), "--quiet"]) == 0
    return out


def test_info_is_human_readable(run_dir, capsys):
    assert main(["info", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert not re.search(r"[{}\[\]']", out)                # no JSON, no Python dicts
    labels = [line.split()[0] for line in out.splitlines() if not line.startswith(" ")]
    assert labels == ["run", "preset", "step", "params", "vocab", "data", "model", "optimizer", "training"]
    assert "step       5 of 5" in out and "729" in out and "name adam" in out and "lr 0.1," in out


def test_info_wraps_to_80_columns_keeping_each_setting_whole(run_dir):
    info = info_dict(run_dir / "checkpoint.safetensors", load_checkpoint(run_dir / "checkpoint.safetensors"))
    lines = info_text(info, width=80).splitlines()
    assert all(len(line) <= 80 for line in lines)
    settings = lines[[line.split(" ")[0] for line in lines].index("data"):]
    chunks = [chunk.strip() for line in settings for chunk in line[11:].split(",") if chunk.strip()]
    assert len(chunks) > 30 and all(len(chunk.split()) == 2 for chunk in chunks)   # "key value", never split


def test_info_json_is_one_json_object(run_dir, capsys):
    assert main(["info", str(run_dir), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    ckpt = load_checkpoint(run_dir / "checkpoint.safetensors")
    assert info["step"] == 5 and info["steps"] == 5 and info["preset"] == "bigram" and info["params"] == 729
    assert info["weights_sha256"] == weights_hash(ckpt.params)
    assert info["model"] == ckpt.meta["model"] and info["train"]["optim"]["lr"] == 0.1
    assert info["vocab_size"] == 27
