"""Classroom mode's access control (in place of the single token): every request is the teacher's, one
learner's, or refused.

    teacher   the teacher token: ``?token=`` (the teacher URL; the page then keeps it in a cookie),
              ``Authorization: Bearer``, or the ``tinylm_teacher`` cookie
    learner   the learner's own token: the ``tinylm_learner`` cookie set when they joined (or Bearer)
    nobody    only the join page, its one API call and the static files; the lab's page sends them to the
              join page, the API answers 401

The request's visitor is left in ``scope["state"]["visitor"]`` (``request.state.visitor`` in a route). The
cross-site guard (Host, Origin, Content-Type) stays outermost, exactly as when the lab has one user.
"""
from __future__ import annotations

from urllib.parse import parse_qs

from starlette.requests import cookie_parser
from starlette.responses import JSONResponse, RedirectResponse

from .sessions import LEARNER_COOKIE, TEACHER_COOKIE, Roster

OPEN_PATHS = ("/join", "/api/join")


class ClassroomGate:
    def __init__(self, app, roster: Roster) -> None:
        self.app = app
        self.roster = roster

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        query = {k: v[0] for k, v in parse_qs(scope.get("query_string", b"").decode("latin-1")).items()}
        cookies = cookie_parser(headers.get("cookie", ""))
        auth = headers.get("authorization", "")
        bearer = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        visitor = self.roster.visitor(learner_token=bearer or cookies.get(LEARNER_COOKIE),
                                      teacher_token=query.get("token") or bearer or cookies.get(TEACHER_COOKIE))
        scope.setdefault("state", {})["visitor"] = visitor
        if visitor is not None or path in OPEN_PATHS or path.startswith("/static/"):
            if path.startswith("/api/class") and visitor is not None and not visitor.teacher:
                return await JSONResponse({"error": "only the teacher can see the class"},
                                          status_code=403)(scope, receive, send)
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            return await send({"type": "websocket.close", "code": 4401})
        if path == "/" and scope.get("method", "GET") == "GET":
            return await RedirectResponse("/join", status_code=303)(scope, receive, send)
        message = ("the teacher's page needs the teacher URL that `tinylm lab --classroom` printed"
                   if path == "/teacher" else "join the class first: open the join URL your teacher gave you")
        return await JSONResponse({"error": message}, status_code=401)(scope, receive, send)
