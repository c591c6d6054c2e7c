"""What the fuzzers share: a per-case time limit that turns a hang into an outcome to count."""
from __future__ import annotations

import signal
from contextlib import contextmanager


class Hang(Exception):
    """A case ran past its time limit."""


@contextmanager
def time_limit(seconds: int):
    """Raise Hang in the main thread when the block runs longer than ``seconds`` (SIGALRM, POSIX)."""
    def stop(signum, frame):
        raise Hang()
    old = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
