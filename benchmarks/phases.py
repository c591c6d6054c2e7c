"""Phase labels over real training runs: the label of every sample, per seed (training/phases.py has the rule).

    TINYLM_SHAKESPEARE=../shared/data/tinyshakespeare.txt python benchmarks/phases.py [--jobs 2]
        [--only shakespeare-tiny|microgpt|names-gpt] [--fixture-dir tests/data]

Runs (numpy engine, one BLAS thread each; --jobs runs that many in parallel processes):
- shakespeare-tiny: the preset as it is (2,000 iters, a sample every 200), seeds 1, 2, 3. Target: iter 0
  "random", ~200 "character frequency", ~500-1000 "short words", >= ~1500 "styled text", each within one
  sample interval. Skipped cleanly when tiny-shakespeare is not available (TINYLM_SHAKESPEARE or the cache).
- microgpt: the preset (1,000 iters, a sample every 200), seeds 1, 2, 3.
- names-gpt, shortened: 1,000 iters, an eval and a sample every 250, seeds 1, 2, 3.
- bigram and mlp (the presets, 1,000 iters): models that cannot beat a letter-pair table, so a label above
  "name-like pieces" would claim more than they learned; the count of such labels is reported (target 0).

Writes benchmarks/results/phases.json: per run the sample iters with their label, val loss and the measured
sample statistics, and the seconds spent deciding labels (drawing the extra text and measuring it) against
the run's wall time. --fixture-dir also stores, for seed 1 of each preset, the text each decision was made
from (tests/test_phases.py replays the labeller on it).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from common import set_threads, write_result

set_threads(1)

SEEDS = ("1", "2", "3")
RUNS = {
    "shakespeare-tiny": {},
    "microgpt": {},
    "names-gpt": {"steps": 1000, "eval_every": 250, "sample_every": 250},
    "bigram": {},
    "mlp": {},
}
LETTER_PAIR_MODELS = ("bigram", "mlp")


def shakespeare_available() -> bool:
    from tinylm.data import ensure_shakespeare
    from tinylm.errors import TinyLMError

    if not os.environ.get("TINYLM_SHAKESPEARE"):
        local = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "tinyshakespeare.txt"
        if local.is_file():
            os.environ["TINYLM_SHAKESPEARE"] = str(local.resolve())
    try:
        ensure_shakespeare(url="http://127.0.0.1:9/unreachable", quiet=True)   # local copy or cache only
    except TinyLMError:
        return False
    return True


def one_run(preset: str, seed: str) -> dict:
    """Train ``preset`` at ``seed``; every sample's label, stats and val loss, and the decision text."""
    from tinylm.presets import apply_overrides, get_preset
    from tinylm.training.loop import Trainer

    p = apply_overrides(get_preset(preset), {**RUNS[preset], "seed": seed})
    trainer = Trainer(p.model, p.train, preset=preset, engine="numpy")
    deciding = {"seconds": 0.0, "rows": []}
    draw = trainer.phase_samples

    def timed_draw() -> list[str]:
        t0 = time.perf_counter()
        rows = draw()
        deciding["seconds"] += time.perf_counter() - t0
        deciding["rows"].append(rows)
        return rows

    trainer.phase_samples = timed_draw
    samples, t0 = [], time.perf_counter()
    for event in trainer.events():
        if event.kind == "sample":
            samples.append({"iter": event.iter, "phase": event.phase, "val_loss": round(trainer.last_val_loss, 4),
                            "stats": trainer.phase_stats.to_dict(), "shown": event.samples})
    wall = time.perf_counter() - t0
    t1 = time.perf_counter()   # what measuring costs (the draw is timed above)
    from tinylm.training.phases import measure
    for rows in deciding["rows"]:
        measure(rows, trainer.corpus.profile, trainer.tokenizer)
    measuring = time.perf_counter() - t1
    return {"preset": preset, "seed": seed, "entropies": trainer.corpus.entropies, "wall_s": round(wall, 1),
            "decision_s": round(deciding["seconds"] + measuring, 2),
            "labels": " | ".join(f"{s['iter']}: {s['phase']}" for s in samples), "samples": samples,
            "decision_rows": deciding["rows"]}


