"""How many threads numpy's BLAS uses, changed at run time (OpenBLAS through ctypes, as threadpoolctl does).

Why: a training step splits its batch over the cores itself (``parallel.py``); each part's matmuls must then
run on one BLAS thread, or OpenBLAS's own worker threads contend with ours, and each call spins and waits.
OpenBLAS's spinning workers are also what makes a step 5-10x slower when another busy process shares
the machine. Without OpenBLAS (another BLAS, a locked-down build), ``available()`` is False and callers
leave the threads alone.
"""
from __future__ import annotations

import contextlib
import ctypes
import threading
from collections.abc import Iterator

# exported names across OpenBLAS builds: numpy's wheels (scipy-openblas, 64-bit ints) and system builds
_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads", "openblas_set_num_threads64_",
            "openblas_set_num_threads")
_GETTERS = ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads", "openblas_get_num_threads64_",
            "openblas_get_num_threads")

_lock = threading.Lock()
_functions: tuple | None = None
_searched = False


def _loaded_openblas() -> list[str]:
    """Paths of the OpenBLAS libraries this process has loaded (numpy loads its own on import)."""
    import numpy  # noqa: F401  (make sure numpy's BLAS is loaded before looking for it)
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower() and "/" in line}
    except OSError:                          # not Linux: no /proc; leave the threads alone
        return []
    return sorted(p for p in paths if p.startswith("/"))


def _find() -> tuple | None:
    global _functions, _searched
    if _searched:
        return _functions
    with _lock:
        if not _searched:
            for path in _loaded_openblas():
                try:
                    lib = ctypes.CDLL(path)
                except OSError:
                    continue
                setter = next((getattr(lib, n) for n in _SETTERS if hasattr(lib, n)), None)
                getter = next((getattr(lib, n) for n in _GETTERS if hasattr(lib, n)), None)
                if setter is not None and getter is not None:
                    setter.argtypes, setter.restype = [ctypes.c_int], None
                    getter.argtypes, getter.restype = [], ctypes.c_int
                    _functions = (setter, getter)
                    break
            _searched = True
    return _functions


def available() -> bool:
    """Whether this process's BLAS thread count can be changed at run time."""
    return _find() is not None


def get_threads() -> int | None:
    found = _find()
    return int(found[1]()) if found else None


def set_threads(n: int) -> None:
    found = _find()
    if found:
        found[0](int(n))


_outer: list[int] = []          # the counts in force before each active ``limited`` block, outermost first


def allowed_threads() -> int | None:
    """The BLAS thread count this process runs with outside any ``limited`` block."""
    return _outer[0] if _outer else get_threads()


@contextlib.contextmanager
def limited(n: int) -> Iterator[None]:
    """Run the block with at most ``n`` BLAS threads, then restore the previous count."""
    before = get_threads()
    if before is None or before <= n:
        yield
        return
    _outer.append(before)
    set_threads(n)
    try:
        yield
    finally:
        set_threads(before)
        _outer.pop()
