"""Classroom mode (issue 15): joining, sessions, isolation between learners, the teacher's view, progress kept
server-side, per-learner limits and the CPU scheduler, through the real HTTP API (TestClient, real workers)."""
from __future__ import annotations

import asyncio
import csv
import io
import math
import time

import pytest
from fastapi.testclient import TestClient

from tinylm.course import load_course
from tinylm.lab.app import create_app
from tinylm.lab.classroom import Classroom, OwnerLimits
from tinylm.lab.classroom.curves import MAX_POINTS, LossCurves
from tinylm.lab.classroom.scheduler import CpuScheduler
from tinylm.lab.classroom.sessions import BadName, clean_name
from lab_polling import wait_until     # tests/lab_polling.py

LAB = "http://127.0.0.1:8765"
OCTET = {"Content-Type": "application/octet-stream"}
LESSON = load_course().lessons[0]


class Seat:
    """One browser's view of the lab: the shared TestClient, with this seat's own cookie (or bearer token)."""

    def __init__(self, client: TestClient, cookie: str = "", bearer: str = "") -> None:
        self.client, self.cookie, self.bearer = client, cookie, bearer

    def _headers(self, extra: dict | None) -> dict:
        headers = dict(extra or {})
        if self.cookie:
            headers["Cookie"] = self.cookie
        if self.bearer:
            headers["Authorization"] = f"Bearer {self.bearer}"
        return headers

    def get(self, path, **kw):
        self.client.cookies.clear()
        return self.client.get(path, headers=self._headers(kw.pop("headers", None)), follow_redirects=False, **kw)

    def post(self, path, **kw):
        self.client.cookies.clear()
        return self.client.post(path, headers=self._headers(kw.pop("headers", None)), **kw)

    def delete(self, path, **kw):
        self.client.cookies.clear()
        return self.client.delete(path, headers=self._headers(kw.pop("headers", None)), **kw)


def join(client: TestClient, classroom: Classroom, name: str) -> Seat:
    client.cookies.clear()
    response = client.post("/api/join", json={"name": name, "key": classroom.roster.join_key})
    assert response.status_code == 200, response.text
    return Seat(client, cookie=f"tinylm_learner={response.cookies['tinylm_learner']}")


@pytest.fixture
def room(tmp_path):
    """A class of three seats: (client, classroom, teacher, ada, bob)."""
    classroom = Classroom(tmp_path, seats=3)
    with TestClient(create_app(classroom=classroom), base_url=LAB) as client:
        teacher = Seat(client, bearer=classroom.roster.teacher_token)
        yield client, classroom, teacher, join(client, classroom, "Ada"), join(client, classroom, "Bob")
    classroom.close()


# --- joining and sessions ---------------------------------------------------------------------------------
def test_joining_needs_the_class_key_and_a_name(room):
    client, classroom, *_ = room
    client.cookies.clear()
    assert client.post("/api/join", json={"name": "Eve", "key": "wrong-key"}).status_code == 400
    blank = client.post("/api/join", json={"name": "   ", "key": classroom.roster.join_key})
    assert blank.status_code == 400 and "name" in blank.json()["error"]
    assert len(classroom.roster.learners) == 2


def test_a_reload_gets_the_same_session_back_and_strangers_are_sent_to_join(room):
    client, classroom, teacher, ada, bob = room
    assert ada.get("/api/me").json()["name"] == "Ada" and bob.get("/api/me").json()["name"] == "Bob"
    assert ada.get("/").status_code == 200                                      # the lab's page, as Ada
    assert ada.get("/join").headers["location"] == "/"                           # already in the class
    stranger = Seat(client)
    assert stranger.get("/").status_code == 303 and stranger.get("/").headers["location"] == "/join"
    assert stranger.get("/join").status_code == 200
    for path in ("/api/info", "/api/runs", "/api/me", "/api/progress"):
        response = stranger.get(path)
        assert response.status_code == 401 and "join" in response.json()["error"], path
    forged = Seat(client, cookie="tinylm_learner=not-a-real-token")
    assert forged.get("/api/info").status_code == 401


def test_a_full_class_says_so_and_same_names_are_told_apart(room):
    client, classroom, *_ = room
    third = join(client, classroom, "ada")
    assert third.get("/api/me").json()["name"] == "ada (2)"
    client.cookies.clear()
    full = client.post("/api/join", json={"name": "Dan", "key": classroom.roster.join_key})
    assert full.status_code == 409
    assert "class is full" in full.json()["error"] and "3 seats" in full.json()["error"]


