"""Each run's loss curve, kept small as it trains, for the teacher's view: a sparkline per learner and the
class chart that overlays everyone's lesson-1 curve (the twin-seed idea at class scale: same recipe,
different seeds, one picture).

Fed by the run registry's event observer (every published event passes through ``observe``; only step
events are used). A point is the mean training loss of the last 50 steps, the line the learner's own chart
draws ("train NLL · last 50 steps"): one name per step is too noisy a loss to compare runs by. A curve keeps
at most ``MAX_POINTS`` points, one every ``stride`` steps, the stride doubling (every other point dropped)
whenever the curve fills up, so a 50,000-step run costs as little as a short one.
"""
from __future__ import annotations

import collections
import math
from dataclasses import dataclass, field

MAX_POINTS = 120
SMOOTH = 50                     # steps in a point's mean, as the runner's chart (js/runner.js SMOOTH)
CURVES_PER_LEARNER = 8          # closed runs' curves are kept for the class chart, up to this many a learner


@dataclass
class Curve:
    run_id: str
    owner: str
    lesson: str                 # the lesson the learner was on when the run started ("" if none)
    label: str                  # preset (or pathology) and seed, for the chart's legend
    steps: int                  # planned steps (0: unknown)
    stride: int = 1
    points: list[tuple[int, float]] = field(default_factory=list)    # (iter, mean loss of the last 50 steps)
    window: collections.deque = field(default_factory=lambda: collections.deque(maxlen=SMOOTH))
    since_point: int = 0
    last_iter: int = 0
    state: str = "running"

    def add(self, iteration: int, loss: float) -> None:
        self.last_iter = iteration
        if not math.isfinite(loss):
            return
        self.window.append(loss)
        self.since_point += 1
        if self.since_point >= self.stride:
            self.points.append((iteration, sum(self.window) / len(self.window)))
            self.since_point = 0
            if len(self.points) >= MAX_POINTS:       # halve: every other point, twice the stride from now on
                self.points = self.points[1::2]
                self.stride *= 2

    def public(self) -> dict:
        return {"run": self.run_id, "lesson": self.lesson, "label": self.label, "steps": self.steps,
                "iter": self.last_iter, "state": self.state,
                "points": [[i, round(v, 4)] for i, v in self.points]}


class LossCurves:
    def __init__(self) -> None:
        self.curves: dict[str, Curve] = {}

    def track(self, run_id: str, owner: str, lesson: str, label: str, steps: int) -> None:
        self.curves[run_id] = Curve(run_id, owner, lesson, label, steps)
        mine = [c for c in self.curves.values() if c.owner == owner]
        for old in mine[:-CURVES_PER_LEARNER]:          # oldest first (dicts keep insertion order)
            del self.curves[old.run_id]

    def observe(self, run, message: dict) -> None:
        curve = self.curves.get(run.id)
        if curve is None:
            return
        kind = message.get("event")
        if kind == "step":
            loss = message.get("loss")
            curve.add(int(message.get("iter", 0)), float(loss) if isinstance(loss, (int, float)) else math.nan)
        elif kind == "status":
            curve.state = message.get("state", curve.state)
        elif kind == "error":
            curve.state = "error"

    def closed(self, run_id: str) -> None:
        curve = self.curves.get(run_id)
        if curve is not None and curve.state not in ("finished", "error"):
            curve.state = "closed"

    def of(self, owner: str) -> list[Curve]:
        return [c for c in self.curves.values() if c.owner == owner]
