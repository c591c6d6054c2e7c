"""Classroom mode in headless Chromium (issue 15): one lab, two learners and the teacher, each a browser context
of their own (their own cookies, as on three machines). The learners join with a name, start lesson 1's run and
answer a question; neither can reach the other's run; the teacher's page shows both (lesson, quiz score, live
loss sparkline), overlays their lesson-1 curves in the class chart, exports the scores and stops a run; a
reloaded learner page gets its session and progress back. Screenshots: artifacts/classroom/."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from .conftest import PageErrors
from .pages import full_speed

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "classroom"
RUN_TIMEOUT = 120_000


@pytest.fixture(scope="module")
def classroom_server(tmp_path_factory):
    from tinylm.lab.app import create_app
    from tinylm.lab.classroom import Classroom
    from tinylm.lab.server import BackgroundServer

    room = Classroom(tmp_path_factory.mktemp("classroom"), seats=5)
    with BackgroundServer(create_app(classroom=room)) as url:
        room.join_url = f"{url}/join?key={room.roster.join_key}"
        yield url, room
    room.close()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


class Seat:
    """A browser context (its own cookies) with one page whose console errors fail the test."""

    def __init__(self, browser, url: str) -> None:
        self.errors = PageErrors()
        self.context = browser.new_context(viewport={"width": 1300, "height": 900})
        self.page = self.context.new_page()
        self.page.on("console", self.errors.console)
        self.page.on("pageerror", self.errors.uncaught)
        self.page.goto(url)

    def close(self) -> list[str]:
        self.page.wait_for_timeout(100)
        self.context.close()
        return self.errors.entries


def join(seat: Seat, name: str) -> None:
    seat.page.fill("#join-name", name)
    seat.page.click("#join-go")
    seat.page.wait_for_function("window.tinylab && window.tinylab.course && window.tinylab.classroom")
    assert seat.page.inner_text("#who") == f"you: {name}"


def start_lesson_run(seat: Seat, lesson_id: str, seed: str, steps: int) -> str:
    page = seat.page
    page.goto(page.url.split("#")[0] + f"#/lesson/{lesson_id}")
    page.wait_for_selector("#lesson-body .widget[data-widget='runner'] #start")
    page.fill("#seed", seed)
    page.fill("#steps", str(steps))
    full_speed(page)
    page.click("#start")
    page.wait_for_function("window.tinylab.runner.start_event", timeout=RUN_TIMEOUT)
    return page.evaluate("window.tinylab.runner.id")


def test_two_learners_and_the_teacher(browser, classroom_server):
    url, room = classroom_server
    from tinylm.course import load_course
    lesson = load_course().lessons[0]
    question = next(iter(lesson.questions.values()))

    ada, bob = Seat(browser, room.join_url), Seat(browser, room.join_url)
    teacher = Seat(browser, f"{url}/teacher?token={room.roster.teacher_token}")
    seats = [ada, bob, teacher]
    try:
        shot(ada.page, "01-join")
        join(ada, "Ada")
        join(bob, "Bob")
        assert "kept by the class" in ada.page.inner_text("#progress-where")
        ada_run = start_lesson_run(ada, lesson.id, "lesson-1", 400)
        bob_run = start_lesson_run(bob, lesson.id, "bob", 4000)

        # Ada answers the first question rightly; the server grades and keeps it
        ada.page.click(f".question[data-question='{question.id}'] button.choice[data-index='{question.answer}']")
        ada.page.wait_for_selector(f".question[data-question='{question.id}'][data-state='right']")

        # isolation, seen from Bob's browser: Ada's run does not exist for him
        bob.errors.allow_http(404, f"/api/runs/{ada_run}")
        seen = bob.page.evaluate("""async (id) => {
            const get = await fetch(`api/runs/${id}`);
            const stop = await fetch(`api/runs/${id}/command`, {method: 'POST', headers: {'Content-Type': 'application/json'},
                                                               body: JSON.stringify({cmd: 'stop'})});
            const list = await (await fetch('api/runs')).json();
            return {get: get.status, stop: stop.status, ids: list.runs.map((r) => r.id)};
        }""", ada_run)
        assert seen == {"get": 404, "stop": 404, "ids": [bob_run]}

        # the teacher's page: both learners, their lesson, Ada's score, a sparkline each, the class chart
        tp = teacher.page
        tp.wait_for_function("document.querySelectorAll('#learner-table tbody tr').length === 2")
        tp.wait_for_function("""() => [...document.querySelectorAll('#class-legend .key')].length === 2""",
                             timeout=60_000)
        ada.page.wait_for_function("window.tinylab.runner.state === 'finished'", timeout=RUN_TIMEOUT)
        tp.wait_for_function("""() => {
            const row = document.querySelector("#learner-table tr[data-learner='Ada']");
            return row && row.querySelector('td.quiz').textContent.startsWith('1/')
                && row.querySelector('td.run').textContent.includes('finished');
        }""", timeout=30_000)
        row = tp.locator("#learner-table tr[data-learner='Ada']")
        assert row.locator("td.lesson").inner_text() == f"1. {lesson.title}"
        assert "iter 400/400" in row.locator("td.run").inner_text()
        for name in ("Ada", "Bob"):     # each sparkline has ink on it
            drawn = tp.evaluate("""(name) => {
                const c = document.querySelector(`#learner-table tr[data-learner='${name}'] canvas.spark`);
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                let ink = 0; for (let i = 3; i < d.length; i += 4) ink += d[i] > 0; return ink;
            }""", name)
            assert drawn > 50, name
        legend = tp.inner_text("#class-legend")
        assert "Ada" in legend and "Bob" in legend
        shot(tp, "02-teacher")

        # the scores as CSV, downloaded by the teacher's page
        text = tp.evaluate("async () => (await fetch('api/class/scores.csv')).text()")
        rows = {r[0]: r for r in csv.reader(io.StringIO(text))}
        assert rows["Ada"][3] == "1" and rows["Bob"][3] == "0"

        # the teacher stops Bob's run from the table; Bob's page sees it finish
        tp.click("#learner-table tr[data-learner='Bob'] button.stop")
        bob.page.wait_for_function("window.tinylab.runner.state === 'finished'", timeout=RUN_TIMEOUT)
        assert bob.page.evaluate("window.tinylab.runner.iter") < 4000
        assert bob.page.inner_text("#notice") == "your teacher stopped this run"
        shot(bob.page, "03-bob-stopped")

        # Ada reloads: the same session, her answer still there (from the server, not this browser's storage)
        ada.page.evaluate("localStorage.clear()")
        ada.page.reload()
        ada.page.wait_for_function("window.tinylab && window.tinylab.course && window.tinylab.classroom")
        assert ada.page.inner_text("#who") == "you: Ada"
        ada.page.wait_for_selector(f".question[data-question='{question.id}'][data-state='right']")
        shot(ada.page, "04-ada-reloaded")
    finally:
        problems = {name: seat.close() for name, seat in zip(("ada", "bob", "teacher"), seats)}
    assert not any(problems.values()), problems
