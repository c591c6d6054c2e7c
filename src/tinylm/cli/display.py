"""Terminal rendering of training events (rich): a progress bar, eval lines, phase changes, samples and the
loss-curve doctor's diagnoses."""
from __future__ import annotations

import json
import math
import time

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..training.events import Event


class TrainDisplay:
    """mode: "rich" (progress + lines), "quiet" (final summary only), "json" (one JSON event per line)."""

    def __init__(self, mode: str = "rich", enabled: bool = True, console: Console | None = None):
        self.mode = mode
        self.enabled = enabled
        self.console = console or Console(highlight=False)
        self.progress: Progress | None = None
        self.task = None
        self._last_refresh = 0.0
        self._first_loss: float | None = None
        self._start = None
        self._diagnosis = None        # the last diagnosis shown (its kind is printed again only when it changes)
        self._last_step = None

    def __enter__(self) -> "TrainDisplay":
        return self

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.stop()

    def show(self, event: Event) -> None:
        if not self.enabled:
            return
        if self.mode == "json":
            print(json.dumps(event.to_dict()), flush=True)
            return
        handler = getattr(self, f"_on_{event.kind}", None)
        if handler is not None:
            handler(event)

    def _print(self, text: str) -> None:
        if self.mode == "rich":
            self.console.print(text)

    def _on_start(self, e) -> None:
        self._start = e
        resumed = f", resumed at iter {e.start_iter}" if e.start_iter else ""
        self._print(f"[bold]tinylm[/] · preset [cyan]{e.preset}[/] · {e.engine} engine · "
                    f"[bold]{e.n_params:,}[/] params · data {escape(e.data)} ({e.data_kind}, vocab {e.vocab_size}, "
                    f"block {e.block_size}) · {e.steps} steps{resumed}")
        ent = e.entropies
        self._print(f"  reference losses: uniform ln V = {ent['uniform']:.3f}, unigram {ent['unigram']:.3f}, "
                    f"bigram {ent['bigram']:.3f} nats")
        if e.compat:
            self._print(f"  compat: {escape(e.compat)}")
        if e.note:
            self._print(f"  {escape(e.note)}")
        if self.mode == "rich":
            self.progress = Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                                     MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("{task.fields[info]}"),
                                     console=self.console, transient=False)
            self.progress.start()
            self.task = self.progress.add_task("training", total=e.steps, completed=e.start_iter, info="")

    def _on_step(self, e) -> None:
        self._last_step = e
        if self._first_loss is None:
            self._first_loss = e.loss
        now = time.monotonic()
        last = self._start is not None and e.iter >= self._start.steps
        if self.progress is not None and (now - self._last_refresh > 0.1 or last or not math.isfinite(e.loss)):
            self._last_refresh = now
            self.progress.update(self.task, completed=e.iter,
                                 info=self._step_info(e))

    @staticmethod
    def _step_info(e) -> str:
        loss = f"{e.loss:.4f}" if abs(e.loss) < 1e4 else f"{e.loss:.3g}"   # a diverged loss stays readable
        return f"loss {loss} · lr {e.lr:.2e} · {e.tokens_per_s:,.0f} tok/s"

    def _on_eval(self, e) -> None:
        ppl = math.exp(e.val_loss) if e.val_loss < 50 else float("inf")
        self._print(f"iter {e.iter:>6} │ train {e.train_loss:.4f} │ val {e.val_loss:.4f} │ val ppl {ppl:.2f}")

    def _on_phase(self, e) -> None:
        self._print(f"  [magenta]phase → {e.phase}[/] (val {e.val_loss:.3f})")

    def _on_sample(self, e) -> None:
        if self._start is not None and self._start.data_kind == "documents":
            body = ", ".join(escape(s) for s in e.samples)
        else:
            body = "\n    " + escape(e.prompt) + "[bold]" + escape("".join(e.samples)).replace("\n", "\n    ") + "[/]"
        self._print(f"  [dim]sample @ {e.iter} \\[{escape(e.phase)}]:[/] {body}")

    DIAGNOSIS_STYLE = {"healthy": "green", "diverged": "bold red", "unstable": "bold yellow", "dead": "bold red",
                       "overfit": "bold yellow", "bad-init": "bold yellow", "plateau": "yellow"}

    def _on_diagnosis(self, e) -> None:
        """Each new verdict once: a warning as it happens, the healthy verdict at the end of a healthy run.
        The final event repeats the last verdict (with the latest numbers); quiet mode prints it at the end."""
        changed = self._diagnosis is None or self._diagnosis.verdict != e.verdict
        self._diagnosis = e
        if e.verdict == "diverged":
            return  # the CLI prints it on stderr, as the run's error
        if self.mode == "rich" and changed:
            style = self.DIAGNOSIS_STYLE.get(e.verdict, "bold")
            self.console.print(f"  [{style}]diagnosis @ {e.iter}: {escape(e.message)}[/]")

    def _on_finished(self, e) -> None:
        if self.progress is not None:
            last = self._last_step   # the bar refreshes at most 10x a second: show the last step's numbers
            self.progress.update(self.task, completed=e.iter, **({"info": self._step_info(last)} if last else {}))
            self.progress.stop()
            self.progress = None
        if e.reason == "diverged":
            return  # the CLI prints the diagnosis on stderr
        if self.mode == "quiet" and self._diagnosis is not None and self._diagnosis.verdict != "healthy":
            print(f"diagnosis: {self._diagnosis.message}")
        val = f", val {e.final_val_loss:.4f}" if e.final_val_loss is not None else ""
        train = f"train {e.final_train_loss:.4f}" if e.final_train_loss is not None else ""
        when = f" (eval at iter {e.eval_iter})" if e.eval_iter is not None and e.eval_iter != e.iter else ""
        line = f"{e.reason} at iter {e.iter}: {train}{val}{when}"
        if self.mode == "rich":
            self.console.print(f"[bold green]{line}[/]")
        else:
            print(line)

    def _on_checkpoint(self, e) -> None:
        if self._start is not None and e.iter >= self._start.steps:
            self._print(f"  checkpoint → {escape(e.path)}")