def test_display_names_are_cleaned():
    assert clean_name("  Grace \n Hopper\t") == "Grace Hopper"
    assert clean_name("Zoë\u200b") == "Zoë"
    for bad in ("", "\n\t", "x" * 41, 7):
        with pytest.raises(BadName):
            clean_name(bad)


# --- the teacher's routes -----------------------------------------------------------------------------------
def test_only_the_teacher_sees_the_class(room):
    client, classroom, teacher, ada, bob = room
    assert ada.get("/api/class").status_code == 403 and ada.get("/api/class/scores.csv").status_code == 403
    assert ada.get("/teacher").status_code == 403
    assert ada.post("/api/class/pause-all", json={}).status_code == 403
    assert Seat(client).get("/api/class").status_code == 401
    assert Seat(client, bearer="not-the-teacher-token").get("/api/class").status_code == 401
    view = teacher.get("/api/class").json()
    assert [l["name"] for l in view["learners"]] == ["Ada", "Bob"] and view["seats"] == 3
    # the teacher URL: ?token= once, then a cookie for the page's own requests
    client.cookies.clear()
    page = client.get(f"/teacher?token={classroom.roster.teacher_token}")
    assert page.status_code == 200 and "the class at a glance" in page.text
    assert page.cookies["tinylm_teacher"] == classroom.roster.teacher_token


# --- course progress, kept by the server ---------------------------------------------------------------------
def right_answer(question) -> object:
    return question.answer


def test_quiz_answers_are_recorded_by_the_grader_and_survive_a_restart(room, tmp_path):
    client, classroom, teacher, ada, bob = room
    questions = list(LESSON.questions.values())
    url = f"/api/course/lessons/{LESSON.id}/answer"
    assert ada.post(url, json={"question": questions[0].id, "answer": right_answer(questions[0])}).json()["correct"]
    wrong = (questions[1].answer + 1) % max(2, questions[1].n_choices) if questions[1].kind == "choice" else 1e6
    assert not ada.post(url, json={"question": questions[1].id, "answer": wrong}).json()["correct"]
    assert ada.post(url, json={"question": questions[1].id, "answer": right_answer(questions[1])}).json()["correct"]
    exercise = next(b["id"] for b in LESSON.blocks if b["type"] == "exercise")
    assert ada.post("/api/progress", json={"lesson": LESSON.id, "kind": "visited"}).status_code == 200
    assert ada.post("/api/progress", json={"lesson": LESSON.id, "kind": "exercise", "item": exercise}).status_code == 200

    mine = ada.get("/api/progress").json()["lessons"][LESSON.id]
    assert mine["visited"] and mine["exercises"] == {exercise: True}
    assert mine["answers"][questions[0].id] == {"first": True, "correct": True, "tries": 1,
                                                 "given": right_answer(questions[0]), "explain": questions[0].explain}
    assert mine["answers"][questions[1].id]["first"] is False and mine["answers"][questions[1].id]["tries"] == 2
    assert bob.get("/api/progress").json() == {"lessons": {}}                  # Bob's own, untouched
    row = next(l for l in teacher.get("/api/class").json()["learners"] if l["name"] == "Ada")
    assert row["quiz"][LESSON.id] == 1 and row["exercises"][LESSON.id] == 1 and row["lesson"] == LESSON.id

    # the lab restarts: the same database, the same cookie, the same progress and teacher URL
    again = Classroom(tmp_path, seats=3)
    try:
        assert again.roster.teacher_token == classroom.roster.teacher_token
        with TestClient(create_app(classroom=again), base_url=LAB) as restarted:
            back = Seat(restarted, cookie=ada.cookie)
            assert back.get("/api/me").json()["name"] == "Ada"
            assert back.get("/api/progress").json()["lessons"][LESSON.id]["answers"].keys() == mine["answers"].keys()
    finally:
        again.close()


def test_progress_reports_are_checked_against_the_course(room):
    _, _, teacher, ada, _ = room
    for body, needle in [({"lesson": "no-such-lesson", "kind": "visited"}, "no lesson"),
                         ({"lesson": LESSON.id, "kind": "exercise", "item": "invented"}, "no exercise"),
                         ({"lesson": LESSON.id, "kind": "graded", "item": "x"}, "unknown kind"),
                         ({"lesson": LESSON.id, "kind": "visited", "extra": 1}, "unknown field")]:
        response = ada.post("/api/progress", json=body)
        assert response.status_code == 400 and needle in response.json()["error"], body
    assert teacher.get("/api/progress").status_code == 400      # the teacher has no course progress of their own


