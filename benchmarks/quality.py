"""Quality benchmarks against the reference implementations' figures (../shared/reference/README.md).

    python benchmarks/quality.py [microgpt] [names-gpt] [shakespeare-cpu]   (default: all three)

Each uses the reference's own data from ../shared/data and writes benchmarks/results/quality_<name>.json:
- microgpt:        mean training loss over the last 100 of 1000 steps (target <= 2.30; reference 2.276),
                   with our seeding and with --compat microgpt (microgpt.py's own RNG stream).
- names-gpt:       val loss within 10,000 steps (target <= 2.00; reference makemore 1.972 @ 10k).
- shakespeare-cpu: val loss at iter 2000 (target <= 1.89; reference nanoGPT 1.886).
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")

import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from tinylm.presets import apply_overrides, get_preset  # noqa: E402
from tinylm.training.loop import Trainer  # noqa: E402

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data"
RESULTS = HERE / "results"

TARGETS = {"microgpt": ("last100_train_loss", 2.30, 2.276),
           "names-gpt": ("best_val_loss", 2.00, 1.972),
           "shakespeare-cpu": ("val_loss_at_2000", 1.89, 1.8857)}


def run(preset: str, engine: str = "numpy", **overrides) -> tuple[list, float]:
    p = apply_overrides(get_preset(preset), overrides)
    trainer = Trainer(p.model, p.train, engine=engine, preset=p.name)
    t0 = time.perf_counter()
    events = list(trainer.events())
    return events, time.perf_counter() - t0


def bench_microgpt() -> dict:
    out = {}
    for label, extra in (("tinylm seed", {}), ("compat microgpt", {"compat": "microgpt"})):
        events, wall = run("microgpt", **{"data.source": str(SHARED / "names.txt"), "sample_every": 0,
                                          "eval_every": 0, **extra})
        losses = [e.loss for e in events if e.kind == "step"]
        out[label] = {"last100_train_loss": float(np.mean(losses[-100:])), "wall_s": wall, "steps": len(losses)}
    return {"last100_train_loss": out["tinylm seed"]["last100_train_loss"], "runs": out}


def bench_names_gpt() -> dict:
    events, wall = run("names-gpt", **{"data.source": str(SHARED / "names.txt"), "sample_every": 0,
                                       "eval_every": 1000})
    evals = [(e.iter, e.val_loss, e.train_loss) for e in events if e.kind == "eval"]
    return {"best_val_loss": min(v for _, v, _ in evals), "final_val_loss": evals[-1][1],
            "evals": evals, "wall_s": wall}


def bench_shakespeare_cpu() -> dict:
    events, wall = run("shakespeare-cpu", **{"data.source": str(SHARED / "tinyshakespeare.txt"),
                                             "data.mode": "stream", "sample_every": 0})
    evals = [(e.iter, e.val_loss, e.train_loss) for e in events if e.kind == "eval"]
    steps = [e for e in events if e.kind == "step"]
    return {"val_loss_at_2000": evals[-1][1], "train_loss_at_2000": evals[-1][2], "evals": evals, "wall_s": wall,
            "train_tokens_per_s": steps[-1].tokens_per_s}


def main(names: list[str]) -> int:
    if not SHARED.is_dir():
        print(json.dumps({"skipped": f"{SHARED} not found"}))
        return 0
    RESULTS.mkdir(exist_ok=True)
    benches = {"microgpt": bench_microgpt, "names-gpt": bench_names_gpt, "shakespeare-cpu": bench_shakespeare_cpu}
    status = 0
    for name in names or list(benches):
        result = benches[name]()
        key, target, reference = TARGETS[name]
        result.update({"benchmark": f"quality/{name}", "metric": key, "target": target, "reference": reference,
                       "passed": result[key] <= target})
        (RESULTS / f"quality_{name}.json").write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps({k: result[k] for k in ("benchmark", "metric", "target", "reference", "passed")}
                         | {key: result[key], "wall_s": result.get("wall_s")}))
        status |= 0 if result["passed"] else 1
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
