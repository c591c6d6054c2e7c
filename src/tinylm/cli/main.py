"""`tinylm` command line: train / sample / presets / info / eval / export / plot / bench / lab.

Every user mistake becomes one line on stderr and a non-zero exit (TinyLMError.exit_code), never a
traceback.
"""
from __future__ import annotations

import argparse
import sys
import warnings

from .. import __version__
from ..errors import TinyLMError


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line (the flag, what is allowed) instead of usage + error."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from . import commands, values

    parser = OneLineParser(prog="tinylm", description="Train tiny character-level language models "
                                     "from scratch and watch them learn.")
    parser.add_argument("--version", action="version", version=f"tinylm {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an unexpected error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    train = sub.add_parser("train", help="train a model (default: the microgpt preset on the bundled names)")
    commands.add_train_arguments(train)
    train.set_defaults(func=commands.cmd_train)

    sample = sub.add_parser("sample", help="generate text from a trained run or checkpoint")
    commands.add_sample_arguments(sample)
    sample.set_defaults(func=commands.cmd_sample)

    presets = sub.add_parser("presets", help="list the named presets")
    presets.set_defaults(func=commands.cmd_presets)

    info = sub.add_parser("info", help="show what a run directory or checkpoint contains")
    info.add_argument("run", help="run directory or .safetensors checkpoint")
    info.add_argument("--json", action="store_true", help="print everything as one JSON object")
    info.set_defaults(func=commands.cmd_info)

    ev = sub.add_parser("eval", help="loss over every token of a split (no eval-batch sampling noise)")
    ev.add_argument("run", help="run directory or .safetensors checkpoint (e.g. RUN/best.safetensors)")
    ev.add_argument("--split", choices=["val", "train", "test", "both", "all"], default="val",
                    help="test: the held-out documents no training decision saw (documents data only); "
                         "both = train + val; all = train + val + test")
    ev.add_argument("--engine", default="numpy", choices=list(commands.ENGINES))
    ev.add_argument("--json", action="store_true", help="print the result as JSON")
    ev.set_defaults(func=commands.cmd_eval)

    export = sub.add_parser("export", help="write a weights-only checkpoint (no optimizer state): smaller, "
                                           "for sampling and sharing; not resumable")
    export.add_argument("run", help="run directory or .safetensors checkpoint")
    export.add_argument("--weights-only", required=True, metavar="OUT.safetensors", help="the file to write")
    export.set_defaults(func=commands.cmd_export)

    plot = sub.add_parser("plot", help="plot a run's loss curves to a PNG (matplotlib)")
    plot.add_argument("run", help="run directory (with metrics.jsonl)")
    plot.add_argument("-o", "--output", help="output PNG (default RUN/loss.png)")
    plot.set_defaults(func=commands.cmd_plot)

    bench = sub.add_parser("bench", help="measure training speed of a preset on an engine")
    bench.add_argument("--preset", default="shakespeare-cpu")
    bench.add_argument("--engine", default="numpy")
    bench.add_argument("--device", default=None, help="torch engine: cpu | cuda | auto")
    bench.add_argument("--steps", type=values.int_in(1, 100_000), default=30, help="timed steps (after 3 warm-up steps)")
    bench.add_argument("--dtype", default="float32")
    bench.add_argument("--json", action="store_true", help="print the result as JSON")
    bench.set_defaults(func=commands.cmd_bench)

    lab = sub.add_parser("lab", help="start the browser lab (a local web app)")
    lab.add_argument("--host", default="127.0.0.1", help="bind address (non-loopback requires a token)")
    lab.add_argument("--port", type=values.int_in(1, 65535), default=8765)
    lab.add_argument("--no-browser", action="store_true", help="do not open a browser")
    lab.add_argument("--token", default=None, help="access token (generated when binding off-localhost)")
    lab.set_defaults(func=commands.cmd_lab)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    for arg in argv:        # a byte the shell could not decode arrives as a lone surrogate: refuse it here
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            shown = arg.encode("utf-8", "backslashreplace").decode("ascii", "replace")
            print(f"tinylm: error: the argument '{shown}' is not valid UTF-8 text", file=sys.stderr)
            return 2
    parser = build_parser()
    args = parser.parse_args(argv)
    # warnings meant for the user (e.g. "this scalar step will take 45 s") read as one plain line
    warnings.formatwarning = lambda message, category, *rest, **kw: f"tinylm: warning: {message}\n"
    try:
        return int(args.func(args) or 0)
    except TinyLMError as exc:
        print(f"tinylm: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("tinylm: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:            # the last line of defence: one line, and the traceback on request
        if args.debug:
            raise
        print(f"tinylm: error: {unexpected(exc)}", file=sys.stderr)
        return 1


def unexpected(exc: Exception) -> str:
    """One line for an error that is not a TinyLMError: what the system said, and how to see more."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror}{where}"
    if isinstance(exc, MemoryError):
        return "out of memory: choose a smaller model, batch or block size"
    return f"unexpected {type(exc).__name__}: {exc} (re-run with --debug for the traceback)"


if __name__ == "__main__":
    raise SystemExit(main())
