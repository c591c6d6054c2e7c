"""Record the canonical curve of each 'when training breaks' run with OUR numpy engine.

    python scripts/record_pathologies.py [name ...]

Writes src/tinylm/lab/pathologies/<name>.json: per-iter training loss, (iter, val) pairs, ln V, the
diagnosis read from the curve and the wall time. The lab draws these faintly under the live runs.
"""
from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

from tinylm.lab.diagnosis import diagnose
from tinylm.lab.pathologies import HERE, PATHOLOGIES, SEED
from tinylm.lab.worker import build_trainer


def record(name: str) -> dict:
    trainer, _ = build_trainer({"engine": "numpy", "pathology": name, "seed": SEED, "checkpoint": None})
    losses, val, uniform, diverged = [], [], math.log(2), ""
    t0 = time.perf_counter()
    for event in trainer.events():
        if event.kind == "start":
            uniform = event.entropies["uniform"]
        elif event.kind == "step":
            losses.append(event.loss)
        elif event.kind == "finished":
            diverged = event.message if event.reason == "diverged" else ""
        elif event.kind == "eval":
            val.append((event.iter, event.train_loss, event.val_loss))
    seconds = time.perf_counter() - t0
    diagnosis = diagnose(losses, val, uniform, diverged)
    as_json = lambda v: v if math.isfinite(v) else str(v)  # noqa: E731  (JSON has no NaN)
    return {"name": name, "engine": "numpy", "seed": SEED, "steps": trainer.train_cfg.steps,
            "uniform": uniform, "loss": [as_json(v) for v in losses],
            "val": [[it, as_json(v)] for it, _, v in val], "train_eval": [[it, as_json(t)] for it, t, _ in val],
            "diagnosis": diagnosis.to_dict(), "seconds": round(seconds, 2)}


def main(names: list[str]) -> None:
    for name in names or list(PATHOLOGIES):
        curve = record(name)
        Path(HERE / f"{name}.json").write_text(json.dumps(curve, separators=(",", ":")) + "\n", encoding="utf-8")
        print(f"{name:10s} {len(curve['loss']):4d} iters {curve['seconds']:5.1f}s  {curve['diagnosis']['message']}")


if __name__ == "__main__":
    main(sys.argv[1:])
