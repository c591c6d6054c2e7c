"""Classroom mode's routes: joining, the learner's course progress, and the teacher's view of the class.

    GET  /join                      the join page (a display name, nothing else)
    POST /api/join                  {"name", "key"} -> the learner's session (cookie ``tinylm_learner``)
    GET  /api/me                    who this session is: {"id", "name", "teacher"}
    GET  /api/progress              the learner's course progress (the page's own shape, see js/progress.js)
    POST /api/progress              {"lesson", "kind": "visited" | "exercise" | "check", "item", "text"}
    POST /api/progress/retake       {"lesson"}: forget the lesson's quiz answers (as Retake does alone)
    GET  /teacher                   the teacher's page (``?token=`` once; then a cookie)
    GET  /api/class                 teacher: every learner (lesson, scores, exercises, runs, loss curve) and the
                                    class chart (everyone's lesson-1 curve)
    GET  /api/class/scores.csv      teacher: the scores as a spreadsheet
    POST /api/class/pause-all       teacher: pause every training run ("eyes on me")

Quiz answers are recorded by the grading route itself (``record_answer``), never sent by the page: the
scores the teacher sees are the server's. Exercises and checks are judged by the page from the run's
events (as alone), so those the page reports, checked against the course's own ids.
"""
from __future__ import annotations

import csv
import io
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from ...course import Course
from ..protocol import ProtocolError, _obj, _str
from ..runs import RunRegistry
from .sessions import LEARNER_COOKIE, TEACHER_COOKIE, Visitor

STATIC = Path(__file__).resolve().parents[1] / "static"
COOKIE_DAYS = 7
NO_STORE = {"Cache-Control": "no-store"}


def visitor_of(request: Request) -> Visitor | None:
    return getattr(request.state, "visitor", None)


def forbidden(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=403)


