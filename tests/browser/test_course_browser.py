"""The course as a learner walks it, in headless Chromium against the real lab server: the contents page, every
lesson that exists (read through the API, so the test follows the lesson files), each widget run, each exercise
done, each question answered wrongly and then rightly, the scores, a retake, and the progress kept across a
reload. A full-page screenshot of every lesson goes to artifacts/course/. Fixtures (conftest.py): server_url,
browser, page (fails the test on any console error or uncaught page error), phone_page."""
from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import pytest

from .pages import full_speed

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "course"
SHAKESPEARE = Path(__file__).resolve().parents[3] / "shared" / "data" / "tinyshakespeare.txt"
PANELS = ["runner", "cycle", "breaks", "sandbox", "inspector", "checkpoints", "twins"]
RUN_TIMEOUT = 120_000
# stream presets train slowly on CPU: the walk runs them for a few dozen iters only
SHORT_STEPS = {"shakespeare-tiny": 40, "shakespeare-cpu": 40}


def api(server_url: str, path: str) -> dict:
    with urllib.request.urlopen(server_url + path, timeout=30) as response:
        return json.loads(response.read())


def answers_of(lesson_id: str) -> dict:
    """The right answers, read from the lesson files by the course loader (the page never sees them)."""
    from tinylm.course import load_course
    return load_course().lesson(lesson_id).questions


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def js_value(page, selector: str, value) -> None:
    """Set an input's value as a learner's drag or typing would (an input event follows)."""
    page.eval_on_selector(selector, "(e, v) => { e.value = String(v); e.dispatchEvent(new Event('input')); "
                                    "e.dispatchEvent(new Event('change')); }", value)


def exercise_state(page, eid: str) -> str:
    return page.get_attribute(f"#lesson-body .exercise[data-exercise='{eid}']", "data-state")


def wait_exercise(page, eid: str, timeout=30_000) -> None:
    page.wait_for_selector(f"#lesson-body .exercise[data-exercise='{eid}'][data-state='done']", timeout=timeout)


def start_run(page) -> None:
    """Press Start; return once the new run (not the one the runner showed before) has started."""
    old = page.evaluate("window.tinylab.runner.id")
    page.click("#start")
    page.wait_for_function("(old) => window.tinylab.runner.id && window.tinylab.runner.id !== old && "
                           "window.tinylab.runner.start_event", arg=old, timeout=RUN_TIMEOUT)


def wait_run_end(page) -> None:
    page.wait_for_function("['finished', 'error'].includes(window.tinylab.runner.state)", timeout=RUN_TIMEOUT)
    assert page.evaluate("window.tinylab.runner.state") == "finished", page.inner_text("#runner")


