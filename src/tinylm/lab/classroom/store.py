"""The class's lasting state in one SQLite file (the standard library's sqlite3) in the lab's state folder:
the class's keys, who joined, and each learner's course progress. A restarted lab finds it all again:
learners keep their sessions (their cookie still opens them) and their scores.

Learner tokens are kept only as SHA-256 digests: the file alone does not let anyone act as a learner.
The teacher's token and the join key are kept as they are (the teacher needs them printed again after a
restart); the file is created readable by its owner only.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS learners (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, token_sha TEXT NOT NULL UNIQUE, joined REAL NOT NULL,
    lesson TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS answers (
    learner TEXT NOT NULL, lesson TEXT NOT NULL, question TEXT NOT NULL, first INTEGER NOT NULL,
    correct INTEGER NOT NULL, tries INTEGER NOT NULL, given TEXT NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (learner, lesson, question));
CREATE TABLE IF NOT EXISTS marks (
    learner TEXT NOT NULL, lesson TEXT NOT NULL, kind TEXT NOT NULL, item TEXT NOT NULL, text TEXT NOT NULL,
    PRIMARY KEY (learner, lesson, kind, item));
"""
MARK_KINDS = ("visited", "exercise", "check")


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ClassStore:
    """One SQLite database; every method is one short transaction (safe from any thread)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not self.path.exists()
        self.db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        if fresh:
            os.chmod(self.path, 0o600)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")     # durable across a crash of the lab, fast per write
        self.db.executescript(SCHEMA)
        self.lock = threading.Lock()

    def close(self) -> None:
        with self.lock:
            self.db.close()

    def _run(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self.lock:
            return self.db.execute(sql, args).fetchall()

    # --- the class's keys ------------------------------------------------------------------------------------
    def key(self, name: str, make) -> str:
        """The stored key ``name``, made (and stored) by ``make()`` the first time."""
        with self.lock:
            row = self.db.execute("SELECT value FROM keys WHERE name = ?", (name,)).fetchone()
            if row is not None:
                return row[0]
            value = make()
            self.db.execute("INSERT INTO keys VALUES (?, ?)", (name, value))
            return value

    # --- learners ----------------------------------------------------------------------------------------------
    def add_learner(self, learner_id: str, name: str, token: str) -> float:
        joined = time.time()
        self._run("INSERT INTO learners (id, name, token_sha, joined) VALUES (?, ?, ?, ?)",
                  (learner_id, name, token_digest(token), joined))
        return joined

    def learners(self) -> list[dict]:
        rows = self._run("SELECT id, name, token_sha, joined, lesson FROM learners ORDER BY joined")
        return [{"id": r[0], "name": r[1], "token_sha": r[2], "joined": r[3], "lesson": r[4]} for r in rows]

    def set_lesson(self, learner_id: str, lesson: str) -> None:
        self._run("UPDATE learners SET lesson = ? WHERE id = ?", (lesson, learner_id))

    # --- progress ---------------------------------------------------------------------------------------------
    def record_answer(self, learner_id: str, lesson: str, question: str, correct: bool, given: object) -> dict:
        """The first answer decides the score; later ones only the current state (as the page keeps it alone)."""
        with self.lock:
            row = self.db.execute("SELECT first, tries FROM answers WHERE learner = ? AND lesson = ? AND question = ?",
                                  (learner_id, lesson, question)).fetchone()
            first, tries = (bool(correct), 1) if row is None else (bool(row[0]), row[1] + 1)
            self.db.execute("INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            (learner_id, lesson, question, int(first), int(bool(correct)), tries,
                             json.dumps(given), time.time()))
        return {"first": first, "correct": bool(correct), "tries": tries}

    def retake(self, learner_id: str, lesson: str) -> None:
        self._run("DELETE FROM answers WHERE learner = ? AND lesson = ?", (learner_id, lesson))

    def mark(self, learner_id: str, lesson: str, kind: str, item: str = "", text: str = "") -> None:
        if kind not in MARK_KINDS:
            raise ValueError(kind)
        self._run("INSERT OR REPLACE INTO marks VALUES (?, ?, ?, ?, ?)", (learner_id, lesson, kind, item, text))

    def progress(self, learner_id: str) -> dict:
        """The learner's progress in the page's own shape (js/progress.js)."""
        lessons: dict[str, dict] = {}

        def lesson(lesson_id: str) -> dict:
            return lessons.setdefault(lesson_id, {"answers": {}, "exercises": {}, "checks": {}})

        for lesson_id, question, first, correct, tries, given in self._run(
                "SELECT lesson, question, first, correct, tries, given FROM answers WHERE learner = ?", (learner_id,)):
            lesson(lesson_id)["answers"][question] = {"first": bool(first), "correct": bool(correct), "tries": tries,
                                                      "given": json.loads(given)}
        for lesson_id, kind, item, text in self._run(
                "SELECT lesson, kind, item, text FROM marks WHERE learner = ?", (learner_id,)):
            entry = lesson(lesson_id)
            if kind == "visited":
                entry["visited"] = True
            elif kind == "exercise":
                entry["exercises"][item] = True
            else:
                entry["checks"][item] = {"state": "done", "text": text}
        return {"lessons": lessons}

    def tallies(self) -> dict[str, dict[str, dict[str, int]]]:
        """learner -> lesson -> {"right": first-try rights, "answered": questions answered, "exercises": done}."""
        out: dict[str, dict[str, dict[str, int]]] = {}

        def cell(learner: str, lesson: str) -> dict[str, int]:
            return out.setdefault(learner, {}).setdefault(lesson, {"right": 0, "answered": 0, "exercises": 0})

        for learner, lesson, right, answered in self._run(
                "SELECT learner, lesson, SUM(first), COUNT(*) FROM answers GROUP BY learner, lesson"):
            cell(learner, lesson).update(right=int(right), answered=int(answered))
        for learner, lesson, done in self._run(
                "SELECT learner, lesson, COUNT(*) FROM marks WHERE kind = 'exercise' GROUP BY learner, lesson"):
            cell(learner, lesson)["exercises"] = int(done)
        return out