def spreadsheet_safe(text: str) -> str:
    """A cell a spreadsheet will not run as a formula (a learner may call themselves '=1+1')."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def classroom_router(classroom, registry: RunRegistry, course: Callable[[], Course],
                     read_json: Callable[[Request], Awaitable[object]]) -> APIRouter:
    router = APIRouter()
    roster, store = classroom.roster, classroom.store

    def learner(request: Request) -> Visitor:
        who = visitor_of(request)
        if who is None or who.teacher:
            raise ProtocolError("only a learner has course progress here (the teacher's page is /teacher)")
        return who

    @router.get("/join")
    async def join_page(request: Request):
        who = visitor_of(request)
        if who is not None and not who.teacher:
            return Response(status_code=303, headers={"Location": "/", **NO_STORE})
        return FileResponse(STATIC / "join.html", headers=NO_STORE)

    @router.post("/api/join")
    async def join(request: Request):
        msg = _obj(await read_json(request), {"name", "key"})
        who, token = await run_in_threadpool(roster.join, msg.get("name"), msg.get("key"))
        response = JSONResponse({"id": who.id, "name": who.name})
        response.set_cookie(LEARNER_COOKIE, token, max_age=COOKIE_DAYS * 86400, httponly=True, samesite="strict")
        return response

    @router.get("/api/me")
    async def me(request: Request):
        who = visitor_of(request)
        return {"id": who.id, "name": who.name, "teacher": who.teacher}

    @router.get("/api/progress")
    async def progress(request: Request):
        who = learner(request)
        doc = await run_in_threadpool(store.progress, who.id)
        the_course = course()
        for lesson_id, entry in doc["lessons"].items():      # the explanations come from the course, not the db
            lesson = the_course.lesson(lesson_id)
            for question_id, answer in entry["answers"].items():
                question = lesson.questions.get(question_id) if lesson else None
                answer["explain"] = question.explain if question else ""
        return JSONResponse(doc, headers=NO_STORE)

    @router.post("/api/progress")
    async def mark(request: Request):
        who = learner(request)
        msg = _obj(await read_json(request), {"lesson", "kind", "item", "text"})
        lesson = course().lesson(_str(msg, "lesson", "", max_len=64))
        if lesson is None:
            raise ProtocolError(f"no lesson {msg.get('lesson')!r}")
        kind = _str(msg, "kind", "", choices=("visited", "exercise", "check"))
        item = _str(msg, "item", "", max_len=64, allow_empty=kind == "visited")
        text = _str(msg, "text", "", max_len=500, allow_empty=True)
        if kind != "visited" and not any(b["type"] == kind and b.get("id") == item for b in lesson.blocks):
            raise ProtocolError(f"lesson {lesson.id!r} has no {kind} {item!r}")
        await run_in_threadpool(store.mark, who.id, lesson.id, kind, item if kind != "visited" else "", text)
        if kind == "visited":
            classroom.lesson_of[who.id] = lesson.id
            await run_in_threadpool(store.set_lesson, who.id, lesson.id)
        return {"ok": True}

    @router.post("/api/progress/retake")
    async def retake(request: Request):
        who = learner(request)
        msg = _obj(await read_json(request), {"lesson"})
        lesson = course().lesson(_str(msg, "lesson", "", max_len=64))
        if lesson is None:
            raise ProtocolError(f"no lesson {msg.get('lesson')!r}")
        await run_in_threadpool(store.retake, who.id, lesson.id)
        return {"ok": True}

    @router.get("/teacher")
    async def teacher_page(request: Request, token: str | None = None):
        who = visitor_of(request)
        if who is None or not who.teacher:
            return forbidden("the teacher's page needs the teacher URL that `tinylm lab --classroom` printed")
        response = FileResponse(STATIC / "teacher.html", headers=NO_STORE)
        if token:
            response.set_cookie(TEACHER_COOKIE, token, httponly=True, samesite="strict")
        return response

    @router.get("/api/class")
    async def the_class():
        tallies = await run_in_threadpool(store.tallies)
        return JSONResponse(class_view(classroom, registry, course(), tallies), headers=NO_STORE)

    @router.get("/api/class/scores.csv")
    async def scores_csv():
        table = await run_in_threadpool(scores_table, classroom, course())
        return Response(table, media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="tinylm-class-scores.csv"', **NO_STORE})

    @router.post("/api/class/pause-all")
    async def pause_all():
        paused = 0
        for run in list(registry.runs.values()):
            if run.state in ("running", "starting", "waiting", "queued"):
                registry.command(run.id, {"cmd": "pause", "n": 1})
                classroom.teacher_did(registry, run, "pause")
                paused += 1
        return {"paused": paused}

    return router


def class_view(classroom, registry: RunRegistry, the_course: Course, tallies: dict) -> dict:
    lessons = the_course.lessons
    first = lessons[0].id if lessons else ""
    runs_of: dict[str, list] = {}
    for run in registry.runs.values():
        runs_of.setdefault(run.owner, []).append(run)
    learners, chart = [], []

    def shown(curve) -> dict:
        public = curve.public()
        run = registry.runs.get(curve.run_id)
        if run is not None:
            public["state"] = run.state
        elif public["state"] not in ("finished", "error"):
            public["state"] = "closed"
        return public
    for who in classroom.roster.learners:
        mine = tallies.get(who.id, {})
        curves = classroom.curves.of(who.id)
        lesson_one = [c for c in curves if c.lesson == first and c.points]
        if lesson_one:
            chart.append({"name": who.name, **shown(lesson_one[-1])})
        learners.append({
            "id": who.id, "name": who.name, "lesson": classroom.lesson_of.get(who.id, ""),
            "quiz": {l.id: min(mine.get(l.id, {}).get("right", 0), l.count("question")) for l in lessons},
            "exercises": {l.id: min(mine.get(l.id, {}).get("exercises", 0), l.count("exercise")) for l in lessons},
            "runs": [{"id": r.id, "state": r.state, "iter": r.iter, "name": r.name,
                      "steps": r.request.steps or 0} for r in runs_of.get(who.id, [])],
            "curve": shown(curves[-1]) if curves else None,
        })
    return {"seats": classroom.roster.seats, "joined": len(learners), "cpu": classroom.scheduler.snapshot(),
            "join_key": classroom.roster.join_key, "join_url": classroom.join_url,
            "lessons": [{"id": l.id, "number": l.number, "title": l.title, "questions": l.count("question"),
                         "exercises": l.count("exercise")} for l in lessons],
            "learners": learners, "class_chart": {"lesson": first, "curves": chart}, "at": time.time()}


def scores_table(classroom, the_course: Course) -> str:
    lessons = the_course.lessons
    tallies = classroom.store.tallies()
    out = io.StringIO()
    writer = csv.writer(out)
    header = ["name", "joined (UTC)", "current lesson"]
    for l in lessons:
        header += [f"lesson {l.number} quiz (of {l.count('question')})", f"lesson {l.number} exercises (of {l.count('exercise')})"]
    writer.writerow(header + [f"quiz total (of {sum(l.count('question') for l in lessons)})",
                              f"exercises total (of {sum(l.count('exercise') for l in lessons)})"])
    joined = {row["id"]: row["joined"] for row in classroom.store.learners()}
    numbers = {l.id: str(l.number) for l in lessons}
    for who in classroom.roster.learners:
        mine = tallies.get(who.id, {})
        row = [spreadsheet_safe(who.name), time.strftime("%Y-%m-%d %H:%M", time.gmtime(joined.get(who.id, 0))),
               numbers.get(classroom.lesson_of.get(who.id, ""), "")]
        quiz = exercises = 0
        for l in lessons:
            right = min(mine.get(l.id, {}).get("right", 0), l.count("question"))
            done = min(mine.get(l.id, {}).get("exercises", 0), l.count("exercise"))
            quiz, exercises = quiz + right, exercises + done
            row += [right, done]
        writer.writerow(row + [quiz, exercises])
    return out.getvalue()
