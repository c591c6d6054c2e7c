"""`tinylm` command line: train / sample / presets / info / eval / export / plot / gradcheck / bench / lab.

The commands and their flags are defined in ``parser.py``; what each does, in ``commands.py``.

Every user mistake becomes one line on stderr and a non-zero exit (TinyLMError.exit_code), never a
traceback.
"""
from __future__ import annotations

import sys
import warnings

from ..errors import TinyLMError
from .parser import build_parser


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
