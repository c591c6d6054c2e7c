"""Scalar engine speed on the microgpt preset: plain vs fused mode, same names, same initial weights.

Writes benchmarks/results/scalar_speed.json: ms/step for each mode, graph nodes/edges/depth per step,
and how closely the modes' losses agree. microgpt.py itself takes ~410 ms/step on this class of
machine (shared/reference/README.md). As a side-by-side baseline, ``microgpt_style`` runs microgpt.py's
algorithm on this machine: the plain graph, a recursive topological sort over every node (leaves
included) with the cycle collector on, and Adam as a Python loop over the parameter Values.
The dev machine has 2 cores shared with other jobs: timings are noisy.

    python benchmarks/scalar_speed.py [--steps-fused 200] [--steps-plain 20]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time

import numpy as np

from tinylm.compat.microgpt import MicrogptCompat
from tinylm.engines.scalar_engine import ScalarEngine
from tinylm.engines.scalar_engine.leaves import make_leaves
from tinylm.engines.scalar_engine.model import ScalarModel
from tinylm.engines.scalar_engine.plain import PlainOps
from tinylm.presets import get_preset

from common import SHARED_DATA, write_result

NAMES = SHARED_DATA / "names.txt"
MICROGPT_MS_PER_STEP = 410.0  # shared/reference/README.md


def run(mode: str, steps: int, docs: list[str]) -> dict:
    compat = MicrogptCompat(docs)
    chars = sorted(set("".join(docs)))
    bos = len(chars)
    preset = get_preset("microgpt")
    cfg = dataclasses.replace(preset.model, vocab_size=len(chars) + 1)
    engine = ScalarEngine(cfg, compat.init_params(cfg), dtype="float64", mode=mode)
    engine.configure_optimizer(preset.train.optim)
    times, losses, graphs = [], [], []
    for step in range(steps):
        tokens = [bos] + [chars.index(ch) for ch in compat.docs[step % len(compat.docs)]] + [bos]
        n = min(cfg.block_size, len(tokens) - 1)
        x, y = np.array([tokens[:n]]), np.array([tokens[1 : n + 1]])
        t0 = time.perf_counter()
        stats = engine.train_step(x, y, preset.train.optim.lr * (1 - step / preset.train.steps))
        times.append(time.perf_counter() - t0)
        losses.append(stats.loss)
        graphs.append(stats.extra)
    return {
        "steps": steps,
        "ms_per_step_mean": 1000 * statistics.fmean(times),
        "ms_per_step_median": 1000 * statistics.median(times),
        "nodes_per_step": statistics.fmean(g["nodes"] for g in graphs),
        "edges_per_step": statistics.fmean(g["edges"] for g in graphs),
        "depth_mean": statistics.fmean(g["depth"] for g in graphs),
        "losses": losses,
    }


def microgpt_style(steps: int, docs: list[str]) -> dict:
    """microgpt.py's training loop, re-expressed with this package's plain ops (see the docstring)."""
    compat = MicrogptCompat(docs)
    chars = sorted(set("".join(docs)))
    bos = len(chars)
    preset = get_preset("microgpt")
    cfg = dataclasses.replace(preset.model, vocab_size=len(chars) + 1)
    leaves = make_leaves(compat.init_params(cfg))
    params = [v for leaf in leaves.values() for row in leaf.values for v in row]
    model, ops = ScalarModel(cfg, leaves, PlainOps()), PlainOps()
    lr, b1, b2, eps = 0.01, 0.85, 0.99, 1e-8
    m, v = [0.0] * len(params), [0.0] * len(params)
    times, losses = [], []
    for step in range(steps):
        t0 = time.perf_counter()
        tokens = [bos] + [chars.index(ch) for ch in compat.docs[step % len(compat.docs)]] + [bos]
        n = min(cfg.block_size, len(tokens) - 1)
        logits = model.sequence_logits(tokens[:n])
        loss = ops.mean([ops.cross_entropy(logits[t], tokens[t + 1]) for t in range(n)])
        topo, visited = [], set()

        def build_topo(node):
            if node not in visited:
                visited.add(node)
                for child in node._children:
                    build_topo(child)
                topo.append(node)

        build_topo(loss)
        loss.grad = 1.0
        for node in reversed(topo):
            for child, local_grad in zip(node._children, node._local_grads):
                child.grad += local_grad * node.grad
        lr_t = lr * (1 - step / preset.train.steps)
        for i, p in enumerate(params):
            m[i] = b1 * m[i] + (1 - b1) * p.grad
            v[i] = b2 * v[i] + (1 - b2) * p.grad ** 2
            m_hat = m[i] / (1 - b1 ** (step + 1))
            v_hat = v[i] / (1 - b2 ** (step + 1))
            p.data -= lr_t * m_hat / (v_hat ** 0.5 + eps)
            p.grad = 0.0
        times.append(time.perf_counter() - t0)
        losses.append(loss.data)
    return {"steps": steps, "ms_per_step_mean": 1000 * statistics.fmean(times),
            "ms_per_step_median": 1000 * statistics.median(times), "losses": losses}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps-fused", type=int, default=200)
    parser.add_argument("--steps-plain", type=int, default=20)
    args = parser.parse_args()
    if not NAMES.exists():
        sys.exit(f"names.txt not found at {NAMES}")
    docs = [line.strip() for line in NAMES.read_text().strip().split("\n") if line.strip()]
    load_before = os.getloadavg()
    baseline = microgpt_style(args.steps_plain, docs)
    plain = run("plain", args.steps_plain, docs)
    fused = run("fused", args.steps_fused, docs)
    common = min(plain["steps"], fused["steps"])
    diffs = [abs(a - b) for a, b in zip(plain["losses"][:common], fused["losses"][:common])]
    diffs += [abs(a - b) for a, b in zip(baseline["losses"][:common], fused["losses"][:common])]
    result = {
        "benchmark": "scalar_speed",
        "config": "microgpt preset (GPT 1 layer, 4 heads, 16-d, block 16), one name per step, Adam",
        "microgpt_style": {k: v for k, v in baseline.items() if k != "losses"},
        "plain": {k: v for k, v in plain.items() if k != "losses"},
        "fused": {k: v for k, v in fused.items() if k != "losses"},
        "speedup_fused_over_plain": plain["ms_per_step_mean"] / fused["ms_per_step_mean"],
        "speedup_fused_over_microgpt_style": baseline["ms_per_step_mean"] / fused["ms_per_step_mean"],
        "microgpt_reference_ms_per_step": MICROGPT_MS_PER_STEP,
        "speedup_fused_over_microgpt_reference": MICROGPT_MS_PER_STEP / fused["ms_per_step_mean"],
        "target_ms_per_step": MICROGPT_MS_PER_STEP / 10,
        "loss_agreement": {"steps_compared": common, "modes": ["microgpt_style", "plain", "fused"],
                           "max_abs_diff": max(diffs),
                           "equal_to_4dp": all(round(a, 4) == round(b, 4) == round(c, 4) for a, b, c in
                                               zip(baseline["losses"], plain["losses"], fused["losses"]))},
        "fused_first_losses": [round(v, 4) for v in fused["losses"][:10]],
        "load_avg_before": load_before, "load_avg_after": os.getloadavg(),
        "note": "2 cores shared with other jobs; timings taken under CPU contention",
    }
    write_result("scalar_speed", result)
    print(json.dumps({k: result[k] for k in ("microgpt_style", "plain", "fused", "speedup_fused_over_plain",
                                             "speedup_fused_over_microgpt_style",
                                             "speedup_fused_over_microgpt_reference", "loss_agreement")}, indent=2))


if __name__ == "__main__":
    main()