def test_retake_forgets_the_lesson_quiz(room):
    _, _, _, ada, _ = room
    question = next(iter(LESSON.questions.values()))
    ada.post(f"/api/course/lessons/{LESSON.id}/answer", json={"question": question.id, "answer": question.answer})
    assert ada.post("/api/progress/retake", json={"lesson": LESSON.id}).status_code == 200
    assert ada.get("/api/progress").json()["lessons"].get(LESSON.id, {}).get("answers", {}) == {}


def test_scores_export_as_csv_safe_for_spreadsheets(tmp_path):
    classroom = Classroom(tmp_path, seats=3)
    with TestClient(create_app(classroom=classroom), base_url=LAB) as client:
        sly = join(client, classroom, "=HYPERLINK(1)")
        question = next(iter(LESSON.questions.values()))
        sly.post(f"/api/course/lessons/{LESSON.id}/answer", json={"question": question.id, "answer": question.answer})
        response = Seat(client, bearer=classroom.roster.teacher_token).get("/api/class/scores.csv")
    classroom.close()
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0][:4] == ["name", "joined (UTC)", "current lesson", f"lesson 1 quiz (of {len(LESSON.questions)})"]
    assert rows[1][0] == "'=HYPERLINK(1)"                     # not a formula when opened in a spreadsheet
    assert rows[1][3] == "1" and rows[1][-2] == "1"


# --- runs: isolation, the teacher's control, limits -------------------------------------------------------------
@pytest.mark.slow
def test_another_learners_run_is_404_everywhere_and_the_teacher_can_stop_it(room):
    client, classroom, teacher, ada, bob = room
    run_id = ada.post("/api/runs", json={"preset": "bigram", "steps": 20000, "seed": "ada"}).json()["id"]
    wait_until(ada, run_id, lambda s: s["state"] == "running" and s["iter"] > 0)
    for response in (bob.get(f"/api/runs/{run_id}"), bob.get(f"/api/runs/{run_id}/events"),
                     bob.get(f"/api/runs/{run_id}/checkpoint"),
                     bob.post(f"/api/runs/{run_id}/command", json={"cmd": "stop"}),
                     bob.post(f"/api/runs/{run_id}/query", json={"q": "hash"}),
                     bob.delete(f"/api/runs/{run_id}")):
        assert response.status_code == 404, response.text
        assert response.json()["error"] == f"no run {run_id!r} (it was reset or cleaned up)"   # same as no run at all
    assert bob.get("/api/runs").json()["runs"] == []
    assert [r["id"] for r in ada.get("/api/runs").json()["runs"]] == [run_id]
    assert ada.get(f"/api/runs/{run_id}/checkpoint").status_code == 200
    # the teacher sees every run and may stop any
    assert [r["id"] for r in teacher.get("/api/runs").json()["runs"]] == [run_id]
    row = next(l for l in teacher.get("/api/class").json()["learners"] if l["name"] == "Ada")
    assert row["runs"][0]["id"] == run_id and row["curve"]["points"]
    assert teacher.post("/api/class/pause-all", json={}).json() == {"paused": 1}
    wait_until(ada, run_id, lambda s: s["state"] == "paused")
    told = [m for m in client.app.state.registry.runs[run_id].history if m["event"] == "teacher"]
    assert [m["cmd"] for m in told] == ["pause"] and "Resume" in told[0]["text"]     # Ada's page says why
    ada.post(f"/api/runs/{run_id}/command", json={"cmd": "resume"})
    wait_until(ada, run_id, lambda s: s["state"] == "running")
    assert teacher.post(f"/api/runs/{run_id}/command", json={"cmd": "stop"}).status_code == 200
    assert wait_until(ada, run_id, lambda s: s["state"] == "finished")["iter"] < 20000
    told = [m["cmd"] for m in client.app.state.registry.runs[run_id].history if m["event"] == "teacher"]
    assert told == ["pause", "stop"]           # Ada's own resume tells nobody anything


