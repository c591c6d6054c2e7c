"""The lab's FastAPI app: REST for commands, Server-Sent Events for each run's live stream.

    GET  /                          the page (static ES modules, no build step)
    GET  /api/info                  presets, engines, pathologies, limits
    POST /api/uploads/{text|checkpoint}   raw bytes (size-limited) -> an upload id
    POST /api/runs                  start a run (JSON, see protocol.RunRequest)
    GET  /api/runs/{id}             summary;  DELETE: reset (stop the worker, forget the run)
    POST /api/runs/{id}/command     {"cmd": "pause" | "resume" | "step" | "stop", "n": 1} or {"cmd": "speed", "n": 1..100}
    POST /api/runs/{id}/query       {"q": "logits" | "generate" | "inspect" | "detail" | "hash", ...}
    GET  /api/runs/{id}/checkpoint  the current state as a safetensors file (?weights_only=1: the weights
                                    alone, no optimizer or RNG state: smaller, for sampling, not resumable)
    GET  /api/runs/{id}/events      text/event-stream; replays from ?since= / Last-Event-ID
    GET  /api/pathologies/{name}    a recorded canonical curve
    /api/course/...                 the course: lessons, quiz answers, the course widgets (course_routes.py)

Every error a client can cause is answered as ``{"error": "one line"}`` with a 4xx status.
"""
from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import secrets
import threading
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from ..engines import available_engines
from ..errors import TinyLMError
from ..presets import PRESETS
from . import pathologies
from .course_routes import course_loader, course_router
from .protocol import (DATA_SOURCES, MAX_CHECKPOINT_BYTES, MAX_TEXT_BYTES, ProtocolError, parse_command,
                       parse_query, parse_run_request)
from .runs import LabBusy, RunNotFound, RunRegistry, sse_frame
from .security import COOKIE_NAME, HostPolicy, SiteGuard, token_from, token_matches
from .texts import BUILTIN, TextNotAvailable, TextStore, sha_of_source

STATIC = Path(__file__).resolve().parent / "static"
MAX_UPLOADS = 16
KEEPALIVE_S = 10.0


class UploadTooLarge(TinyLMError):
    """An upload is over its size limit."""


class TokenMiddleware:
    """Pure ASGI (so event streams are not buffered): every request must carry the token."""

    def __init__(self, app, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope, receive, send):
        if self.token is None or scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        from urllib.parse import parse_qs
        query = {k: v[0] for k, v in parse_qs(scope.get("query_string", b"").decode("latin-1")).items()}
        cookies = {}
        for part in headers.get("cookie", "").split(";"):
            if "=" in part:
                k, v = part.strip().split("=", 1)
                cookies[k] = v
        if token_matches(self.token, token_from(query, headers, cookies)):
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            return await send({"type": "websocket.close", "code": 4401})
        response = JSONResponse({"error": "this lab needs its access token: open the URL printed by "
                                          "`tinylm lab` (it ends with ?token=...)"}, status_code=401)
        return await response(scope, receive, send)


async def read_limited(request: Request, limit: int, what: str) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise UploadTooLarge(f"the {what} is {int(declared) / 1e6:.1f} MB; the limit is {limit / 1e6:.0f} MB")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise UploadTooLarge(f"the {what} is over the {limit / 1e6:.0f} MB limit")
        chunks.append(chunk)
    if not size:
        raise ProtocolError(f"the {what} is empty")
    return b"".join(chunks)


async def read_json(request: Request) -> object:
    body = await read_limited(request, 64 * 1024, "request")
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ProtocolError("the request body is not valid JSON") from None
    except RecursionError:
        raise ProtocolError("the request body is nested too deeply") from None


def validate_checkpoint(data: bytes) -> dict:
    """Load an uploaded checkpoint fully (refusing anything malformed) and describe it."""
    from ..checkpoints import load_checkpoint, validate_resume_sections
    ckpt = load_checkpoint(data)
    meta = ckpt.meta
    if meta.get("weights_only") is True:      # an upload is for continuing: say why this one cannot
        validate_resume_sections(meta, "this file")
    return {"iter": int(meta.get("step", 0)), "preset": meta.get("preset", ""), "engine": meta.get("engine", ""),
            "steps": int(meta.get("train", {}).get("steps", 0)), "data": meta.get("train", {}).get("data", {}).get("source", "")}


