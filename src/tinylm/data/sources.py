"""Raw text for a data source: ``names`` (bundled), ``shakespeare`` and ``makemore`` (makemore's names list,
microgpt.py's data; both downloaded, cached) or a file path.

These names are reserved; a file literally called ``names`` in the working directory is read with
``./names``. Text files must be UTF-8 (a leading byte-order mark is dropped, CRLF becomes LF); an
empty, whitespace-only, binary or undecodable file is a one-line DataError.
"""
from __future__ import annotations

import os
import stat
from importlib import resources
from pathlib import Path

from ..errors import DataError
from .makemore import MAKEMORE_SOURCE, ensure_makemore_names
from .shakespeare import ensure_shakespeare

BUILTIN_SOURCES = ("names", "shakespeare", MAKEMORE_SOURCE)
MAX_DATA_ENV = "TINYLM_MAX_DATA_MB"
DEFAULT_MAX_DATA_MB = 256


def names_text() -> str:
    """The bundled names list (US SSA 2017, see NAMES_PROVENANCE.md): one lowercase name per line."""
    return resources.files("tinylm.data").joinpath("names.txt").read_text(encoding="utf-8")


def load_text_source(source: str, quiet: bool = False) -> str:
    """The raw text of ``source``: ``names``, ``shakespeare`` or a path to a UTF-8 text file."""
    if source == "names":
        return names_text()
    if source == "shakespeare":
        return read_text_file(ensure_shakespeare(quiet=quiet))
    if source == MAKEMORE_SOURCE:
        return read_text_file(ensure_makemore_names())
    return read_text_file(source)


def max_data_bytes() -> int:
    """The largest text file read: 256 MB, or ``TINYLM_MAX_DATA_MB`` megabytes."""
    raw = os.environ.get(MAX_DATA_ENV, "")
    if not raw:
        return DEFAULT_MAX_DATA_MB * 1_000_000
    try:
        megabytes = float(raw)
    except ValueError:
        raise DataError(f"{MAX_DATA_ENV} must be a number of megabytes, got {raw!r}") from None
    if not 0 < megabytes < 1e7:
        raise DataError(f"{MAX_DATA_ENV} must be a positive number of megabytes, got {raw!r}")
    return int(megabytes * 1_000_000)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def read_text_file(path: str | os.PathLike, what: str = "data file", max_bytes: int | None = None) -> str:
    """The UTF-8 text of a file (``what`` names it in errors: "data file", "prompt file"; ``max_bytes``
    defaults to the data limit, ``TINYLM_MAX_DATA_MB``)."""
    if not str(path).strip():
        if what != "data file":
            raise DataError(f"no {what} given")
        raise DataError("no data source given (use names, shakespeare or a path to a text file)")
    path = Path(path).expanduser()
    source = "data source" if what == "data file" else what
    hint = " (sources: names, shakespeare or a path to a text file)" if what == "data file" else ""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise DataError(f"{what} not found: {path}{hint}") from None
    except OSError as exc:
        raise DataError(f"cannot read {what} {path} ({exc.strerror or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        raise DataError(f"{source} is a directory, not a text file: {path}")
    if not stat.S_ISREG(info.st_mode):     # reading a FIFO blocks forever; /dev/zero never ends
        raise DataError(f"{source} is {_kind(info.st_mode)}, not a text file: {path}")
    limit = max_data_bytes() if max_bytes is None else max_bytes
    raise_hint = f" (set {MAX_DATA_ENV} to raise it)" if max_bytes is None else ""
    if info.st_size > limit:
        raise DataError(f"{what} is {_size(info.st_size)}, more than the {_size(limit)} limit: {path}{raise_hint}")
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)       # bounded even if the file grows while it is read
    except OSError as exc:
        raise DataError(f"cannot read {what} {path} ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise DataError(f"{what} is more than the {_size(limit)} limit: {path}{raise_hint}")
    if not data:
        raise DataError(f"{what} is empty: {path}")
    if b"\x00" in data:
        raise DataError(f"{what} looks binary (it contains NUL bytes), not text: {path}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{what} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                        f"{exc.start}): {path}") from None
    text = text.removeprefix("\ufeff").replace("\r\n", "\n")
    if not text.strip():
        raise DataError(f"{what} contains only whitespace: {path}")
    return text


def _size(n_bytes: int) -> str:
    """'3 MB' for data files, '10,000 bytes' for small limits such as a prompt file's."""
    return f"{n_bytes / 1e6:,.0f} MB" if n_bytes >= 1_000_000 else f"{n_bytes:,} bytes"