@pytest.mark.slow
def test_uploads_belong_to_their_learner(room):
    _, _, _, ada, bob = room
    text = ada.post("/api/uploads/text", content=b"abc abd abe\n" * 50, headers=OCTET).json()["id"]
    refused = bob.post("/api/runs", json={"data": "upload", "upload": text, "preset": "bigram", "steps": 5})
    assert refused.status_code == 400 and "no uploaded text" in refused.json()["error"]
    run_id = ada.post("/api/runs", json={"data": "upload", "upload": text, "preset": "bigram", "steps": 30,
                                         "paused": True}).json()["id"]
    wait_until(ada, run_id, lambda s: s["state"] == "paused")
    checkpoint = ada.get(f"/api/runs/{run_id}/checkpoint").content
    upload = ada.post("/api/uploads/checkpoint", content=checkpoint, headers=OCTET).json()["id"]
    stolen = bob.post("/api/runs", json={"resume": upload})
    assert stolen.status_code == 400 and "no uploaded checkpoint" in stolen.json()["error"]
    assert ada.post("/api/runs", json={"resume": upload, "upload": text, "paused": True}).status_code == 200


@pytest.mark.slow
def test_each_learner_trains_within_their_own_limits(tmp_path):
    classroom = Classroom(tmp_path, seats=2, limits=OwnerLimits(active_runs=1, open_runs=2))
    with TestClient(create_app(classroom=classroom), base_url=LAB) as client:
        ada, bob = join(client, classroom, "Ada"), join(client, classroom, "Bob")
        long_run = {"preset": "bigram", "steps": 50000}
        first = ada.post("/api/runs", json={**long_run, "seed": "1"}).json()["id"]
        second = ada.post("/api/runs", json={**long_run, "seed": "2"}).json()["id"]
        waiting = ada.get(f"/api/runs/{second}").json()
        assert waiting["state"] == "queued" and "you train 1 runs at once already" in waiting["reason"]
        # Bob is not behind Ada's line: his run starts at once
        bobs = bob.post("/api/runs", json={**long_run, "seed": "3"}).json()["id"]
        assert bob.get(f"/api/runs/{bobs}").json()["state"] == "starting"
        third = ada.post("/api/runs", json={**long_run, "seed": "4"})
        assert third.status_code == 429 and "you already have 2 runs open" in third.json()["error"]
        # when Ada's first run is reset her second one trains
        ada.delete(f"/api/runs/{first}")
        wait_until(ada, second, lambda s: s["state"] == "running" and s["iter"] > 0)
    classroom.close()


@pytest.mark.slow
def test_training_in_turns_is_byte_identical_to_training_alone(tmp_path):
    request = {"preset": "microgpt", "steps": 150, "seed": "turns", "sample_every": 0}
    hashes = []
    classroom = Classroom(tmp_path, seats=2)
    with TestClient(create_app(classroom=classroom), base_url=LAB) as client:
        seats = [join(client, classroom, "Ada"), join(client, classroom, "Bob"), Seat(client, bearer=classroom.roster.teacher_token)]
        ids = [seat.post("/api/runs", json=request).json()["id"] for seat in seats]   # three share the turns
        for seat, run_id in zip(seats, ids):
            wait_until(seat, run_id, lambda s: s["state"] == "finished", timeout=120)
            hashes.append(seat.post(f"/api/runs/{run_id}/query", json={"q": "hash"}).json()["hash"])
        assert max(classroom.scheduler.turns_granted[i] for i in ids) > 1       # they did take turns
    classroom.close()
    with TestClient(create_app(), base_url=LAB) as alone:
        run_id = alone.post("/api/runs", json=request).json()["id"]
        wait_until(Seat(alone), run_id, lambda s: s["state"] == "finished", timeout=120)
        hashes.append(alone.post(f"/api/runs/{run_id}/query", json={"q": "hash"}).json()["hash"])
    assert len(set(hashes)) == 1, hashes


