"""A fuzzer for the lab's HTTP API: every route with bad bodies, bad content types, bad query values and
foreign origins. No request may get a 5xx; a foreign origin or host never gets a 2xx on a state-changing
route. Counts are printed (`pytest -s`)."""
from __future__ import annotations

import random
import time
from collections import Counter

import pytest
from fastapi.testclient import TestClient

from tinylm.lab.app import create_app

BODIES = [b"", b"{}", b"null", b"1", b'"x"', b"[]", b"{" * 50, b"[" * 100_000 + b"]" * 100_000, b"\xff\xfe",
          b'{"q": "detail"}', b'{"cmd": "pause"}', b'{"cmd": "speed", "n": 1e309}', b'{"preset": 5}',
          b'{"steps": -1}', b'{"lr": "nan"}', b'{"lr": 1e9}', b'{"question": [], "answer": {}}',
          b'{"param": "wte", "index": 1e20, "eps": 0}', b'{"id": "c1", "answer": null}', b"x" * 70_000]
POSTS = ["/api/runs", "/api/runs/{run}/command", "/api/runs/{run}/query", "/api/runs/nope/command",
         "/api/uploads/text", "/api/uploads/checkpoint", "/api/course/lessons/watch-names/answer",
         "/api/course/lessons/nope/answer", "/api/course/gradcheck", "/api/course/mystery"]
GETS = ["/api/info", "/api/runs", "/api/runs/{run}", "/api/runs/nope", "/api/runs/{run}/checkpoint",
        "/api/course", "/api/course/lessons/watch-names", "/api/course/lessons/%2e%2e%2fetc",
        "/api/course/bigram?seed=&count=-1", "/api/course/bigram?count=1e9", "/api/course/gradcheck/params",
        "/api/course/graph-size?name=" + "x" * 5000, "/api/course/graph-size?name=%00", "/api/course/mystery",
        "/api/pathologies/nope", "/api/pathologies/..%2f..%2fsecrets", "/static/../pyproject.toml"]
TYPES = ["application/json", "text/plain", "application/octet-stream", "multipart/form-data; boundary=x", ""]
FOREIGN = [{"Origin": "http://evil.example.com"}, {"Sec-Fetch-Site": "cross-site"}, {"Host": "evil.example.com"}]


@pytest.mark.slow
def test_no_request_gets_a_server_error_and_no_foreign_one_changes_state(capsys):
    rng = random.Random("lab fuzz")
    outcomes: Counter = Counter()
    failures = []
    with TestClient(create_app(), base_url="http://127.0.0.1:8765") as client:
        run = client.post("/api/runs", json={"preset": "bigram", "steps": 3, "paused": True}).json()["id"]
        deadline = time.time() + 60            # a ready run: its queries are answered by the worker
        while client.get(f"/api/runs/{run}").json()["state"] != "paused" and time.time() < deadline:
            time.sleep(0.1)
        for path in POSTS:
            for body in BODIES:
                for ctype in rng.sample(TYPES, 3):
                    r = client.post(path.format(run=run), content=body, headers={"Content-Type": ctype} if ctype else {})
                    outcomes[r.status_code // 100 * 100] += 1
                    if r.status_code >= 500:
                        failures.append(f"POST {path} {ctype} {body[:30]!r}: {r.status_code} {r.text[:100]}")
            for headers in FOREIGN:
                r = client.post(path.format(run=run), content=b'{"preset": "bigram", "steps": 1}',
                                headers={"Content-Type": "application/json", **headers})
                outcomes["foreign"] += 1
                if r.status_code < 400 or r.status_code >= 500:
                    failures.append(f"foreign POST {path} {headers}: {r.status_code}")
        for path in GETS:
            r = client.get(path.format(run=run))
            outcomes[r.status_code // 100 * 100] += 1
            if r.status_code >= 500:
                failures.append(f"GET {path[:60]}: {r.status_code} {r.text[:100]}")
            r = client.get(path.format(run=run), headers={"Host": "evil.example.com"})
            if r.status_code != 403:
                failures.append(f"GET {path[:60]} with a foreign Host: {r.status_code}")
    with capsys.disabled():
        print("\nlab fuzz: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items(), key=str)))
    assert not failures, "\n".join(failures[:30])
