"""Classroom mode: one lab serves a whole class (``tinylm lab --classroom``).

    sessions   the teacher's token, learners joining with a display name, seats
    gate       who a request is (teacher, learner, nobody): the access control in place of the single token
    store      what lasts across a restart: learners and their course progress (SQLite in the state folder)
    scheduler  the cores shared among every learner's training runs, round robin in short turns
    curves     each run's loss curve kept small, for the teacher's sparklines and class chart
    routes     joining, progress, the teacher's view, the scores as CSV

The run machinery is the lab's own (runs.RunRegistry, one worker process per run): classroom mode gives it
an owner per run, per-learner limits (runs.OwnerLimits) and the scheduler.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..runs import OwnerLimits, RunRegistry
from .curves import LossCurves
from .scheduler import CpuScheduler
from .sessions import TEACHER, ClassFull, Roster, Visitor
from .store import ClassStore

DB_NAME = "classroom.sqlite3"
UPLOADS_PER_LEARNER = 4
TEACHER_DID = {"pause": "your teacher paused this run: press Resume when you are ready",
               "stop": "your teacher stopped this run", "resume": "your teacher resumed this run",
               "step": "your teacher took a single step of this run", "speed": "your teacher changed this run's speed"}           # texts and checkpoints each learner may hold at once (the oldest make room)


# A worker process of a small preset takes about 66 MB (PSS; 91 MB RSS) in benchmarks/classroom_load.py;
# larger presets more. Workers may use at most half of this machine's memory, counted at 100 MB each.
WORKER_MEMORY_BYTES = 100 * 1024 * 1024


def runs_this_memory_holds() -> int | None:
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2 // WORKER_MEMORY_BYTES)
    except (AttributeError, ValueError, OSError):
        return None


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "tinylm" / "classroom"


class Classroom:
    def __init__(self, state_dir: str | Path | None = None, seats: int = 30, cores: int | None = None,
                 limits: OwnerLimits = OwnerLimits(), uploads_per_learner: int = UPLOADS_PER_LEARNER) -> None:
        self.state_dir = Path(state_dir) if state_dir is not None else default_state_dir()
        self.store = ClassStore(self.state_dir / DB_NAME)
        self.roster = Roster(self.store, seats)
        self.scheduler = CpuScheduler(cores or os.cpu_count() or 1)
        self.curves = LossCurves()
        self.limits = limits
        self.uploads_per_learner = uploads_per_learner
        self.join_url: str | None = None          # as printed for the class (serve_classroom sets it)
        self.lesson_of = {row["id"]: row["lesson"] for row in self.store.learners()}

    def registry(self, orphan_timeout: float) -> RunRegistry:
        """The lab's run registry, for a class: every seat may train its own runs (the scheduler shares the
        cores), each learner within their limits, the teacher's runs (owner "teacher") counted as one seat."""
        seats = self.roster.seats + 1
        max_runs = seats * self.limits.open_runs
        by_memory = runs_this_memory_holds()
        if by_memory is not None:            # memory stays bounded: past this the oldest idle run makes room
            max_runs = max(seats, min(max_runs, by_memory))
        registry = RunRegistry(max_active=seats * self.limits.active_runs, max_runs=max_runs,
                               orphan_timeout=orphan_timeout, per_owner=self.limits, cpu=self.scheduler,
                               start_method="forkserver")
        self.scheduler.send = registry.tell
        registry.observers.append(self.curves.observe)
        return registry

    def run_started(self, run, visitor: Visitor) -> None:
        request = run.request
        label = request.pathology or f"{request.preset} · seed {request.seed}"
        self.curves.track(run.id, visitor.id, self.lesson_of.get(visitor.id, ""), label, request.steps or 0)

    @staticmethod
    def teacher_did(registry: RunRegistry, run, cmd: str) -> None:
        """Tell a learner's page what the teacher did to their run (a ``teacher`` event on its stream)."""
        text = TEACHER_DID.get(cmd)
        if text and run.owner != TEACHER:
            registry.notify(run.id, {"event": "teacher", "cmd": cmd, "text": text})

    def record_answer(self, visitor: Visitor | None, lesson: str, question: str, correct: bool, given) -> None:
        if visitor is not None and not visitor.teacher:
            self.store.record_answer(visitor.id, lesson, question, correct, given)

    def close(self) -> None:
        self.store.close()


__all__ = ["Classroom", "ClassFull", "OwnerLimits", "TEACHER", "Visitor", "default_state_dir", "runs_this_memory_holds"]
