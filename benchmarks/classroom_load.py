"""Load test of classroom mode: a class of simulated learners on this machine, through the real HTTP API.

    python benchmarks/classroom_load.py [--learners 20] [--seconds 40] [--speed 100]

Each learner joins the class (POST /api/join), starts the lesson-1 run exactly as the lesson's runner
widget configures it (microgpt on names, 1,000 steps; at --speed, default 100 = unthrottled, the worst case
for sharing the cores), keeps its event stream open as the page does, and meanwhile works through the
lesson like a person at a page: reads the lesson, answers its quiz questions (right or wrong by chance),
reports visits, asks its run for its summary and for next-letter probabilities. The teacher's page polls
the class view every two seconds.

Measured, written to benchmarks/results/classroom_load.json (classroom_load_speed10.json with --speed 10):
  progress   each run's iteration, sampled every second: in how many one-second windows of a run still
             training its iteration did not move (target: none), and the slowest run's steps per second
  latency    every API call's time; p50 / p99 / max (target p99 < 250 ms); failures
  memory     the server's RSS plus every worker's RSS (each worker is a process), peak and at the end
  sharing    turns the scheduler granted per run (min / max), and how long the class took to finish lesson 1
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from common import write_result

from tinylm.course import load_course
from tinylm.lab.app import create_app
from tinylm.lab.classroom import Classroom
from tinylm.lab.server import BackgroundServer

TARGET_P99_MS = 250


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def pss_mb(pid: int) -> float:
    """Proportional set size: the process's private memory plus its share of pages shared with others (forked
    workers share the fork server's imported code and data, so RSS counts those twenty times over)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process (all its threads) has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def lesson_one():
    lesson = load_course().lessons[0]
    config = next(b["config"] for b in lesson.blocks if b["type"] == "widget" and b["widget"] == "runner")
    return lesson, config


class ServerTimer:
    """ASGI wrapper around the lab: each request's time inside the server, from its arrival to its last byte
    (the event streams excluded: they last as long as the page is open)."""

    def __init__(self, app) -> None:
        self.app = app
        self.times: list[float] = []
        self.slowest: list[tuple[float, str, float]] = []     # (seconds, "METHOD /path", seconds since start)
        self.t0 = time.perf_counter()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"].endswith("/events"):
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            spent = time.perf_counter() - t0
            self.times.append(spent)
            self.slowest = sorted(self.slowest + [(round(spent, 3), f"{scope['method']} {scope['path']}",
                                                   round(t0 - self.t0, 1))], reverse=True)[:5]


class Recorder:
    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = {}
        self.failures: list[str] = []

    async def call(self, client: httpx.AsyncClient, kind: str, method: str, path: str, body=None):
        t0 = time.perf_counter()
        try:
            response = await client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            self.failures.append(f"{kind}: {type(exc).__name__} {exc}")
            return None
        finally:
            self.latencies.setdefault(kind, []).append(time.perf_counter() - t0)
        if response.status_code != 200:
            self.failures.append(f"{kind}: {response.status_code} {response.text[:80]}")
            return None
        return response.json() if "json" in response.headers.get("content-type", "") else response.text


async def watch(base: str, cookie: str, run_id: str, stop: asyncio.Event, counts: list[int]) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=None, headers={"Cookie": cookie}) as client:
        try:
            async with client.stream("GET", f"/api/runs/{run_id}/events") as response:
                async for chunk in response.aiter_raw():      # counted, not parsed: the client stays light
                    counts[0] += chunk.count(b"\ndata:") + chunk.startswith(b"data:")
                    if stop.is_set():
                        return
        except httpx.HTTPError:
            pass


