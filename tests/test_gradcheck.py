"""`tinylm gradcheck`: the user-facing gradient check (engines/gradcheck.py, cli/gradcheck.py).

It must pass on the real backward passes (numpy, scalar and torch engines; float64 and float32) and fail,
with exit status 1, on a gradient that is subtly wrong."""
from __future__ import annotations

import numpy as np
import pytest

from tinylm.cli.main import main
from tinylm.config import ModelConfig
from tinylm.engines.gradcheck import check_gradients
from tinylm.engines.numpy_engine.engine import NumpyEngine


def run_cli(capsys, *args: str) -> tuple[int, list[str]]:
    code = main(["gradcheck", *args])
    return code, capsys.readouterr().out.splitlines()


def test_mlp_passes_with_one_row_per_parameter(capsys):
    code, lines = run_cli(capsys, "--preset", "mlp", "--entries", "5")
    assert code == 0
    rows = {line.split()[0]: line.split() for line in lines if line[:1].isalpha() and len(line.split()) == 5}
    assert set(rows) == {"wte", "fc1.weight", "fc2.weight"}
    assert rows["fc1.weight"][1] == "64x16" and rows["fc1.weight"][2] == "5"
    assert all(float(r[4]) < 1e-6 for r in rows.values())
    assert lines[-1].startswith("verdict: PASS")


def test_set_checks_a_family_that_has_no_preset_of_its_own(capsys):
    code, lines = run_cli(capsys, "--preset", "mlp", "--set", "model.family=gru", "--set", "n_hidden=8",
                          "--entries", "2")
    assert code == 0 and "(gru," in lines[0] and any(line.split()[:2] == ["cell.xh_to_r.weight", "8x24"] for line in lines)
    assert lines[-1].startswith("verdict: PASS")


@pytest.mark.parametrize("factor", [1.01, 0.0], ids=["off-by-1%", "forgotten"])
def test_a_wrong_gradient_fails_and_is_named(capsys, monkeypatch, factor):
    original = NumpyEngine.forward_backward

    def wrong(engine, x, y):
        loss, grads = original(engine, x, y)
        grads["h.0.attn.wq.weight"] = grads["h.0.attn.wq.weight"] * factor
        return loss, grads

    monkeypatch.setattr(NumpyEngine, "forward_backward", wrong)
    code, lines = run_cli(capsys, "--preset", "microgpt", "--entries", "5", "--seed", "x")
    assert code == 1
    assert lines[-1].startswith("verdict: FAIL: 1 of 9 parameters disagree") and "h.0.attn.wq.weight" in lines[-1]
    assert [line.split()[0] for line in lines if line.endswith("<- disagrees")] == ["h.0.attn.wq.weight"]


@pytest.mark.parametrize("engine,dtype", [("numpy", "float32"), ("scalar", "float64"),
                                          pytest.param("torch", "float64", marks=pytest.mark.torch),
                                          pytest.param("torch", "float32", marks=pytest.mark.torch)])
@pytest.mark.slow
def test_other_engines_and_float32_pass(capsys, engine, dtype):
    if engine == "torch":
        pytest.importorskip("torch")
    code, lines = run_cli(capsys, "--preset", "microgpt", "--engine", engine, "--dtype", dtype, "--entries", "3")
    assert code == 0, lines[-1]
    assert f"{engine} engine, {dtype}" in lines[0] and lines[-1].startswith("verdict: PASS")


def test_same_seed_same_report_and_parameters_left_alone(capsys):
    first = run_cli(capsys, "--preset", "bigram", "--seed", "s", "--entries", "4")
    assert run_cli(capsys, "--preset", "bigram", "--seed", "s", "--entries", "4") == first
    cfg = ModelConfig(family="bigram", vocab_size=5, block_size=4)
    engine = NumpyEngine(cfg, {"wte": np.random.default_rng(0).standard_normal((5, 5))}, dtype="float64")
    before = engine.get_params()
    x = np.array([[0, 1, 2]])
    check = check_gradients(engine, x, np.array([[1, 2, 3]]), entries=4, rng=np.random.default_rng(1))
    assert check.ok and [p.entries for p in check.params] == [4]
    assert np.array_equal(engine.get_params()["wte"], before["wte"])


@pytest.mark.parametrize("args,needle", [
    (["--preset", "nope"], "unknown preset 'nope'"),
    (["--entries", "0"], "--entries"),
    (["--eps", "0"], "--eps"),
    (["--dtype", "float16"], "--dtype"),
    (["--set", "model.family=lstm"], "unknown model family 'lstm'"),
    (["--set", "n_hidden"], "--set expects KEY=VALUE"),
])
def test_bad_arguments_are_one_line(capsys, args, needle):
    try:
        code = main(["gradcheck", *args])
    except SystemExit as exit:
        code = exit.code
    err = capsys.readouterr().err
    assert code != 0 and needle in err and len(err.strip().splitlines()) == 1
