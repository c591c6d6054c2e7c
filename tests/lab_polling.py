"""Waiting for a lab run to reach a state, through the HTTP API (shared by the lab's API and classroom tests)."""
from __future__ import annotations

import time


def wait_until(client, run_id: str, predicate, timeout: float = 60.0) -> dict:
    """Poll ``GET /api/runs/{run_id}`` (as ``client``: a TestClient or one learner's seat) until ``predicate``
    holds for its summary; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        summary = client.get(f"/api/runs/{run_id}").json()
        if predicate(summary):
            return summary
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} never reached the expected state: {summary}")
