"""The `tinylm` command line as a user runs it: exit codes, one-line errors, files written."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tinylm.cli.main import main


def run_cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "tinylm", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300)


@pytest.mark.slow
def test_train_then_sample_then_info(tmp_path):
    out = tmp_path / "run"
    result = run_cli("train", "--preset", "microgpt", "--steps", "150", "--out", str(out), "--seed", "cli")
    assert result.returncode == 0, result.stderr
    assert "4,192" in result.stdout and "finished at iter 150" in result.stdout
    assert (out / "checkpoint.safetensors").is_file() and (out / "metrics.jsonl").is_file()
    sample = run_cli("sample", str(out), "-n", "7", "--temperature", "0.5")
    assert sample.returncode == 0, sample.stderr
    lines = sample.stdout.strip().splitlines()
    assert len(lines) == 7 and all(line.isalpha() and line.islower() for line in lines if line)
    info = run_cli("info", str(out))
    assert info.returncode == 0 and "step       150 of 150" in info.stdout
    plot = run_cli("plot", str(out))
    assert plot.returncode == 0 and (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_existing_run_directory_is_not_clobbered(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--preset", "bigram", "--steps", "5", "--out", str(out), "--quiet"]) == 0
    before = (out / "checkpoint.safetensors").read_bytes()
    assert main(["train", "--preset", "bigram", "--steps", "5", "--out", str(out), "--quiet"]) == 2
    assert (out / "checkpoint.safetensors").read_bytes() == before


@pytest.mark.parametrize("args,needle", [
    (["train", "--preset", "nope"], "unknown preset 'nope'"),
    (["train", "--data", "/no/such/file.txt"], "/no/such/file.txt"),
    (["train", "--set", "model.n_head=3", "--set", "n_embd=16"], "divisible"),
    (["train", "--set", "colour=blue"], "unknown config key 'colour'"),
    (["train", "--lr", "-1"], "argument --lr: must be a finite number in (0, 1e+06], got -1"),
    (["sample", "/no/such/run"], "/no/such/run"),
])
@pytest.mark.slow
def test_bad_input_gives_one_line_error_and_nonzero_exit(tmp_path, args, needle):
    result = run_cli(*args, "--out", str(tmp_path / "r")) if args[0] == "train" else run_cli(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], result.stderr


@pytest.mark.parametrize("args,needle", [
    (["train", "--set", "model.block_size=1000000000"], "block_size must be at most 4,096"),
    (["train", "--set", "model.n_layer=1000000000"], "n_layer must be at most 256"),
    (["train", "--set", "model.n_embd=16000", "--set", "model.n_layer=200"], "parameters; tinylm trains models up to"),
    (["train", "--set", "train.batch_size=1000000"], "batch_size must be an integer from 1 to 4,096"),
    (["train", "--batch-size", "1000000"], "argument --batch-size: must be between 1 and 4,096"),
    (["train", "--steps", "0"], "argument --steps: must be between 1"),
    (["train", "--grad-clip", "nan"], "argument --grad-clip: must be a finite number"),
    (["train", "--weight-decay", "-1"], "argument --weight-decay"),
    (["train", "--seed", "\udcff\udcfe"], "is not valid UTF-8 text"),
    (["train", "--data", "x\udcff.txt"], "the argument 'x\\udcff.txt' is not valid UTF-8 text"),
    (["train", "--steps", "2", "--out", "{tmp}/afile/sub"], "Not a directory ({tmp}/afile/sub)"),
    (["train", "--steps", "2", "--out", "/proc/tinylm-x"], "/proc/tinylm-x"),
    (["train", "--batch-size", "4096", "--set", "model.block_size=4096", "--set", "model.n_layer=8"],
     "GB (weights, optimizer state and the activations of a batch of 4096 × 4096 tokens); this machine has"),
    (["bench", "--steps", "0"], "argument --steps: must be between 1 and 100,000, got 0"),
    (["lab", "--port", "70000"], "argument --port: must be between 1 and 65,535, got 70,000"),
    (["sample", "x", "-n", "10000000"], "argument -n/--num: must be between 1 and 10,000"),
    (["sample", "x", "--max-new-tokens", "1000000000000"], "argument --max-new-tokens: must be between 1 and 100,000"),
])
def test_out_of_range_values_are_one_line_errors_before_any_work(tmp_path, capsys, args, needle):
    (tmp_path / "afile").write_text("a file, not a directory")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    try:
        code = main(args)
    except SystemExit as stop:          # argparse's own check
        code = stop.code
    err = capsys.readouterr().err
    assert code not in (0, None)
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and needle.replace("{tmp}", str(tmp_path)) in lines[0], err


def test_unexpected_errors_are_one_line_with_a_debug_hint(monkeypatch, capsys):
    from tinylm.cli import commands

    def broken(args):
        raise ValueError("something nobody foresaw")
    monkeypatch.setattr(commands, "cmd_presets", broken)
    assert main(["presets"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["tinylm: error: unexpected ValueError: something nobody foresaw (re-run with --debug for the traceback)"]
    with pytest.raises(ValueError):
        main(["--debug", "presets"])


@pytest.mark.slow
def test_directory_as_data_and_binary_data_are_refused(tmp_path):
    binary = tmp_path / "blob.bin"
    binary.write_bytes(bytes(range(256)) * 10)
    for source in (tmp_path, binary):
        result = run_cli("train", "--data", str(source), "--out", str(tmp_path / "r"))
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_diverging_run_exits_nonzero_with_diagnosis(tmp_path):
    result = run_cli("train", "--preset", "mlp", "--lr", "100", "--steps", "200", "--eval-every", "1", "--out", str(tmp_path / "r"))
    assert result.returncode == 3
    assert "diverged at iter" in result.stderr and "learning rate" in result.stderr
    assert (tmp_path / "r" / "checkpoint.safetensors").is_file()
    assert "Warning" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_sample_rejects_bad_temperature(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--preset", "bigram", "--steps", "5", "--out", str(out), "--quiet"]) == 0
    result = run_cli("sample", str(out), "--temperature", "0")
    assert result.returncode == 2 and "temperature" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_resume_via_cli_matches_straight_run(tmp_path):
    common = ["--preset", "bigram", "--steps", "20", "--seed", "x", "--quiet", "--eval-every", "5"]
    assert main(["train", *common, "--out", str(tmp_path / "a")]) == 0
    assert main(["train", *common, "--out", str(tmp_path / "b"), "--until", "10"]) == 0
    assert main(["train", "--resume", str(tmp_path / "b"), "--quiet"]) == 0
    a = (tmp_path / "a" / "checkpoint.safetensors").read_bytes()
    assert (tmp_path / "b" / "checkpoint.safetensors").read_bytes() == a
