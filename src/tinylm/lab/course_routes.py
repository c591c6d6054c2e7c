"""The course's API: lessons (never their answers), quiz grading and the computations of the course widgets.

    GET  /api/course                          contents: lessons in course order with their counts
    GET  /api/course/lessons/{id}             one lesson's blocks (text html, widgets, checks, exercises, questions)
    POST /api/course/lessons/{id}/answer      {"question", "answer"} -> {"correct", "explain"}
    GET  /api/course/bigram?seed=&count=      the counting model: 27x27 counts, its loss, names drawn from it
    GET  /api/course/gradcheck/params         the mlp preset's parameters (name, shape, size)
    POST /api/course/gradcheck                {"param", "index", "eps", "name", "seed"} -> both gradients
    GET  /api/course/graph-size?name=         the scalar engine's graph of one step, plain vs fused
    GET  /api/course/mystery                  six recorded pathology curves under opaque ids
    POST /api/course/mystery                  {"id", "answer"} -> {"correct", "name", "title", "explain"}

The routes sit behind the app's middleware like every other route (Host/Origin/Content-Type guards, the token).
Errors are ``{"error": "one line"}``: 400 for a bad request (raised as ``ProtocolError``), 404 for an unknown
lesson, question or curve. The heavier computations run in the thread pool so the event loop keeps serving
the live runs' event streams.
"""
from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ..course import Course, CourseError, grade, load_course, read_course
from ..course import widgets
from .protocol import ProtocolError, _float, _int, _obj, _str

MAX_BIGRAM_NAMES = 100
MAX_NAME_CHARS = 15          # a names model's block of 16 holds 15 letters and the end marker
NAME = re.compile(rf"[a-z]{{1,{MAX_NAME_CHARS}}}")
MIN_EPS, MAX_EPS = 1e-8, 1e-1


def not_found(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=404)


def check_name(name: object) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ProtocolError(f"name must be 1 to {MAX_NAME_CHARS} lowercase letters a-z")
    return name


def query_int(request: Request, key: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(key)
    if raw is None:
        return default
    if not re.fullmatch(r"-?\d{1,9}", raw.strip()):
        raise ProtocolError(f"{key} must be an integer")
    return _int({key: int(raw)}, key, default, lo, hi)


def query_str(request: Request, key: str, default: str) -> str:
    return _str({key: request.query_params.get(key, default)}, key)


def course_loader(lessons_dir: str | Path | None = None) -> Callable[[], Course]:
    """The course the lab serves: the package's, or the lessons of ``lessons_dir`` (read once)."""
    @lru_cache(maxsize=1)
    def course_from_dir() -> Course:
        return read_course(lessons_dir)

    def course() -> Course:
        try:
            return load_course() if lessons_dir is None else course_from_dir()
        except CourseError as exc:     # a broken lesson file is the server's fault, not the request's
            raise LessonFilesBroken(str(exc)) from None
    return course


def course_router(read_json: Callable[[Request], Awaitable[object]],
                  lessons_dir: str | Path | None = None,
                  on_answer: Callable[[Request, str, str, bool, object], Awaitable[None]] | None = None) -> APIRouter:
    """The course's routes; ``read_json`` reads a size-limited JSON body (the app's own reader).
    ``lessons_dir``: a folder of lesson files instead of the package's (tests, teachers trying a lesson).
    ``on_answer(request, lesson, question, correct, answer)``: told of every graded answer (classroom mode
    records it)."""
    router = APIRouter()
    course = course_loader(lessons_dir)

    @router.get("/api/course")
    async def contents():
        return course().summary()

    @router.get("/api/course/lessons/{lesson_id}")
    async def lesson(lesson_id: str):
        the_course = course()
        found = the_course.lesson(lesson_id)
        if found is None:
            return not_found(f"no lesson {lesson_id!r}")
        return found.public(*the_course.neighbours(found))

    @router.post("/api/course/lessons/{lesson_id}/answer")
    async def answer(lesson_id: str, request: Request):
        msg = _obj(await read_json(request), {"question", "answer"})
        question_id = _str(msg, "question", "", max_len=128)
        if "answer" not in msg:
            raise ProtocolError("answer is missing")
        found = course().lesson(lesson_id)
        if found is None:
            return not_found(f"no lesson {lesson_id!r}")
        question = found.questions.get(question_id)
        if question is None:
            return not_found(f"lesson {lesson_id!r} has no question {question_id!r}")
        correct = grade(question, msg["answer"])
        if on_answer is not None:
            await on_answer(request, found.id, question.id, correct, msg["answer"])
        return {"correct": correct, "explain": question.explain}

    @router.get("/api/course/bigram")
    async def bigram(request: Request):
        seed = query_str(request, "seed", "lesson-2")
        count = query_int(request, "count", 20, 1, MAX_BIGRAM_NAMES)
        return await run_in_threadpool(widgets.bigram, seed, count)

    @router.get("/api/course/gradcheck/params")
    async def gradcheck_params(request: Request):
        return await run_in_threadpool(widgets.gradcheck_params, query_str(request, "seed", "lesson-2"))

    @router.post("/api/course/gradcheck")
    async def gradcheck(request: Request):
        msg = _obj(await read_json(request), {"param", "index", "eps", "name", "seed"})
        param = _str(msg, "param", "wte", max_len=128)
        index = _int(msg, "index", 0, 0, 10**9)
        eps = _float(msg, "eps", widgets.DEFAULT_EPS, MIN_EPS, MAX_EPS)
        name = check_name(msg.get("name", "emma"))
        seed = _str(msg, "seed", "lesson-2")
        return await run_in_threadpool(widgets.gradcheck, param, index, eps, name, seed)

    @router.get("/api/course/graph-size")
    async def graph_size(request: Request):
        name = check_name(request.query_params.get("name", "emma"))
        return await run_in_threadpool(widgets.graph_size, name)

    @router.get("/api/course/mystery")
    async def mystery():
        return widgets.mystery_curves()

    @router.post("/api/course/mystery")
    async def mystery_answer(request: Request):
        msg = _obj(await read_json(request), {"id", "answer"})
        verdict = widgets.mystery_answer(_str(msg, "id", ""), _str(msg, "answer", ""))
        if verdict is None:
            return not_found(f"no mystery curve {msg['id']!r}")
        return verdict

    return router


class LessonFilesBroken(Exception):
    """A lesson file of the package does not parse: the app answers 500 with the parser's one-line message."""
