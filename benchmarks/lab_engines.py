"""The lab's engines as one lab worker runs them: one thread, iterations per second, per preset.

    TINYLM_SHAKESPEARE=../shared/data/tinyshakespeare.txt \
        python benchmarks/lab_engines.py [--baseline-src ../old-checkout/src] [--steps 200] [--repeats 3]

A lab run is a worker process with one BLAS/OpenMP thread (``lab/runs.WORKER_ENV``) driving a
``Trainer``: each iteration fetches the batch and calls ``engine.train_step``. This script does the same
in this process, with the same one-thread environment, for shakespeare-tiny and microgpt on the numpy
engine (and torch when installed), and reports iterations/s from the median and the min step, plus the
CPU time per step (what the step costs with a core to itself; robust to other load on the machine).

With ``--baseline-src`` (another checkout's src/, e.g. before a change) each measurement runs twice, in a
fresh process per checkout, alternating "before" and "after" in the same rounds so that other load on the
machine falls on both alike. Writes benchmarks/results/lab_engines.json.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"          # the lab worker's environment (runs.WORKER_ENV), before numpy loads

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from common import SHARED_DATA, write_result  # noqa: E402

PRESETS = ("shakespeare-tiny", "microgpt")


def time_preset(preset_name: str, engine: str, steps: int) -> dict:
    from tinylm.presets import get_preset
    from tinylm.training.loop import Trainer

    preset = get_preset(preset_name)
    trainer = Trainer(preset.model, preset.train, engine=engine, preset=preset.name, quiet=True)
    lr = preset.train.optim.lr
    for it in range(5):
        trainer.engine.train_step(*trainer.train_batch(it), lr)
    wall, cpu = [], []
    for it in range(5, 5 + steps):
        c0, t0 = time.process_time(), time.perf_counter()
        trainer.engine.train_step(*trainer.train_batch(it), lr)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    trainer.engine.close()
    median = statistics.median(wall)
    return {"steps": steps, "ms_per_iter_median": round(1e3 * median, 3), "ms_per_iter_min": round(1e3 * min(wall), 3),
            "cpu_ms_per_iter_median": round(1e3 * statistics.median(cpu), 3),
            "iters_per_s_median": round(1 / median, 1), "iters_per_s_best": round(1 / min(wall), 1)}


def child(preset: str, engine: str, steps: int) -> None:
    print(json.dumps(time_preset(preset, engine, steps)))


def measure(preset: str, engine: str, steps: int, src: str | None) -> dict:
    """One measurement in a fresh process (``src``: put that checkout first on the path)."""
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, __file__, "--child", preset, engine, str(steps)], env=env,
                         capture_output=True, text=True, check=True, cwd=Path(__file__).parent)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline-src", help="another checkout's src/ to time as 'before', interleaved")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3, help="interleaved rounds; each figure keeps its best median")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if not os.environ.get("TINYLM_SHAKESPEARE") and (SHARED_DATA / "tinyshakespeare.txt").exists():
        os.environ["TINYLM_SHAKESPEARE"] = str((SHARED_DATA / "tinyshakespeare.txt").resolve())
    if args.child:
        return child(args.child[0], args.child[1], int(args.child[2]))
    from tinylm.engines import available_engines

    engines = [e for e in ("numpy", "torch") if e in available_engines()]
    labels = {"after": None} if not args.baseline_src else {"before": args.baseline_src, "after": None}
    load_before = os.getloadavg()[0]
    runs: dict = {label: {} for label in labels}
    for _ in range(args.repeats):                # interleaved: load from other jobs falls on all alike
        for preset in PRESETS:
            for engine in engines:
                steps = args.steps * (5 if preset == "microgpt" else 1)
                for label, src in labels.items():
                    r = measure(preset, engine, steps, src)
                    key = f"{preset}/{engine}"
                    best = runs[label].get(key)
                    if best is None or r["ms_per_iter_median"] < best["ms_per_iter_median"]:
                        runs[label][key] = r
    for label in labels:
        for key, r in runs[label].items():
            print(f"{label:8s} {key:24s} {r['iters_per_s_median']:8.1f} it/s (median step "
                  f"{r['ms_per_iter_median']:.2f} ms, min {r['ms_per_iter_min']:.2f}, "
                  f"cpu {r['cpu_ms_per_iter_median']:.2f})")
    result = {"threads": 1, "baseline_src": args.baseline_src, "repeats": args.repeats,
              "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)], "runs": runs}
    print(f"wrote {write_result('lab_engines', result)}")


if __name__ == "__main__":
    main()
