"""Torch engine speed on the shakespeare-cpu preset (nanoGPT's CPU recipe: 4 layers, 4 heads, 128-d,
T 64, batch 12, vocab 65), CPU float32, 2 threads: torch eager, torch compiled and the numpy engine,
side by side in one run on the same batches and initial weights (timed in alternating blocks).

Writes benchmarks/results/torch_speed.json. nanoGPT's own eager CPU run measured 13.7k tokens/s on this
class of machine (shared/reference/README.md). If torch.compile fails here, its error is recorded.
The dev machine has 2 cores shared with other jobs: timings are noisy; compare ratios from one run.

    python benchmarks/torch_speed.py [--steps 60] [--warmup 5] [--no-compile]
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from tinylm.engines import engine_class  # noqa: E402
from tinylm.models.params import init_params, param_count  # noqa: E402
from tinylm.presets import get_preset  # noqa: E402
from tinylm.seeding import rng_for  # noqa: E402
from common import write_result  # noqa: E402

NANOGPT_CPU_TOKENS_PER_S = 13_700.0     # shared/reference/README.md (torch eager, no compile)


def make_engine(engine_name: str, options: dict, batches: list, warmup: int):
    """Build an engine on the preset's model and optimizer, and run its warm-up steps (for compile: the
    whole compilation)."""
    preset = get_preset("shakespeare-cpu")
    cfg = dataclasses.replace(preset.model, vocab_size=65)
    t0 = time.perf_counter()
    engine = engine_class(engine_name)(cfg, init_params(cfg, rng_for("bench", "init")), dtype="float32", **options)
    engine.configure_optimizer(preset.train.optim)
    first_step = None
    for x, y in batches[:warmup]:
        s = time.perf_counter()
        engine.train_step(x, y, preset.train.optim.lr)
        first_step = first_step or time.perf_counter() - s
    return engine, {"options": options, "warmup_steps": warmup, "setup_and_warmup_s": time.perf_counter() - t0,
                    "first_step_s": first_step}


def time_in_rounds(engines: dict, batches: list, rounds: int = 3) -> dict:
    """Time every engine on the same batches, in blocks of consecutive steps taken in turn over a few
    rounds: load from other jobs on this shared machine then falls on all engines alike, while each
    block still runs alone (torch's OpenMP pool and numpy's OpenBLAS pool thrash when steps alternate)."""
    lr = get_preset("shakespeare-cpu").train.optim.lr
    times = {label: [] for label in engines}
    losses = {label: [] for label in engines}
    bounds = np.linspace(0, len(batches), rounds + 1).astype(int)
    for r in range(rounds):
        for label, engine in engines.items():
            for x, y in batches[bounds[r]:bounds[r + 1]]:
                s = time.perf_counter()
                stats = engine.train_step(x, y, lr)
                times[label].append(time.perf_counter() - s)
                losses[label].append(stats.loss)
    tokens = batches[0][0].size
    return {label: {"timed_steps": len(times[label]), "rounds": rounds,
                    "ms_per_iter_median": 1e3 * statistics.median(times[label]),
                    "ms_per_iter_min": 1e3 * min(times[label]),
                    "tokens_per_s": tokens / statistics.median(times[label]), "losses": losses[label]}
            for label in engines}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--no-compile", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(2)

    rng = np.random.default_rng(0)
    B, T = 12, 64
    batches = []
    for _ in range(args.warmup + args.steps):
        tokens = rng.integers(0, 65, (B, T + 1))
        batches.append((tokens[:, :-1], tokens[:, 1:]))

    cfg = dataclasses.replace(get_preset("shakespeare-cpu").model, vocab_size=65)
    result: dict = {
        "preset": "shakespeare-cpu", "n_params": param_count(cfg),
        "batch": B, "block": T, "vocab": 65, "dtype": "float32", "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "note": "2-core dev machine shared with other jobs: absolute times are noisy; compare within this run",
        "nanogpt_reference_tokens_per_s": NANOGPT_CPU_TOKENS_PER_S, "engines": {},
    }
    runs = [("torch_eager", "torch", {"device": "cpu"})]
    if not args.no_compile:
        runs.append(("torch_compiled", "torch", {"device": "cpu", "compile": True}))
    runs.append(("numpy", "numpy", {}))
    engines = {}
    for label, engine_name, options in runs:
        try:
            engines[label], result["engines"][label] = make_engine(engine_name, options, batches, args.warmup)
        except Exception as err:  # record why (e.g. no C++ toolchain for inductor), keep the other figures
            lines = [line for line in str(err).strip().splitlines() if line.strip()]
            result["engines"][label] = {"error": f"{type(err).__name__}: {lines[0] if lines else ''}"[:500],
                                        "traceback_tail": traceback.format_exc().splitlines()[-6:]}
            print(f"{label:15s} failed: {result['engines'][label]['error']}")
    for label, timing in time_in_rounds(engines, batches[args.warmup:]).items():
        r = result["engines"][label]
        r.update(timing)
        print(f"{label:15s} {r['ms_per_iter_median']:8.2f} ms/iter  {r['tokens_per_s']:9.0f} tok/s  "
              f"(setup+warmup {r['setup_and_warmup_s']:.1f} s)")
    eng = result["engines"]
    # same batches and initial weights: the engines must agree on the losses they report
    if "losses" in eng.get("torch_eager", {}):
        reference = np.array(eng["torch_eager"]["losses"])
        result["max_abs_loss_diff_vs_torch_eager"] = {
            k: float(np.abs(np.array(v["losses"]) - reference).max()) for k, v in eng.items() if "losses" in v}
    for v in eng.values():
        if "losses" in v:
            v["loss_first"], v["loss_last"] = v["losses"][0], v["losses"][-1]
            del v["losses"]
    if "tokens_per_s" in eng.get("torch_eager", {}):
        base = eng["torch_eager"]["tokens_per_s"]
        result["ratios"] = {f"{k}_over_torch_eager": v["tokens_per_s"] / base
                            for k, v in eng.items() if "tokens_per_s" in v}
        result["ratios"]["torch_eager_over_nanogpt_reference"] = base / NANOGPT_CPU_TOKENS_PER_S
    print(f"wrote {write_result('torch_speed', result)}")


if __name__ == "__main__":
    main()
