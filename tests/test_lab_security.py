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


# --- classroom mode: learner and teacher tokens behind the same guards ------------------------------------------
CLASS_LAB = "http://192.168.1.20:8765"     # bound to every interface: learners use the machine's address


@pytest.fixture
def classroom(tmp_path):
    from tinylm.lab.classroom import Classroom
    room = Classroom(tmp_path, seats=2)
    with TestClient(create_app(classroom=room, host="0.0.0.0"), base_url=CLASS_LAB) as client:
        client.room = room
        yield client
    room.close()


def join_class(client, name="Ada") -> str:
    client.cookies.clear()
    response = client.post("/api/join", json={"name": name, "key": client.room.roster.join_key})
    assert response.status_code == 200, response.text
    token = response.cookies["tinylm_learner"]
    client.cookies.clear()
    return token


def test_joining_a_class_is_refused_cross_site(classroom):
    import json
    body = json.dumps({"name": "Mallory", "key": classroom.room.roster.join_key}).encode()
    for headers in ({"Content-Type": "application/json", "Origin": "http://evil.example.com"},
                    {"Content-Type": "text/plain"},
                    {"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"},
                    {"Content-Type": "application/json", "Host": "evil.example.com"}):
        response = classroom.post("/api/join", content=body, headers=headers)
        assert response.status_code == 403, headers
    assert classroom.room.roster.learners == []


def test_a_learners_cookie_does_not_carry_cross_site_or_to_another_host(classroom):
    cookie = {"Cookie": f"tinylm_learner={join_class(classroom)}"}
    assert classroom.get("/api/me", headers=cookie).status_code == 200
    assert classroom.get("/api/me", headers={**cookie, "Host": "evil.example.com"}).status_code == 403   # rebinding
    assert classroom.get("/api/me", headers={**cookie, "Sec-Fetch-Site": "cross-site"}).status_code == 403
    csrf = classroom.post("/api/runs", json={"preset": "bigram"}, headers={**cookie, "Origin": "http://evil.example.com"})
    assert csrf.status_code == 403
    assert classroom.get("/api/runs", headers={**cookie, "Host": "10.1.2.3:8765"}).status_code == 200   # another address of this machine


def test_learner_and_teacher_tokens_open_only_their_own_doors(classroom):
    learner = join_class(classroom)
    teacher = classroom.room.roster.teacher_token
    # the teacher's token works as the URL parameter, a bearer token or the cookie the teacher page sets
    assert classroom.get(f"/api/class?token={teacher}").status_code == 200
    assert classroom.get("/api/class", headers={"Authorization": f"Bearer {teacher}"}).status_code == 200
    assert classroom.get("/api/class", headers={"Cookie": f"tinylm_teacher={teacher}"}).status_code == 200
    # a learner's token is a learner's, however it is sent; it never opens the teacher's view
    assert classroom.get("/api/me", headers={"Authorization": f"Bearer {learner}"}).json()["teacher"] is False
    assert classroom.get("/api/class", headers={"Cookie": f"tinylm_learner={learner}"}).status_code == 403
    assert classroom.get(f"/api/class?token={learner}").status_code == 401
    assert classroom.get("/api/class", headers={"Cookie": f"tinylm_teacher={learner}"}).status_code == 401
    # near misses of either token open nothing
    for wrong in (teacher[:-1], teacher + "x", learner[:-1], ""):
        assert classroom.get("/api/info", headers={"Authorization": f"Bearer {wrong}"}).status_code == 401
    # the join key is not a session
    key = classroom.room.roster.join_key
    assert classroom.get(f"/api/info?token={key}").status_code == 401


def test_the_one_user_token_is_not_mixed_with_classroom_mode(capsys):
    from tinylm.cli.main import main
    assert main(["lab", "--classroom", "--token", "abcdefgh12", "--no-browser"]) != 0
    assert "--token is for a one-user lab" in capsys.readouterr().err
    assert main(["lab", "--seats", "5", "--no-browser"]) != 0
    assert "add --classroom" in capsys.readouterr().err
