"""Atomic file writes: a crash mid-write never leaves a partial file under the final name.

The bytes go to a temporary file in the same directory (so ``os.replace`` is a rename on one
filesystem), are fsynced, then renamed over the target; the previous file survives until the rename.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..errors import CheckpointError


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    target = Path(path)
    if target.is_dir():
        raise CheckpointError(f"cannot write checkpoint: {target} is a directory")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CheckpointError(f"cannot create directory {target.parent}: {exc.strerror or exc}") from None
    try:
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise CheckpointError(f"cannot write checkpoint in {target.parent}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException as exc:
        # Never leave the temporary file behind, and never touch the previous checkpoint.
        try:
            os.unlink(tmp_name)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise CheckpointError(f"cannot write checkpoint {target}: {exc.strerror or exc}") from None
        raise
    _fsync_directory(target.parent)
    return target


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
