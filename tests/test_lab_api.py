"""The lab's HTTP API, driven through FastAPI's TestClient with real worker processes."""
from __future__ import annotations

import json
import math
import time

import pytest
from fastapi.testclient import TestClient

from tinylm.lab.app import create_app
from tinylm.lab.protocol import MAX_TEXT_BYTES
from tinylm.training.phases import PHASES
from lab_polling import wait_until     # tests/lab_polling.py

LAB = "http://127.0.0.1:8765"          # the lab only answers to its own host names
OCTET = {"Content-Type": "application/octet-stream"}   # uploads, as the page sends them


@pytest.fixture
def lab():
    app = create_app(max_active=2)
    with TestClient(app, base_url=LAB) as client:
        client.registry = app.state.registry
        yield client


def events(client, run_id, kind):
    return [m for m in client.registry.runs[run_id].history if m["event"] == kind]


def start(client, **request):
    response = client.post("/api/runs", json={"preset": "microgpt", "seed": "api", **request})
    assert response.status_code == 200, response.text
    return response.json()["id"]


def test_info_lists_presets_engines_and_six_pathologies(lab):
    info = lab.get("/api/info").json()
    assert "microgpt" in [p["name"] for p in info["presets"]]
    assert {"numpy", "scalar"} <= set(info["engines"])
    assert len(info["pathologies"]) == 6
    page = lab.get("/")
    assert page.status_code == 200 and "tinylm lab" in page.text
    assert lab.get("/static/js/main.js").status_code == 200


