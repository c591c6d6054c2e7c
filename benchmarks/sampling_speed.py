"""Sampling speed of the numpy engine, with and without the KV cache.

    python benchmarks/sampling_speed.py [--threads 2]

With the cache, each character costs one decoder step; without it, each character recomputes the
whole (cropped) prefix with ``engine.logits``. Both sample from the same distribution, so the
generated text is identical; the script checks that. Models: shakespeare-cpu (block 64, 0.8M
params) and microgpt (block 16, 4k params), batch 1, float32, temperature 1.
Writes benchmarks/results/sampling_speed.json.
"""
from __future__ import annotations

import argparse
import time

from common import set_threads, write_result


def sample(np, next_logits, n_chars: int, seed: int) -> tuple[list[int], float]:
    """Draw ``n_chars`` tokens; ``next_logits(history)`` gives the logits after the history."""
    g = np.random.default_rng(seed)
    history = [0]
    start = time.perf_counter()
    for _ in range(n_chars):
        logits = next_logits(history)
        p = np.exp(logits - logits.max())
        p /= p.sum()
        history.append(int(g.choice(p.size, p=p)))
    return history[1:], time.perf_counter() - start


def bench(np, preset_name: str, vocab: int, n_chars: int) -> dict:
    from tinylm.engines.numpy_engine import NumpyEngine
    from tinylm.models.params import init_params
    from tinylm.presets import get_preset
    from tinylm.seeding import rng_for

    cfg = get_preset(preset_name).model
    cfg.vocab_size = vocab
    engine = NumpyEngine(cfg, init_params(cfg, rng_for("bench", "init")), dtype="float32")
    block = cfg.block_size
    decoder = engine.decoder()

    def cached(history: list[int]) -> np.ndarray:
        if len(history) == 1:
            decoder.reset(1)
        return decoder.step(np.array(history[-1:]))[0]

    def recompute(history: list[int]) -> np.ndarray:
        return engine.logits(np.array([history[-block:]]))[0, -1]

    result = {"preset": preset_name, "block": block, "chars": n_chars}
    texts = {}
    for name, fn in (("kv_cache", cached), ("recompute", recompute)):
        best = float("inf")
        for _ in range(2):
            texts[name], seconds = sample(np, fn, n_chars, seed=0)
            best = min(best, seconds)
        result[f"{name}_chars_per_s"] = round(n_chars / best, 1)
    result["same_text"] = texts["kv_cache"] == texts["recompute"]
    result["speedup"] = round(result["kv_cache_chars_per_s"] / result["recompute_chars_per_s"], 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    set_threads(args.threads)
    import numpy as np

    runs = [bench(np, "shakespeare-cpu", 65, 64),      # within the block: pure cache
            bench(np, "shakespeare-cpu", 65, 192),     # past the block: the window slides
            bench(np, "microgpt", 27, 16)]
    path = write_result("sampling_speed", {"threads": args.threads, "runs": runs})
    for r in runs:
        print(f"{r['preset']:16s} {r['chars']:4d} chars (block {r['block']}): "
              f"KV cache {r['kv_cache_chars_per_s']:8.1f} chars/s, recompute {r['recompute_chars_per_s']:8.1f} "
              f"chars/s, x{r['speedup']}, same text: {r['same_text']}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