class Walk:
    """One learner's walk through one lesson: what its blocks ask for, done in the page."""

    def __init__(self, page, lesson: dict, tmp_path: Path):
        self.page, self.lesson, self.tmp = page, lesson, tmp_path
        self.blocks = lesson["blocks"]
        self.exercises = {b["kind"]: b for b in self.blocks if b["type"] == "exercise"}
        runner = next((b for b in self.blocks if b["type"] == "widget" and b["widget"] == "runner"), None)
        self.runner = runner["config"] if runner else None
        self.ran_preset_run = False

    # ---- widgets -----------------------------------------------------------------------------------
    def widget_runner(self, config):
        page = self.page
        # the lesson configured the runner's fields for this lesson
        assert page.input_value("#preset") == config["preset"]
        assert page.input_value("#seed") == str(config["seed"])
        assert page.input_value("#data") == config.get("data", "names")
        preset = config["preset"]
        if preset.startswith("shakespeare"):
            if not SHAKESPEARE.is_file():
                return                      # no shared copy of the text here: the walk skips this run
            os.environ["TINYLM_SHAKESPEARE"] = str(SHAKESPEARE)      # the run's worker reads it
        steps = SHORT_STEPS.get(preset) or (config.get("steps", 1000) if "finish-run" in self.exercises else 300)
        page.fill("#steps", str(steps))
        if preset in SHORT_STEPS:
            page.fill("#sample-every", "20")
        if "pause-resume" in self.exercises:
            # at the lesson's pace: pause part-way, look, resume; the next step must be the paused iter + 1
            js_value(page, "#speed", min(config.get("speed", 10), 10))
            start_run(page)
            page.wait_for_function("window.tinylab.runner.iter >= 3", timeout=RUN_TIMEOUT)
            page.click("#pause")
            page.wait_for_function("window.tinylab.runner.state === 'paused'")
            page.click("#resume")
            wait_exercise(page, self.exercises["pause-resume"]["id"], timeout=RUN_TIMEOUT)
            full_speed(page)
        else:
            full_speed(page)
            start_run(page)
        wait_run_end(page)
        self.ran_preset_run = True
        # the checks have had their run: each says what happened or that it did not
        page.wait_for_timeout(300)
        states = page.eval_on_selector_all("#lesson-body .check", "els => els.map(e => [e.dataset.check, e.dataset.state])")
        for check, state in states:
            assert state in ("done", "missed"), (check, state)
        if not preset.startswith("shakespeare"):
            for kind in ("finished", "first-loss"):
                for b in self.blocks:
                    if b["type"] == "check" and b["kind"] == kind:
                        text = page.inner_text(f".check[data-check='{b['id']}'] .check-text")
                        assert page.get_attribute(f".check[data-check='{b['id']}']", "data-state") == "done", text
                        assert "{" not in text, text            # every placeholder filled

    def widget_cycle(self, config):
        page = self.page
        js_value(page, "#cycle-speed", 100)
        page.click("#cycle-prepare")
        page.wait_for_selector("#cycle-next:not([disabled])", timeout=RUN_TIMEOUT)
        page.click("#cycle-next")
        page.wait_for_function("document.querySelectorAll('#cycle-table tbody tr').length > 0", timeout=30_000)
        page.wait_for_selector(".phases span.on[data-phase='update']", timeout=30_000)

    def widget_loop_code(self, config):
        page = self.page
        lines = page.eval_on_selector_all("#w-loop-code .line[data-phase]", "els => els.map(e => e.dataset.phase)")
        assert lines == ["forward", "loss", "backward", "update"]
        if any(b["type"] == "widget" and b["widget"] == "cycle" for b in self.blocks):
            # the cycle's last phase is still the one lit in the code
            page.wait_for_selector("#w-loop-code .line.on[data-phase='update']")

    def widget_bigram(self, config):
        page = self.page
        page.wait_for_function("document.querySelectorAll('#w-bigram .bg-cell').length === 27 * 27", timeout=30_000)
        table = page.evaluate("fetch('api/course/bigram?seed=lesson-2&count=1').then(r => r.json())")
        marker, a = table["marker"], table["chars"].index("a")
        page.hover(f"#w-bigram .bg-cell[data-r='{marker}'][data-c='{a}']")      # names starting with a
        count = table["counts"][marker][a]
        readout = page.inner_text("#w-bigram .bg-readout")
        assert readout.startswith(f"· → a: {count:,} times, p = 0."), readout
        page.click("#w-bigram .bg-draw")
        page.wait_for_function(f"document.querySelectorAll('#w-bigram .bg-names li').length === {config.get('count', 20)}")

    def widget_gradcheck(self, config):
        page = self.page
        page.wait_for_function("document.querySelectorAll('#w-gradcheck .gc-param option').length > 0", timeout=30_000)
        for attempt in range(6):
            page.click("#w-gradcheck .gc-check")
            page.wait_for_selector("#w-gradcheck .gc-verdict:not(:empty)", timeout=30_000)
            if page.get_attribute("#w-gradcheck .gc-verdict", "data-verdict") == "same" and \
                    "Both are exactly 0" not in page.inner_text("#w-gradcheck .gc-verdict"):
                break
            page.click("#w-gradcheck .gc-random")
        assert "agree" in page.inner_text("#w-gradcheck .gc-verdict")

    def widget_graph_size(self, config):
        page = self.page
        page.click("#w-graph-size .gs-measure")
        page.wait_for_selector("#w-graph-size .gs-table tr[data-row='nodes']", timeout=60_000)
        assert "fusing shrinks the graph" in page.inner_text("#w-graph-size .gs-summary")

    def widget_sandbox(self, config):
        page = self.page
        if not page.evaluate("!!window.tinylab.runner.id"):
            return                               # the sandbox samples from the runner's model
        page.click("#sb-names")
        page.wait_for_function("document.querySelectorAll('#sb-list li').length === 15", timeout=30_000)

    def widget_inspector(self, config):
        page = self.page
        if not page.evaluate("!!window.tinylab.runner.id"):
            return
        assert page.input_value("#in-doc") == config.get("document", "emma")
        page.click("#in-compute")
        page.wait_for_function("document.querySelectorAll('#in-table tbody tr').length === 8", timeout=30_000)

    def widget_breaks(self, config):
        page = self.page
        name = page.eval_on_selector_all("#break-grid button[data-name]", "els => els.map(e => e.dataset.name)")
        quick = next((n for n in name if "diverg" in n or "lr" in n), name[0])
        page.click(f"#break-grid button[data-name='{quick}']")
        page.wait_for_selector(f"#break-{quick} .diag[data-final='yes']", timeout=RUN_TIMEOUT)

    def widget_mystery(self, config):
        from tinylm.course.widgets import mystery_key
        page = self.page
        key = mystery_key()
        page.wait_for_function("document.querySelectorAll('#w-mystery .mystery').length === 6", timeout=30_000)
        ids = page.eval_on_selector_all("#w-mystery .mystery", "els => els.map(e => e.dataset.curve)")
        for i, curve in enumerate(ids):
            card = f"#w-mystery .mystery[data-curve='{curve}']"
            if i == 0:        # one wrong answer: it counts, and the explanation names the real one
                wrong = next(o for o in page.eval_on_selector_all(f"{card} option", "els => els.map(e => e.value)")
                             if o and o != key[curve])
                page.select_option(f"{card} select", wrong)
            else:
                page.select_option(f"{card} select", key[curve])
            page.click(f"{card} .mystery-answer")
            page.wait_for_selector(f"{card}[data-state='{'wrong' if i == 0 else 'right'}'] .feedback:not([hidden])")
        assert page.inner_text("#w-mystery .mystery-score").startswith(f"Score: {len(ids) - 1} of {len(ids)}")

    def widget_checkpoints(self, config):
        pass                                   # driven by the resume-match exercise

    def widget_twins(self, config):
        page = self.page
        assert page.input_value("#tw-a") == str(config.get("seed_a", page.input_value("#tw-a")))
        if config.get("steps"):
            page.fill("#tw-steps", str(min(int(config["steps"]), 200)))
        page.click("#tw-start")
        page.wait_for_function("document.querySelector('#tw-hash-a').textContent !== '–' && "
                               "document.querySelector('#tw-hash-b').textContent !== '–'", timeout=RUN_TIMEOUT)

    # ---- exercises ---------------------------------------------------------------------------------
    def exercise(self, block):
        page, kind, eid = self.page, block["kind"], block["id"]
        if kind == "repeat-name":
            js_value(page, "#sb-temp", 0.1)            # nearly greedy: the same safe name again and again
            for _ in range(5):
                page.click("#sb-names")
                page.wait_for_function("document.querySelectorAll('#sb-list li').length === 15", timeout=30_000)
                if exercise_state(page, eid) == "done":
                    break
            assert "{" not in page.inner_text(f".exercise[data-exercise='{eid}'] .exercise-done")
        elif kind == "surprise":
            for doc in ["xqzzv", "qxqxqxqxqx", "zzzzzzzzzzzz", "xqxqzjzjxqxq", "qqqqqqqqqqqqqqq"]:
                page.fill("#in-doc", doc)
                page.click("#in-compute")
                page.wait_for_function("document.querySelectorAll('#in-table tbody tr').length === 8", timeout=30_000)
                if exercise_state(page, eid) == "done":
                    break
        elif kind == "diverge":
            page.fill("#steps", "200")
            page.fill("#lr", "10")                     # far too large a step: the loss blows up
            full_speed(page)
            start_run(page)
            page.wait_for_function("['finished', 'error'].includes(window.tinylab.runner.state)", timeout=RUN_TIMEOUT)
            page.fill("#lr", "")
        elif kind == "resume-match":
            self.resume_match()
        elif kind == "twins-part":
            page.click("#tw-differ")
            page.fill("#tw-steps", "30")
            page.click("#tw-start")
            page.wait_for_function("document.querySelector('#tw-result').dataset.parted", timeout=RUN_TIMEOUT)
        elif kind == "finish-run" and not self.ran_preset_run:
            return                                  # its run was skipped (no shared data here)
        elif kind == "pause-resume" and not self.ran_preset_run:
            return
        wait_exercise(page, eid, timeout=RUN_TIMEOUT)

    def resume_match(self):
        """Save a checkpoint part-way, let the run go on, load the file: the next three losses must be the same."""
        page = self.page
        page.fill("#steps", "200")
        js_value(page, "#speed", 10)
        start_run(page)
        page.wait_for_function("window.tinylab.runner.iter >= 5", timeout=RUN_TIMEOUT)
        page.click("#pause")
        page.wait_for_function("window.tinylab.runner.state === 'paused'")
        saved_at = page.evaluate("window.tinylab.runner.iter")
        page.wait_for_selector("#ck-download:not(.disabled)")
        with page.expect_download() as download:
            page.click("#ck-download")
        path = self.tmp / "lesson.safetensors"
        download.value.save_as(path)
        page.click("#resume")
        page.wait_for_function(f"window.tinylab.runner.iter >= {saved_at + 5}", timeout=RUN_TIMEOUT)
        page.set_input_files("#ck-file", str(path))
        page.wait_for_function(f"window.tinylab.runner.start_event && window.tinylab.runner.start_event.start_iter === {saved_at}",
                               timeout=RUN_TIMEOUT)
        page.wait_for_function("window.tinylab.runner.state === 'paused'", timeout=RUN_TIMEOUT)
        page.click("#resume")                  # the lab compares the first three steps with the original's

    # ---- questions ---------------------------------------------------------------------------------
    def quiz(self):
        page, lid = self.page, self.lesson["id"]
        questions = [b for b in self.blocks if b["type"] == "question"]
        if not questions:
            return 0
        truth = answers_of(lid)

        def wrong(q):
            t = truth[q["id"]]
            return (t.answer + 1) % t.n_choices if q["kind"] == "choice" else t.answer + 10 * t.tolerance + 1

        def answer(q, value):
            sel = f".question[data-question='{q['id']}']"
            if q["kind"] == "choice":
                page.click(f"{sel} button.choice[data-index='{value}']")
            else:
                page.fill(f"{sel} input.answer", repr(float(value)))
                page.click(f"{sel} button.submit")

        def state(q):
            return page.get_attribute(f".question[data-question='{q['id']}']", "data-state")

        for q in questions:
            if q["kind"] == "number" and q.get("unit"):
                assert q["unit"] in page.inner_text(f".question[data-question='{q['id']}'] .number-answer")
            answer(q, wrong(q))
            page.wait_for_function(f"document.querySelector(\".question[data-question='{q['id']}']\").dataset.state === 'wrong'")
            feedback = page.inner_text(f".question[data-question='{q['id']}'] .feedback")
            assert feedback.startswith("Not quite") and len(feedback) > 40, feedback     # with its explanation
            answer(q, truth[q["id"]].answer)
            page.wait_for_function(f"document.querySelector(\".question[data-question='{q['id']}']\").dataset.state === 'right-later'")
        assert page.inner_text("#lesson-score") == f"Quiz score 0/{len(questions)}"
        page.click("button.retake")
        assert {state(q) for q in questions} == {"unanswered"}
        # second attempt: all right first time but the last, which goes wrong then right
        for q in questions[:-1]:
            answer(q, truth[q["id"]].answer)
            page.wait_for_function(f"document.querySelector(\".question[data-question='{q['id']}']\").dataset.state === 'right'")
        last = questions[-1]
        answer(last, wrong(last))
        answer(last, truth[last["id"]].answer)
        page.wait_for_function(f"document.querySelector(\".question[data-question='{last['id']}']\").dataset.state === 'right-later'")
        assert page.inner_text("#lesson-score") == f"Quiz score {len(questions) - 1}/{len(questions)}"
        return len(questions) - 1

    def walk(self) -> int:
        handlers = {"loop-code": self.widget_loop_code, "graph-size": self.widget_graph_size}
        for block in self.blocks:
            if block["type"] == "widget":
                name = block["widget"]
                assert self.page.locator(f"#lesson-body .widget[data-widget='{name}']").count() >= 1
                handler = handlers.get(name) or getattr(self, f"widget_{name}")
                handler(block.get("config", {}))
            elif block["type"] == "exercise":
                self.exercise(block)
        return self.quiz()


