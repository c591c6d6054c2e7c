"""The course API through the lab app: lessons, quiz grading and the course widgets' real computations."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tinylm.config import DataConfig
from tinylm.course import load_course
from tinylm.data import load_corpus
from tinylm.lab.app import create_app
from tinylm.lab.pathologies import PATHOLOGIES, canonical_curve

LAB = "http://127.0.0.1:8765"

FRONT = '+++\ntitle = "{title}"\nsummary = "About {title}."\nminutes = {minutes}\n+++\n'
FIRST = FRONT.format(title="First steps", minutes=10) + """
Read this, then run.

```widget
widget = "runner"
preset = "microgpt"
seed = "lesson-1"
```

```check
id = "crossed"
kind = "loss-below"
ref = "bigram"
done = "Crossed at iter {iter}."
missed = "Never crossed."
```

```question
id = "pick"
kind = "choice"
prompt = "Which one?"
choices = ["zero", "one", "two"]
answer = 2
explain = "SECRET-CHOICE-EXPLANATION"
```

```question
id = "ln-27"
kind = "number"
prompt = "ln 27?"
answer = 3.2958
tolerance = 0.02
unit = "nats"
explain = "SECRET-NUMBER-EXPLANATION"
```
"""
SECOND = FRONT.format(title="Counting", minutes=25) + """
```widget
widget = "bigram"
seed = "lesson-2"
```

