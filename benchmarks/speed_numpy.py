"""Training speed of the numpy engine: shakespeare-cpu train_step and microgpt steps/s.

    python benchmarks/speed_numpy.py [--threads 2] [--iters 50] [--repeats 3]

Writes benchmarks/results/speed_numpy.json. Reports ms/iter (min and median), tokens/s, the
matmul GFLOP/s the step achieves (forward + backward, counted from the shapes) and the fraction
of this machine's float32 matmul peak, measured here with the same thread count.
"""
from __future__ import annotations

import argparse
import time

from common import SHARED_DATA, set_threads, summarize, time_calls, write_result


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iters", type=int, default=50, help="timed iterations per repeat")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3, help="repeat the timing; report the best repeat")
    parser.add_argument("--name", default="speed_numpy", help="results file name (without .json)")
    return parser.parse_args()


def matmul_flops(cfg, B: int, T: int) -> int:
    """Matmul FLOPs of one forward + backward (backward = 2x forward: dX and dW)."""
    N, C, V, hidden = B * T, cfg.n_embd, cfg.vocab_size, cfg.mlp_ratio * cfg.n_embd
    linear = cfg.n_layer * (C * 3 * C + C * C + 2 * C * hidden) + C * V      # weights touched per token
    attention = cfg.n_layer * 2 * B * cfg.n_head * T * T * cfg.head_dim      # q k^T and att v
    return 3 * (2 * N * linear + 2 * attention)


def matmul_peak(np, shapes: list[tuple[int, int, int]]) -> dict:
    """Best float32 GFLOP/s of a @ b over ``shapes`` (m, k, n)."""
    best = {}
    g = np.random.default_rng(0)
    for m, k, n in shapes:
        a = g.standard_normal((m, k), dtype=np.float32)
        b = g.standard_normal((k, n), dtype=np.float32)
        iters = max(5, int(2e9 / (2 * m * k * n)))
        times = time_calls(lambda: a @ b, iters=iters, warmup=3)
        best[f"{m}x{k}@{k}x{n}"] = round(2 * m * k * n / min(times) / 1e9, 1)
    return best


def shakespeare_batches(np, V_default: int, B: int, T: int, count: int):
    """Real tiny-shakespeare windows when the shared data is present, else random tokens."""
    path = SHARED_DATA / "tinyshakespeare.txt"
    g = np.random.default_rng(0)
    if path.exists():
        text = path.read_text(encoding="utf-8")
        chars = sorted(set(text))
        lookup = np.zeros(max(map(ord, chars)) + 1, dtype=np.int64)
        lookup[[ord(c) for c in chars]] = np.arange(len(chars))
        data = lookup[np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)]
        starts = g.integers(0, data.size - T - 1, size=(count, B))
        windows = data[starts[..., None] + np.arange(T + 1)]
        return len(chars), [(w[:, :-1], w[:, 1:]) for w in windows], True
    tokens = g.integers(0, V_default, size=(count, B, T + 1))
    return V_default, [(w[:, :-1], w[:, 1:]) for w in tokens], False


