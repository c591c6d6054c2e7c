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
    (["train", "--lr", "-1"], "optim.lr"),
    (["sample", "/no/such/run"], "/no/such/run"),
])
def test_bad_input_gives_one_line_error_and_nonzero_exit(tmp_path, args, needle):
    result = run_cli(*args, "--out", str(tmp_path / "r")) if args[0] == "train" else run_cli(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], result.stderr


def test_directory_as_data_and_binary_data_are_refused(tmp_path):
    binary = tmp_path / "blob.bin"
    binary.write_bytes(bytes(range(256)) * 10)
    for source in (tmp_path, binary):
        result = run_cli("train", "--data", str(source), "--out", str(tmp_path / "r"))
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_diverging_run_exits_nonzero_with_diagnosis(tmp_path):
    result = run_cli("train", "--preset", "mlp", "--lr", "100", "--steps", "200", "--eval-every", "1", "--out", str(tmp_path / "r"))
    assert result.returncode == 3
    assert "diverged at iter" in result.stderr and "learning rate" in result.stderr
    assert (tmp_path / "r" / "checkpoint.safetensors").is_file()
    assert "Warning" not in result.stderr and "Traceback" not in result.stderr


def test_sample_rejects_bad_temperature(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--preset", "bigram", "--steps", "5", "--out", str(out), "--quiet"]) == 0
    result = run_cli("sample", str(out), "--temperature", "0")
    assert result.returncode == 2 and "temperature" in result.stderr and "Traceback" not in result.stderr


def test_resume_via_cli_matches_straight_run(tmp_path):
    common = ["--preset", "bigram", "--steps", "20", "--seed", "x", "--quiet", "--eval-every", "5"]
    assert main(["train", *common, "--out", str(tmp_path / "a")]) == 0
    assert main(["train", *common, "--out", str(tmp_path / "b"), "--until", "10"]) == 0
    assert main(["train", "--resume", str(tmp_path / "b"), "--quiet"]) == 0
    a = (tmp_path / "a" / "checkpoint.safetensors").read_bytes()
    assert (tmp_path / "b" / "checkpoint.safetensors").read_bytes() == a