@pytest.mark.parametrize("body, needle", [
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "expected a JSON object"),
    (b'{"preset": "nope"}', "unknown preset"),
    (b'{"steps": -3}', "steps must be between"),
    (b'{"steps": "many"}', "steps must be an integer"),
    (b'{"colour": "red"}', "unknown field"),
    (b'{"data": "upload"}', "upload"),
])
def test_malformed_run_requests_get_one_line_errors(lab, body, needle):
    response = lab.post("/api/runs", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert needle in error and "\n" not in error


def test_unknown_run_is_404_and_server_keeps_answering(lab):
    assert lab.post("/api/runs/nope/command", json={"cmd": "pause"}).status_code == 404
    assert lab.get("/api/runs/nope/checkpoint").status_code == 404
    assert lab.get("/api/info").status_code == 200


@pytest.mark.slow
def test_run_trains_streams_samples_and_finishes_below_uniform(lab):
    run_id = start(lab, steps=120, sample_every=60)
    summary = wait_until(lab, run_id, lambda s: s["state"] == "finished")
    assert summary["iter"] == 120
    steps = events(lab, run_id, "step")
    assert [s["iter"] for s in steps] == list(range(1, 121))
    evals = events(lab, run_id, "eval")
    assert evals[-1]["val_loss"] < math.log(27) - 0.4        # it learned something real
    samples = events(lab, run_id, "sample")
    assert [s["iter"] for s in samples] == [0, 60, 120] and all(len(s["samples"]) == 5 for s in samples)
    assert samples[0]["phase"] == "random letters" and samples[-1]["phase"] in PHASES["documents"]
    assert len(events(lab, run_id, "hash")[0]["hash"]) == 64
    assert [d["kind"] for d in events(lab, run_id, "diagnosis")] == ["healthy"]   # the Trainer's, forwarded


@pytest.mark.slow
def test_pause_and_single_steps_keep_the_exact_iter(lab):
    run_id = start(lab, steps=10_000, paused=True)   # long enough that a pause lands mid-run (~2000 it/s)
    wait_until(lab, run_id, lambda s: s["state"] == "paused")
    assert lab.post(f"/api/runs/{run_id}/command", json={"cmd": "step", "n": 3}).status_code == 200
    wait_until(lab, run_id, lambda s: s["iter"] == 3 and s["state"] == "paused")
    time.sleep(0.3)
    assert lab.get(f"/api/runs/{run_id}").json()["iter"] == 3          # paused means no more steps
    lab.post(f"/api/runs/{run_id}/command", json={"cmd": "resume"})
    wait_until(lab, run_id, lambda s: s["iter"] > 10)
    lab.post(f"/api/runs/{run_id}/command", json={"cmd": "pause"})
    paused = wait_until(lab, run_id, lambda s: s["state"] == "paused")
    time.sleep(0.3)
    assert lab.get(f"/api/runs/{run_id}").json()["iter"] == paused["iter"]
    lab.post(f"/api/runs/{run_id}/command", json={"cmd": "resume"})
    wait_until(lab, run_id, lambda s: s["state"] == "finished")
    assert [s["iter"] for s in events(lab, run_id, "step")] == list(range(1, 10_001))  # no iter lost/repeated
    assert lab.delete(f"/api/runs/{run_id}").status_code == 200
    assert lab.get(f"/api/runs/{run_id}").status_code == 404


@pytest.mark.slow
def test_checkpoint_upload_continues_exactly_where_it_left_off(lab):
    run_id = start(lab, steps=60, paused=True, seed="ckpt")
    wait_until(lab, run_id, lambda s: s["state"] == "paused")
    lab.post(f"/api/runs/{run_id}/command", json={"cmd": "step", "n": 20})
    wait_until(lab, run_id, lambda s: s["iter"] == 20 and s["state"] == "paused")
    checkpoint = lab.get(f"/api/runs/{run_id}/checkpoint")
    assert checkpoint.status_code == 200 and "attachment" in checkpoint.headers["content-disposition"]
    lab.post(f"/api/runs/{run_id}/command", json={"cmd": "step", "n": 1})
    wait_until(lab, run_id, lambda s: s["iter"] == 21)
    uninterrupted = events(lab, run_id, "step")[-1]["loss"]
    lab.delete(f"/api/runs/{run_id}")

    upload = lab.post("/api/uploads/checkpoint", content=checkpoint.content, headers=OCTET)
    assert upload.status_code == 200 and upload.json()["iter"] == 20
    resumed = start(lab, resume=upload.json()["id"], paused=True)
    wait_until(lab, resumed, lambda s: s["state"] == "paused")
    assert events(lab, resumed, "start")[0]["start_iter"] == 20
    lab.post(f"/api/runs/{resumed}/command", json={"cmd": "step", "n": 1})
    wait_until(lab, resumed, lambda s: s["iter"] == 21)
    assert events(lab, resumed, "step")[-1]["loss"] == uninterrupted


def test_bad_uploads_are_refused_with_readable_messages(lab):
    bad = lab.post("/api/uploads/checkpoint", content=b"\x00garbage" * 100, headers=OCTET)
    assert bad.status_code == 400 and "checkpoint" in bad.json()["error"]
    too_big = lab.post("/api/uploads/text", content=b"a" * (MAX_TEXT_BYTES + 1), headers=OCTET)
    assert too_big.status_code == 413 and "limit" in too_big.json()["error"]
    not_utf8 = lab.post("/api/uploads/text", content=b"\xff\xfe\xfa abc", headers=OCTET)
    assert not_utf8.status_code == 400 and "UTF-8" in not_utf8.json()["error"]
    assert lab.post("/api/runs", json={"resume": "nope"}).status_code == 400


@pytest.mark.slow
def test_uploaded_text_trains(lab):
    text = ("the quick brown fox jumps over the lazy dog. " * 200).encode()
    upload = lab.post("/api/uploads/text", content=text, headers=OCTET).json()
    assert upload["chars"] == len(text)
    run_id = start(lab, data="upload", upload=upload["id"], preset="bigram", steps=30, sample_every=0)
    wait_until(lab, run_id, lambda s: s["state"] in ("finished", "error"))
    assert lab.get(f"/api/runs/{run_id}").json()["state"] == "finished"
    assert events(lab, run_id, "start")[0]["vocab_size"] == len(set(text.decode()))


def run_to_checkpoint(client, run_id, steps):
    wait_until(client, run_id, lambda s: s["state"] == "paused")
    client.post(f"/api/runs/{run_id}/command", json={"cmd": "step", "n": steps})
    wait_until(client, run_id, lambda s: s["iter"] == steps and s["state"] == "paused")
    checkpoint = client.get(f"/api/runs/{run_id}/checkpoint")
    assert checkpoint.status_code == 200
    client.post(f"/api/runs/{run_id}/command", json={"cmd": "step", "n": 1})
    wait_until(client, run_id, lambda s: s["iter"] == steps + 1)
    return checkpoint.content, events(client, run_id, "step")[-1]["loss"]


@pytest.mark.slow
def test_checkpoint_of_an_uploaded_text_run_resumes_exactly(lab):
    text = "\n".join(f"{a}{b}{c}" for a in "abcdef" for b in "aeiou" for c in "lmnrst") + "\n"
    upload = lab.post("/api/uploads/text", content=text.encode(), headers=OCTET).json()
    run_id = start(lab, data="upload", upload=upload["id"], preset="bigram", steps=40, paused=True, seed="up")
    checkpoint, uninterrupted = run_to_checkpoint(lab, run_id, 10)
    lab.delete(f"/api/runs/{run_id}")

    from tinylm.checkpoints import load_checkpoint
    source = load_checkpoint(checkpoint).meta["train"]["data"]["source"]
    assert source == f"text:{upload['sha256']}"           # the text by hash, never a (temp) path
    resumed = start(lab, resume=lab.post("/api/uploads/checkpoint", content=checkpoint, headers=OCTET).json()["id"], paused=True)
    wait_until(lab, resumed, lambda s: s["state"] == "paused")
    lab.post(f"/api/runs/{resumed}/command", json={"cmd": "step", "n": 1})
    wait_until(lab, resumed, lambda s: s["iter"] == 11)
    assert events(lab, resumed, "step")[-1]["loss"] == uninterrupted

    # a fresh lab does not hold the text: a readable refusal, then the same file uploaded again works
    with TestClient(create_app(max_active=1), base_url=LAB) as fresh:
        fresh.registry = fresh.app.state.registry
        ckpt_id = fresh.post("/api/uploads/checkpoint", content=checkpoint, headers=OCTET).json()["id"]
        refused = fresh.post("/api/runs", json={"resume": ckpt_id})
        assert refused.status_code == 400 and "upload that text file again" in refused.json()["error"]
        assert fresh.post("/api/uploads/text", content=text.encode(), headers=OCTET).json()["id"] == upload["id"]
        again = start(fresh, resume=ckpt_id, paused=True)
        wait_until(fresh, again, lambda s: s["state"] == "paused")
        fresh.post(f"/api/runs/{again}/command", json={"cmd": "step", "n": 1})
        wait_until(fresh, again, lambda s: s["iter"] == 11)
        assert events(fresh, again, "step")[-1]["loss"] == uninterrupted


@pytest.mark.slow
def test_a_checkpoint_naming_a_local_file_never_makes_the_server_read_it(lab, tmp_path):
    from tinylm.checkpoints import checkpoint_bytes, load_checkpoint
    run_id = start(lab, preset="bigram", steps=20, paused=True)
    checkpoint, _ = run_to_checkpoint(lab, run_id, 2)
    ckpt = load_checkpoint(checkpoint)
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret server file\n" * 50)
    meta = dict(ckpt.meta, train={**ckpt.meta["train"], "data": {**ckpt.meta["train"]["data"], "source": str(secret)}})
    forged = checkpoint_bytes(ckpt.params, ckpt.optimizer_steps, ckpt.optimizer_state, meta)
    upload_id = lab.post("/api/uploads/checkpoint", content=forged, headers=OCTET).json()["id"]
    refused = lab.post("/api/runs", json={"resume": upload_id})
    assert refused.status_code == 400 and "secret.txt" in refused.json()["error"]
    assert "does not open" in refused.json()["error"]


@pytest.mark.slow
def test_queries_sandbox_and_inspector(lab):
    run_id = start(lab, steps=50, sample_every=0)
    wait_until(lab, run_id, lambda s: s["state"] == "finished")
    logits = lab.post(f"/api/runs/{run_id}/query", json={"q": "logits", "prefix": "em"}).json()
    assert len(logits["logits"]) == 27 and logits["labels"][logits["end_id"]] == "<end>"
    names = lab.post(f"/api/runs/{run_id}/query", json={"q": "generate", "temperature": 0.5, "count": 7}).json()
    assert len(names["samples"]) == 7
    assert lab.post(f"/api/runs/{run_id}/query", json={"q": "generate", "temperature": 5.0}).status_code == 400
    bad_char = lab.post(f"/api/runs/{run_id}/query", json={"q": "logits", "prefix": "Ω"})
    assert bad_char.status_code == 400 and "vocabulary" in bad_char.json()["error"]
    report = lab.post(f"/api/runs/{run_id}/query",
                      json={"q": "inspect", "document": "emma", "param": "lm_head.weight", "apply": True}).json()
    assert report["t"] == 51 and report["optimizer"] == "adam" and len(report["rows"]) == 8
    for row, actual in zip(report["rows"], report["actual_delta"]):
        # the update the inspector predicts is the update the engine applies (float32 engine)
        assert actual == pytest.approx(row["delta"], rel=1e-3, abs=1e-7)
        assert row["m_hat"] == pytest.approx(row["m"] / (1 - 0.85 ** 51))


@pytest.mark.slow
def test_same_seed_gives_identical_hashes_and_other_seed_differs(lab):
    ids = [start(lab, steps=30, sample_every=0, seed=seed) for seed in ("twin", "twin")]
    for run_id in ids:
        wait_until(lab, run_id, lambda s: s["state"] == "finished")
    hashes = [events(lab, r, "hash")[0]["hash"] for r in ids]
    curves = [[s["loss"] for s in events(lab, r, "step")] for r in ids]
    assert hashes[0] == hashes[1] and curves[0] == curves[1]
    other = start(lab, steps=30, sample_every=0, seed="twim")
    wait_until(lab, other, lambda s: s["state"] == "finished")
    assert events(lab, other, "hash")[0]["hash"] != hashes[0]
    assert [s["loss"] for s in events(lab, other, "step")] != curves[0]


@pytest.mark.slow
def test_pathology_lr10_is_diagnosed_as_diverged(lab):
    run_id = start(lab, pathology="lr-10")
    wait_until(lab, run_id, lambda s: s["state"] == "finished", timeout=60)
    finished = events(lab, run_id, "finished")[0]
    assert finished["reason"] == "diverged" and finished["iter"] <= 20
    assert [d["kind"] for d in events(lab, run_id, "diagnosis")] == ["diverged"]
    curve = lab.get("/api/pathologies/lr-10").json()["curve"]
    assert curve is not None and curve["diagnosis"]["kind"] == "diverged"


@pytest.mark.parametrize("name", ["healthy", "lr-10", "no-warmup", "dead", "overfit", "bad-init"])
def test_recorded_pathology_curves_match_their_presets(name):
    """The faint canonical curve must come from the preset the button runs (re-record after a change)."""
    from tinylm.lab import pathologies
    curve = pathologies.canonical_curve(name)
    assert curve is not None, f"{name}: run scripts/record_pathologies.py {name}"
    assert curve["config"] == pathologies.preset_config(name), \
        f"{name}: the preset changed since its curve was recorded; run scripts/record_pathologies.py {name}"
    assert curve["steps"] == curve["config"]["train"]["steps"]
    if curve["diagnosis"]["kind"] != "diverged":
        assert len(curve["loss"]) == curve["steps"]


@pytest.mark.slow
def test_cycle_detail_describes_the_real_step(lab):
    run_id = start(lab, steps=50, paused=True, detail=True)
    wait_until(lab, run_id, lambda s: s["state"] == "paused")
    lab.post(f"/api/runs/{run_id}/command", json={"cmd": "step", "n": 2})
    wait_until(lab, run_id, lambda s: s["iter"] == 2)
    details, steps = events(lab, run_id, "detail"), events(lab, run_id, "step")
    assert [d["iter"] for d in details] == [1, 2]
    for detail, step in zip(details, steps):
        assert detail["loss"] == pytest.approx(step["loss"], rel=1e-5)       # same batch as the real step
        assert detail["positions"][-1]["target"] == "<end>"
        mean = sum(p["loss"] for p in detail["positions"]) / len(detail["positions"])
        assert mean == pytest.approx(detail["loss"], rel=1e-4)
        assert detail["example"]["m_hat"] == pytest.approx(detail["example"]["m"] / (1 - 0.85 ** detail["t"]))


@pytest.mark.slow
def test_cap_queues_runs_beyond_it_and_says_why():
    app = create_app(max_active=1)
    with TestClient(app, base_url=LAB) as client:
        first = start(client, steps=50_000, speed=50, label="first")
        second = start(client, steps=30, sample_every=0)
        waiting = client.get(f"/api/runs/{second}").json()
        assert waiting["state"] == "queued" and waiting["position"] == 1
        assert "1st in line" in waiting["reason"] and "first" in waiting["reason"]   # who holds the slot
        wait_until(client, first, lambda s: s["state"] == "running" and s["iter"] > 2)
        assert client.get(f"/api/runs/{second}").json()["state"] == "queued"
        client.delete(f"/api/runs/{first}")
        reached = wait_until(client, second, lambda s: s["state"] == "finished")
        assert reached["position"] == 0 and reached["reason"] == ""
        # a run that starts paused only loads and waits: it starts at once even while the slot is taken
        third = start(client, steps=50_000, speed=50)
        fourth = start(client, steps=30, paused=True)
        wait_until(client, fourth, lambda s: s["state"] == "paused")
        assert client.get(f"/api/runs/{third}").json()["state"] in ("starting", "running")


@pytest.mark.slow
def test_unwatched_runs_are_cleaned_up():
    app = create_app(orphan_timeout=0.5)
    with TestClient(app, base_url=LAB) as client:
        run_id = start(client, steps=100, paused=True)
        deadline = time.monotonic() + 15
        while client.get(f"/api/runs/{run_id}").status_code != 404:
            assert time.monotonic() < deadline, "the orphaned run was never cleaned up"
            time.sleep(0.2)


def test_token_is_required_on_every_request():
    app = create_app(token="s3cret-token")
    with TestClient(app, base_url=LAB) as client:
        denied = client.get("/api/info")
        assert denied.status_code == 401 and "token" in denied.json()["error"]
        assert client.get("/api/info?token=wrong-token").status_code == 401
        assert client.get("/api/info?token=s3cret-token").status_code == 200
        assert client.get("/api/info", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
        page = client.get("/?token=s3cret-token")
        assert page.status_code == 200
        assert client.get("/api/info").status_code == 200      # the page's cookie now carries it


# --- speed, slots and watchers (issue 9: runs a person can watch, no starved slots) ---------------------

def command(client, run_id, cmd, **fields):
    response = client.post(f"/api/runs/{run_id}/command", json={"cmd": cmd, **fields})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.slow
def test_bad_speeds_are_refused_with_one_line_errors(lab):
    run_id = start(lab, steps=20, paused=True)
    for body, needle in [({"cmd": "speed"}, "needs n"), ({"cmd": "speed", "n": 0}, "between 1 and 100"),
                         ({"cmd": "speed", "n": 101}, "between 1 and 100"), ({"cmd": "speed", "n": "x"}, "integer")]:
        response = lab.post(f"/api/runs/{run_id}/command", json=body)
        assert response.status_code == 400 and needle in response.json()["error"], body
    refused = lab.post("/api/runs", json={"speed": 0})
    assert refused.status_code == 400 and "speed must be between 1 and 100" in refused.json()["error"]


@pytest.mark.slow
def test_speed_paces_a_run_and_changes_live(lab):
    run_id = start(lab, steps=400, sample_every=0, speed=1)     # speed 1: at most 2 steps per second
    begun = wait_until(lab, run_id, lambda s: s["state"] == "running" and s["iter"] >= 1)
    time.sleep(2.0)
    paced = lab.get(f"/api/runs/{run_id}").json()["iter"] - begun["iter"]
    assert paced < 10, f"speed 1 took {paced} steps in 2 s"       # unthrottled microgpt takes hundreds
    assert lab.get(f"/api/runs/{run_id}").json()["speed"] == 1
    command(lab, run_id, "speed", n=100)
    wait_until(lab, run_id, lambda s: s["state"] == "finished", timeout=60)
    assert lab.get(f"/api/runs/{run_id}").json()["speed"] == 100
    steps = events(lab, run_id, "step")
    assert [s["iter"] for s in steps] == list(range(1, 401))       # pacing loses and repeats nothing
    assert all(b["wall"] >= a["wall"] for a, b in zip(steps, steps[1:]))   # the run clock the page shows


@pytest.mark.slow
def test_paused_runs_release_their_slots(lab):
    first, second = (start(lab, steps=50_000, paused=True, seed=s) for s in ("a", "b"))
    for run_id in (first, second):
        wait_until(lab, run_id, lambda s: s["state"] == "paused")
    third = start(lab, steps=40, sample_every=0, seed="c")       # both slots were taken by paused runs
    wait_until(lab, third, lambda s: s["state"] == "finished")
    assert [lab.get(f"/api/runs/{r}").json()["state"] for r in (first, second)] == ["paused", "paused"]
    command(lab, first, "step", n=2)                               # a paused run still steps, and answers
    wait_until(lab, first, lambda s: s["iter"] == 2 and s["state"] == "paused")
    assert lab.post(f"/api/runs/{first}/query", json={"q": "hash"}).json()["iter"] == 2


@pytest.mark.slow
def test_resume_while_the_slots_are_full_waits_then_resumes_by_itself(lab):
    busy = [start(lab, steps=50_000, speed=50, seed=s, label=f"busy {s}") for s in ("a", "b")]
    for run_id in busy:
        wait_until(lab, run_id, lambda s: s["state"] == "running")
    sleeper = start(lab, steps=50_000, seed="z")                         # no free slot: it queues ...
    assert lab.get(f"/api/runs/{sleeper}").json()["state"] == "queued"
    command(lab, sleeper, "pause")                                        # ... paused, it just loads and waits
    wait_until(lab, sleeper, lambda s: s["state"] == "paused")
    assert command(lab, sleeper, "resume")["state"] == "waiting"
    waiting = lab.get(f"/api/runs/{sleeper}").json()
    assert waiting["position"] == 1 and "busy a" in waiting["reason"] and "busy b" in waiting["reason"]
    time.sleep(0.3)
    assert lab.get(f"/api/runs/{sleeper}").json()["iter"] == 0           # waiting means not training
    command(lab, busy[0], "pause")                                        # a slot frees: it goes on by itself
    wait_until(lab, sleeper, lambda s: s["state"] == "running" and s["iter"] > 3)
    assert lab.get("/api/runs").json()["active"] == 2
    assert command(lab, busy[0], "resume")["state"] == "waiting"          # now the paused one waits in turn
    command(lab, sleeper, "pause")
    wait_until(lab, busy[0], lambda s: s["state"] == "running")
    states = [m["state"] for m in events(lab, sleeper, "status")]
    last_running = max(i for i, state in enumerate(states) if state == "running")
    assert states.index("waiting") < last_running            # its page saw it wait, then train


@pytest.mark.slow
def test_a_run_whose_page_leaves_frees_its_slot_and_carries_on_when_the_page_comes_back():
    import httpx

    from tinylm.lab.server import BackgroundServer

    app = create_app(max_active=1)
    with BackgroundServer(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        client.registry = app.state.registry
        run_id = start(client, steps=50_000, speed=50)

        def watch_until(predicate):
            with client.stream("GET", f"/api/runs/{run_id}/events") as stream:
                for line in stream.iter_lines():
                    if line.startswith("data:") and predicate(json.loads(line[5:])):
                        return

        watch_until(lambda m: m["event"] == "step" and m["iter"] >= 3)          # the page watches, then leaves
        left = wait_until(client, run_id, lambda s: s["state"] == "paused" and s["watchers"] == 0)
        other = start(client, steps=20, sample_every=0)                           # its slot is free for others
        wait_until(client, other, lambda s: s["state"] == "finished")
        assert client.get(f"/api/runs/{run_id}").json()["iter"] == left["iter"]
        replayed = []                                                             # a reloaded page comes back:
        watch_until(lambda m: replayed.append(m) or (m["event"] == "step" and m["iter"] > left["iter"] + 3))
        assert replayed[0]["seq"] == 0                                            # the whole history replays
        steps = [m["iter"] for m in replayed if m["event"] == "step"]
        assert steps == list(range(1, len(steps) + 1))                           # and training went on, exactly


@pytest.mark.slow
def test_a_full_lab_makes_room_by_closing_the_longest_unwatched_idle_run():
    app = create_app(max_runs=2)
    with TestClient(app, base_url=LAB) as client:
        oldest, newer = (start(client, steps=50_000, speed=50, paused=True) for _ in range(2))
        for run_id in (oldest, newer):
            wait_until(client, run_id, lambda s: s["state"] == "paused")
        third = start(client, steps=50_000, speed=50)       # nobody watches the first two: room is made
        assert client.get(f"/api/runs/{oldest}").status_code == 404
        assert client.get(f"/api/runs/{newer}").status_code == 200
        client.post(f"/api/runs/{newer}/command", json={"cmd": "resume"})
        for run_id in (newer, third):
            wait_until(client, run_id, lambda s: s["state"] == "running")
        refused = client.post("/api/runs", json={"steps": 20})   # both train: neither is idle
        assert refused.status_code == 429 and "reset one first" in refused.json()["error"]


@pytest.mark.slow
def test_a_long_run_keeps_a_bounded_history_with_every_eval_and_a_thinned_loss_curve():
    from tinylm.lab.protocol import RunRequest
    from tinylm.lab.runs import HISTORY_LIMIT, Run, RunRegistry

    registry = RunRegistry()
    run = Run(id="r", request=RunRequest(), spec={})
    registry._publish(run, {"event": "start"})
    for it in range(1, 2 * HISTORY_LIMIT + 1):
        registry._publish(run, {"event": "step", "iter": it, "loss": 1.0})
        registry._publish(run, {"event": "detail", "iter": it})
        if it % 250 == 0:
            registry._publish(run, {"event": "eval", "iter": it})
    assert len(run.history) <= HISTORY_LIMIT and len(run.frames) == len(run.history)
    kinds = [m["event"] for m in run.history]
    assert kinds[0] == "start" and kinds.count("eval") == 2 * HISTORY_LIMIT // 250
    steps = [m["iter"] for m in run.history if m["event"] == "step"]
    assert steps == sorted(steps) and steps[-1] == 2 * HISTORY_LIMIT and steps[0] <= 64   # the whole curve, coarser
    assert run.published == 1 + 4 * HISTORY_LIMIT + 2 * HISTORY_LIMIT // 250
    seqs = [m["seq"] for m in run.history]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


@pytest.mark.slow
def test_the_detail_query_answers_with_plain_json(lab):
    run_id = lab.post("/api/runs", json={"preset": "microgpt", "steps": 5, "paused": True}).json()["id"]
    deadline = time.time() + 60
    while lab.get(f"/api/runs/{run_id}").json()["state"] != "paused" and time.time() < deadline:
        time.sleep(0.1)
    reply = lab.post(f"/api/runs/{run_id}/query", json={"q": "detail"})
    assert reply.status_code == 200, reply.text
    assert isinstance(reply.json(), dict)


@pytest.mark.slow
@pytest.mark.parametrize("preset, param", [("rnn", "cell.xh_to_h.weight"), ("gru", "cell.xh_to_z.weight"),
                                           ("bow", "block.c_fc.weight")])
def test_makemore_families_train_sample_and_inspect_in_the_lab(lab, preset, param):
    assert preset in [p["name"] for p in lab.get("/api/info").json()["presets"]]
    run_id = start(lab, preset=preset, steps=40, sample_every=40)
    wait_until(lab, run_id, lambda s: s["state"] == "finished")
    samples = events(lab, run_id, "sample")
    assert [s["iter"] for s in samples] == [0, 40] and all(len(s["samples"]) == 5 for s in samples)
    assert events(lab, run_id, "eval")[-1]["val_loss"] < math.log(27)
    names = lab.post(f"/api/runs/{run_id}/query", json={"q": "generate", "temperature": 0.8, "count": 4}).json()
    assert len(names["samples"]) == 4
    report = lab.post(f"/api/runs/{run_id}/query",
                      json={"q": "inspect", "document": "emma", "param": param, "apply": True}).json()
    for row, actual in zip(report["rows"], report["actual_delta"]):
        assert actual == pytest.approx(row["delta"], rel=1e-3, abs=1e-7)