def bench_shakespeare(np, args) -> dict:
    from tinylm.engines.numpy_engine import NumpyEngine
    from tinylm.models.params import init_params, param_count
    from tinylm.presets import get_preset
    from tinylm.seeding import rng_for

    preset = get_preset("shakespeare-cpu")
    cfg, train = preset.model, preset.train
    B, T = train.batch_size, cfg.block_size
    V, batches, real = shakespeare_batches(np, 65, B, T, count=args.iters + args.warmup)
    cfg.vocab_size = V
    engine = NumpyEngine(cfg, init_params(cfg, rng_for("bench", "init")), dtype="float32")
    engine.configure_optimizer(train.optim)
    repeats = []
    for _ in range(args.repeats):
        it = iter(batches * 2)
        repeats.append(time_calls(lambda: engine.train_step(*next(it), lr=train.optim.lr),
                                  iters=args.iters, warmup=args.warmup))
    cpu_start = time.process_time()
    engine.train_step(*batches[0], lr=train.optim.lr)
    cpu_ms = 1e3 * (time.process_time() - cpu_start)   # CPU time of all threads; robust to waiting
    best = min(repeats, key=lambda times: sorted(times)[len(times) // 2])
    stats = summarize(best)
    all_times = [t for times in repeats for t in times]
    flops = matmul_flops(cfg, B, T)
    shapes = [(1024, 1024, 1024), (512, 512, 512), (256, 256, 256),
              (B * T, cfg.n_embd, 3 * cfg.n_embd), (B * T, cfg.n_embd, 4 * cfg.n_embd),
              (B * T, 4 * cfg.n_embd, cfg.n_embd), (4 * cfg.n_embd, B * T, cfg.n_embd)]
    peaks = matmul_peak(np, shapes)
    peak = max(peaks.values())
    median_s = stats["median_ms"] / 1e3
    return {
        "preset": "shakespeare-cpu", "params": param_count(cfg), "batch": B, "block": T, "vocab": V,
        "real_text": real, "tokens_per_step": B * T,
        "train_step": stats, "one_step_cpu_ms": round(cpu_ms, 2),
        "train_step_min_over_all_ms": round(1e3 * min(all_times), 3),
        "repeat_medians_ms": [round(1e3 * sorted(t)[len(t) // 2], 3) for t in repeats],
        "tokens_per_s_median": round(B * T / median_s), "tokens_per_s_best": round(B * T * 1e3 / stats["min_ms"]),
        "matmul_gflop_per_step": round(flops / 1e9, 3),
        "achieved_gflops_median": round(flops / median_s / 1e9, 1),
        "matmul_peak_gflops": peak, "matmul_peak_by_shape": peaks,
        "fraction_of_peak": round(flops / median_s / 1e9 / peak, 3),
        "target": {"max_ms": 51.2, "tokens_per_s": 15000, "torch_eager_reference_ms": 55.9},
    }


def bench_microgpt(np, args) -> dict:
    from tinylm.engines.numpy_engine import NumpyEngine
    from tinylm.models.params import init_params
    from tinylm.presets import get_preset
    from tinylm.seeding import rng_for

    preset = get_preset("microgpt")
    cfg, train = preset.model, preset.train
    path = SHARED_DATA / "names.txt"
    names = path.read_text().split()[:2000] if path.exists() else ["emma", "olivia", "ava", "isabella"] * 50
    chars = sorted(set("".join(names)))
    bos = len(chars)
    cfg.vocab_size = bos + 1
    stoi = {c: i for i, c in enumerate(chars)}
    docs = []
    for name in names:
        tokens = np.array([bos] + [stoi[c] for c in name] + [bos])[: cfg.block_size + 1]
        docs.append((tokens[None, :-1], tokens[None, 1:]))
    engine = NumpyEngine(cfg, init_params(cfg, rng_for("bench", "init")), dtype="float32")
    engine.configure_optimizer(train.optim)
    it = iter(docs * 10)
    times = time_calls(lambda: engine.train_step(*next(it), lr=train.optim.lr), iters=1000, warmup=20)
    stats = summarize(times)
    return {"preset": "microgpt", "real_names": path.exists(), "train_step": stats,
            "steps_per_s_median": round(1e3 / stats["median_ms"], 1),
            "reference_microgpt_py_ms_per_step": 410}


def main() -> None:
    args = parse_args()
    set_threads(args.threads)
    import numpy as np

    result = {"threads": args.threads, "shakespeare_cpu": bench_shakespeare(np, args),
              "microgpt": bench_microgpt(np, args)}
    path = write_result(args.name, result)
    s, m = result["shakespeare_cpu"], result["microgpt"]
    print(f"shakespeare-cpu train_step: median {s['train_step']['median_ms']:.1f} ms, "
          f"min {s['train_step']['min_ms']:.1f} ms, {s['tokens_per_s_median']:,} tokens/s; "
          f"{s['achieved_gflops_median']} GFLOP/s = {s['fraction_of_peak']:.0%} of the "
          f"{s['matmul_peak_gflops']} GFLOP/s matmul peak")
    print(f"microgpt: {m['steps_per_s_median']} steps/s (median {m['train_step']['median_ms']:.2f} ms)")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
