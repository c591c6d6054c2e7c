"""Progress while ``tinylm.train`` runs: a rich bar (iter, loss, lr, tokens/s) with the latest eval, sample
and diagnosis under it. In Jupyter it is one output that updates in place (an IPython display handle, so no
ipywidgets needed); in a terminal it is a live bar on stderr (stdout, and doctests, stay clean); in a pipe or
a log file it is printed once, when training ends."""
from __future__ import annotations

import io
import math
import time

from rich.console import Console, Group
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from ..training.events import Event

REFRESH_SECONDS = 0.2
JUPYTER_WIDTH = 100
JUPYTER_HTML = ('<pre style="white-space:pre;overflow-x:auto;line-height:normal;'
                'font-family:Menlo,\'DejaVu Sans Mono\',consolas,\'Courier New\',monospace">{code}</pre>')


def in_jupyter() -> bool:
    """True inside a Jupyter kernel (where a display handle can be updated in place)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def verdict_text(e) -> str:
    """The doctor's message, led by its verdict unless the message already says it."""
    return e.message if e.message.startswith(e.verdict) else f"{e.verdict}: {e.message}"


class TrainingProgress:
    """Feed it every event (``show(event)``) and ``close()`` it at the end."""

    def __init__(self, console: Console | None = None):
        self.jupyter = console is None and in_jupyter()
        self.console = console or Console(stderr=not self.jupyter, highlight=False)
        self.bar = Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                            MofNCompleteColumn(), TimeElapsedColumn(), console=self.console, auto_refresh=False)
        self.task = None
        # step / eval / sample / diagnosis: the latest of each, under the bar, in that order
        self.lines: dict[str, str] = {"step": ""}
        self._last_step = None
        self._last_draw = 0.0
        self._live = None                   # terminal: rich Live; Jupyter: an IPython display handle
        self._handle = None
        self._documents = True

    # --- events ----------------------------------------------------------------------
    def show(self, event: Event) -> None:
        handler = getattr(self, f"_on_{event.kind}", None)
        if handler is not None:
            handler(event)

    def _on_start(self, e) -> None:
        self._documents = e.data_kind == "documents"
        self.task = self.bar.add_task(f"{e.preset} · {e.n_params:,} params", total=e.steps,
                                      completed=e.start_iter)
        self._draw(force=True)

    def _on_step(self, e) -> None:
        self._last_step = e
        if self.task is not None:
            self.bar.update(self.task, completed=e.iter)
        self.lines["step"] = self._step_info(e)
        self._draw(force=not math.isfinite(e.loss))

    def _on_eval(self, e) -> None:
        self.lines["eval"] = f"eval @ {e.iter}: train {e.train_loss:.4f} · val {e.val_loss:.4f}"
        self._draw()

    def _on_sample(self, e) -> None:
        body = ", ".join(e.samples) if self._documents else (e.prompt + "".join(e.samples)).replace("\n", " ⏎ ")
        if len(body) > 100:
            body = body[:99] + "…"
        self.lines["sample"] = f"sample @ {e.iter} [{e.phase}]: {body}"
        self._draw()

    def _on_diagnosis(self, e) -> None:
        self.lines["diagnosis"] = f"diagnosis @ {e.iter}: {verdict_text(e)}"
        self._draw()

    def _on_finished(self, e) -> None:
        if self.task is not None:
            self.bar.update(self.task, completed=e.iter)
        val = f" · val {e.final_val_loss:.4f}" if e.final_val_loss is not None else ""
        self.lines["eval"] = f"{e.reason} at iter {e.iter}" + (
            f": train {e.final_train_loss:.4f}{val}" if e.final_train_loss is not None else "")
        self._draw(force=True)

    @staticmethod
    def _step_info(e) -> str:
        loss = f"{e.loss:.4f}" if abs(e.loss) < 1e4 else f"{e.loss:.3g}"
        return f"iter {e.iter} · loss {loss} · lr {e.lr:.2e} · {e.tokens_per_s:,.0f} tok/s"

    # --- drawing ----------------------------------------------------------------------
    def renderable(self) -> Group:
        text = [Text.from_markup(f"  [dim]{escape(line)}[/]") for line in self.lines.values() if line]
        return Group(self.bar.get_renderable(), *text)

    def mimebundle(self) -> dict:
        """The display as HTML (colours kept) and plain text, for a Jupyter output."""
        console = Console(record=True, width=JUPYTER_WIDTH, file=io.StringIO(), force_jupyter=False,
                          force_terminal=True, highlight=False)
        console.print(self.renderable())
        text = console.export_text(clear=False)
        html = console.export_html(inline_styles=True, code_format=JUPYTER_HTML)
        return {"text/plain": text, "text/html": html}

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_draw < REFRESH_SECONDS:
            return
        self._last_draw = now
        if self.jupyter:
            from IPython.display import display
            if self._handle is None:
                self._handle = display(self.mimebundle(), raw=True, display_id=True)
            else:
                self._handle.update(self.mimebundle(), raw=True)
        elif self.console.is_terminal:
            if self._live is None:
                from rich.live import Live
                self._live = Live(self.renderable(), console=self.console, auto_refresh=False)
                self._live.start()
            self._live.update(self.renderable(), refresh=True)

    def close(self) -> None:
        """Stop the live display; outside a terminal or notebook, print the final state once."""
        if self._live is not None:
            self._live.update(self.renderable(), refresh=True)
            self._live.stop()
            self._live = None
        elif self.jupyter:
            if self._handle is not None:
                self._handle.update(self.mimebundle(), raw=True)
        elif self.task is not None:
            self.console.print(self.renderable())


__all__ = ["TrainingProgress", "in_jupyter", "verdict_text"]
