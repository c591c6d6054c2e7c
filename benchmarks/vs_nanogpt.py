"""tinylm against nanoGPT's own train.py, side by side on this CPU, interleaved, in one run.

    TINYLM_NANOGPT_DIR=/path/to/nanoGPT python benchmarks/vs_nanogpt.py [--rounds 5] [--iters 60]

The recipe is nanoGPT's CPU recipe (its README), which tinylm's shakespeare-cpu preset matches: GPT with
4 layers, 4 heads, 128-d, T 64, batch 12, AdamW, float32. Each round runs, one after the other, nanoGPT's
``train.py`` (torch eager on CPU, as its README runs it), tinylm's numpy engine and tinylm's torch engine,
each in a fresh process with the machine's default threads, ``--iters`` training iterations each; the
first ``--warmup`` iterations of every segment are dropped. Interleaving (A B C A B C ...) spreads the
load of other work on the machine over all three alike; the load average and the CPU time other
processes used during each segment are recorded beside the timings.

An iteration is what a user waits for: nanoGPT's own per-iteration time from its log (batch, forward,
backward, clipping, step); for tinylm, the Trainer's batch plus ``engine.train_step`` (the same work).

In the same run it measures the float32 matmul peak numpy reaches here (best GFLOP/s over square and the
recipe's own shapes) and the numpy engine's fraction of it (the step's matmul FLOPs over its median
time), and the contention case: the same interleaved rounds with one busy process spinning beside them,
and each engine's slowdown against its quiet figure.

nanoGPT is not part of tinylm: get a checkout with ``git clone https://github.com/karpathy/nanoGPT``,
prepare its data with ``python data/shakespeare_char/prepare.py`` (it downloads tiny-shakespeare; offline,
copy the text to data/shakespeare_char/input.txt first), and point TINYLM_NANOGPT_DIR (or
``--nanogpt-dir``) at it. Without one, the script says so and exits 0. Writes
benchmarks/results/vs_nanogpt.json.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import SHARED_DATA, write_result

HERE = Path(__file__).resolve().parent
RECIPE = {"n_layer": 4, "n_head": 4, "n_embd": 128, "block_size": 64, "batch_size": 12}
NANOGPT_ARGS = ["config/train_shakespeare_char.py", "--device=cpu", "--compile=False", "--eval_iters=1",
                "--eval_interval=1000000", "--log_interval=1", "--dropout=0.0", "--lr_decay_iters=2000",
                "--always_save_checkpoint=False"] + [f"--{k}={v}" for k, v in RECIPE.items()]
ITER_LINE = re.compile(r"^iter (\d+): loss [0-9.naif]+, time ([0-9.]+)ms")
ENGINES = ("nanogpt", "numpy", "torch")


# --- the segments ------------------------------------------------------------------------------
def nanogpt_dir(arg: str | None) -> Path | None:
    path = arg or os.environ.get("TINYLM_NANOGPT_DIR")
    return Path(path) if path else None


def nanogpt_problem(path: Path | None) -> str | None:
    if path is None:
        return "no nanoGPT checkout: set TINYLM_NANOGPT_DIR (or --nanogpt-dir)"
    if not (path / "train.py").is_file():
        return f"{path} has no train.py: not a nanoGPT checkout"
    if not (path / "data" / "shakespeare_char" / "train.bin").is_file():
        return f"{path}/data/shakespeare_char is not prepared: run data/shakespeare_char/prepare.py there"
    return None


def run_nanogpt(path: Path, iters: int) -> list[float]:
    with tempfile.TemporaryDirectory() as out_dir:
        cmd = [sys.executable, "train.py", *NANOGPT_ARGS, f"--max_iters={iters}", f"--out_dir={out_dir}"]
        proc = subprocess.run(cmd, cwd=path, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"nanoGPT's train.py failed: {proc.stderr.strip().splitlines()[-1:]}")
    times = {int(m[1]): float(m[2]) for m in map(ITER_LINE.match, proc.stdout.splitlines()) if m}
    return [times[i] for i in sorted(times)]


def run_tinylm(engine: str, iters: int, baseline_src: str | None = None) -> list[float]:
    """A segment of tinylm's ``engine`` ("numpy", "torch"; "numpy@before": the checkout at --baseline-src)."""
    env = dict(os.environ)
    if engine.endswith("@before"):
        engine = engine.split("@")[0]
        env["PYTHONPATH"] = os.pathsep.join([baseline_src, env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, __file__, "--child", engine, "--iters", str(iters)],
                          capture_output=True, text=True, timeout=1800, cwd=HERE, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"tinylm {engine} failed: {proc.stderr.strip().splitlines()[-1:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def child(engine: str, iters: int) -> None:
    """One tinylm segment (a fresh process, like nanoGPT's): print the ms of each iteration as JSON."""
    from tinylm.presets import get_preset
    from tinylm.training.loop import Trainer

    preset = get_preset("shakespeare-cpu")
    trainer = Trainer(preset.model, preset.train, engine=engine, preset=preset.name, quiet=True)
    lr = preset.train.optim.lr
    times = []
    for it in range(iters):
        t0 = time.perf_counter()
        stats = trainer.engine.train_step(*trainer.train_batch(it), lr)
        float(stats.loss)
        times.append(1e3 * (time.perf_counter() - t0))
    trainer.engine.close()
    print(json.dumps(times))


# --- load on the machine ---------------------------------------------------------------------
def busy_jiffies() -> int:
    """CPU time (all cores, clock ticks) the whole machine has spent busy, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields[:8]) - idle


def children_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def measured(fn, *args) -> tuple[list[float], dict]:
    """Run a segment; also return the load around it: load average and the cores other work kept busy."""
    tick = os.sysconf("SC_CLK_TCK")
    load0, busy0, own0, t0 = os.getloadavg()[0], busy_jiffies(), children_cpu_s(), time.perf_counter()
    times = fn(*args)
    wall = time.perf_counter() - t0
    others = ((busy_jiffies() - busy0) / tick - (children_cpu_s() - own0)) / wall
    return times, {"load_1m": [round(load0, 2), round(os.getloadavg()[0], 2)],
                   "other_cores_busy": round(max(others, 0.0), 2)}


# --- matmul peak --------------------------------------------------------------------------------
def matmul_flops() -> int:
    """Matmul FLOPs of one shakespeare-cpu forward + backward (vocab 65), as speed_numpy.py counts them."""
    B, T, C, L, V, H = RECIPE["batch_size"], RECIPE["block_size"], RECIPE["n_embd"], RECIPE["n_layer"], 65, 4
    N, hidden = B * T, 4 * C
    linear = L * (C * 3 * C + C * C + 2 * C * hidden) + C * V
    attention = L * 2 * B * H * T * T * (C // H)
    return 3 * (2 * N * linear + 2 * attention)


PEAK_CODE = """
import json, time, numpy as np
g = np.random.default_rng(0)
best = {}
for m, k, n in [(1024, 1024, 1024), (512, 512, 512), (768, 128, 512), (768, 512, 128), (768, 128, 384),
                (512, 768, 128)]:
    a = g.standard_normal((m, k), dtype=np.float32); b = g.standard_normal((k, n), dtype=np.float32)
    iters = max(10, int(1e9 / (2 * m * k * n)))
    for _ in range(3): a @ b
    runs = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(iters): a @ b
        runs.append((time.perf_counter() - t) / iters)
    best[f"{m}x{k}@{k}x{n}"] = round(2 * m * k * n / min(runs) / 1e9, 1)
print(json.dumps(best))
"""


def matmul_peak() -> dict:
    """Best float32 GFLOP/s of numpy's a @ b here, with the machine's default BLAS threads."""
    out = subprocess.run([sys.executable, "-c", PEAK_CODE], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


# --- contention ----------------------------------------------------------------------------------
SPIN = "import time\nwhile True:\n    pass\n"


def summary(times: list[list[float]], loads: list[dict], warmup: int) -> dict:
    kept = [t for seg in times for t in seg[warmup:]]
    rounds = [statistics.median(seg[warmup:]) for seg in times]
    return {"ms_per_iter_median": round(statistics.median(kept), 2), "ms_per_iter_min": round(min(kept), 2),
            "best_round_median_ms": round(min(rounds), 2),       # the round least disturbed by other work
            "round_medians_ms": [round(r, 2) for r in rounds],
            "iters_timed": len(kept), "load": loads}


def interleaved(rounds: int, iters: int, warmup: int, path: Path, engines: tuple[str, ...], label: str,
                baseline_src: str | None = None) -> dict:
    times: dict[str, list] = {e: [] for e in engines}
    loads: dict[str, list] = {e: [] for e in engines}
    for r in range(rounds):
        for engine in engines:
            fn, args = ((run_nanogpt, (path, iters)) if engine == "nanogpt"
                        else (run_tinylm, (engine, iters, baseline_src)))
            seg, load = measured(fn, *args)
            times[engine].append(seg)
            loads[engine].append(load)
            print(f"{label} round {r + 1}/{rounds} {engine:8s} median {statistics.median(seg[warmup:]):7.2f} ms "
                  f"(load {load['load_1m'][0]}, other cores busy {load['other_cores_busy']})", flush=True)
    return {e: summary(times[e], loads[e], warmup) for e in engines}


def ratios(result: dict) -> dict:
    """nanoGPT's ms / tinylm's ms: how many times nanoGPT's speed (above 1: tinylm is faster)."""
    ref = result["nanogpt"]
    return {e: {"speed_vs_nanogpt_median": round(ref["ms_per_iter_median"] / r["ms_per_iter_median"], 3),
                "speed_vs_nanogpt_min": round(ref["ms_per_iter_min"] / r["ms_per_iter_min"], 3),
                "speed_vs_nanogpt_best_round": round(ref["best_round_median_ms"] / r["best_round_median_ms"], 3)}
            for e, r in result.items() if e != "nanogpt"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nanogpt-dir", help="a nanoGPT checkout (default: $TINYLM_NANOGPT_DIR)")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (A B C per round)")
    ap.add_argument("--iters", type=int, default=60, help="iterations per segment")
    ap.add_argument("--warmup", type=int, default=10, help="first iterations of a segment left out")
    ap.add_argument("--contention-rounds", type=int, default=2, help="rounds with one busy process (0: skip)")
    ap.add_argument("--baseline-src", help="also time the numpy and torch engines of another checkout's src/ "
                    "(e.g. before a change), as numpy@before and torch@before in the same rounds")
    ap.add_argument("--child", choices=("numpy", "torch"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child, args.iters)
    path = nanogpt_dir(args.nanogpt_dir)
    problem = nanogpt_problem(path)
    if problem:
        print(f"skipped: {problem}.\nGet one: git clone https://github.com/karpathy/nanoGPT; in it, run "
              "python data/shakespeare_char/prepare.py (offline: copy tiny-shakespeare to "
              "data/shakespeare_char/input.txt first); then TINYLM_NANOGPT_DIR=<checkout>.")
        return
    if not os.environ.get("TINYLM_SHAKESPEARE") and (SHARED_DATA / "tinyshakespeare.txt").exists():
        os.environ["TINYLM_SHAKESPEARE"] = str((SHARED_DATA / "tinyshakespeare.txt").resolve())
    import torch

    engines = ENGINES + (("numpy@before", "torch@before") if args.baseline_src else ())
    peak_before = matmul_peak()
    quiet = interleaved(args.rounds, args.iters, args.warmup, path, engines, "alone", args.baseline_src)
    peak_after = matmul_peak()
    peaks = {k: max(peak_before[k], peak_after[k]) for k in peak_before}
    peak = max(peaks.values())
    flops = matmul_flops()
    numpy_gflops = flops / (quiet["numpy"]["ms_per_iter_median"] / 1e3) / 1e9
    result: dict = {
        "recipe": {**RECIPE, "vocab": 65, "dtype": "float32", "optimizer": "AdamW"},
        "nanogpt": {"dir": str(path), "command": f"python train.py {' '.join(NANOGPT_ARGS)} --max_iters=N",
                    "torch": torch.__version__, "torch_threads": torch.get_num_threads()},
        "baseline_src": args.baseline_src, "rounds": args.rounds, "iters_per_segment": args.iters, "warmup_dropped": args.warmup,
        "alone": quiet, "ratios": ratios(quiet),
        "matmul": {"gflop_per_iter": round(flops / 1e9, 3), "peak_gflops": peak, "peak_by_shape": peaks,
                   "numpy_engine_gflops_median": round(numpy_gflops, 1),
                   "numpy_engine_fraction_of_peak": round(numpy_gflops / peak, 3)},
        "targets": {"numpy_speed_vs_nanogpt": 1.3, "best_speed_vs_nanogpt": 1.6, "numpy_fraction_of_peak": 0.6},
    }
    if args.contention_rounds:
        spinner = subprocess.Popen([sys.executable, "-c", SPIN])
        try:
            time.sleep(1.0)
            busy = interleaved(args.contention_rounds, args.iters, args.warmup, path, engines, "contended",
                               args.baseline_src)
        finally:
            spinner.kill()
            spinner.wait()
        result["contended"] = busy
        result["contention_slowdown"] = {e: round(busy[e]["ms_per_iter_median"] / quiet[e]["ms_per_iter_median"], 2)
                                         for e in engines}
    best = max((r for e, r in result["ratios"].items() if "@" not in e), key=lambda r: r["speed_vs_nanogpt_median"])
    result["met"] = {
        "numpy_speed_vs_nanogpt": result["ratios"]["numpy"]["speed_vs_nanogpt_median"] >= 1.3,
        "best_speed_vs_nanogpt": best["speed_vs_nanogpt_median"] >= 1.6,
        "numpy_fraction_of_peak": result["matmul"]["numpy_engine_fraction_of_peak"] >= 0.6,
    }
    if "contention_slowdown" in result:
        slow = result["contention_slowdown"]
        result["met"]["contention_no_worse_than_nanogpt"] = all(slow[e] <= slow["nanogpt"] for e in ("numpy", "torch"))
    path_out = write_result("vs_nanogpt", result)
    for e in engines:
        r = quiet[e]
        extra = "" if e == "nanogpt" else f"  {result['ratios'][e]['speed_vs_nanogpt_median']:.2f}x nanoGPT's speed"
        print(f"{e:8s} median {r['ms_per_iter_median']:7.2f} ms  min {r['ms_per_iter_min']:7.2f} ms{extra}")
    print(f"numpy engine: {numpy_gflops:.0f} GFLOP/s = {result['matmul']['numpy_engine_fraction_of_peak']:.0%} "
          f"of the {peak} GFLOP/s matmul peak")
    if "contention_slowdown" in result:
        print("slowdown with one busy process: " + ", ".join(f"{e} {v}x" for e, v in result["contention_slowdown"].items()))
    print(f"wrote {path_out}")


if __name__ == "__main__":
    main()
