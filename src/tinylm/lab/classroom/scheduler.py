"""Fair sharing of the cores among every learner's training runs: round robin in short turns.

Twenty learners on a two-core laptop each press Start. Twenty worker processes training at once would make
the server wait for the CPU behind them (the class's pages stall) and leave who progresses to chance. So in
classroom mode a worker trains only during a *turn* this scheduler grants: at most ``cores`` turns at a
time, granted first come first served from one line. A turn lasts a short slice (shorter the more runs
want one, so a whole round stays under ``round_s`` and every run steps at least that often); the worker then
gives it back and, if it still wants to train, joins the end of the line. Every run progresses, each at
``cores / runs`` of a core: slower, never queued behind the others.

Loading a run (building its model and data, the first evaluation) takes CPU too, in one piece of about a third
of a second: it has a lane of its own (``load_slots`` at a time, first come first served), so twenty learners
pressing Start at once neither load all at once nor hold up the runs already training.

A run that wants no CPU just now (paused, finished, or a paced run ahead of its pace: lesson 1 trains at
20 steps a second) gives its turn back at once and says when it wants the next one; it rejoins the line
then. So slow-paced runs cost only the steps they take, and the turns go to those that can use them.

Messages (all on the event loop): a worker says ``{"event": "cpu", "at": t, "turn": n}`` (``at``: the
monotonic time it next wants to step, 0.0 now, None never; ``turn``: the turn it gives back, if any), or
``{"event": "cpu", "load": true}`` before it loads, and is sent ``{"cmd": "turn", "n": n, "s": seconds}``.
"""
from __future__ import annotations

import asyncio
import collections
import itertools
import time
from collections.abc import Callable


class CpuScheduler:
    def __init__(self, cores: int, send: Callable[[str, dict], None] | None = None, round_s: float = 0.5,
                 min_slice_s: float = 0.01, max_slice_s: float = 0.1, load_slots: int = 1) -> None:
        self.cores = max(1, int(cores))
        self.load_slots = load_slots
        self.loading: dict[str, int] = {}                # run id -> the loading turn it holds
        self.load_line: collections.deque[str] = collections.deque()
        self.send = send                 # (run id, message) -> None; the registry's pipe to the worker
        self.round_s = round_s
        self.min_slice_s = min_slice_s
        self.max_slice_s = max_slice_s
        self.holders: dict[str, int] = {}                # run id -> the turn it holds
        self.line: collections.deque[str] = collections.deque()
        self.timers: dict[str, asyncio.TimerHandle] = {}
        self.turns_granted: collections.Counter[str] = collections.Counter()
        self._numbers = itertools.count(1)

    def slice_s(self) -> float:
        """A turn's length: a full round of every run wanting the CPU takes at most ``round_s``."""
        contenders = len(self.line) + len(self.holders) + 1
        return max(self.min_slice_s, min(self.max_slice_s, self.round_s * self.cores / contenders))

    def on_cpu(self, run_id: str, at: float | None, turn: int | None = None, load: bool = False) -> None:
        """A worker's message: what it wants (and, with ``turn``, the turn it gives back)."""
        if load:
            if run_id not in self.loading and run_id not in self.load_line:
                self.load_line.append(run_id)
            self._dispatch()
            return
        if run_id in self.loading:
            if turn != self.loading[run_id]:
                return
            del self.loading[run_id]
            self._want(run_id, at)
            self._dispatch()
            return
        held = self.holders.get(run_id)
        if held is not None:
            if turn != held:
                return       # said before the turn reached it: it answers the turn itself when it ends
            del self.holders[run_id]
        self._want(run_id, at)
        self._dispatch()

    def forget(self, run_id: str) -> None:
        """The run is gone (closed, failed): drop its turn and its place in line."""
        self._drop(run_id)
        if run_id in self.load_line:
            self.load_line.remove(run_id)
        if self.holders.pop(run_id, None) is not None or self.loading.pop(run_id, None) is not None:
            self._dispatch()

    def _drop(self, run_id: str) -> None:
        timer = self.timers.pop(run_id, None)
        if timer is not None:
            timer.cancel()
        try:
            self.line.remove(run_id)
        except ValueError:
            pass

    def _want(self, run_id: str, at: float | None) -> None:
        self._drop(run_id)
        if at is None:
            return
        delay = at - time.monotonic()
        if delay <= 0:
            self.line.append(run_id)
            return
        self.timers[run_id] = asyncio.get_running_loop().call_later(delay, self._wake, run_id)

    def _wake(self, run_id: str) -> None:
        self.timers.pop(run_id, None)
        if run_id not in self.holders and run_id not in self.line:
            self.line.append(run_id)
        self._dispatch()

    def _dispatch(self) -> None:
        while self.load_line and len(self.loading) < self.load_slots:
            run_id = self.load_line.popleft()
            number = next(self._numbers)
            self.loading[run_id] = number
            if self.send is not None:
                self.send(run_id, {"cmd": "turn", "n": number, "s": 0.0})
        while self.line and len(self.holders) < self.cores:
            run_id = self.line.popleft()
            number = next(self._numbers)
            self.holders[run_id] = number
            self.turns_granted[run_id] += 1
            if self.send is not None:
                self.send(run_id, {"cmd": "turn", "n": number, "s": self.slice_s()})

    def snapshot(self) -> dict:
        return {"cores": self.cores, "training_now": len(self.holders), "waiting_for_a_turn": len(self.line),
                "loading": len(self.loading), "waiting_to_load": len(self.load_line),
                "slice_ms": round(1000 * self.slice_s(), 1)}
