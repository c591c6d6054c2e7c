"""Data parallelism: a 2-process gloo run under torchrun equals one process on the same global batch."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tinylm.config import ModelConfig, OptimConfig  # noqa: E402
from tinylm.engines import engine_class  # noqa: E402
from tinylm.models.params import init_params  # noqa: E402

CFG = dict(family="gpt", vocab_size=9, block_size=8, n_embd=16, n_head=2, n_layer=2, norm="layernorm",
           norm_affine=True, bias=True, activation="gelu", tie_weights=True)
OPT = dict(name="adamw", lr=0.01, weight_decay=0.1, grad_clip=0.5)

# Each rank receives the same global batches; B=5 splits 2/3 and the padding differs per row, so a
# plain average of the two ranks' mean losses would be wrong: only count-weighting matches.
WORKER = textwrap.dedent("""
    import json, sys
    import numpy as np
    from tinylm.engines import engine_class
    from tinylm.config import ModelConfig, OptimConfig
    from tinylm.models.params import init_params

    cfg_dict, opt_dict, dtypes, out = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
    sys.path.insert(0, sys.argv[5])
    from batches import global_batches
    cfg = ModelConfig(**cfg_dict)
    for dtype in dtypes.split(","):
        engine = engine_class("torch")(cfg, init_params(cfg, np.random.default_rng(0)), dtype=dtype)
        engine.configure_optimizer(OptimConfig(**opt_dict))
        losses, norms = [], []
        for x, y in global_batches(cfg):
            stats = engine.train_step(x, y, 0.01)
            losses.append(stats.loss)
            norms.append(stats.grad_norm)
        x, y = global_batches(cfg)[0]
        eval_loss = engine.loss(x, y)
        result = {"rank": engine.rank, "world_size": engine.world_size, "is_main": engine.is_main,
                  "losses": losses, "norms": norms, "eval_loss": eval_loss,
                  "params": {k: v.tolist() for k, v in engine.get_params().items()}}
        with open(f"{out}.{dtype}.{engine.rank}.json", "w") as f:
            json.dump(result, f)
    engine.close()
""")

BATCHES = textwrap.dedent("""
    import numpy as np

    def global_batches(cfg, steps=4, B=5, T=8):
        rng = np.random.default_rng(123)
        out = []
        for _ in range(steps):
            x = rng.integers(0, cfg.vocab_size, (B, T))
            y = rng.integers(0, cfg.vocab_size, (B, T))
            for row, keep in enumerate(rng.integers(1, T + 1, B)):
                y[row, keep:] = -1
            out.append((x, y))
        return out
""")


pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]


def torchrun(tmp_path: Path) -> None:
    """One 2-process run for both dtypes (torchrun's start-up dominates); results land in tmp_path."""
    (tmp_path / "worker.py").write_text(WORKER)
    (tmp_path / "batches.py").write_text(BATCHES)
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=str(tmp_path))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(tmp_path / "worker.py"), json.dumps(CFG), json.dumps(OPT), "float64,float32",
           str(tmp_path / "out"), str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.fixture(scope="module")
def ddp_results(tmp_path_factory) -> Path:
    tmp_path = tmp_path_factory.mktemp("ddp")
    torchrun(tmp_path)
    return tmp_path


def single_process(tmp_path: Path, dtype: str):
    sys.path.insert(0, str(tmp_path))
    try:
        from batches import global_batches
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("batches", None)
    cfg = ModelConfig(**CFG)
    engine = engine_class("torch")(cfg, init_params(cfg, np.random.default_rng(0)), dtype=dtype)
    assert (engine.rank, engine.world_size, engine.is_main) == (0, 1, True)
    engine.configure_optimizer(OptimConfig(**OPT))
    stats = [engine.train_step(x, y, 0.01) for x, y in global_batches(cfg)]
    x, y = global_batches(cfg)[0]
    return stats, engine.loss(x, y), engine.get_params()


@pytest.mark.slow
@pytest.mark.parametrize("dtype,tol", [("float64", 1e-9), ("float32", 1e-5)])
def test_two_process_gloo_run_matches_one_process_on_the_global_batch(ddp_results, dtype, tol):
    ranks = [json.loads((ddp_results / f"out.{dtype}.{r}.json").read_text()) for r in range(2)]
    stats, eval_loss, params = single_process(ddp_results, dtype)
    # the batches make naive averaging visibly wrong: the mean of the two shards' means is not the loss
    cfg = ModelConfig(**CFG)
    probe = engine_class("torch")(cfg, init_params(cfg, np.random.default_rng(0)), dtype="float64")
    sys.path.insert(0, str(ddp_results))
    try:
        from batches import global_batches
        x, y = global_batches(cfg)[0]
    finally:
        sys.path.remove(str(ddp_results))
        sys.modules.pop("batches", None)
    naive = (probe.loss(x[:2], y[:2]) + probe.loss(x[2:], y[2:])) / 2
    assert abs(naive - stats[0].loss) > 1e-3
    assert [r["rank"] for r in ranks] == [0, 1] and [r["is_main"] for r in ranks] == [True, False]
    assert all(r["world_size"] == 2 for r in ranks)
    for r in ranks:
        np.testing.assert_allclose(r["losses"], [s.loss for s in stats], rtol=tol)
        np.testing.assert_allclose(r["norms"], [s.grad_norm for s in stats], rtol=tol * 10)
        assert r["eval_loss"] == pytest.approx(eval_loss, rel=tol)
    for name, value in params.items():
        # both ranks hold the same weights, equal to the single-process update
        np.testing.assert_array_equal(ranks[0]["params"][name], ranks[1]["params"][name])
        np.testing.assert_allclose(np.array(ranks[0]["params"][name]), value, rtol=tol * 100, atol=tol,
                                   err_msg=name)


@pytest.mark.slow
def test_torchrun_cli_trains_with_ddp(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    common = ["train", "--preset", "bigram", "--engine", "torch", "--steps", "20", "--quiet"]
    single = subprocess.run([sys.executable, "-m", "tinylm", *common, "--out", str(tmp_path / "one")],
                            capture_output=True, text=True, env=env, timeout=300)
    assert single.returncode == 0, single.stderr[-3000:]
    dist = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           "-m", "tinylm", *common, "--out", str(tmp_path / "ddp")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert dist.returncode == 0, dist.stderr[-3000:]

    def step_losses(run: str) -> list[float]:
        lines = (tmp_path / run / "metrics.jsonl").read_text().splitlines()
        return [json.loads(line)["loss"] for line in lines if json.loads(line).get("event") == "step"]

    ddp, one = step_losses("ddp"), step_losses("one")
    assert len(ddp) == len(one) == 20          # only rank 0 wrote its metrics (no duplicate lines)
    np.testing.assert_allclose(ddp, one, rtol=1e-4)