# --- the scheduler and the curves, on their own ------------------------------------------------------------------
def test_scheduler_grants_at_most_cores_turns_round_robin():
    async def scenario():
        sent = []
        scheduler = CpuScheduler(2, send=lambda run, message: sent.append((run, message["n"])))
        for run in "abcde":
            scheduler.on_cpu(run, 0.0)
        assert [r for r, _ in sent] == ["a", "b"] and set(scheduler.holders) == {"a", "b"}
        scheduler.on_cpu("a", 0.0)                   # said before its turn reached it: ignored
        assert len(sent) == 2
        scheduler.on_cpu("a", 0.0, turn=sent[0][1])  # a gives its turn back and wants more: end of the line
        assert sent[-1][0] == "c" and list(scheduler.line) == ["d", "e", "a"]
        scheduler.on_cpu("b", None, turn=sent[1][1])   # b is paused: no longer in line
        assert sent[-1][0] == "d" and "b" not in scheduler.line
        scheduler.forget("c")                         # c closed while holding a turn: the next one gets it
        assert sent[-1][0] == "e"
        assert scheduler.slice_s() == pytest.approx(min(0.1, 0.5 * 2 / 4))
        # a paced run asks for a turn later: it joins the line only then
        scheduler.on_cpu("d", time.monotonic() + 0.05, turn=sent[-2][1])
        assert "d" not in scheduler.line and "d" in scheduler.timers
        await asyncio.sleep(0.1)
        assert "d" in scheduler.holders or "d" in scheduler.line
    asyncio.run(scenario())


def test_loading_has_its_own_lane_and_does_not_hold_up_training():
    async def scenario():
        sent = []
        scheduler = CpuScheduler(1, send=lambda run, message: sent.append((run, message["n"])), load_slots=1)
        scheduler.on_cpu("old", 0.0)                       # training already
        for run in ("new1", "new2"):
            scheduler.on_cpu(run, None, load=True)
        assert [r for r, _ in sent] == ["old", "new1"]     # one loads while the other trains
        scheduler.on_cpu("new1", 0.0, turn=sent[1][1])     # loaded: gives the loading turn back, wants to train
        assert sent[-1][0] == "new2" and list(scheduler.line) == ["new1"]
        scheduler.on_cpu("old", 0.0, turn=sent[0][1])      # old's slice ends: new1 trains, old waits its turn
        assert sent[-1][0] == "new1" and list(scheduler.line) == ["old"]
        scheduler.forget("new2")                           # closed while loading
        assert not scheduler.loading
    asyncio.run(scenario())


def test_curves_stay_small_and_skip_non_finite_losses():
    class Run:
        id = "r1"
    curves = LossCurves()
    curves.track("r1", "ada", "lesson-1", "microgpt · seed x", 50_000)
    for i in range(1, 50_001):
        curves.observe(Run, {"event": "step", "iter": i, "loss": "NaN" if i == 7 else 3.0 - i / 50_000})
    curve = curves.of("ada")[0].public()
    assert len(curve["points"]) < MAX_POINTS and curve["iter"] == 50_000
    assert all(math.isfinite(v) for _, v in curve["points"])
    assert curve["points"][0][1] > curve["points"][-1][1]


@pytest.mark.slow
def test_forked_workers_exit_when_the_classroom_server_is_killed(tmp_path):
    """Classroom workers are children of the fork server, not of the lab: killed without clean-up (SIGKILL),
    the lab takes the fork server with it, and the workers (watching their parent) follow."""
    import signal
    import subprocess
    import sys

    import httpx

    from test_lab_parent_death import alive, children, free_port

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "tinylm", "lab", "--classroom", "--no-browser", "--host",
                               "127.0.0.1", "--port", str(port), "--state", str(tmp_path)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        key = None
        for line in server.stdout:
            if "join?key=" in line:
                key = line.split("join?key=", 1)[1].split()[0]
                break
        assert key, "the join URL was not printed"
        base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 60
        while True:
            try:
                joined = httpx.post(base + "/api/join", json={"name": "Ada", "key": key}, timeout=5)
                break
            except httpx.HTTPError:
                assert time.time() < deadline, "the classroom lab did not answer"
                time.sleep(0.2)
        cookie = {"Cookie": f"tinylm_learner={joined.cookies['tinylm_learner']}"}
        run_id = httpx.post(base + "/api/runs", json={"preset": "microgpt", "steps": 50000}, headers=cookie,
                            timeout=30).json()["id"]
        while httpx.get(f"{base}/api/runs/{run_id}", headers=cookie, timeout=5).json()["iter"] == 0:
            assert time.time() < deadline, "the run never trained"
            time.sleep(0.2)
        descendants, frontier = [], [server.pid]
        while frontier:
            frontier = [c for pid in frontier for c in children(pid)]
            descendants += frontier
        assert len(descendants) >= 2          # the fork server and the worker (and a resource tracker)
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
        deadline = time.time() + 15
        while time.time() < deadline and any(alive(pid) for pid in descendants):
            time.sleep(0.2)
        assert not [pid for pid in descendants if alive(pid)], "processes outlived the killed lab"
    finally:
        if server.poll() is None:
            server.kill()
