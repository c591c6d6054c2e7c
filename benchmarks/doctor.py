"""The loss-curve doctor (src/tinylm/training/doctor.py): false alarms on healthy runs, right kinds on broken ones.

    python benchmarks/doctor.py [--seeds 20] [--quick]

Every run goes through tinylm's Trainer (numpy engine, one BLAS thread) and is judged by the diagnosis events
it emits, exactly as the CLI, the notebook API and the lab see them:

- healthy: >= 20 seeds of each preset at its own recipe, shortened where a full run is slow (names-gpt and
  shakespeare-tiny), with an evaluation every 5% of the run as in the lab's runner (more chances to
  alarm than the CLI's defaults), plus the seeds the old end-of-run rules called unstable (a, c, g,
  sandbox). A false alarm is ANY non-healthy diagnosis event during the run, not only the final one.
- broken: the six 'when training breaks' cards (the lab's configs, several seeds each) and lr 10 on
  microgpt, mlp and names-gpt (plus the issue's bigram at lr 1e30): the final verdict must be the card's kind,
  a diverged run must have been stopped (reason "diverged"), and no other run may be stopped.
- headroom: each healthy run's events are replayed through a probe that records how close the step rules
  came to firing (1.0 = alarm), so a threshold that is barely passing shows up before it fails.

Writes benchmarks/results/doctor.json. shakespeare-tiny needs ../shared/data/tinyshakespeare.txt (or
$TINYLM_SHAKESPEARE, or the cache) and is skipped cleanly without it.
"""
from __future__ import annotations

import sys

from common import SHARED_DATA, set_threads, write_result

set_threads(1)

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402

from tinylm.lab.pathologies import PATHOLOGIES  # noqa: E402
from tinylm.lab.worker import build_trainer  # noqa: E402
from tinylm.presets import apply_overrides, get_preset  # noqa: E402
from tinylm.training import doctor as doctor_rules  # noqa: E402
from tinylm.training.loop import Trainer  # noqa: E402

# healthy presets: overrides that keep each recipe but bound its time (steps, eval cost)
HEALTHY = {
    "microgpt": {},
    "mlp": {},
    "bigram": {},
    "names-gpt": {"steps": 300, "eval_batches": 4},
    "shakespeare-tiny": {"steps": 250, "eval_batches": 4},
}
OLD_FALSE_ALARM_SEEDS = ("a", "c", "g", "sandbox")   # issue #9: the old rules called these runs unstable
CARD_KIND = {"healthy": "healthy", "lr-10": "diverged", "no-warmup": "unstable", "dead": "dead",
             "overfit": "overfit", "bad-init": "bad-init"}
LR_RUNS = [("microgpt", 10.0), ("mlp", 10.0), ("names-gpt", 10.0), ("bigram", 1e30)]


class Probe(doctor_rules.Doctor):
    """The doctor's own rules, recording how close the step rules came to firing."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.rise_ratio = 0.0          # max (m - best) / max(RISE_MIN, RISE_SPREAD s); 1.0 fires 'unstable'
        self.far_iters = 0             # longest stretch with m > R + FAR; SUSTAIN stops the run
        self.runaway_ratio = 0.0       # max m / (RUNAWAY R); 1.0 stops the run

    def _watch_rise(self, it, m):
        super()._watch_rise(it, m)
        if self.best < float("inf"):
            limit = max(doctor_rules.RISE_MIN, doctor_rules.RISE_SPREAD * self.spread)
            self.rise_ratio = max(self.rise_ratio, (m - self.best) / limit)

    def _watch_divergence(self, it, m, lr):
        super()._watch_divergence(it, m, lr)
        self.runaway_ratio = max(self.runaway_ratio, m / (doctor_rules.RUNAWAY * self.reference))
        if self.far_since is not None:
            self.far_iters = max(self.far_iters, it - self.far_since + 1)


def headroom(events: list) -> dict:
    """Replay a run's step and eval events through a Probe (the same order the loop feeds them)."""
    start = events[0]
    probe = Probe(start.entropies, start_iter=start.start_iter)
    for e in events:
        if e.kind == "step":
            probe.observe_step(e.iter, e.loss, e.grad_norm, e.lr)
        elif e.kind == "eval":
            probe.observe_eval(e.iter, e.train_loss, e.val_loss)
    gaps = [v - t for _, t, v in probe.evals]
    return {"rise_ratio": round(probe.rise_ratio, 3), "far_iters": probe.far_iters,
            "runaway_ratio": round(probe.runaway_ratio, 4),
            "max_val_minus_train": round(max(gaps), 3) if gaps else None}


