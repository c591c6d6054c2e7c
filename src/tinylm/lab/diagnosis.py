"""Name what went wrong in a run, from its curves alone (the 'when training breaks' panel).

Rules, checked in order (U = ln V, the loss of uniform guessing; curves smoothed over max(20, n/10) iters):
    diverged     a loss or gradient norm became NaN/inf
    bad init     the first loss is more than 1 nat above U: the initial weights are too large, so the
                 model starts confidently wrong
    dead         the smoothed loss never gets 0.05 below U although updates were taken
    unstable     a loss after the first shot 1+ nat above the first loss, or the smoothed loss fell to a
                 minimum and then climbed back more than 0.3 above it
    overfitting  the last validation loss is 0.5+ above train and has risen 0.1+ from its best
    healthy      none of the above
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class Diagnosis:
    name: str
    message: str

    def to_dict(self) -> dict:
        return {"name": self.name, "message": self.message}


def smooth(values: list[float], window: int = 10) -> list[float]:
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def diagnose(losses: list[float], evals: list[tuple[int, float, float]], uniform: float,
             diverged: str = "") -> Diagnosis:
    """losses: training loss per iter (1-based order); evals: (iter, train_loss, val_loss);
    diverged: the trainer's message when it stopped on a non-finite loss or gradient."""
    if diverged:
        return Diagnosis("diverged", f"diverged: {diverged.removeprefix('training diverged ')}")
    for i, loss in enumerate(losses):
        if not math.isfinite(loss):
            return Diagnosis("diverged", f"diverged: the loss became {loss} at iter {i + 1} — the learning rate "
                                         "is too high, updates overshoot until the numbers overflow")
    if not losses:
        return Diagnosis("healthy", "no steps taken yet")
    if losses[0] > uniform + 1.0:
        return Diagnosis("bad init", f"bad init: the first loss {losses[0]:.2f} is far above ln V = {uniform:.2f} — "
                                     "the initial weights are too large, so the model starts confidently wrong")
    spike = max(range(1, len(losses)), key=losses.__getitem__, default=0)
    if spike and losses[spike] > losses[0] + 1.0:
        return Diagnosis("unstable", f"unstable: the loss shot up to {losses[spike]:.1f} at iter {spike + 1} (it started "
                                     f"at {losses[0]:.2f}) — the learning rate is too high: lower it, or warm up to it")
    curve = smooth(losses, max(20, len(losses) // 10))  # batch-1 runs are noisy: smooth over more
    if len(curve) >= 20 and min(curve) > uniform - 0.05:
        return Diagnosis("dead", f"dead: the loss stays at ln V = {uniform:.2f} for {len(curve)} iters although "
                                 "updates are taken — no gradient reaches the weights (or the lr is ~0)")
    best = min(range(len(curve)), key=curve.__getitem__)
    if curve[-1] > curve[best] + 0.3:
        return Diagnosis("unstable", f"unstable: the loss fell to {curve[best]:.2f} by iter {best + 1}, then climbed "
                                     f"back to {curve[-1]:.2f} — the learning rate is too high: lower it, or warm up to it")
    if evals:
        last_it, last_train, last_val = evals[-1]
        best_val = min(v for _, _, v in evals)
        best_it = min(evals, key=lambda e: e[2])[0]
        if last_val > last_train + 0.5 and last_val > best_val + 0.1:
            return Diagnosis("overfitting", f"overfitting: train {last_train:.2f} but val {last_val:.2f}, rising since "
                                            f"iter {best_it} — the model memorises its few training documents")
    return Diagnosis("healthy", f"healthy: the loss fell from {losses[0]:.2f} to {curve[-1]:.2f}")
