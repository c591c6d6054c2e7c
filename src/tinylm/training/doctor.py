"""The loss-curve doctor: one judge of a run's health, fed by the training loop, read by every consumer.

The Trainer hands it every step's (loss, gradient norm, lr) and every evaluation's (train, val) loss. It
keeps a verdict; the loop emits a ``DiagnosisEvent`` whenever the verdict's kind changes and once more,
final, just before the ``FinishedEvent``, so the CLI, ``--json``, the notebook API, ``metrics.jsonl`` and
the lab all show the same words. It only reads numbers, so it never changes what a run computes; but a
``diverged`` verdict stops the run, and the loop writes no checkpoint while ``weights_look_broken()``.

Everything is judged on smoothed curves. One document per step makes single losses jump by 2-3 nats
(one odd name), so every step rule reads the median of the last 20 step losses, which a few odd
documents cannot move, against levels the run itself provides:

    U     ln V, the loss of guessing uniformly;  H1  the unigram entropy of the train split
    L0    the initial loss: the iter-0 evaluation's train loss, else the first step's loss
    R     max(U, L0), where the run starts
    m     median of the last 20 step losses (judged once 5 are in)
    best  the lowest m of a full 20-step window so far
    s     the typical single-step spread: the median, over the run's 20-step windows, of
          1.4826 x the window's median absolute deviation

Rules (the first finding in this order wins; ``overfit`` is what a run is doing now, so it outranks a blow-up
it has recovered from):

    kind      fires when                                     why these thresholds (measured: benchmarks/doctor.py)
    --------  ---------------------------------------------  --------------------------------------------------
    diverged  a loss or gradient norm is NaN/inf;            nothing recovers from NaN
              or m > 100 R (runaway);                        no-warmup blow-ups (35 seeds) peak at m <= 94 (28 R)
              or m > R + 2 for 100 iters in a row            and stay above R + 2 for <= 55 iters, then recover;
              (sustained). The run stops.                    lr 10 runs pass 100 R within ~40 iters
    bad-init  L0 > U + 1 (fresh runs only)                   healthy presets start within 0.25 of U
    dead      the last 10 gradient norms are all 0;          the healthy mlp recipe sits at U with tiny (not
              or after 250 iters m never got 0.1 below U     zero) gradients for up to ~100 iters before it
                                                             learns
    overfit   the last two evaluations' val >= best val      healthy runs: val - train <= ~0.05
              + 0.1, and the last val - train >= 0.3
    unstable  m rose above best by more than max(0.5, 5 s);  healthy batch-1 runs (260 seeds of microgpt and mlp)
              or m > R + 2 (however early);                  reach at most 0.64 of that limit and never m > R + 2;
              or an evaluation's train loss rose 1 nat       evaluations use fixed batches, so healthy ones move
              above its best (sticky)                        by hundredths
    plateau   after 200 iters, best > H1 + 0.1 and it has    only a model that has not even learned character
              not improved by max(0.02, s / sqrt 20) for     frequencies counts (the bigram preset rightly
              max(100, 30% of the iters so far)              flattens at its bigram entropy, below H1)
    healthy   none of the above

``bad-init`` and ``unstable`` describe what happened and stay; ``dead``, ``overfit`` and ``plateau`` describe
the current state and clear when it changes. A run that ends while its loss is still far above R (this
iter's evaluation, else the median of the last 5 steps, above R + 2) ended inside a blow-up: ``unstable``.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

KINDS = ("healthy", "diverged", "unstable", "dead", "overfit", "bad-init", "plateau")
WORST_FIRST = ("diverged", "bad-init", "dead", "overfit", "unstable", "plateau")

WINDOW = 20             # steps in the smoothing median
MIN_WINDOW = 5          # steps before the median is judged at all
FAR = 2.0               # nats above R that count as "far above where the run started"
SUSTAIN = 100           # iters far above R that stop the run
RUNAWAY = 100.0         # m above this many times R stops the run at once
BAD_INIT = 1.0          # nats above U for the initial loss
DEAD_GRAD_STEPS = 10    # steps of exactly-zero gradients that make a run dead
DEAD_AFTER = 250        # iters without ever getting below U - DEAD_MARGIN that make a run dead
DEAD_MARGIN = 0.1       # nats below U that count as "learned something" (left uniform guessing)
RISE_MIN = 0.5          # nats above best, at least ...
RISE_SPREAD = 5.0       # ... and this many single-step spreads
EVAL_RISE = 1.0         # nats an evaluation's train loss may rise above its best
OVERFIT_RISE = 0.1      # nats the val loss rose above its best, at two evaluations in a row
OVERFIT_GAP = 0.3       # nats val - train
PLATEAU_AFTER = 200     # iters before a plateau is judged
PLATEAU_FOR = 100       # iters without a new best (at least; or 30% of the iters so far)
PLATEAU_MARGIN = 0.1    # nats above H1
PLATEAU_GAIN = 0.02     # nats (at least; or the median's noise s / sqrt(20)) that count as progress


@dataclass(frozen=True)
class Verdict:
    kind: str               # one of KINDS
    iter: int
    message: str            # plain words for a learner: what happened, the likely cause, what to try


def median(values) -> float:
    ordered = sorted(values)
    n = len(ordered)
    return ordered[n // 2] if n % 2 else 0.5 * (ordered[n // 2 - 1] + ordered[n // 2])


def _fmt(x: float) -> str:
    """A loss for a sentence: 2.35, 36.4, 126,718 or 1.1e+30."""
    if abs(x) >= 1e7:
        return f"{x:.2g}"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.1f}" if abs(x) >= 10 else f"{x:.2f}"


class Doctor:
    """Watches one run (or one resumed stretch of it). ``observe_step`` / ``observe_eval`` return the new
    verdict when its kind changed, else None; ``final()`` is the verdict to report at the end."""

    def __init__(self, entropies: dict, start_iter: int = 0):
        self.uniform = float(entropies["uniform"])
        self.unigram = float(entropies.get("unigram", self.uniform))
        self.bigram = float(entropies.get("bigram", self.unigram))
        self.fresh = start_iter == 0            # a resumed run did not just start from its init
        self.start_iter = self.iter = start_iter
        self.initial: float | None = None
        self.window: deque[float] = deque(maxlen=WINDOW)
        self.grads: deque[float] = deque(maxlen=DEAD_GRAD_STEPS)
        self.history: deque[tuple[float, float]] = deque(maxlen=6)   # (loss, grad norm) before a NaN
        self.smoothed: float | None = None
        self.best, self.best_iter = math.inf, start_iter
        self.progress_iter = start_iter         # last iter m improved on best by more than its own noise
        self.spreads: list[float] = []           # single-step spread of each full window, every WINDOW steps
        self.spread = 0.0                        # s: their median
        self.far_since: int | None = None       # first iter of the current stretch with m > R + FAR
        self.blowup: dict | None = None         # the worst rise so far (sticky 'unstable')
        self.ended_broken = False               # final(): the run ended inside a blow-up
        self.grad_typical: float | None = None  # median gradient norm at the best window
        self.grad_peak = 0.0
        self.lr = 0.0
        self.evals: list[tuple[int, float, float]] = []
        self.stop_reason: str | None = None     # the 'diverged' message once the run must stop
        self.verdict = Verdict("healthy", start_iter, "healthy: no steps taken yet")

    # --- what the loop asks ---------------------------------------------------------------
    @property
    def reference(self) -> float:
        """R: where the run started (never below ln V)."""
        return max(self.uniform, self.initial if self.initial is not None else self.uniform)

    @property
    def stopped(self) -> bool:
        return self.stop_reason is not None

    def weights_look_broken(self) -> bool:
        """True when the current weights must not be checkpointed: the run diverged, or its loss right now
        (the evaluation at this iter, else the median of the last 5 steps) is far above where it started."""
        if self.stopped:
            return True
        now = self._loss_now()
        return now is not None and now > self.reference + FAR

    def _loss_now(self) -> float | None:
        """The loss of the current weights: this iter's evaluation, else the median of the last 5 steps (a
        shorter window than m, so a blow-up shows at once, yet one odd document cannot fake it)."""
        if self.evals and self.evals[-1][0] == self.iter:
            return self.evals[-1][1]
        recent = list(self.window)[-MIN_WINDOW:]
        return median(recent) if recent else None

    def observe_step(self, it: int, loss: float, grad_norm: float, lr: float) -> Verdict | None:
        self.iter, self.lr = it, lr
        if self.stopped:
            return None
        if not (math.isfinite(loss) and math.isfinite(grad_norm)):
            self.stop_reason = self._nonfinite_message(it, loss, grad_norm, lr)
            return self._update()
        self.history.append((loss, grad_norm))
        if self.initial is None:
            self.initial = loss
        self.window.append(loss)
        self.grads.append(grad_norm)
        self.grad_peak = max(self.grad_peak, grad_norm)
        if len(self.window) >= MIN_WINDOW:
            self.smoothed = m = median(self.window)
            self._watch_divergence(it, m, lr)
            if len(self.window) == WINDOW:
                self._watch_rise(it, m)
        return self._update()

    def observe_eval(self, it: int, train_loss: float, val_loss: float) -> Verdict | None:
        self.iter = it
        if self.stopped:
            return None
        if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
            bad = train_loss if not math.isfinite(train_loss) else val_loss
            self.stop_reason = (f"diverged at iter {it}: the evaluation loss became {bad} — the last update broke "
                                f"the weights; likely cause: {self._lr_cause()}")
            return self._update()
        if self.initial is None and it == self.start_iter:
            self.initial = train_loss
        if self.evals and it > self.start_iter:
            best_it, best_train = min(((i, t) for i, t, _ in self.evals), key=lambda e: e[1])
            if train_loss > best_train + EVAL_RISE:
                self._note_blowup(best_train, best_it, train_loss, it)
        self.evals.append((it, train_loss, val_loss))
        return self._update()

    def final(self) -> Verdict:
        """The verdict at the end of the run (or of this stretch of it), with the latest numbers."""
        self.ended_broken = not self.stopped and self.weights_look_broken()
        if self.ended_broken:   # the run ends inside a blow-up: its weights are far worse than at the start
            self._note_blowup(min(self.best, self.reference), self.best_iter, self._loss_now(), self.iter)
        kind = self._worst_kind()
        self.verdict = Verdict(kind, self.iter, self._message(kind))
        return self.verdict

    # --- the rules --------------------------------------------------------------------------
    def _watch_divergence(self, it: int, m: float, lr: float) -> None:
        r = self.reference
        if m > RUNAWAY * r:
            self.stop_reason = (f"diverged at iter {it}: the loss shot up to {_fmt(m)} (it started at {r:.2f}) — "
                                f"the learning rate ({lr:.3g}) is far too high: every update overshoots and makes "
                                "the model more confidently wrong. Lower the learning rate (--lr), e.g. by 10x, "
                                "or warm up to it (--warmup)")
            return
        if m > r + FAR:
            if self.far_since is None:
                self.far_since = it
            # far above the start is a blow-up even when it came before a full window set a best
            self._note_blowup(min(self.best, r), self.best_iter if self.best < r else self.start_iter, m, it)
            if it - self.far_since + 1 >= SUSTAIN:
                self.stop_reason = (f"diverged at iter {it}: the loss has stayed above {r + FAR:.1f} (2 nats worse "
                                    f"than at the start, {r:.2f}) for {SUSTAIN} iters and is {_fmt(m)} now — the "
                                    f"learning rate ({lr:.3g}) is too high for this model: lower it (--lr), e.g. by "
                                    "10x, warm up to it (--warmup), or clip the gradient norm (--grad-clip)")
        else:
            self.far_since = None

    def _watch_rise(self, it: int, m: float) -> None:
        if (it - self.start_iter) % WINDOW == 0:
            # s is the run's typical spread, the median over its windows: the window at the best m is no good
            # estimate, it is chosen for being low and low windows tend to be the calm ones
            self.spreads.append(1.4826 * median(abs(x - m) for x in self.window))
            self.spread = median(self.spreads)
        if m < self.best:
            # a plateau's clock restarts only on real progress, not on the creeping minimum of a noisy median
            if m < self.best - max(PLATEAU_GAIN, self.spread / math.sqrt(WINDOW)):
                self.progress_iter = it
            self.best, self.best_iter = m, it
            self.grad_typical = median(self.grads)
        elif m - self.best > max(RISE_MIN, RISE_SPREAD * self.spread):
            self._note_blowup(self.best, self.best_iter, m, it)

    def _note_blowup(self, base: float, base_iter: int, value: float, it: int) -> None:
        if self.blowup is None:
            self.blowup = {"base": base, "base_iter": base_iter, "peak": value, "peak_iter": it}
        elif value > self.blowup["peak"]:
            self.blowup.update(peak=value, peak_iter=it)

    def _dead(self) -> str | None:
        if len(self.grads) == DEAD_GRAD_STEPS and max(self.grads) == 0.0:
            return "zero-gradient"
        if self.iter - self.start_iter >= DEAD_AFTER and self.best > self.uniform - DEAD_MARGIN:
            return "no-progress"
        return None

    def _overfit(self) -> bool:
        if len(self.evals) < 3:
            return False
        best_val = min(v for _, _, v in self.evals[:-2])
        (_, _, v1), (_, t2, v2) = self.evals[-2], self.evals[-1]
        return v1 >= best_val + OVERFIT_RISE and v2 >= best_val + OVERFIT_RISE and v2 - t2 >= OVERFIT_GAP

    def _plateau(self) -> bool:
        done = self.iter - self.start_iter
        if done < PLATEAU_AFTER or not math.isfinite(self.best) or self.initial is None:
            return False
        left_start = self.best < self.uniform - DEAD_MARGIN      # else it is dead, not stuck
        stale = self.iter - self.progress_iter >= max(PLATEAU_FOR, 0.3 * done)
        return left_start and stale and self.best > self.unigram + PLATEAU_MARGIN

    def _worst_kind(self) -> str:
        found = {"diverged": self.stopped,
                 "bad-init": self.fresh and self.initial is not None and self.initial > self.uniform + BAD_INIT,
                 "dead": self._dead() is not None,
                 "unstable": self.blowup is not None,
                 "overfit": self._overfit(),
                 "plateau": self._plateau()}
        return next((kind for kind in WORST_FIRST if found[kind]), "healthy")

    def _update(self) -> Verdict | None:
        kind = self._worst_kind()
        if kind == self.verdict.kind:
            return None
        self.verdict = Verdict(kind, self.iter, self._message(kind))
        return self.verdict

    # --- the words ----------------------------------------------------------------------------
    def _lr_cause(self) -> str:
        norms = [g for _, g in self.history if math.isfinite(g)]
        if self.lr >= 0.1:
            return "the learning rate is far too high; lower it (--lr), e.g. by 10x, or warm up to it (--warmup)"
        if len(norms) >= 2 and norms[-1] > 10 * min(norms):
            return ("gradients exploded in the last iterations; lower the learning rate (--lr), warm up to it "
                    "(--warmup) or clip the gradient norm (--grad-clip)")
        return ("numerical overflow; try a lower learning rate (--lr), clipping the gradient norm (--grad-clip) or "
                "double precision (--dtype float64)")

    def _nonfinite_message(self, it: int, loss: float, grad_norm: float, lr: float) -> str:
        what, bad = ("loss", loss) if not math.isfinite(loss) else ("gradient norm", grad_norm)
        return f"diverged at iter {it}: the {what} became {bad} (lr {lr:.3g}) — likely cause: {self._lr_cause()}"

    def _message(self, kind: str) -> str:
        u, now = self.uniform, self.smoothed
        if kind == "diverged":
            return self.stop_reason or "diverged"
        if kind == "bad-init":
            return (f"bad init: the first loss {self.initial:.2f} is far above ln V = {u:.2f} — the initial weights "
                    "are too large, so the model starts out confidently wrong and spends its first iterations "
                    "unlearning that; initialise with smaller random weights (--set model.init_std=0.02)")
        if kind == "dead":
            if self._dead() == "zero-gradient":
                return (f"dead: the gradient has been exactly 0 for {DEAD_GRAD_STEPS}+ iters and the loss stays at "
                        f"{_fmt(now if now is not None else self.initial)} (ln V = {u:.2f}) — no signal reaches the "
                        "weights: with every weight initialised to 0 all units compute the same thing and none can "
                        "change; initialise with small random weights")
            grad = median(self.grads) if self.grads else 0.0
            return (f"dead: after {self.iter - self.start_iter} iters the loss is still {now:.2f}, no better than "
                    f"uniform guessing (ln V = {u:.2f}), although gradients flow (norm {grad:.2g}) — the learning "
                    f"rate ({self.lr:.3g}) may be far too small, or the model cannot use its input; raise the learning "
                    "rate (--lr) or check the data and the init")
        if kind == "unstable":
            b = self.blowup
            if b["base_iter"] <= self.start_iter:
                before = f"the loss rose from {b['base']:.2f} at the start"
            else:
                before = f"the loss fell to {b['base']:.2f} by iter {b['base_iter']}, then shot up"
            now = self._loss_now()
            if self.ended_broken:
                tail = (" and was still far above its start when the run ended (weights like these are never "
                        "checkpointed)")
            elif now is not None and now < b["base"] + max(RISE_MIN, RISE_SPREAD * self.spread):
                tail = f", then came back down to {now:.2f}"
            else:
                tail = f" and is {_fmt(now)} now" if now is not None else ""
            grads = ""
            if self.grad_typical and self.grad_peak > 5 * self.grad_typical:
                grads = f" (the gradient norm jumped from ~{self.grad_typical:.2g} to {self.grad_peak:.3g})"
            return (f"unstable: {before} to {_fmt(b['peak'])} at iter {b['peak_iter']}{grads}{tail} — the learning "
                    "rate is too high for this model: an update overshot and undid what it had learned. Lower the "
                    "learning rate (--lr), or warm up to it (--warmup)")
        if kind == "overfit":
            best_it, _, best_val = min(self.evals[:-2], key=lambda e: e[2])
            _, train, val = self.evals[-1]
            also = ""
            if self.blowup is not None:   # a blow-up it recovered from: worth knowing, but not the story
                also = f"; the training loss also jumped once, to {_fmt(self.blowup['peak'])} at iter " \
                       f"{self.blowup['peak_iter']}"
            return (f"overfit: train {train:.2f} but val {val:.2f}, rising since iter {best_it} (then {best_val:.2f})"
                    f"{also} — the model memorises its training documents instead of learning what generalises; "
                    "use more data, a smaller model or weight decay, or keep the checkpoint with the best val")
        if kind == "plateau":
            return (f"plateau: the smoothed loss has hardly improved since iter {self.progress_iter} "
                    f"({self.best:.2f} now), still above the character-frequency level (unigram entropy "
                    f"{self.unigram:.2f}) — the model has learned little more than how common each character is; "
                    "try a higher learning rate (--lr), more steps (--steps) or a bigger model")
        return self._healthy_message()

    def _healthy_message(self) -> str:
        if self.initial is None:
            return "healthy: no steps taken yet"
        latest = self.evals[-1] if self.evals and self.evals[-1][0] == self.iter else None
        now = latest[1] if latest else self.smoothed if self.smoothed is not None else self.initial
        val = f" (val {latest[2]:.2f})" if latest else ""
        if now > self.uniform - DEAD_MARGIN:
            return (f"healthy so far: the loss is still near {now:.2f} (ln V = {self.uniform:.2f}) after "
                    f"{self.iter - self.start_iter} iters — it has not started to fall yet; give it more steps")
        if not self.fresh:
            return (f"healthy: the loss is {now:.2f}{val}, from {self.initial:.2f} when the run resumed at iter "
                    f"{self.start_iter}")
        return (f"healthy: the loss fell from {self.initial:.2f} to {now:.2f}{val}; a bigram table reaches "
                f"{self.bigram:.2f}")
