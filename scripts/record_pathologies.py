"""Record the canonical curve of each 'when training breaks' run with OUR numpy engine.

    python scripts/record_pathologies.py [name ...]

Writes src/tinylm/lab/pathologies/<name>.json: the preset's config, per-iter training loss, (iter, val)
pairs, ln V, the loss-curve doctor's final diagnosis and the wall time. The lab draws these faintly under the
live runs; tests/test_lab_api.py checks that each recorded config still equals its preset's.
"""
from __future__ import annotations

import os

# one BLAS thread, as in the lab's workers (tiny matrices; set before numpy is imported)
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from tinylm.lab.pathologies import HERE, PATHOLOGIES, SEED, preset_config  # noqa: E402
from tinylm.lab.worker import build_trainer  # noqa: E402


def record(name: str) -> dict:
    trainer, _ = build_trainer({"engine": "numpy", "pathology": name, "seed": SEED, "checkpoint": None})
    if trainer.train_cfg.to_dict() != preset_config(name)["train"]:
        raise SystemExit(f"{name}: the run's train config differs from preset_config({name!r})")
    losses, val, uniform, diagnosis = [], [], math.log(2), None
    t0 = time.perf_counter()
    for event in trainer.events():
        if event.kind == "start":
            uniform = event.entropies["uniform"]
        elif event.kind == "step":
            losses.append(event.loss)
        elif event.kind == "diagnosis":
            diagnosis = {"kind": event.verdict, "message": event.message}   # the last one is the final verdict
        elif event.kind == "eval":
            val.append((event.iter, event.train_loss, event.val_loss))
    seconds = time.perf_counter() - t0
    as_json = lambda v: v if math.isfinite(v) else str(v)  # noqa: E731  (JSON has no NaN)
    return {"name": name, "engine": "numpy", "seed": SEED, "steps": trainer.train_cfg.steps,
            "config": preset_config(name),
            "uniform": uniform, "loss": [as_json(v) for v in losses],
            "val": [[it, as_json(v)] for it, _, v in val], "train_eval": [[it, as_json(t)] for it, t, _ in val],
            "diagnosis": diagnosis, "seconds": round(seconds, 2)}


def main(names: list[str]) -> None:
    for name in names or list(PATHOLOGIES):
        curve = record(name)
        Path(HERE / f"{name}.json").write_text(json.dumps(curve, separators=(",", ":")) + "\n", encoding="utf-8")
        print(f"{name:10s} {len(curve['loss']):4d} iters {curve['seconds']:5.1f}s  {curve['diagnosis']['message']}")


if __name__ == "__main__":
    main(sys.argv[1:])
