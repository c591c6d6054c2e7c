"""The run registry: one worker process per run, a cap on concurrent training runs, a queue beyond it.

Each run owns a worker process (spawn context), a command pipe down and an event queue up. A reader
thread per run moves events from the queue onto the server's event loop, where they are numbered,
kept (so a reconnecting page can replay them) and fanned out to the run's subscribers. Replies to
queries are routed to the request waiting for them instead.

Training slots: only a run that is training (or starting its worker) holds one of the ``max_active``
slots. A paused run keeps its worker process and its exact state but frees its slot; asked to resume
while every slot is taken it becomes ``waiting`` and joins the same first-come queue as runs that have
not started yet (``queued``), and resumes by itself when a slot frees. Queued and waiting runs are told
their place in line and who holds the slots (a ``status`` event with ``position`` and ``reason``).
A run asked to start paused starts its worker at once (it only loads its data and waits), and
single steps of a paused run need no slot: each is asked for by the learner.

A run nobody watches (its last event stream closed) is paused, so it frees its slot; when a watcher comes
back (a reloaded page re-subscribing) it resumes where it was. After ``orphan_timeout`` seconds unwatched
it is shut down and forgotten, and when the lab is full the oldest unwatched idle run makes room.

Classroom mode (lab/classroom) uses this same registry with three additions: every run has an ``owner``
(the learner), the slot limits also hold per learner (``OwnerLimits``: a learner's extra runs wait in their
own line, never behind another learner's), and workers (forked from a fork server, ``worker_context``)
load and train only in the turns the classroom's CPU scheduler grants them (see worker.loop_in_turns).
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import multiprocessing as mp
import os
import queue
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ..errors import TinyLMError
from .protocol import RunRequest
from .worker import worker_main

# Tiny models make tiny matrices: a multi-threaded BLAS only adds thread hand-offs, and on a busy machine
# it made a 300-iter pathology run 15x slower (30 s instead of 2 s; even 2 threads crawl when the cores are
# shared). Each worker gets one thread, whatever the server's environment says: runs train side by side.
# The worker reads these at numpy import, before worker_main runs, so they go in the spawn environment.
WORKER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
_spawn_lock = threading.RLock()


class RunNotFound(TinyLMError):
    """The run id is unknown (never existed, or cleaned up)."""


class LabBusy(TinyLMError):
    """Too many runs are open."""


@dataclass
class Run:
    id: str
    request: RunRequest
    spec: dict
    state: str = "queued"          # queued | starting | running | paused | waiting | finished | error | closed
    iter: int = 0
    message: str = ""
    history: list[dict] = field(default_factory=list)  # bounded: old step/detail events are thinned out
    frames: dict[int, str] = field(default_factory=dict)  # seq -> the event serialised once, for every watcher
    published: int = 0             # events ever published (the next seq)
    subscribers: set = field(default_factory=set)
    orphaned_at: float | None = None
    process: Any = None
    commands: Any = None
    events: Any = None
    reader: threading.Thread | None = None
    pending: dict = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    holds_slot: bool = False       # training (or starting): counts against max_active
    auto_paused: bool = False      # paused because its last watcher left: resumes when one comes back
    reported: bool = False         # the worker has sent its first status
    steered: bool = False          # the registry has told the worker to pause or resume since it started
    speed: int = 100
    position: int = 0              # place in the slot queue (queued / waiting), else 0
    reason: str = ""               # why it is not training yet, in words ("" when it is not waiting)
    owner: str = ""                # classroom mode: the learner whose run it is ("" when the lab has one user)

    def summary(self) -> dict:
        return {"id": self.id, "state": self.state, "iter": self.iter, "message": self.message,
                "request": self.request.to_dict(), "events": self.published,
                "watchers": len(self.subscribers), "speed": self.speed, "position": self.position,
                "reason": self.reason}

    @property
    def name(self) -> str:
        return self.request.label or self.request.pathology or self.request.preset


# A run keeps at most this many events for late watchers (a reload replays them). Past it, every other
# step event of the older three quarters is dropped, and the per-step training-cycle details there too:
# the loss curve stays the same shape at a coarser grain, and every eval, sample, phase, diagnosis and
# status is kept. Memory per run stays bounded however long it trains.
HISTORY_LIMIT = 20_000
READ_BATCH = 64                    # events handed from a reader thread to the event loop at once, at most


def sse_frame(message: dict) -> str:
    """One event as a Server-Sent Events frame (its seq is the event id a reconnect resumes from)."""
    return f"id: {message['seq']}\ndata: {json.dumps(message, separators=(',', ':'))}\n\n"


def thin_history(run: "Run") -> None:
    cut = len(run.history) * 3 // 4
    kept, alternate = [], False
    for message in run.history[:cut]:
        kind = message.get("event")
        if kind == "detail" or (kind == "step" and alternate):
            run.frames.pop(message["seq"], None)
            if kind == "step":
                alternate = False
            continue
        if kind == "step":
            alternate = True
        kept.append(message)
    run.history[:cut] = kept


class RunRegistry:
    """``per_owner``: classroom mode's limits for each learner (None: one user, the lab-wide limits only).
    ``cpu``: classroom mode's CPU scheduler (see classroom.scheduler): the workers then take turns at training
    instead of all training (and starting) at once."""

    def __init__(self, max_active: int = 2, max_runs: int = 12, orphan_timeout: float = 300.0,
                 query_timeout: float = 60.0, per_owner: "OwnerLimits | None" = None, cpu: Any = None,
                 start_method: str = "spawn") -> None:
        self.max_active = max_active
        self.max_runs = max_runs
        self.per_owner = per_owner
        self.cpu = cpu
        self.observers: list = []      # callables (run, message) seeing every published event (the class's curves)
        self.orphan_timeout = orphan_timeout
        self.query_timeout = query_timeout
        self.runs: dict[str, Run] = {}
        self.queue: list[str] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self.ctx = worker_context(start_method)
        self.start_method = start_method
        self.prepared = threading.Event()         # set once workers can start without a wait (see prepare)
        if self.ctx.get_start_method() != "forkserver":
            self.prepared.set()
        self._rids = itertools.count(1)

    # --- lifecycle --------------------------------------------------------------------------
    def prepare(self) -> None:
        """Start the fork server now (a no-op process through it), not when the first learner presses Start:
        its imports take a second or more, and a run's start must not keep the server from answering.
        Called from a thread of its own when the app starts; runs wait for it (``prepared``)."""
        if self.prepared.is_set():
            return
        try:
            with worker_environment():              # the fork server's environment is every worker's
                probe = self.ctx.Process(target=os.getpid, daemon=True)
                probe.start()
            probe.join(timeout=60)
        finally:
            self.prepared.set()        # even if it failed: a run's own start then says what is wrong

    def create(self, request: RunRequest, spec: dict, owner: str = "") -> Run:
        self.loop = asyncio.get_running_loop()
        if self.per_owner is not None:
            mine = [r for r in self.runs.values() if r.state != "closed" and r.owner == owner]
            if len(mine) >= self.per_owner.open_runs:
                idle = self._evictable(owner)      # only ever one of the learner's own runs
                if idle is None:
                    raise LabBusy(f"you already have {len(mine)} runs open (your limit is "
                                  f"{self.per_owner.open_runs}); reset one of them first")
                self.close(idle.id)
        open_runs = [r for r in self.runs.values() if r.state != "closed"]
        if len(open_runs) >= self.max_runs:
            idle = self._evictable()
            if idle is None:
                raise LabBusy(f"the lab already has {len(open_runs)} runs open (limit {self.max_runs}); "
                              "reset one first")
            self.close(idle.id)
        run = Run(id=secrets.token_hex(6), request=request, spec=spec, orphaned_at=time.monotonic(),
                  speed=request.speed, owner=owner)
        self.runs[run.id] = run
        if spec.get("paused"):
            self._spawn(run, slot=False)     # it only loads and waits: no need to queue behind training runs
        else:
            self.queue.append(run.id)
            self._start_queued()
        return run

    def _evictable(self, owner: str | None = None) -> Run | None:
        """The run unwatched the longest among those that train no more (paused, finished or failed),
        among ``owner``'s runs when given."""
        idle = [r for r in self.runs.values() if not r.subscribers and r.orphaned_at is not None
                and not r.holds_slot and r.state in ("paused", "finished", "error")
                and (owner is None or r.owner == owner)]
        return min(idle, key=lambda r: r.orphaned_at, default=None)

    def get(self, run_id: str) -> Run:
        run = self.runs.get(run_id)
        if run is None or run.state == "closed":
            raise RunNotFound(f"no run {run_id!r} (it was reset or cleaned up)")
        return run

    def active_count(self) -> int:
        return sum(1 for r in self.runs.values() if r.holds_slot)

    def _owner_has_room(self, run: Run) -> bool:
        if self.per_owner is None:
            return True
        training = sum(1 for r in self.runs.values() if r.holds_slot and r.owner == run.owner)
        return training < self.per_owner.active_runs

    def _next_in_line(self) -> Run | None:
        """The first queued run that may take a free slot now (its owner under their own limit)."""
        if self.active_count() >= self.max_active:
            return None
        for run_id in list(self.queue):
            run = self.runs.get(run_id)
            if run is None:
                self.queue.remove(run_id)
                continue
            if self._owner_has_room(run):
                return run
        return None

    def _start_queued(self) -> None:
        """Give free slots to the queue, first come first served, then tell the rest where they stand."""
        while (run := self._next_in_line()) is not None:
            self.queue.remove(run.id)
            run.position, run.reason = 0, ""
            if run.state == "queued":
                self._spawn(run)
            elif run.state == "waiting":
                run.holds_slot, run.state = True, "running"
                self._send(run, {"cmd": "resume"})
        if self.per_owner is not None:
            self._tell_owners_queue()
            return
        holders = [r.name for r in self.runs.values() if r.holds_slot]
        for position, run_id in enumerate(self.queue, 1):
            run = self.runs.get(run_id)
            if run is None:
                continue
            reason = (f"waiting for a free training slot: {_ordinal(position)} in line, "
                      f"{len(holders)} of {self.max_active} slots busy ({', '.join(holders) or 'finishing'})")
            self._set_place(run, position, reason)

    def _tell_owners_queue(self) -> None:
        """Classroom mode: each learner's waiting runs, told their place among that learner's own."""
        places: dict[str, int] = {}
        for run_id in self.queue:
            run = self.runs.get(run_id)
            if run is None:
                continue
            position = places[run.owner] = places.get(run.owner, 0) + 1
            holders = [r.name for r in self.runs.values() if r.holds_slot and r.owner == run.owner]
            if len(holders) >= self.per_owner.active_runs:
                reason = (f"waiting: you train {len(holders)} runs at once already (the class limit per learner; "
                          f"{', '.join(holders)}); {_ordinal(position)} of yours in line")
            else:
                reason = f"waiting: the class machine is full ({self.max_active} runs training); {_ordinal(position)} in line"
            self._set_place(run, position, reason)

    def _set_place(self, run: Run, position: int, reason: str) -> None:
        if (position, reason) != (run.position, run.reason):
            run.position, run.reason = position, reason
            self._publish_status(run)

    def _publish_status(self, run: Run) -> None:
        message = {"event": "status", "state": run.state, "iter": run.iter, "speed": run.speed}
        if run.position:
            message.update(position=run.position, reason=run.reason)
        self._publish(run, message)

    def _spawn(self, run: Run, slot: bool = True) -> None:
        run.state, run.holds_slot = "starting", slot
        self._publish_status(run)
        receiver, sender = self.ctx.Pipe(duplex=False)
        run.commands = sender
        run.events = self.ctx.Queue()
        spec = run.spec if self.cpu is None else {**run.spec, "scheduled": True}
        # a forked worker's parent is the fork server: it watches whichever parent it has (0), which exits with us
        parent = os.getpid() if self.start_method == "spawn" else 0
        run.process = self.ctx.Process(target=worker_main, args=(spec, receiver, run.events, parent),
                                       name=f"tinylm-lab-{run.id}", daemon=True)
        with worker_environment():
            try:
                run.process.start()
            except Exception as exc:  # e.g. a script without a __main__ guard cannot spawn workers
                run.process = None
                self.loop.call_soon(self._on_event, run,
                                    {"event": "error", "message": f"could not start the training worker: {exc}"})
                return
            finally:
                receiver.close()
        run.reader = threading.Thread(target=self._read_events, args=(run,), daemon=True)
        run.reader.start()

    def _read_events(self, run: Run) -> None:
        """Reader thread: worker queue -> event loop, until the run is closed and the worker gone."""
        loop = self.loop
        while True:
            try:
                message = run.events.get(timeout=0.25)
            except queue.Empty:
                if run.state == "closed" or not run.process.is_alive():
                    if run.state not in ("closed", "finished", "error"):
                        loop.call_soon_threadsafe(self._on_event, run,
                                                  {"event": "error", "message": "the training worker exited"})
                    return
                continue
            except (EOFError, OSError, ValueError):
                return
            # what else has arrived meanwhile goes in the same hand-over: one wake-up of the event loop for a
            # burst of steps instead of one each (a class's runs send hundreds a second)
            batch, ended = [message], False
            while len(batch) < READ_BATCH:
                try:
                    batch.append(run.events.get_nowait())
                except queue.Empty:
                    break
                except (EOFError, OSError, ValueError):
                    ended = True
                    break
            try:
                loop.call_soon_threadsafe(self._on_events, run, batch)
            except RuntimeError:   # the event loop is closed: the server is shutting down
                return
            if ended:
                return

    def _on_events(self, run: Run, batch: list[dict]) -> None:
        for message in batch:
            self._on_event(run, message)

    def _on_event(self, run: Run, message: dict) -> None:
        if run.state == "closed":
            return
        kind = message.get("event")
        if kind == "reply":
            future = run.pending.pop(message.get("rid"), None)
            if future is not None and not future.done():
                future.set_result(message)
            return
        if kind == "cpu":              # the worker asks the scheduler for a turn (or gives one back): not shown
            if self.cpu is not None:
                self.cpu.on_cpu(run.id, message.get("at"), message.get("turn"), bool(message.get("load")))
            return
        freed = False                  # the run gives its slot back (or its place in line)
        if kind == "status":
            run.iter = message.get("iter", run.iter)
            run.speed = message.get("speed", run.speed)
            first, run.reported = not run.reported, True
            if message["state"] == "finished":
                freed = True
            elif run.id in self.queue:
                # the worker is paused while the run waits for a slot: the learner sees why it waits
                message.update(state="waiting", position=run.position, reason=run.reason)
            elif first and message["state"] == "paused" and not run.steered:
                freed = True               # started paused: it trains only when resumed
            run.state = message["state"]
        elif kind == "step":
            run.iter = message["iter"]
        elif kind == "error":
            run.state, run.message, freed = "error", message.get("message", ""), True
            message.pop("trace", None)
        elif kind == "finished":
            run.message = message.get("message", "")
        if kind == "error" and self.cpu is not None:
            self.cpu.forget(run.id)
        if freed:
            run.holds_slot = False
            if run.id in self.queue:
                self.queue.remove(run.id)
            run.position, run.reason = 0, ""
        self._publish(run, message)
        if freed:
            self._start_queued()

    def _publish(self, run: Run, message: dict) -> None:
        message["seq"] = run.published
        run.published += 1
        run.history.append(message)
        run.frames[message["seq"]] = sse_frame(message)
        for subscriber in list(run.subscribers):
            subscriber.put_nowait(message)
        for observer in self.observers:
            observer(run, message)
        if len(run.history) > HISTORY_LIMIT:
            thin_history(run)

    def notify(self, run_id: str, message: dict) -> None:
        """Publish an event of the lab's own on a run's stream (classroom mode: what the teacher did to it)."""
        run = self.runs.get(run_id)
        if run is not None and run.state != "closed":
            self._publish(run, dict(message))

    def tell(self, run_id: str, message: dict) -> None:
        """Send a worker a message of the lab's own (the classroom scheduler's turns), if the run is open."""
        run = self.runs.get(run_id)
        if run is not None and run.process is not None:
            self._send(run, message)

    def _send(self, run: Run, message: dict) -> None:
        try:
            run.commands.send(message)
        except (BrokenPipeError, OSError, AttributeError):
            pass

    # --- commands and queries -------------------------------------------------------------------
    def command(self, run_id: str, command: dict) -> dict:
        run = self.get(run_id)
        cmd = command["cmd"]
        if cmd == "speed":
            run.speed = run.spec["speed"] = command["n"]     # a run not started yet starts at this speed
        if cmd == "stop" and run.state == "queued":          # never started: nothing to stop but its place
            self.close(run_id)
            return {"state": "closed"}
        if run.state in ("error", "finished") and cmd != "stop":
            return {"state": run.state}
        run.auto_paused = False
        if cmd == "resume":
            self._resume(run)
        elif cmd in ("pause", "step"):
            self._pause(run)
            if cmd == "step":
                self._send(run, command)
        elif run.process is not None:
            if cmd == "stop" and run.id in self.queue:   # stopping needs no slot: at most one more step
                self.queue.remove(run.id)
                run.position, run.reason = 0, ""
                self._start_queued()
            self._send(run, command)
        return {"state": run.state}

    def _resume(self, run: Run) -> None:
        """Train again: now if a slot is free (or it holds one), else wait in line for one."""
        if run.state == "queued":
            run.spec["paused"] = False
        elif run.state in ("finished", "error", "waiting"):
            pass
        elif run.holds_slot or (self.active_count() < self.max_active and self._owner_has_room(run)
                                and (not self.queue or self.per_owner is not None)):
            run.holds_slot = run.steered = True
            self._send(run, {"cmd": "resume"})
        else:
            run.state = "waiting"
            self.queue.append(run.id)
            self._start_queued()

    def _pause(self, run: Run) -> None:
        """Stop training (the worker keeps its state) and free the slot for the next in line."""
        if run.state == "queued":         # not started: it starts now, paused (loading needs no slot)
            self.queue.remove(run.id)
            run.spec["paused"], run.position, run.reason = True, 0, ""
            self._spawn(run, slot=False)
            self._start_queued()
            return
        if run.id in self.queue:          # it was waiting for a slot: it no longer wants one
            self.queue.remove(run.id)
            run.state, run.position, run.reason = "paused", 0, ""
            self._publish_status(run)
            self._start_queued()
            return
        self._send(run, {"cmd": "pause"})
        run.steered = True
        if run.holds_slot:
            run.holds_slot = False
            self._start_queued()

    async def query(self, run_id: str, query: dict) -> Any:
        run = self.get(run_id)
        if run.state in ("queued", "starting", "error") or run.process is None:
            raise TinyLMError(f"the run is {run.state}; its model is not available yet")
        rid = next(self._rids)
        future = asyncio.get_running_loop().create_future()
        run.pending[rid] = future
        self._send(run, {**query, "rid": rid})
        try:
            reply = await asyncio.wait_for(future, self.query_timeout)
        except asyncio.TimeoutError:
            run.pending.pop(rid, None)
            raise TinyLMError("the training worker did not answer in time") from None
        if not reply["ok"]:
            raise TinyLMError(reply["error"])
        return reply["data"]

    # --- watchers ---------------------------------------------------------------------------------
    def subscribe(self, run: Run, subscriber: asyncio.Queue) -> None:
        run.subscribers.add(subscriber)
        run.orphaned_at = None
        if run.auto_paused and run.state != "closed":
            # its page came back (a reload re-subscribes): carry on where it was
            run.auto_paused = False
            self._resume(run)

    def unsubscribe(self, run: Run, subscriber: asyncio.Queue) -> None:
        run.subscribers.discard(subscriber)
        if not run.subscribers and run.state != "closed":
            # the page went away: pause (freeing the slot; it may come back) and start the clean-up clock
            run.orphaned_at = time.monotonic()
            if run.holds_slot or run.state == "waiting" or (run.state == "queued" and not run.spec.get("paused")):
                self._pause(run)
                run.auto_paused = True

    def reap(self, now: float | None = None) -> list[str]:
        now = time.monotonic() if now is None else now
        stale = [r.id for r in self.runs.values()
                 if r.orphaned_at is not None and not r.subscribers and now - r.orphaned_at > self.orphan_timeout]
        for run_id in stale:
            self.close(run_id)
        return stale

    def close(self, run_id: str) -> None:
        run = self.runs.pop(run_id, None)
        if run is None:
            return
        was_active = run.holds_slot
        run.state, run.holds_slot = "closed", False
        if self.cpu is not None:
            self.cpu.forget(run_id)
        if run_id in self.queue:
            self.queue.remove(run_id)
        for future in run.pending.values():
            if not future.done():
                future.set_exception(RunNotFound("the run was closed"))
        for subscriber in list(run.subscribers):
            subscriber.put_nowait({"event": "closed"})
        if run.process is not None:
            self._send(run, {"cmd": "shutdown"})
            threading.Thread(target=self._reap_process, args=(run,), daemon=True).start()
        if was_active and self.loop is not None:
            self._start_queued()

    @staticmethod
    def _reap_process(run: Run) -> None:
        run.process.join(timeout=5)
        if run.process.is_alive():
            run.process.terminate()
            run.process.join(timeout=5)
        try:
            run.commands.close()
        except OSError:
            pass

    def shutdown(self) -> None:
        for run_id in list(self.runs):
            run = self.runs[run_id]
            self.close(run_id)
            if run.process is not None:
                run.process.join(timeout=3)
                if run.process.is_alive():
                    run.process.terminate()


@contextlib.contextmanager
def worker_environment():
    """The environment a worker process starts in (``WORKER_ENV``), set only while one starts."""
    with _spawn_lock:
        saved = {k: os.environ.get(k) for k in WORKER_ENV}
        os.environ.update(WORKER_ENV)
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def worker_context(start_method: str):
    """How worker processes start. "spawn" (the default): a fresh interpreter each, which imports numpy and the
    package itself (about 0.5 s of CPU). "forkserver" (classroom mode, where 20 learners may press Start in the
    same minute): workers are forked from a server process that has imported them once; each starts in a few
    milliseconds. Falls back to spawn where there is no fork server (Windows)."""
    if start_method == "forkserver" and "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["tinylm.lab.worker"])
        return ctx
    return mp.get_context("spawn")


@dataclass(frozen=True)
class OwnerLimits:
    """Classroom mode: what each learner may hold at once."""
    active_runs: int = 2           # training at once; more wait in the learner's own line
    # open at once (each started one holds a worker process; lesson 5 opens its six pathology runs beside the
    # runner's and the training-cycle panel's); past it the learner's oldest idle run makes room, else a refusal
    open_runs: int = 8


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"
