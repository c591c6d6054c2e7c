"""shakespeare-tiny trained in the lab, through the real server API: is 2,000 iters <= 3 min with one run?

    TINYLM_SHAKESPEARE=../shared/data/tinyshakespeare.txt python benchmarks/lab_shakespeare.py \
        [--repeats 3] [--compare-threads 1 2] [--compare-steps 300] [--compare-repeats 2]

Each repeat starts the lab on uvicorn (127.0.0.1), POSTs a run as the page's runner would (preset
shakespeare-tiny, data shakespeare, speed 100, the page's sample every 200) and follows its event stream
to ``finished``. It reports the wall time from the POST to ``finished``, iters/s, and where the time
went: worker start-up, training steps (the steps' own clock), evaluations (the lab evaluates every
steps // 20 iters) and samples (each measured as the gap before its event arrives).

The full runs use the lab's worker as it ships (one BLAS thread, ``runs.WORKER_ENV``). A shorter
comparison then runs the same request with each of ``--compare-threads`` BLAS/OpenMP threads in the
worker, interleaved, to see whether two threads would pay off with one run active. Other work on the
machine slows every figure, so everything is repeated, min and median are reported, the load average is
recorded before and after each run, and so is the worker's own CPU time (about the wall time it would
take with a core to itself).
Without the Shakespeare text (``$TINYLM_SHAKESPEARE`` or ../shared/data) it says so and exits 0.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

from common import RESULTS, SHARED_DATA, write_result

TARGET_S = 180.0


def shakespeare_path() -> str | None:
    path = os.environ.get("TINYLM_SHAKESPEARE") or str(SHARED_DATA / "tinyshakespeare.txt")
    return path if os.path.isfile(path) else None


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (all its threads), from /proc."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_run(threads: int, steps: int | None) -> dict:
    import httpx

    from tinylm.lab import runs
    from tinylm.lab.app import create_app
    from tinylm.lab.server import BackgroundServer

    runs.WORKER_ENV.update({k: str(threads) for k in runs.WORKER_ENV})   # this process only
    request = {"preset": "shakespeare-tiny", "data": "shakespeare", "engine": "numpy", "seed": "lab",
               "sample_every": 200, "speed": 100, **({"steps": steps} if steps else {})}
    load_before = os.getloadavg()[0]
    app = create_app(max_active=2)
    with BackgroundServer(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        t_post = time.perf_counter()
        run_id = client.post("/api/runs", json=request).json()["id"]
        arrivals: list[tuple[float, dict]] = []
        cpu_at_start = None
        with client.stream("GET", f"/api/runs/{run_id}/events", timeout=None) as stream:
            for line in stream.iter_lines():
                if not line.startswith("data:"):
                    continue
                message = json.loads(line[5:])
                arrivals.append((time.perf_counter() - t_post, message))
                if message["event"] == "start":
                    cpu_at_start = cpu_seconds(app.state.registry.runs[run_id].process.pid)
                if message["event"] in ("finished", "error"):
                    break
        cpu_total = cpu_seconds(app.state.registry.runs[run_id].process.pid)   # the worker is still alive
        client.delete(f"/api/runs/{run_id}")
    events = [m for _, m in arrivals]
    if events[-1]["event"] == "error":
        raise SystemExit(f"the run failed: {events[-1]['message']}")
    # the worker sends events as it makes them: the gap before one is the time it took to make. A sample's
    # phase label (from more text drawn with it) comes as a phase event just before it when it changes.
    gaps = {"eval": [], "sample": []}
    previous = ""
    for (t0, _), (t1, message) in zip(arrivals, arrivals[1:]):
        kind = message["event"]
        if kind == "eval":
            gaps["eval"].append(t1 - t0)
        elif kind == "sample" and previous == "phase":
            gaps["sample"][-1] += t1 - t0
        elif kind in ("phase", "sample"):
            gaps["sample"].append(t1 - t0)
        previous = kind
    total = arrivals[-1][0]
    start_at = next(t for t, m in arrivals if m["event"] == "start")
    steps_done = [m for m in events if m["event"] == "step"]
    train_s = steps_done[-1]["elapsed"]
    return {"threads": threads, "iters": steps_done[-1]["iter"], "wall_s": round(total, 1),
            "iters_per_s": round(steps_done[-1]["iter"] / total, 2),
            "startup_s": round(start_at, 2), "train_s": round(train_s, 1),
            "train_iters_per_s": round(steps_done[-1]["iters_per_s"], 2),
            "evals": len(gaps["eval"]), "eval_s": round(sum(gaps["eval"]), 1),
            "eval_each_s": round(statistics.median(gaps["eval"]), 3) if gaps["eval"] else 0.0,
            "samples": len(gaps["sample"]), "sample_s": round(sum(gaps["sample"]), 1),
            "sample_each_s": round(statistics.median(gaps["sample"]), 3) if gaps["sample"] else 0.0,
            "other_s": round(total - start_at - train_s - sum(gaps["eval"]) - sum(gaps["sample"]), 1),
            # CPU the worker used from its start event to finished: about the wall time a core of its own
            # would take (a busy machine's wall time is longer; cache sharing still inflates this a little)
            "worker_cpu_s": round(cpu_total - cpu_at_start, 1),
            "final_val_loss": round(events[-1].get("final_val_loss") or float("nan"), 4),
            "load_1m_before": round(load_before, 2), "load_1m_after": round(os.getloadavg()[0], 2)}


def summary(rows: list[dict], key: str) -> dict:
    values = [r[key] for r in rows]
    return {"min": min(values), "median": round(statistics.median(values), 2), "max": max(values)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="full runs with the lab's worker (1 thread)")
    parser.add_argument("--steps", type=int, default=None, help="shorter full runs (default: the preset's 2000)")
    parser.add_argument("--compare-threads", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--compare-steps", type=int, default=300)
    parser.add_argument("--compare-repeats", type=int, default=2)
    parser.add_argument("--name", default="lab_shakespeare")
    parser.add_argument("--append", action="store_true",
                        help="add these runs to those already in the result file (another, maybe quieter, spell)")
    args = parser.parse_args()
    path = shakespeare_path()
    if path is None:
        print("skipped: tiny shakespeare not found (set TINYLM_SHAKESPEARE=/path/to/tinyshakespeare.txt)")
        return 0
    os.environ["TINYLM_SHAKESPEARE"] = path          # the spawned workers read it
    keys = ("wall_s", "iters_per_s", "train_s", "train_iters_per_s", "eval_s", "eval_each_s", "sample_s",
            "startup_s", "worker_cpu_s")
    lab_runs, compare = [], {str(t): [] for t in args.compare_threads}
    previous = RESULTS / f"{args.name}.json"
    if args.append and previous.exists():
        old = json.loads(previous.read_text())
        lab_runs = [r for r in old["runs"] if args.steps in (None, r["iters"])]
        for threads, entry in old.get("thread_comparison", {}).items():
            if threads in compare and old["thread_comparison"]["steps"] == args.compare_steps:
                compare[threads] = entry["runs"]
    for _ in range(args.repeats):
        lab_runs.append(one_run(1, args.steps))
        print(json.dumps(lab_runs[-1]), flush=True)
    for _ in range(args.compare_repeats):           # interleaved, so a busy spell hits every configuration
        for threads in args.compare_threads:
            compare[str(threads)].append(one_run(threads, args.compare_steps))
            print(json.dumps(compare[str(threads)][-1]), flush=True)
    lab = {key: summary(lab_runs, key) for key in keys}
    result = {"preset": "shakespeare-tiny", "steps": lab_runs[0]["iters"], "target_s": TARGET_S,
              "lab_worker_threads": 1, "runs": lab_runs, **lab,
              "meets_target": {"wall_median": lab["wall_s"]["median"] <= TARGET_S,
                               "wall_min": lab["wall_s"]["min"] <= TARGET_S,
                               "worker_cpu_median": lab["worker_cpu_s"]["median"] <= TARGET_S},
              "thread_comparison": {"steps": args.compare_steps, **{
                  threads: {"runs": rows, **{key: summary(rows, key) for key in keys}}
                  for threads, rows in compare.items() if rows}},
              "note": "one run active, but other processes shared the 2 cores (see load_1m_*): min is the least "
                      "disturbed wall time, median the typical one; worker_cpu_s is the worker's own CPU time"}
    out = write_result(args.name, result)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
