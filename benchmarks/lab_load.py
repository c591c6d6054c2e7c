"""Load test of the lab server: 20 concurrent clients while 2 runs train (127.0.0.1 only).

    python benchmarks/lab_load.py [--clients 20] [--seconds 15]

Each client loops over the REST calls a page makes (info, run summary, a command, a logits query) and
half of them also hold a run's event stream open (Server-Sent Events). Every call must answer; the
latency of each is recorded and p50/p99 go to benchmarks/results/lab_load.json (target p99 < 200 ms).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import httpx
from common import write_result

from tinylm.lab.app import create_app
from tinylm.lab.server import BackgroundServer


async def client_loop(base: str, run_ids: list[str], seconds: float, latencies: list[float], failures: list[str],
                      index: int) -> int:
    events_seen = 0
    async with httpx.AsyncClient(base_url=base, timeout=10.0) as client:
        stream_task = None
        if index % 2 == 0:
            stream_task = asyncio.create_task(watch(client, run_ids[index % 2], seconds))
        deadline = time.monotonic() + seconds
        calls = [("GET", "/api/info", None), ("GET", f"/api/runs/{run_ids[index % 2]}", None),
                 ("POST", f"/api/runs/{run_ids[index % 2]}/command", {"cmd": "resume"}),
                 ("POST", f"/api/runs/{run_ids[index % 2]}/query", {"q": "logits", "prefix": "an"}),
                 ("GET", "/api/runs", None)]
        i = 0
        while time.monotonic() < deadline:
            method, path, body = calls[i % len(calls)]
            i += 1
            t0 = time.perf_counter()
            try:
                response = await client.request(method, path, json=body)
                if response.status_code != 200:
                    failures.append(f"{method} {path}: {response.status_code}")
            except httpx.HTTPError as exc:
                failures.append(f"{method} {path}: {type(exc).__name__}")
            latencies.append(time.perf_counter() - t0)
            await asyncio.sleep(0.05)
        if stream_task is not None:
            events_seen = await stream_task
    return events_seen


async def watch(client: httpx.AsyncClient, run_id: str, seconds: float) -> int:
    seen = 0
    try:
        async with client.stream("GET", f"/api/runs/{run_id}/events", timeout=seconds + 5) as response:
            deadline = time.monotonic() + seconds
            async for line in response.aiter_lines():
                seen += line.startswith("data:")
                if time.monotonic() > deadline:
                    break
    except httpx.HTTPError:
        pass
    return seen


async def main_async(base: str, clients: int, seconds: float) -> dict:
    async with httpx.AsyncClient(base_url=base, timeout=30.0) as client:
        run_ids = []
        for seed in ("load-a", "load-b"):
            r = await client.post("/api/runs", json={"preset": "microgpt", "seed": seed, "steps": 50000,
                                                     "sample_every": 500})
            run_ids.append(r.json()["id"])
        while True:
            states = [(await client.get(f"/api/runs/{r}")).json()["state"] for r in run_ids]
            if all(s == "running" for s in states):
                break
            await asyncio.sleep(0.2)
        latencies: list[float] = []
        failures: list[str] = []
        seen = await asyncio.gather(*[client_loop(base, run_ids, seconds, latencies, failures, i)
                                      for i in range(clients)])
        iters = [(await client.get(f"/api/runs/{r}")).json()["iter"] for r in run_ids]
        for r in run_ids:
            await client.delete(f"/api/runs/{r}")
    ordered = sorted(latencies)
    return {"clients": clients, "seconds": seconds, "calls": len(latencies), "failures": len(failures),
            "failure_examples": failures[:5], "p50_ms": round(1000 * statistics.median(ordered), 2),
            "p99_ms": round(1000 * ordered[int(0.99 * (len(ordered) - 1))], 2),
            "max_ms": round(1000 * ordered[-1], 2), "target_p99_ms": 200,
            "stream_events_received": sum(seen), "training_iters_during_test": iters,
            "note": "2 shared cores; other work may be running (contention)"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    clients = max(1, min(args.clients, 64))          # bounded in count and time
    seconds = max(1.0, min(args.seconds, 120.0))
    with BackgroundServer(create_app(max_active=2), host="127.0.0.1") as base:
        result = asyncio.run(main_async(base, clients, seconds))
    write_result("lab_load", result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