async def learner(base: str, index: int, key: str, speed: int, rec: Recorder, stop: asyncio.Event,
                  run_ids: dict, events: dict, arrive_s: float) -> None:
    lesson, config = lesson_one()
    rng = random.Random(index)
    await asyncio.sleep(arrive_s * rng.random())      # a class arrives over a few seconds, not in one instant
    # idle connections are dropped before the server's 5 s keep-alive ends them (a browser retries a request
    # that meets a connection the server just closed; httpx does not)
    async with httpx.AsyncClient(base_url=base, timeout=30.0, limits=httpx.Limits(keepalive_expiry=4.0)) as client:
        joined = await client.post("/api/join", json={"name": f"learner {index + 1}", "key": key})
        joined.raise_for_status()
        cookie = f"tinylm_learner={joined.cookies['tinylm_learner']}"
        client.headers["Cookie"] = cookie
        await rec.call(client, "info", "GET", "/api/info")
        await rec.call(client, "progress", "GET", "/api/progress")
        await rec.call(client, "visit", "POST", "/api/progress", {"lesson": lesson.id, "kind": "visited"})
        request = {"data": config["data"], "preset": config["preset"], "seed": config["seed"],
                   "steps": config["steps"], "sample_every": config["sample_every"], "speed": speed}
        started = await rec.call(client, "start run", "POST", "/api/runs", request)
        if started is None:
            return                     # counted as a failure; the others carry on
        run_id = started["id"]
        events[index] = [0]
        watcher = asyncio.create_task(watch(base, cookie, run_id, stop, events[index]))
        questions = list(lesson.questions.values())
        i = 0
        while not stop.is_set():
            i += 1
            step = i % 5
            if step == 0:
                await rec.call(client, "lesson", "GET", f"/api/course/lessons/{lesson.id}")
            elif step == 1:
                q = questions[i // 5 % len(questions)]
                answer = rng.randrange(q.n_choices) if q.kind == "choice" else round(rng.uniform(0, 5), 1)
                await rec.call(client, "answer", "POST", f"/api/course/lessons/{lesson.id}/answer",
                               {"question": q.id, "answer": answer})
            elif step == 2:
                await rec.call(client, "run summary", "GET", f"/api/runs/{run_id}")
            elif step == 3:
                summary = await rec.call(client, "runs list", "GET", "/api/runs")
                state = summary["runs"][0]["state"] if summary and summary["runs"] else ""
                if state not in ("queued", "starting", ""):
                    await rec.call(client, "logits", "POST", f"/api/runs/{run_id}/query", {"q": "logits", "prefix": "an"})
            else:
                await rec.call(client, "progress", "GET", "/api/progress")
            await asyncio.sleep(0.3 + 0.2 * rng.random())       # a person clicking, reading, clicking
        watcher.cancel()


async def teacher(base: str, token: str, rec: Recorder, stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30.0, headers={"Authorization": f"Bearer {token}"},
                                 limits=httpx.Limits(keepalive_expiry=4.0)) as client:
        while not stop.is_set():
            await rec.call(client, "teacher class view", "GET", "/api/class")
            await asyncio.sleep(2.0)
        await rec.call(client, "teacher csv", "GET", "/api/class/scores.csv")


async def sample(registry, learners: int, seconds: float, memory: list) -> dict:
    """Every second: each run's iteration (and the memory of the server and its workers), until every run has
    finished or ``seconds`` have passed."""
    history: list[dict[str, tuple[int, str]]] = []
    t_all_training, second_all_training = None, None
    t0 = time.monotonic()
    while True:
        await asyncio.sleep(1.0)
        runs = dict(registry.runs)
        snapshot = {rid: (r.iter, r.state) for rid, r in runs.items()}
        history.append(snapshot)
        pids = [r.process.pid for r in runs.values() if r.process is not None]
        memory.append({"server_mb": rss_mb(os.getpid()), "workers_mb": sum(rss_mb(p) for p in pids), "workers": len(pids),
                       "workers_pss_mb": sum(pss_mb(p) for p in pids)})
        if t_all_training is None and len(snapshot) == learners and all(it > 0 for it, _ in snapshot.values()):
            t_all_training, second_all_training = time.monotonic() - t0, len(history)
        done = len(snapshot) == learners and all(s in ("finished", "error") for _, s in snapshot.values())
        if done or time.monotonic() - t0 > seconds:
            return {"history": history, "all_training_after_s": t_all_training, "elapsed_s": time.monotonic() - t0,
                    "second_all_training": second_all_training, "all_finished": done}


CLIENT_PROCESSES = 4


def the_class(base: str, key: str, teacher_token: str, seats: list[int], speed: int, arrive_s: float, stop,
              results) -> None:
    """Part of the simulated class (the learners ``seats``, and the teacher when ``teacher_token``), in a
    process of its own, as their browsers would be on machines of their own: their HTTP clients neither share
    the server's interpreter lock nor all queue on one event loop. Runs until ``stop`` is set; latencies go
    back on ``results``."""
    async def run() -> None:
        rec = Recorder()
        done = asyncio.Event()
        events: dict = {}

        lags: list[float] = []

        async def watch_stop() -> None:      # ... and how late this process's own event loop runs
            while not stop.is_set():
                t = time.perf_counter()
                await asyncio.sleep(0.1)
                lags.append(time.perf_counter() - t - 0.1)
            done.set()
        tasks = [asyncio.create_task(learner(base, i, key, speed, rec, done, {}, events, arrive_s)) for i in seats]
        if teacher_token:
            tasks.append(asyncio.create_task(teacher(base, teacher_token, rec, done)))
        await watch_stop()
        await asyncio.gather(*tasks)
        lags.sort()
        results.put({"latencies": rec.latencies, "failures": rec.failures, "client_loop_lag_max_s": max(lags, default=0),
                     "client_loop_lag_p99_s": lags[int(0.99 * (len(lags) - 1))] if lags else 0,
                     "events": sum(c[0] for c in events.values())})
    asyncio.run(run())


def progress_figures(history: list[dict], steps: int, skip: int = 0) -> dict:
    """One-second windows in which a run was training (started, not yet at its last step) and did not move
    (from the ``skip``-th second on)."""
    stalls, windows, rates = 0, 0, {}
    stalled_examples = []
    for before, after in list(zip(history, history[1:]))[skip:]:
        for rid, (it0, state0) in before.items():
            it1, state1 = after.get(rid, (it0, state0))
            if it0 == 0 or it0 >= steps or state0 not in ("running",):
                continue           # still starting (loading its worker), or finished: not a training second
            windows += 1
            rates.setdefault(rid, []).append(it1 - it0)
            if it1 <= it0:
                stalls += 1
                stalled_examples.append({"run": rid, "iter": it0, "state": state1})
    per_run = [statistics.mean(v) for v in rates.values() if v]
    return {"training_windows": windows, "windows_without_progress": stalls, "stall_examples": stalled_examples[:5],
            "slowest_run_steps_per_s": round(min(per_run), 1) if per_run else None,
            "fastest_run_steps_per_s": round(max(per_run), 1) if per_run else None,
            "min_steps_in_any_training_second": min((min(v) for v in rates.values() if v), default=None)}


async def main_async(base: str, app, classroom: Classroom, learners: int, seconds: float, speed: int,
                     arrive_s: float) -> dict:
    import multiprocessing as mp
    ctx = mp.get_context("spawn")
    stop, results = ctx.Event(), ctx.Queue()
    token = classroom.roster.teacher_token
    clients = [ctx.Process(target=the_class, args=(base, classroom.roster.join_key, token if k == 0 else "",
                                                    list(range(k, learners, CLIENT_PROCESSES)), speed, arrive_s,
                                                    stop, results))
               for k in range(min(CLIENT_PROCESSES, learners))]
    for process in clients:
        process.start()
    memory: list = []
    registry = app.state.registry
    clients_cpu = lambda: sum(cpu_seconds(p.pid) for p in clients)
    cpu0 = {"server": cpu_seconds(os.getpid()), "class": clients_cpu()}
    wall0 = time.monotonic()
    server_lags: list[float] = []

    async def probe() -> None:              # how late the server's own event loop runs
        while True:
            t = time.perf_counter()
            await asyncio.sleep(0.05)
            server_lags.append(time.perf_counter() - t - 0.05)
    while registry.loop is None:           # set by the first run's start
        await asyncio.sleep(0.05)
    prober = asyncio.run_coroutine_threadsafe(probe(), registry.loop)
    sampled = await sample(registry, learners, seconds, memory)
    prober.cancel()
    wall = time.monotonic() - wall0
    cpu_share = {"server": (cpu_seconds(os.getpid()) - cpu0["server"]) / wall,
                 "simulated_class_clients": (clients_cpu() - cpu0["class"]) / wall,
                 "workers": sum(cpu_seconds(r.process.pid) for r in registry.runs.values() if r.process) / wall}
    turns = [classroom.scheduler.turns_granted.get(rid, 0) for rid in registry.runs]
    final = [r.iter for r in registry.runs.values()]
    stop.set()
    parts = [await asyncio.get_running_loop().run_in_executor(None, lambda: results.get(timeout=120))
             for _ in clients]
    for process in clients:
        process.join(timeout=30)
    measured = {"latencies": {}, "failures": [], "events": 0, "client_loop_lag_max_s": 0.0, "client_loop_lag_p99_s": 0.0}
    for part in parts:
        for kind, values in part["latencies"].items():
            measured["latencies"].setdefault(kind, []).extend(values)
        measured["failures"] += part["failures"]
        measured["events"] += part["events"]
        for key in ("client_loop_lag_max_s", "client_loop_lag_p99_s"):
            measured[key] = max(measured[key], part[key])

    class rec:
        latencies, failures = measured["latencies"], measured["failures"]
    all_latencies = sorted(x for values in rec.latencies.values() for x in values)
    p = lambda values, q: round(1000 * values[min(len(values) - 1, int(q * (len(values) - 1)))], 1)
    steps = lesson_one()[1]["steps"]
    return {
        "learners": learners, "speed": speed, "lesson_run": {**lesson_one()[1], "speed": speed},
        "arrivals_over_s": arrive_s,
        "progress": progress_figures(sampled["history"], steps),
        "progress_once_every_run_trains": progress_figures(sampled["history"], steps, sampled["second_all_training"] or 0),
        "every_run_training_after_s": round(sampled["all_training_after_s"], 1) if sampled["all_training_after_s"] else None,
        "class_finished_lesson_run": sampled["all_finished"], "measured_s": round(sampled["elapsed_s"], 1),
        "final_iters": final,
        "api": {"calls": len(all_latencies), "failures": len(rec.failures), "failure_examples": rec.failures[:5],
                "p50_ms": p(all_latencies, 0.5), "p99_ms": p(all_latencies, 0.99), "max_ms": round(1000 * all_latencies[-1], 1),
                "target_p99_ms": TARGET_P99_MS,
                "by_call": {k: {"n": len(v), "p50_ms": p(sorted(v), 0.5), "p99_ms": p(sorted(v), 0.99)}
                            for k, v in sorted(rec.latencies.items())}},
        "memory": {"peak_total_mb": round(max(m["server_mb"] + m["workers_mb"] for m in memory), 1),
                   "peak_server_mb": round(max(m["server_mb"] for m in memory), 1),
                   "peak_workers_mb": round(max(m["workers_mb"] for m in memory), 1),
                   "per_worker_mb": round(max(m["workers_mb"] / max(1, m["workers"]) for m in memory), 1),
                   "peak_workers_pss_mb": round(max(m["workers_pss_mb"] for m in memory), 1),
                   "per_worker_pss_mb": round(max(m["workers_pss_mb"] / max(1, m["workers"]) for m in memory), 1),
                   "end_total_mb": round(memory[-1]["server_mb"] + memory[-1]["workers_mb"], 1)},
        "scheduler": {"cores": classroom.scheduler.cores, "turns_per_run_min": min(turns, default=0),
                      "turns_per_run_max": max(turns, default=0)},
        "stream_events_received": measured["events"],
        "server_loop_lag_ms": {"p99": round(1000 * sorted(server_lags)[int(0.99 * (len(server_lags) - 1))], 1),
                               "max": round(1000 * max(server_lags), 1)} if server_lags else None,
        "client_loop_lag_max_ms": round(1000 * measured["client_loop_lag_max_s"], 1),
        "client_loop_lag_p99_ms": round(1000 * measured["client_loop_lag_p99_s"], 1),
        "cpu_cores_used": {k: round(v, 2) for k, v in cpu_share.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--learners", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=90.0, help="at most this long (the runs usually finish first)")
    parser.add_argument("--speed", type=int, default=100, help="the runs' speed: 100 unthrottled, 10 the lesson's pace")
    parser.add_argument("--arrive", type=float, default=10.0, help="learners join at random times over this many seconds")
    args = parser.parse_args()
    learners = max(1, min(args.learners, 60))
    seconds = max(5.0, min(args.seconds, 600.0))
    speed = max(1, min(args.speed, 100))
    with tempfile.TemporaryDirectory() as state:
        classroom = Classroom(state, seats=learners)
        app = create_app(classroom=classroom)
        timer = ServerTimer(app)
        with BackgroundServer(timer, host="127.0.0.1") as base:
            result = asyncio.run(main_async(base, app, classroom, learners, seconds, speed, max(0.0, args.arrive)))
        inside = sorted(timer.times)
        result["api_inside_server"] = {"requests": len(inside), "p50_ms": round(1000 * inside[len(inside) // 2], 1),
                                       "p99_ms": round(1000 * inside[int(0.99 * (len(inside) - 1))], 1),
                                       "max_ms": round(1000 * inside[-1], 1), "slowest": timer.slowest}
        classroom.close()
    result["passed"] = (result["progress"]["windows_without_progress"] == 0 and result["api"]["failures"] == 0
                        and result["api"]["p99_ms"] < TARGET_P99_MS)
    result["note"] = ("2 shared cores; the coordinator and other helpers may be running work meanwhile (see "
                      "machine.load_average_1m)")
    write_result("classroom_load" if speed == 100 else f"classroom_load_speed{speed}", result)
    print(json.dumps({k: v for k, v in result.items() if k != "final_iters"}, indent=2))


if __name__ == "__main__":
    main()