def test_a_learner_walks_the_whole_course(page, server_url, tmp_path):
    contents = api(server_url, "/api/course")
    lessons = [api(server_url, f"/api/course/lessons/{entry['id']}") for entry in contents["lessons"]]
    assert lessons, "the course has no lessons"
    page.goto(server_url + "/")
    page.wait_for_selector("#course-contents li.lesson")
    assert page.is_visible("#course") and page.is_hidden("#workbench")
    titles = page.eval_on_selector_all("#course-contents li.lesson h3", "els => els.map(e => e.textContent)")
    assert titles == [entry["title"] for entry in contents["lessons"]]
    total = sum(entry["questions"] for entry in contents["lessons"])
    assert page.inner_text("#course-score") == f"Course score 0/{total}"
    shot(page, "0-contents-new")

    page.click("#course-continue")                   # "Start the course": lesson 1
    expected = {}
    for i, lesson in enumerate(lessons):
        lid = lesson["id"]
        page.wait_for_selector(f"#lesson[data-lesson='{lid}'] #lesson-body .text", timeout=30_000)
        assert page.inner_text("#lesson-title") == lesson["title"]
        # the lesson's own panels are in it, and only there
        for b in lesson["blocks"]:
            if b["type"] == "widget" and b["widget"] in PANELS:
                assert page.locator(f"#lesson-body .widget[data-widget='{b['widget']}'] > section#{b['widget']}").count() == 1
        expected[lid] = Walk(page, lesson, tmp_path).walk()
        shot(page, f"{lesson['number']}-{lid}")
        if i + 1 < len(lessons):
            page.click("a.lesson-next")
        else:
            assert page.is_hidden("a.lesson-next")

    # every panel is back on the workbench, in its order
    page.click("nav.views a[data-nav='workbench']")
    page.wait_for_selector("#workbench:not([hidden])")
    assert page.eval_on_selector_all("#workbench > section", "els => els.map(e => e.id)") == PANELS

    def check_contents():
        page.wait_for_selector("#course-contents li.lesson")
        for entry in contents["lessons"]:
            li = f"#course-contents li.lesson[data-lesson='{entry['id']}']"
            assert page.inner_text(f"{li} .score") == f"quiz {expected[entry['id']]}/{entry['questions']}"
            done = page.inner_text(f"{li} .exercises")
            assert done.startswith("exercises ") and done.endswith(f"/{entry['exercises']}")
            if SHAKESPEARE.is_file():
                assert done == f"exercises {entry['exercises']}/{entry['exercises']}"
        assert page.inner_text("#course-score") == f"Course score {sum(expected.values())}/{total}"

    page.click("nav.views a[data-nav='course']")
    check_contents()
    shot(page, "0-contents-done")
    page.reload()                                     # progress is kept in the browser
    check_contents()
    first = lessons[0]
    page.click(f"#course-contents a[href='#/lesson/{first['id']}']")
    page.wait_for_selector(f"#lesson[data-lesson='{first['id']}'] #lesson-body .text")
    for b in first["blocks"]:
        if b["type"] == "exercise":
            assert exercise_state(page, b["id"]) == "done"
    states = page.eval_on_selector_all("#lesson-body .question", "els => els.map(e => e.dataset.state)")
    assert states[:-1] == ["right"] * (len(states) - 1) and states[-1] == "right-later"
    assert page.inner_text("#lesson-score") == f"Quiz score {expected[first['id']]}/{len(states)}"


def test_course_pages_fit_a_phone(phone_page, server_url):
    page = phone_page
    contents = api(server_url, "/api/course")
    page.goto(server_url + "/#/")
    page.wait_for_selector("#course-contents li.lesson")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "phone-contents")
    for entry in contents["lessons"][:2]:
        page.goto(server_url + f"/#/lesson/{entry['id']}")
        page.wait_for_selector(f"#lesson[data-lesson='{entry['id']}'] #lesson-body .text", timeout=30_000)
        page.wait_for_timeout(500)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"lesson {entry['id']} is {width} px wide on a 390 px screen"
        shot(page, f"phone-{entry['number']}-{entry['id']}")
