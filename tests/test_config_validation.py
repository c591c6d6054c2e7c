"""Every training value is range-checked: a one-line error naming it, exit code 2 from the CLI, no traceback."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tinylm.errors import ConfigError
from tinylm.presets import apply_overrides, get_preset

BAD = [("train.log_every", "0", "train.log_every"), ("train.optim", "1", "sections"),
       ("optim.grad_clip", "-1", "optim.grad_clip"), ("optim.grad_clip", "nan", "optim.grad_clip"),
       ("optim.weight_decay", "-1", "optim.weight_decay"), ("optim.beta1", "2", "optim.beta1"),
       ("optim.beta2", "1", "optim.beta2"), ("optim.eps", "-1", "optim.eps"), ("optim.lr", "inf", "optim.lr"),
       ("optim.momentum", "1.5", "optim.momentum"), ("train.min_lr", "nan", "train.min_lr"),
       ("train.eval_batches", "0", "train.eval_batches"), ("train.sample_count", "-3", "train.sample_count")]


@pytest.mark.parametrize("key,value,named", BAD)
def test_bad_values_are_refused_by_name(key, value, named):
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        apply_overrides(get_preset("bigram"), {key: value})


def test_every_preset_passes_its_own_checks():
    from tinylm.presets import PRESETS
    for name in PRESETS:
        get_preset(name).train.validate()


@pytest.mark.slow
@pytest.mark.parametrize("args", [["--grad-clip", "nan"], ["--weight-decay", "-1"], ["--set", "optim.beta1=2"]])
def test_cli_answers_in_one_line(tmp_path, args):
    result = subprocess.run([sys.executable, "-m", "tinylm", "train", "--steps", "2", "--out", str(tmp_path / "r"),
                             *args], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "r").exists()
