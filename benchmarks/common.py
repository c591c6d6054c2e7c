"""Small helpers shared by the benchmark scripts: thread setup, timing, machine info, JSON results.

Call ``set_threads`` before anything imports numpy: BLAS reads its thread count at load time.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO / ".." / "shared" / "data"
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def set_threads(n: int) -> None:
    """Pin BLAS/OpenMP to ``n`` threads; must run before numpy is imported."""
    if "numpy" in sys.modules:
        raise RuntimeError("set_threads must be called before numpy is imported")
    for var in THREAD_VARIABLES:
        os.environ[var] = str(n)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict:
    import numpy as np

    info = {
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
        "threads": {var: os.environ.get(var) for var in THREAD_VARIABLES},
    }
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["blas"] = f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # show_config's layout differs across numpy versions
        info["blas"] = "unknown"
    if hasattr(os, "getloadavg"):
        info["load_average_1m"] = round(os.getloadavg()[0], 2)  # other work on the machine skews timings
    return info


def time_calls(fn: Callable[[], object], iters: int, warmup: int = 3) -> list[float]:
    """Wall-clock seconds of ``iters`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def summarize(times: list[float]) -> dict:
    """min / median / mean in milliseconds (min is the least disturbed by other processes)."""
    return {"min_ms": round(1e3 * min(times), 3), "median_ms": round(1e3 * statistics.median(times), 3),
            "mean_ms": round(1e3 * statistics.fmean(times), 3), "n": len(times)}


def write_result(name: str, data: dict) -> Path:
    """Write ``benchmarks/results/<name>.json`` with the machine info and a UTC timestamp."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"benchmark": name, "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "machine": machine_info(), **data}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path