```exercise
id = "draw"
kind = "bigram-names"
task = "Draw names."
done = "Drawn."
```
"""


@pytest.fixture(scope="module")
def lessons(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lessons")
    (folder / "2-counting.md").write_text(SECOND, encoding="utf-8")
    (folder / "1-first.md").write_text(FIRST, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def lab(lessons):
    with TestClient(create_app(lessons_dir=lessons), base_url=LAB) as client:
        yield client


def error_of(response, status: int) -> str:
    assert response.status_code == status, response.text
    message = response.json()["error"]
    assert message and "\n" not in message
    return message


# --- lessons and the quiz ------------------------------------------------------------------------------
def test_contents_list_lessons_in_course_order_with_their_counts(lab):
    course = lab.get("/api/course").json()
    assert course["title"] == "The tinylm course"
    assert course["lessons"] == [
        {"id": "first", "number": 1, "title": "First steps", "summary": "About First steps.", "minutes": 10,
         "questions": 2, "exercises": 0, "checks": 1},
        {"id": "counting", "number": 2, "title": "Counting", "summary": "About Counting.", "minutes": 25,
         "questions": 0, "exercises": 1, "checks": 0}]


def test_a_lesson_has_its_blocks_and_neighbours_but_no_answers(lab):
    first = lab.get("/api/course/lessons/first")
    assert first.status_code == 200
    body = first.json()
    assert (body["prev"], body["next"]) == (None, "counting")
    assert [b["type"] for b in body["blocks"]] == ["text", "widget", "check", "question", "question"]
    assert body["blocks"][1]["config"] == {"preset": "microgpt", "seed": "lesson-1"}
    assert body["blocks"][3]["choices"] == ["zero", "one", "two"] and body["blocks"][4]["unit"] == "nats"
    raw = first.text
    assert "SECRET" not in raw and "3.2958" not in raw and '"answer"' not in raw and "tolerance" not in raw
    second = lab.get("/api/course/lessons/counting").json()
    assert (second["prev"], second["next"]) == ("first", None)
    assert "no lesson 'nope'" in error_of(lab.get("/api/course/lessons/nope"), 404)


def answer(lab, question, value, lesson="first"):
    return lab.post(f"/api/course/lessons/{lesson}/answer", json={"question": question, "answer": value})


def test_answers_are_graded_with_the_explanation(lab):
    right = answer(lab, "pick", 2).json()
    assert right == {"correct": True, "explain": "SECRET-CHOICE-EXPLANATION"}
    assert answer(lab, "pick", 0).json() == {"correct": False, "explain": "SECRET-CHOICE-EXPLANATION"}
    assert answer(lab, "ln-27", 3.2958).json()["correct"] is True
    assert answer(lab, "ln-27", 3.31).json()["correct"] is True          # within the tolerance 0.02
    assert answer(lab, "ln-27", 3.32).json()["correct"] is False
    assert answer(lab, "ln-27", 3).json()["correct"] is False            # an integer is a number too


@pytest.mark.parametrize("lesson, body, status, needle", [
    ("first", {"question": "nope", "answer": 1}, 404, "no question 'nope'"),
    ("nope", {"question": "pick", "answer": 1}, 404, "no lesson 'nope'"),
    ("first", {"question": "pick", "answer": "2"}, 400, "index of a choice"),
    ("first", {"question": "pick", "answer": True}, 400, "index of a choice"),
    ("first", {"question": "pick", "answer": 7}, 400, "has 3 choices"),
    ("first", {"question": "ln-27", "answer": "3.3"}, 400, "takes a number"),
    ("first", {"question": "ln-27", "answer": None}, 400, "takes a number"),
    ("first", {"question": "pick"}, 400, "answer is missing"),
    ("first", {"question": "pick", "answer": 1, "extra": 1}, 400, "unknown field"),
    ("first", [1, 2], 400, "expected a JSON object"),
])
def test_bad_answers_are_refused_in_one_line(lab, lesson, body, status, needle):
    assert needle in error_of(lab.post(f"/api/course/lessons/{lesson}/answer", json=body), status)


def test_the_labs_guards_cover_the_course_routes(lab, lessons):
    cross_site = lab.post("/api/course/lessons/first/answer", json={"question": "pick", "answer": 2},
                          headers={"Origin": "http://evil.example"})
    assert "other web sites" in error_of(cross_site, 403)
    fetched = lab.get("/api/course/lessons/first", headers={"Sec-Fetch-Site": "cross-site"})
    assert "other web sites" in error_of(fetched, 403)
    form = lab.post("/api/course/gradcheck", content=b"param=wte",
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert "Content-Type: application/json" in error_of(form, 403)
    rebinding = lab.get("/api/course", headers={"Host": "evil.example:8765"})
    assert "host name" in error_of(rebinding, 403)
    with TestClient(create_app(token="course-token", lessons_dir=lessons), base_url=LAB) as guarded:
        assert "access token" in error_of(guarded.get("/api/course"), 401)
        assert guarded.get("/api/course", headers={"Authorization": "Bearer course-token"}).status_code == 200


@pytest.mark.slow
def test_the_packaged_lessons_are_served_and_every_answer_grades_right():
    course = load_course()
    with TestClient(create_app(), base_url=LAB) as client:
        listed = client.get("/api/course").json()["lessons"]
        assert [item["id"] for item in listed] == [lesson.id for lesson in course.lessons]
        for lesson in course.lessons:
            blocks = client.get(f"/api/course/lessons/{lesson.id}").json()["blocks"]
            assert not any("answer" in b or "explain" in b for b in blocks)
            for question in lesson.questions.values():
                reply = answer(client, question.id, question.answer, lesson.id).json()
                assert reply == {"correct": True, "explain": question.explain}, (lesson.id, question.id)


# --- the counting model ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_bigram_table_counts_every_pair_of_the_training_names(lab):
    reply = lab.get("/api/course/bigram", params={"seed": "lesson-2", "count": 20}).json()
    chars, marker, counts = reply["chars"], reply["marker"], np.array(reply["counts"])
    assert reply["data"] == "names" and chars[marker] == ""
    assert sorted(c for c in chars if c) == list("abcdefghijklmnopqrstuvwxyz") and len(chars) == 27
    corpus = load_corpus(DataConfig(source="names", mode="documents"), "lesson-2", quiet=True)
    assert [chars[i] for i in range(27) if i != marker] == corpus.tokenizer.chars   # the runner's token order
    n_names = len(corpus.train_docs)
    letters = sum(len(doc) - 2 for doc in corpus.train_docs)
    assert counts.shape == (27, 27) and counts.sum() == letters + n_names       # n + 1 pairs per name
    assert counts[marker].sum() == n_names and counts[:, marker].sum() == n_names and counts[marker, marker] == 0
    # its loss is the mean -ln p(next | current) of the normalised table over the same pairs ...
    probs = counts / counts.sum(axis=1, keepdims=True)
    seen = counts > 0
    assert reply["entropy"] == pytest.approx(-(counts[seen] * np.log(probs[seen])).sum() / counts.sum(), rel=1e-12)
    # ... which is the bigram line a names run with this seed draws
    assert reply["entropy"] == pytest.approx(corpus.entropies["bigram"], rel=1e-9)
    assert 2.3 < reply["entropy"] < 2.6


def test_names_drawn_from_the_table_follow_its_pairs_and_end_properly(lab):
    reply = lab.get("/api/course/bigram", params={"seed": "lesson-2", "count": 40}).json()
    chars, marker, counts = reply["chars"], reply["marker"], np.array(reply["counts"])
    index = {c: i for i, c in enumerate(chars)}
    names = reply["names"]
    assert len(names) == 40 and len(set(names)) > 20
    for name in names:
        assert 1 <= len(name) <= 16 and name.isalpha() and name.islower()
        path = [marker] + [index[c] for c in name] + ([marker] if len(name) < 16 else [])
        assert all(counts[a, b] > 0 for a, b in zip(path, path[1:])), name    # every step a pair the data has
    assert lab.get("/api/course/bigram", params={"seed": "lesson-2", "count": 40}).json()["names"] == names
    assert lab.get("/api/course/bigram", params={"seed": "other", "count": 40}).json()["names"] != names


@pytest.mark.parametrize("params, needle", [
    ({"count": 0}, "count must be between 1 and 100"),
    ({"count": 101}, "count must be between 1 and 100"),
    ({"count": "many"}, "count must be an integer"),
    ({"seed": ""}, "seed must not be empty"),
])
def test_bad_bigram_requests_are_refused(lab, params, needle):
    assert needle in error_of(lab.get("/api/course/bigram", params=params), 400)


# --- the gradient check -------------------------------------------------------------------------------------
def test_gradcheck_lists_the_mlp_parameters(lab):
    reply = lab.get("/api/course/gradcheck/params").json()
    assert reply["total"] == 2480 == sum(p["size"] for p in reply["params"])
    assert reply["params"][0] == {"name": "wte", "shape": [27, 16], "size": 432}


@pytest.mark.parametrize("param, index", [("wte", 37), ("wte", 431), ("fc1.weight", 500), ("fc2.weight", 1000)])
def test_hand_gradient_matches_the_finite_difference_slope(lab, param, index):
    reply = lab.post("/api/course/gradcheck", json={"param": param, "index": index, "eps": 1e-4, "name": "emma",
                                                    "seed": "lesson-2"}).json()
    assert (reply["param"], reply["index"], reply["name"], reply["eps"]) == (param, index, "emma", 1e-4)
    assert 3.0 < reply["loss"] < 3.6                              # a fresh model on a 27-token vocabulary
    assert reply["numeric"] == pytest.approx((reply["loss_plus"] - reply["loss_minus"]) / 2e-4, rel=1e-12)
    a, n = reply["analytic"], reply["numeric"]
    assert abs(a) > 1e-6                                          # a real gradient, not two zeros agreeing
    assert reply["rel_error"] == pytest.approx(abs(a - n) / (abs(a) + abs(n)), rel=1e-6, abs=1e-15)
    assert reply["rel_error"] < 1e-6


def test_gradcheck_defaults_and_determinism(lab):
    first = lab.post("/api/course/gradcheck", json={"param": "fc2.weight", "index": 3}).json()
    assert first["eps"] == 1e-4 and first["name"] == "emma"
    assert lab.post("/api/course/gradcheck", json={"param": "fc2.weight", "index": 3}).json() == first
    other = lab.post("/api/course/gradcheck", json={"param": "fc2.weight", "index": 3, "seed": "x"}).json()
    assert other["value"] != first["value"]                       # the seed decides the initial weights


@pytest.mark.parametrize("body, needle", [
    ({"param": "wpe", "index": 0}, "unknown parameter 'wpe'"),
    ({"param": "wte", "index": 432}, "index must be between 0 and 431"),
    ({"param": "wte", "index": -1}, "index must be between"),
    ({"param": "wte", "index": 1.5}, "index must be an integer"),
    ({"param": "wte", "eps": 0}, "eps must be between"),
    ({"param": "wte", "eps": 0.5}, "eps must be between"),
    ({"param": "wte", "name": "Emma"}, "lowercase letters"),
    ({"param": "wte", "name": "a" * 16}, "1 to 15 lowercase letters"),
    ({"param": "wte", "colour": 1}, "unknown field"),
])
def test_bad_gradcheck_requests_are_refused(lab, body, needle):
    assert needle in error_of(lab.post("/api/course/gradcheck", json=body), 400)


# --- graph size --------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_graph_size_of_one_step_plain_vs_fused(lab):
    reply = lab.get("/api/course/graph-size", params={"name": "emma"}).json()
    assert (reply["name"], reply["preset"], reply["params"]) == ("emma", "microgpt", 4192)
    plain, fused = reply["plain"], reply["fused"]
    assert plain["loss"] == pytest.approx(fused["loss"], abs=1e-12)     # fusing never changes a number
    assert fused["nodes"] < plain["nodes"] and fused["depth"] < plain["depth"] and fused["edges"] < plain["edges"]
    for stats in (plain, fused):
        assert stats["edges"] >= stats["nodes"] > 0 and stats["leaves"] > 0 and stats["seconds"] > 0
    # the same loss as the numpy engine computes for microgpt initialised from the same seed
    from tinylm.course.widgets import build_trainer, wrapped_name
    trainer = build_trainer("microgpt", "lesson-3", "numpy", dtype="float64")
    assert plain["loss"] == pytest.approx(trainer.engine.loss(*wrapped_name(trainer.tokenizer, "emma")), rel=1e-10)
    longer = lab.get("/api/course/graph-size", params={"name": "emmanuel"}).json()
    assert longer["plain"]["nodes"] > plain["nodes"]                # more positions, a bigger graph
    assert lab.get("/api/course/graph-size", params={"name": "emma"}).json() == reply   # cached
    assert "lowercase letters" in error_of(lab.get("/api/course/graph-size", params={"name": "x1"}), 400)


# --- mystery curves -----------------------------------------------------------------------------------------
def test_mystery_curves_are_the_recorded_pathologies_under_opaque_ids(lab):
    reply = lab.get("/api/course/mystery").json()
    assert [c["id"] for c in reply["curves"]] == [f"c{i}" for i in range(1, 7)]
    assert [c["name"] for c in reply["choices"]] == list(PATHOLOGIES)
    assert "name" not in json.dumps(reply["curves"])
    recorded = {name: canonical_curve(name) for name in PATHOLOGIES}
    truth = {}
    for curve in reply["curves"]:
        match = [name for name, rec in recorded.items() if rec["loss"] == curve["loss"] and rec["val"] == curve["val"]]
        assert len(match) == 1 and curve["steps"] == recorded[match[0]]["steps"]
        truth[curve["id"]] = match[0]
    assert list(truth.values()) != list(PATHOLOGIES)               # shown in a shuffled order
    for curve_id, name in truth.items():
        right = lab.post("/api/course/mystery", json={"id": curve_id, "answer": name}).json()
        assert right["correct"] is True and right["name"] == name and right["title"] == PATHOLOGIES[name].title
        assert PATHOLOGIES[name].title in right["explain"]
        wrong_answer = next(other for other in PATHOLOGIES if other != name)
        wrong = lab.post("/api/course/mystery", json={"id": curve_id, "answer": wrong_answer}).json()
        assert wrong["correct"] is False and wrong["name"] == name
    assert "no mystery curve 'c9'" in error_of(lab.post("/api/course/mystery", json={"id": "c9", "answer": "dead"}), 404)
    assert "unknown pathology" in error_of(lab.post("/api/course/mystery", json={"id": "c1", "answer": "sad"}), 400)


# --- the run request's lr ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_lr_overrides_the_presets_peak_learning_rate(lab):
    run = lab.post("/api/runs", json={"preset": "microgpt", "seed": "lr", "steps": 3, "lr": 0.5}).json()
    plain = lab.post("/api/runs", json={"preset": "microgpt", "seed": "lr", "steps": 3, "lr": None}).json()
    registry = lab.app.state.registry
    starts = {}
    deadline = time.monotonic() + 60
    while len(starts) < 2 and time.monotonic() < deadline:
        for run_id in (run["id"], plain["id"]):
            found = [m for m in registry.runs[run_id].history if m["event"] == "start"]
            if found:
                starts[run_id] = found[0]
        time.sleep(0.05)
    assert starts[run["id"]]["config"]["train"]["optim"]["lr"] == 0.5
    assert starts[plain["id"]]["config"]["train"]["optim"]["lr"] == 0.01        # the microgpt preset's
    for run_id in starts:
        lab.delete(f"/api/runs/{run_id}")


@pytest.mark.parametrize("body, needle", [
    ({"lr": 0}, "lr must be between 1e-06 and 100"),
    ({"lr": 1000}, "lr must be between"),
    ({"lr": "fast"}, "lr must be a number"),
    ({"lr": 0.1, "pathology": "healthy"}, "lr cannot be set for a resumed run or a pathology run"),
    ({"lr": 0.1, "resume": "abc"}, "lr cannot be set"),
])
def test_bad_lr_is_refused(lab, body, needle):
    assert needle in error_of(lab.post("/api/runs", json={"preset": "microgpt", **body}), 400)