def create_app(token: str | None = None, max_active: int = 2, orphan_timeout: float = 300.0,
               max_runs: int = 12, host: str = "127.0.0.1", lessons_dir: str | Path | None = None,
               classroom=None) -> FastAPI:
    """``host``: the address the server binds; it decides which Host names requests may carry.
    ``lessons_dir``: serve the course from this folder of lesson files instead of the package's.
    ``classroom``: a ``classroom.Classroom``: one lab for a whole class (learners' sessions instead of the
    token, each learner's runs and uploads their own, the teacher's view; see lab/classroom)."""
    if classroom is None:
        registry = RunRegistry(max_active=max_active, orphan_timeout=orphan_timeout, max_runs=max_runs)
    else:
        registry = classroom.registry(orphan_timeout)
    # checkpoints by upload id: (kind, bytes, about, owner)
    uploads: collections.OrderedDict[str, tuple[str, bytes, dict, str]] = collections.OrderedDict()
    texts = TextStore()      # uploaded texts by sha256: a run (or a checkpoint of it) refers to them by hash
    texts_of: dict[str, list[str]] = {}     # classroom mode: each learner's uploaded texts (digests, oldest first)

    def visitor(request: Request):
        """Classroom mode: who sent the request (the gate let only the teacher and learners through)."""
        return getattr(request.state, "visitor", None) if classroom is not None else None

    def owner_of(request: Request) -> str:
        who = visitor(request)
        return who.id if who is not None else ""

    def visible_run(request: Request, run_id: str):
        """The run, if this visitor may see it: another learner's run is answered as if it did not exist."""
        run = registry.get(run_id)
        who = visitor(request)
        if classroom is not None and (who is None or not who.may_see(run.owner)):
            raise RunNotFound(f"no run {run_id!r} (it was reset or cleaned up)")
        return run

    def own_text(request: Request, digest: str) -> str | None:
        if classroom is not None and digest not in texts_of.get(owner_of(request), ()):
            return None
        return texts.get(digest)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        # classroom mode starts its fork server meanwhile (a second or so of imports, not on the event loop)
        threading.Thread(target=registry.prepare, name="tinylm-lab-prepare", daemon=True).start()

        async def reaper():
            while True:
                await asyncio.sleep(min(5.0, max(0.2, orphan_timeout / 4)))
                registry.reap()
        task = asyncio.create_task(reaper())
        try:
            yield
        finally:
            task.cancel()
            await run_in_threadpool(registry.shutdown)

    app = FastAPI(title="tinylm lab", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.registry = registry
    app.state.uploads = uploads
    app.state.texts = texts

    @app.exception_handler(TinyLMError)
    async def user_error(request: Request, exc: TinyLMError):
        status = 404 if isinstance(exc, RunNotFound) else 413 if isinstance(exc, UploadTooLarge) else \
            429 if isinstance(exc, LabBusy) else getattr(exc, "http_status", 400)
        return JSONResponse({"error": str(exc)}, status_code=status)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception):
        return JSONResponse({"error": f"internal error: {type(exc).__name__}: {exc}"}, status_code=500)

    @app.get("/")
    async def index(request: Request):
        response = FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})
        if token is not None:
            response.set_cookie(COOKIE_NAME, token, httponly=True, samesite="strict")
        return response

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/api/info")
    async def info(request: Request):
        return {"presets": [{"name": p.name, "description": p.description, "steps": p.train.steps}
                            for p in PRESETS.values()],
                "engines": available_engines(), "data": list(DATA_SOURCES),
                "pathologies": pathologies.catalogue(),
                "limits": {"text_bytes": MAX_TEXT_BYTES, "checkpoint_bytes": MAX_CHECKPOINT_BYTES,
                           "active_runs": max_active if classroom is None else classroom.limits.active_runs},
                **({} if classroom is None else {"classroom": classroom_info(request)})}

    def classroom_info(request: Request) -> dict:
        who = visitor(request)
        return {"name": who.name, "teacher": who.teacher, "open_runs": classroom.limits.open_runs,
                "uploads": classroom.uploads_per_learner}

    def remember(kind: str, data: bytes, about: dict, owner: str = "") -> str:
        upload_id = secrets.token_hex(8)
        uploads[upload_id] = (kind, data, about, owner)
        if classroom is None:
            while len(uploads) > MAX_UPLOADS:
                uploads.popitem(last=False)
        else:                                  # each learner's oldest makes room for their newest
            mine = [k for k, entry in uploads.items() if entry[3] == owner]
            for old in mine[:-classroom.uploads_per_learner]:
                del uploads[old]
        return upload_id

    def upload(upload_id: str, kind: str, owner: str = "") -> tuple[bytes, dict]:
        entry = uploads.get(upload_id)
        if entry is None or entry[0] != kind or (classroom is not None and entry[3] != owner):
            raise ProtocolError(f"no uploaded {kind} {upload_id!r} (upload it again)")
        return entry[1], entry[2]

    @app.post("/api/uploads/text")
    async def upload_text(request: Request):
        data = await read_limited(request, MAX_TEXT_BYTES, "text file")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError(f"the text file is not UTF-8 (bad byte at offset {exc.start})") from None
        if len(set(text)) < 2:
            raise ProtocolError("the text file needs at least two distinct characters")
        about = {"bytes": len(data), "chars": len(text), "lines": text.count("\n") + 1,
                 "vocab": len(set(text))}
        digest = texts.add(text, in_use=texts_in_use())
        if classroom is not None:              # the learner's own, up to their limit (the oldest makes room)
            mine = texts_of.setdefault(owner_of(request), [])
            if digest in mine:
                mine.remove(digest)
            mine.append(digest)
            del mine[:-classroom.uploads_per_learner]
        return {"id": digest, "sha256": digest, **about}

    def texts_in_use() -> set[str]:
        return {r.spec["text_sha"] for r in registry.runs.values() if r.spec.get("text_sha")}

    def text_for(request: Request, digest: str) -> str | None:
        return own_text(request, digest) or pathologies.generated_text(digest)

    def resume_text(request: Request, about: dict, upload_id: str) -> str | None:
        """The text a checkpoint's run trained on (None: a built-in source the worker loads itself).

        Only built-in sources and texts held by hash are ever used: a path recorded in an uploaded
        checkpoint is never opened (it would let a client make the server read its files)."""
        source = about["data"]
        if source in BUILTIN:
            return None
        digest = sha_of_source(source)
        if digest is not None:
            text = text_for(request, digest)
            if text is None:
                raise TextNotAvailable(f"this checkpoint trained on an uploaded text (sha256 {digest[:12]}…) that "
                                       "this lab does not hold; upload that text file again, then the checkpoint")
            return text
        text = own_text(request, upload_id) if upload_id else None
        if text is None:
            name = source.replace("\\", "/").rsplit("/", 1)[-1][:60]
            raise TextNotAvailable(f"this checkpoint trained on a local file ({name}) that the lab does not open; "
                                   "upload the same text file first (data: upload .txt), then the checkpoint")
        return text

    @app.post("/api/uploads/checkpoint")
    async def upload_checkpoint(request: Request):
        data = await read_limited(request, MAX_CHECKPOINT_BYTES, "checkpoint")
        about = await run_in_threadpool(validate_checkpoint, data)
        return {"id": remember("checkpoint", data, about, owner_of(request)), **about}

    @app.post("/api/runs")
    async def start_run(request: Request):
        req = parse_run_request(await read_json(request), tuple(PRESETS), tuple(pathologies.PATHOLOGIES))
        spec = {**req.to_dict(), "text": None, "checkpoint": None}
        if req.resume:
            spec["checkpoint"], about = upload(req.resume, "checkpoint", owner_of(request))
            spec["resumed"] = about
            spec["text"] = resume_text(request, about, req.upload)
        elif req.data == "upload":
            spec["text"] = own_text(request, req.upload)
            if spec["text"] is None:
                raise ProtocolError(f"no uploaded text {req.upload!r} (upload it again)")
        if spec["text"] is not None:
            spec["text_sha"] = texts.add(spec["text"], in_use=texts_in_use())   # kept while the run needs it
        if req.engine not in available_engines():
            raise ProtocolError(f"the {req.engine} engine is not installed here")
        if not registry.prepared.is_set():    # classroom mode, just started: the fork server is loading
            await run_in_threadpool(registry.prepared.wait, 60)
        run = registry.create(req, spec, owner=owner_of(request))
        if classroom is not None:
            classroom.run_started(run, visitor(request))
        return {"id": run.id, "state": run.state}

    @app.get("/api/runs")
    async def list_runs(request: Request):
        who = visitor(request)
        shown = [r for r in registry.runs.values() if who is None or who.may_see(r.owner)]
        return {"runs": [r.summary() for r in shown], "active": sum(r.holds_slot for r in shown),
                "queued": sum(r.id in registry.queue for r in shown)}

    @app.get("/api/runs/{run_id}")
    async def run_summary(run_id: str, request: Request):
        return visible_run(request, run_id).summary()

    @app.delete("/api/runs/{run_id}")
    async def reset_run(run_id: str, request: Request):
        visible_run(request, run_id)
        registry.close(run_id)
        if classroom is not None:
            classroom.curves.closed(run_id)
        return {"id": run_id, "state": "closed"}

    @app.post("/api/runs/{run_id}/command")
    async def command(run_id: str, request: Request):
        run = visible_run(request, run_id)
        cmd = parse_command(await read_json(request))
        answer = registry.command(run_id, cmd)
        who = visitor(request)
        if who is not None and who.teacher:
            classroom.teacher_did(registry, run, cmd["cmd"])
        return answer

    @app.post("/api/runs/{run_id}/query")
    async def query(run_id: str, request: Request):
        visible_run(request, run_id)
        return await registry.query(run_id, parse_query(await read_json(request)))

    @app.get("/api/runs/{run_id}/checkpoint")
    async def download_checkpoint(run_id: str, request: Request, weights_only: bool = False):
        run = visible_run(request, run_id)
        data = await registry.query(run_id, {"q": "checkpoint"})
        kind = ""
        if weights_only:
            from ..checkpoints import load_checkpoint, weights_only_bytes
            data = await run_in_threadpool(lambda: weights_only_bytes(load_checkpoint(data)))
            kind = "-weights"
        name = f"tinylm-{run.request.pathology or run.request.preset}-iter{run.iter}{kind}.safetensors"
        return Response(data, media_type="application/octet-stream",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @app.get("/api/runs/{run_id}/events")
    async def events(run_id: str, request: Request, since: int = 0):
        run = visible_run(request, run_id)
        last = request.headers.get("last-event-id")
        if last is not None and last.isdigit():
            since = int(last) + 1
        since = max(0, since)
        subscriber: asyncio.Queue = asyncio.Queue()
        backlog = [m for m in run.history if m["seq"] >= since]   # snapshot and subscribe with no await between
        registry.subscribe(run, subscriber)

        def frame(message: dict) -> str:
            return run.frames.get(message["seq"]) or sse_frame(message)   # thinned out meanwhile: serialise again

        async def stream():
            try:
                yield "retry: 1000\n\n" + "".join(frame(m) for m in backlog)
                while True:
                    try:
                        message = await asyncio.wait_for(subscriber.get(), KEEPALIVE_S)
                    except asyncio.TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    batch = [message]
                    while not subscriber.empty():
                        batch.append(subscriber.get_nowait())
                    closed = any(m.get("event") == "closed" for m in batch)
                    yield "".join(frame(m) for m in batch if m.get("event") != "closed")
                    if closed:
                        yield "event: closed\ndata: {}\n\n"
                        return
            finally:
                registry.unsubscribe(run, subscriber)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @app.get("/api/pathologies/{name}")
    async def pathology_curve(name: str):
        if name not in pathologies.PATHOLOGIES:
            raise RunNotFound(f"no pathology {name!r}")
        return {"name": name, "curve": pathologies.canonical_curve(name)}

    async def record_answer(request: Request, lesson: str, question: str, correct: bool, answer: object) -> None:
        if classroom is not None:        # a database write: in the thread pool, the event loop keeps streaming
            await run_in_threadpool(classroom.record_answer, visitor(request), lesson, question, correct, answer)

    app.include_router(course_router(read_json, lessons_dir, on_answer=record_answer))

    if classroom is not None:
        from .classroom.gate import ClassroomGate
        from .classroom.routes import classroom_router
        app.include_router(classroom_router(classroom, registry, course_loader(lessons_dir), read_json))
        app.add_middleware(ClassroomGate, roster=classroom.roster)
    elif token is not None:
        app.add_middleware(TokenMiddleware, token=token)
    app.add_middleware(SiteGuard, policy=HostPolicy(host))   # outermost: cross-site requests go no further
    return app
