"""Who is who in a class: the teacher (one token, printed in the teacher URL), and learners, each joining
with a display name and getting a session of their own (a token kept in a cookie, so a reload or a
reconnect finds the session again). Seats are limited: a full class says so."""
from __future__ import annotations

import re
import secrets
import threading
import unicodedata
from dataclasses import dataclass

from ...errors import TinyLMError
from ..security import token_matches
from .store import ClassStore, token_digest

TEACHER = "teacher"                  # the owner name of the teacher's own runs
MAX_NAME_CHARS = 40
LEARNER_COOKIE = "tinylm_learner"
TEACHER_COOKIE = "tinylm_teacher"


class ClassFull(TinyLMError):
    """Every seat is taken."""
    http_status = 409


class BadName(TinyLMError):
    """A display name that cannot be used."""


@dataclass(frozen=True)
class Visitor:
    """Whoever sent a request: the teacher, or one learner (``id``, their display ``name``)."""
    id: str
    name: str
    teacher: bool = False

    def may_see(self, owner: str) -> bool:
        return self.teacher or owner == self.id


def clean_name(raw: object) -> str:
    """A display name: printable, trimmed, inner whitespace collapsed, 1..40 characters."""
    if not isinstance(raw, str):
        raise BadName("the name must be text")
    name = re.sub(r"\s+", " ", "".join(c for c in raw if unicodedata.category(c)[0] != "C")).strip()
    if not name:
        raise BadName("type a name (your first name is fine)")
    if len(name) > MAX_NAME_CHARS:
        raise BadName(f"the name is longer than {MAX_NAME_CHARS} characters")
    return name


class Roster:
    def __init__(self, store: ClassStore, seats: int) -> None:
        self.store = store
        self.seats = seats
        self.teacher_token = store.key("teacher_token", lambda: secrets.token_urlsafe(24))
        self.join_key = store.key("join_key", lambda: secrets.token_urlsafe(6))
        self.lock = threading.Lock()
        self.by_digest = {row["token_sha"]: Visitor(row["id"], row["name"]) for row in store.learners()}

    @property
    def learners(self) -> list[Visitor]:
        return list(self.by_digest.values())

    def join(self, name: object, key: object) -> tuple[Visitor, str]:
        """A new learner (and their token). Refused without the class's join key, or when the class is full."""
        if not isinstance(key, str) or not token_matches(self.join_key, key):
            raise BadName("this join link is not this class's: open the join URL your teacher gave you")
        name = clean_name(name)
        with self.lock:
            if len(self.by_digest) >= self.seats:
                raise ClassFull(f"the class is full: all {self.seats} seats are taken. Ask your teacher "
                                "(they can start the lab with more seats: --seats)")
            taken = {v.name.casefold() for v in self.by_digest.values()}
            shown, n = name, 2
            while shown.casefold() in taken:           # two learners called Sam: "Sam" and "Sam (2)"
                shown, n = f"{name} ({n})", n + 1
            learner, token = Visitor(secrets.token_hex(6), shown), secrets.token_urlsafe(24)
            self.store.add_learner(learner.id, learner.name, token)
            self.by_digest[token_digest(token)] = learner
        return learner, token

    def visitor(self, learner_token: str | None, teacher_token: str | None) -> Visitor | None:
        if teacher_token and token_matches(self.teacher_token, teacher_token):
            return Visitor(TEACHER, "teacher", teacher=True)
        if learner_token:
            return self.by_digest.get(token_digest(learner_token))
        return None
