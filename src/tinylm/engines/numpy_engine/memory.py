"""Keep freed array memory for reuse (glibc only).

A training step allocates and frees the same few dozen megabyte-sized arrays every iteration.
glibc serves them with fresh mmap pages or trims the heap after each free, so every step pays for
tens of thousands of page faults (measured: ~30% of a shakespeare-cpu step). Raising the mmap and
trim thresholds lets the heap keep those blocks and hand them back out, as a caching allocator
would. Process-wide and harmless elsewhere: the heap simply stays at its peak size.
Set TINYLM_MALLOC_TUNING=0 to leave the allocator alone.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 256 << 20     # arrays below 256 MiB come from the reusable heap
TRIM_THRESHOLD = 1 << 30       # give memory back to the OS only above 1 GiB of free heap

_done = False


def keep_freed_memory() -> bool:
    """Apply the thresholds once; returns whether they are in effect."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux") or os.environ.get("TINYLM_MALLOC_TUNING", "1") == "0":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
        ok = libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and ok
    except (OSError, AttributeError):     # musl or another libc without mallopt
        return False
    _done = ok
    return ok