def run_trainer(trainer: Trainer) -> dict:
    t0 = time.perf_counter()
    events = list(trainer.events())
    diagnoses = [e for e in events if e.kind == "diagnosis"]
    final = events[-1]
    return {"events": events, "kinds": [d.verdict for d in diagnoses], "final": diagnoses[-1].verdict,
            "message": diagnoses[-1].message, "reason": final.reason, "iter": final.iter,
            "seconds": time.perf_counter() - t0}


def preset_trainer(preset: str, seed: str, **overrides) -> Trainer:
    p = apply_overrides(get_preset(preset), {"seed": seed, "sample_every": 0, **overrides})
    if "eval_every" not in overrides:
        p.train.eval_every = max(10, p.train.steps // 20)   # as the lab's runner does
    return Trainer(p.model, p.train, engine="numpy", preset=p.name)


def shakespeare_available() -> bool:
    if os.environ.get("TINYLM_SHAKESPEARE"):
        return True
    shared = SHARED_DATA / "tinyshakespeare.txt"
    if shared.is_file():
        os.environ["TINYLM_SHAKESPEARE"] = str(shared.resolve())
        return True
    from tinylm.data.shakespeare import CACHE_NAME, default_cache_dir
    return (default_cache_dir() / CACHE_NAME).is_file()


def bench_healthy(preset: str, seeds: list[str]) -> dict:
    t0 = time.perf_counter()
    alarms, finals, rooms = [], Counter(), []
    for seed in seeds:
        r = run_trainer(preset_trainer(preset, seed, **HEALTHY[preset]))
        finals[r["final"]] += 1
        room = headroom(r["events"])
        rooms.append((seed, room))
        bad = [k for k in r["kinds"] if k != "healthy"]
        if bad or r["reason"] != "finished":
            alarms.append({"seed": seed, "kinds": r["kinds"], "reason": r["reason"], "message": r["message"]})
        print(json.dumps({"preset": preset, "seed": seed, "final": r["final"], "alarm": bool(bad),
                          "seconds": round(r["seconds"], 2), **room}), flush=True)
    worst = max(rooms, key=lambda sr: sr[1]["rise_ratio"])
    return {"runs": len(seeds), "false_alarms": len(alarms), "alarms": alarms, "final_kinds": dict(finals),
            "overrides": HEALTHY[preset] | {"eval_every": "steps // 20", "sample_every": 0},
            "worst_rise_ratio": {"seed": worst[0], **worst[1]},
            "max_far_iters": max(room["far_iters"] for _, room in rooms),
            "max_val_minus_train": max((room["max_val_minus_train"] or 0.0) for _, room in rooms),
            "wall_s": round(time.perf_counter() - t0, 1)}


def judge(expected: str, r: dict) -> bool:
    stopped = r["reason"] == "diverged"
    return r["final"] == expected and stopped == (expected == "diverged")


def bench_cards(seeds: list[str]) -> dict:
    out = {}
    for name in PATHOLOGIES:
        t0 = time.perf_counter()
        expected, wrong = CARD_KIND[name], []
        for seed in seeds:
            trainer, _ = build_trainer({"engine": "numpy", "pathology": name, "seed": seed, "checkpoint": None})
            r = run_trainer(trainer)
            if not judge(expected, r) or (expected == "healthy" and set(r["kinds"]) != {"healthy"}):
                wrong.append({"seed": seed, "kinds": r["kinds"], "reason": r["reason"], "message": r["message"]})
            print(json.dumps({"card": name, "seed": seed, "final": r["final"], "kinds": r["kinds"],
                              "reason": r["reason"], "iter": r["iter"]}), flush=True)
        out[name] = {"expected": expected, "runs": len(seeds), "right": len(seeds) - len(wrong), "wrong": wrong,
                     "wall_s": round(time.perf_counter() - t0, 1)}
    return out


def bench_lr(seeds: list[str]) -> dict:
    out = {}
    for preset, lr in LR_RUNS:
        t0 = time.perf_counter()
        wrong, stopped_at = [], []
        for seed in seeds:
            r = run_trainer(preset_trainer(preset, seed, lr=lr, steps=300))
            stopped_at.append(r["iter"])
            if not judge("diverged", r):
                wrong.append({"seed": seed, "kinds": r["kinds"], "reason": r["reason"], "message": r["message"]})
            print(json.dumps({"preset": preset, "lr": lr, "seed": seed, "final": r["final"], "reason": r["reason"],
                              "iter": r["iter"]}), flush=True)
        out[f"{preset} lr {lr:g}"] = {"expected": "diverged", "runs": len(seeds), "right": len(seeds) - len(wrong),
                                      "wrong": wrong, "stopped_at_iter": stopped_at,
                                      "wall_s": round(time.perf_counter() - t0, 1)}
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="healthy seeds per preset (default 20)")
    parser.add_argument("--card-seeds", type=int, default=5, help="seeds per pathology card (default 5)")
    parser.add_argument("--quick", action="store_true", help="3 seeds each, no file written (a smoke run)")
    args = parser.parse_args(argv)
    n_healthy, n_cards, n_lr = (3, 2, 1) if args.quick else (args.seeds, args.card_seeds, 3)

    t0 = time.perf_counter()
    healthy, skipped = {}, {}
    for preset in HEALTHY:
        if preset == "shakespeare-tiny" and not shakespeare_available():
            skipped[preset] = "tinyshakespeare.txt not found (../shared/data, $TINYLM_SHAKESPEARE or the cache)"
            continue
        seeds = [f"s{i}" for i in range(n_healthy)]
        if preset in ("microgpt", "mlp") and not args.quick:
            seeds += list(OLD_FALSE_ALARM_SEEDS)
        healthy[preset] = bench_healthy(preset, seeds)
    cards = bench_cards(["pathology", *[f"s{i}" for i in range(1, n_cards)]])
    lr_runs = bench_lr([f"s{i}" for i in range(n_lr)])

    broken = list(cards.values()) + list(lr_runs.values())
    summary = {"healthy_runs": sum(h["runs"] for h in healthy.values()),
               "false_alarms": sum(h["false_alarms"] for h in healthy.values()),
               "broken_runs": sum(b["runs"] for b in broken), "right_kinds": sum(b["right"] for b in broken),
               "wall_s": round(time.perf_counter() - t0, 1)}
    summary["passed"] = summary["false_alarms"] == 0 and summary["right_kinds"] == summary["broken_runs"]
    result = {"summary": summary, "healthy": healthy, "skipped": skipped, "cards": cards, "lr_runs": lr_runs,
              "thresholds": {name: getattr(doctor_rules, name) for name in (
                  "WINDOW", "FAR", "SUSTAIN", "RUNAWAY", "BAD_INIT", "DEAD_GRAD_STEPS", "DEAD_AFTER", "DEAD_MARGIN",
                  "RISE_MIN", "RISE_SPREAD", "EVAL_RISE", "OVERFIT_RISE", "OVERFIT_GAP", "PLATEAU_AFTER",
                  "PLATEAU_FOR", "PLATEAU_MARGIN", "PLATEAU_GAIN")}}
    if not args.quick:
        write_result("doctor", result)
    print(json.dumps(summary))
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
