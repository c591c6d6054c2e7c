"""The run registry: one worker process per run, a cap on concurrent training runs, a queue beyond it.

Each run owns a worker process (spawn context), a command pipe down and an event queue up. A reader
thread per run moves events from the queue onto the server's event loop, where they are numbered,
kept (so a reconnecting page can replay them) and fanned out to the run's subscribers. Replies to
queries are routed to the request waiting for them instead.

A run nobody watches (its last event stream closed, or none was ever opened) is paused and, after
``orphan_timeout`` seconds, shut down and forgotten.
"""
from __future__ import annotations

import asyncio
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

ACTIVE = ("starting", "running", "paused")     # states that hold a training slot
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
    state: str = "queued"          # queued | starting | running | paused | finished | error | closed
    iter: int = 0
    message: str = ""
    history: list[dict] = field(default_factory=list)
    frames: list[str] = field(default_factory=list)   # each event serialised once, for every watcher
    subscribers: set = field(default_factory=set)
    orphaned_at: float | None = None
    process: Any = None
    commands: Any = None
    events: Any = None
    reader: threading.Thread | None = None
    pending: dict = field(default_factory=dict)
    created: float = field(default_factory=time.time)

    def summary(self) -> dict:
        return {"id": self.id, "state": self.state, "iter": self.iter, "message": self.message,
                "request": self.request.to_dict(), "events": len(self.history),
                "watchers": len(self.subscribers)}


class RunRegistry:
    def __init__(self, max_active: int = 2, max_runs: int = 12, orphan_timeout: float = 300.0,
                 query_timeout: float = 60.0) -> None:
        self.max_active = max_active
        self.max_runs = max_runs
        self.orphan_timeout = orphan_timeout
        self.query_timeout = query_timeout
        self.runs: dict[str, Run] = {}
        self.queue: list[str] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self.ctx = mp.get_context("spawn")
        self._rids = itertools.count(1)

    # --- lifecycle --------------------------------------------------------------------------
    def create(self, request: RunRequest, spec: dict) -> Run:
        self.loop = asyncio.get_running_loop()
        open_runs = [r for r in self.runs.values() if r.state != "closed"]
        if len(open_runs) >= self.max_runs:
            raise LabBusy(f"the lab already has {len(open_runs)} runs open (limit {self.max_runs}); reset one first")
        run = Run(id=secrets.token_hex(6), request=request, spec=spec, orphaned_at=time.monotonic())
        self.runs[run.id] = run
        self.queue.append(run.id)
        self._publish(run, {"event": "status", "state": "queued", "iter": 0,
                            "position": len(self.queue)})
        self._start_queued()
        return run

    def get(self, run_id: str) -> Run:
        run = self.runs.get(run_id)
        if run is None or run.state == "closed":
            raise RunNotFound(f"no run {run_id!r} (it was reset or cleaned up)")
        return run

    def active_count(self) -> int:
        return sum(1 for r in self.runs.values() if r.state in ACTIVE)

    def _start_queued(self) -> None:
        while self.queue and self.active_count() < self.max_active:
            run = self.runs.get(self.queue.pop(0))
            if run is not None and run.state == "queued":
                self._spawn(run)
        for position, run_id in enumerate(self.queue, 1):
            run = self.runs.get(run_id)
            if run is not None:
                self._publish(run, {"event": "status", "state": "queued", "iter": 0, "position": position})

    def _spawn(self, run: Run) -> None:
        run.state = "starting"
        receiver, sender = self.ctx.Pipe(duplex=False)
        run.commands = sender
        run.events = self.ctx.Queue()
        run.process = self.ctx.Process(target=worker_main, args=(run.spec, receiver, run.events),
                                       name=f"tinylm-lab-{run.id}", daemon=True)
        with _spawn_lock:
            saved = {k: os.environ.get(k) for k in WORKER_ENV}
            os.environ.update(WORKER_ENV)
            try:
                run.process.start()
            except Exception as exc:  # e.g. a script without a __main__ guard cannot spawn workers
                run.process = None
                self._on_event(run, {"event": "error", "message": f"could not start the training worker: {exc}"})
                return
            finally:
                receiver.close()
                for k, v in saved.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v
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
            try:
                loop.call_soon_threadsafe(self._on_event, run, message)
            except RuntimeError:   # the event loop is closed: the server is shutting down
                return

    def _on_event(self, run: Run, message: dict) -> None:
        if run.state == "closed":
            return
        kind = message.get("event")
        if kind == "reply":
            future = run.pending.pop(message.get("rid"), None)
            if future is not None and not future.done():
                future.set_result(message)
            return
        freed = False
        if kind == "status":
            run.state = message["state"]
            run.iter = message.get("iter", run.iter)
            freed = run.state == "finished"
        elif kind == "step":
            run.iter = message["iter"]
        elif kind == "error":
            run.state, run.message, freed = "error", message.get("message", ""), True
            message.pop("trace", None)
        elif kind == "finished":
            run.message = message.get("message", "")
        self._publish(run, message)
        if freed:
            self._start_queued()

    def _publish(self, run: Run, message: dict) -> None:
        message["seq"] = len(run.history)
        run.history.append(message)
        run.frames.append(f"id: {message['seq']}\ndata: {json.dumps(message, separators=(',', ':'))}\n\n")
        for subscriber in list(run.subscribers):
            subscriber.put_nowait(message)

    def _send(self, run: Run, message: dict) -> None:
        try:
            run.commands.send(message)
        except (BrokenPipeError, OSError, AttributeError):
            pass

    # --- commands and queries -------------------------------------------------------------------
    def command(self, run_id: str, command: dict) -> dict:
        run = self.get(run_id)
        if run.state == "queued":
            # not started yet: remember whether it should start paused; stop removes it from the queue
            if command["cmd"] == "stop":
                self.close(run_id)
                return {"state": "closed"}
            run.spec["paused"] = command["cmd"] in ("pause", "step")
            return {"state": "queued"}
        if run.state in ("error", "finished") and command["cmd"] != "stop":
            return {"state": run.state}
        self._send(run, command)
        return {"state": run.state}

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

    def unsubscribe(self, run: Run, subscriber: asyncio.Queue) -> None:
        run.subscribers.discard(subscriber)
        if not run.subscribers and run.state != "closed":
            # the page went away: pause (it may come back) and start the clean-up clock
            run.orphaned_at = time.monotonic()
            if run.state == "running":
                self._send(run, {"cmd": "pause"})

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
        was_active = run.state in ACTIVE
        run.state = "closed"
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
