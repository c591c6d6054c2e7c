"""The lab refuses cross-site use: DNS rebinding (Host), CSRF (Origin, Sec-Fetch-Site, simple content types)."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tinylm.lab.app import create_app
from tinylm.lab.security import HostPolicy, cross_site_refusal, host_name

LAB = "http://127.0.0.1:8765"
RUN = {"preset": "bigram", "steps": 5, "paused": True, "seed": "sec"}


@pytest.fixture
def lab():
    app = create_app(max_active=1)
    with TestClient(app, base_url=LAB) as client:
        client.registry = app.state.registry
        yield client


def open_runs(client) -> int:
    return len(client.registry.runs)


@pytest.mark.slow
def test_same_origin_page_requests_work(lab):
    assert lab.get("/").status_code == 200
    assert lab.get("/api/info").status_code == 200
    ok = lab.post("/api/runs", json=RUN, headers={"Origin": LAB, "Sec-Fetch-Site": "same-origin"})
    assert ok.status_code == 200, ok.text
    up = lab.post("/api/uploads/text", content=b"hello there\n",
                  headers={"Content-Type": "application/octet-stream", "Origin": LAB})
    assert up.status_code == 200, up.text


def test_text_plain_csrf_cannot_start_a_run(lab):
    # a <form enctype="text/plain"> or fetch(no-cors) from another site: a "simple" request, no preflight
    import json
    for headers in ({"Content-Type": "text/plain", "Origin": "http://evil.example.com"},
                    {"Content-Type": "text/plain"},                      # Origin stripped (privacy settings)
                    {"Content-Type": "application/json", "Origin": "http://evil.example.com"},
                    {"Content-Type": "application/json", "Origin": "null"},   # sandboxed iframe
                    {"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"},
                    {"Content-Type": "application/x-www-form-urlencoded"}):
        response = lab.post("/api/runs", content=json.dumps(RUN).encode(), headers=headers)
        assert response.status_code == 403, (headers, response.text)
        assert "error" in response.json()
    assert open_runs(lab) == 0


@pytest.mark.slow
def test_cross_site_uploads_commands_and_deletes_are_refused(lab):
    run_id = lab.post("/api/runs", json=RUN).json()["id"]
    evil = {"Origin": "http://evil.example.com"}
    assert lab.post("/api/uploads/text", content=b"some text\n",
                    headers={"Content-Type": "text/plain", **evil}).status_code == 403
    assert lab.post("/api/uploads/text", content=b"some text\n",
                    headers={"Content-Type": "text/plain"}).status_code == 403
    assert lab.post(f"/api/runs/{run_id}/command", json={"cmd": "resume"}, headers=evil).status_code == 403
    assert lab.delete(f"/api/runs/{run_id}", headers=evil).status_code == 403
    assert lab.delete(f"/api/runs/{run_id}", headers={"Sec-Fetch-Site": "same-site"}).status_code == 403
    assert lab.get(f"/api/runs/{run_id}").json()["state"] in ("starting", "paused")   # untouched


def test_dns_rebinding_host_is_refused(lab):
    for host in ("evil.example.com", "evil.example.com:8765", "127.0.0.1.evil.example.com", "localhost.evil"):
        response = lab.get("/api/info", headers={"Host": host})
        assert response.status_code == 403, host
        assert "host" in response.json()["error"]
        assert lab.get("/", headers={"Host": host}).status_code == 403
    for host in ("localhost:8765", "127.0.0.1:8765", "[::1]:8765", "LOCALHOST"):
        assert lab.get("/api/info", headers={"Host": host}).status_code == 200, host


def test_cross_site_api_reads_are_refused_but_a_link_to_the_page_opens(lab):
    assert lab.get("/api/info", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    # a learner following a link to the lab from another page is a top-level navigation: allowed
    assert lab.get("/", headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}).status_code == 200


def test_host_policy_for_other_bind_addresses():
    named = HostPolicy("lab.school.lan")
    assert named.allows("lab.school.lan:8765") and named.allows("localhost")
    assert not named.allows("10.0.0.5:8765") and not named.allows("evil.example.com")
    everywhere = HostPolicy("0.0.0.0")     # token-protected; learners use the machine's address
    assert everywhere.allows("192.168.1.20:8765") and everywhere.allows("[fe80::1]:8765")
    assert not everywhere.allows("evil.example.com")
    assert not HostPolicy().allows(None) and not HostPolicy().allows("")
    assert host_name("[::1]:80") == "::1" and host_name("LocalHost.:1") == "localhost"


def test_refusal_reasons_name_the_problem():
    policy = HostPolicy()
    base = {"host": "127.0.0.1:8765"}
    assert cross_site_refusal("POST", "/api/runs", {**base, "content-type": "application/json"}, policy) is None
    assert "Content-Type: application/json" in cross_site_refusal("POST", "/api/runs", base, policy)
    assert "application/octet-stream" in cross_site_refusal(
        "POST", "/api/uploads/text", {**base, "content-type": "text/plain"}, policy)
    assert "Origin" in cross_site_refusal("POST", "/api/runs", {**base, "origin": "http://127.0.0.1:9999",
                                                                "content-type": "application/json"}, policy)