def shakespeare_target(samples: list[dict], interval: int = 200) -> dict:
    """The issue's target, each boundary within one sample interval, and no label stepping back."""
    from tinylm.training.phases import STREAM_PHASES

    first = {label: next((s["iter"] for s in samples if s["phase"] == label), None) for label in STREAM_PHASES}
    order = [STREAM_PHASES.index(s["phase"]) for s in samples]
    checks = {
        "iter 0 random": samples[0]["iter"] == 0 and samples[0]["phase"] == "random",
        "character frequency by ~200": first["character frequency"] is not None
        and first["character frequency"] <= 200 + interval,
        "short words from ~500-1000": first["short words"] is not None
        and 500 - interval <= first["short words"] <= 1000 + interval,
        "styled text from ~1500": first["styled text"] is not None
        and 1500 - interval <= first["styled text"] <= 1500 + interval,
        "never steps back": all(b >= a for a, b in zip(order, order[1:])),
    }
    return {"first_iter": first, "checks": checks, "passed": all(checks.values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--only", choices=list(RUNS), action="append")
    parser.add_argument("--fixture-dir", type=Path)
    args = parser.parse_args()
    presets = args.only or list(RUNS)
    skipped = {}
    if "shakespeare-tiny" in presets and not shakespeare_available():
        presets.remove("shakespeare-tiny")
        skipped["shakespeare-tiny"] = "tiny-shakespeare not available (set TINYLM_SHAKESPEARE)"
        print("skipping shakespeare-tiny: tiny-shakespeare not available (set TINYLM_SHAKESPEARE)")
    jobs = [(preset, seed) for preset in presets for seed in SEEDS]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(one_run, *zip(*jobs))) if jobs else []
    out: dict = {"seeds": list(SEEDS), "runs": {k: RUNS[k] for k in presets}, "skipped": skipped, "results": {}}
    for result in results:
        rows = result.pop("decision_rows")
        if args.fixture_dir is not None and result["seed"] == SEEDS[0]:
            write_fixture(args.fixture_dir, result, rows)
        for sample in result["samples"]:
            sample.pop("shown")
        if result["preset"] == "shakespeare-tiny":
            result["target"] = shakespeare_target(result["samples"])
        out["results"].setdefault(result["preset"], []).append(result)
        print(f"{result['preset']} seed {result['seed']} ({result['wall_s']} s, deciding {result['decision_s']} s): "
              f"{result['labels']}")
    pair_runs = [r for name in LETTER_PAIR_MODELS for r in out["results"].get(name, [])]
    if pair_runs:
        out["letter_pair_models_over_claimed"] = sum(s["phase"] == "name-shaped words"
                                                     for r in pair_runs for s in r["samples"])
        print(f"bigram/mlp samples labelled name-shaped words: {out['letter_pair_models_over_claimed']} "
              f"of {sum(len(r['samples']) for r in pair_runs)}")
    if "shakespeare-tiny" in out["results"]:
        out["shakespeare_target_passed"] = sum(r["target"]["passed"] for r in out["results"]["shakespeare-tiny"])
        print(f"shakespeare-tiny target met by {out['shakespeare_target_passed']} of {len(SEEDS)} seeds")
    name = "phases" if not args.only else "phases_" + "_".join(sorted(presets))
    print(write_result(name, out))


def write_fixture(folder: Path, result: dict, rows: list[list[str]]) -> None:
    """The text every label of one run was decided from, with the iter, val loss and label (our own model
    outputs; tests/test_phases.py replays the labeller on them)."""
    folder.mkdir(parents=True, exist_ok=True)
    points = [{"iter": s["iter"], "val_loss": s["val_loss"], "phase": s["phase"], "rows": r}
              for s, r in zip(result["samples"], rows)]
    data = {"preset": result["preset"], "seed": result["seed"], "engine": "numpy", "points": points}
    path = folder / f"phase_samples_{result['preset']}.json"
    path.write_text(json.dumps(data, indent=0, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"fixture: {path}")


if __name__ == "__main__":
    sys.exit(main())
