"""Raw text for a data source: ``names`` (bundled), ``shakespeare`` (downloaded, cached) or a file path.

The two names are reserved; a file literally called ``names`` in the working directory is read with
``./names``. Text files must be UTF-8 (a leading byte-order mark is dropped, CRLF becomes LF); an
empty, whitespace-only, binary or undecodable file is a one-line DataError.
"""
from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from ..errors import DataError
from .shakespeare import ensure_shakespeare

BUILTIN_SOURCES = ("names", "shakespeare")


def names_text() -> str:
    """The bundled names list (US SSA 2017, see NAMES_PROVENANCE.md): one lowercase name per line."""
    return resources.files("tinylm.data").joinpath("names.txt").read_text(encoding="utf-8")


def load_text_source(source: str, quiet: bool = False) -> str:
    """The raw text of ``source``: ``names``, ``shakespeare`` or a path to a UTF-8 text file."""
    if source == "names":
        return names_text()
    if source == "shakespeare":
        return read_text_file(ensure_shakespeare(quiet=quiet))
    return read_text_file(source)


def read_text_file(path: str | os.PathLike) -> str:
    if not str(path).strip():
        raise DataError("no data source given (use names, shakespeare or a path to a text file)")
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"data file not found: {path} (sources: names, shakespeare or a path to a text file)")
    if path.is_dir():
        raise DataError(f"data source is a directory, not a text file: {path}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read data file {path} ({exc.strerror or exc})") from None
    if not data:
        raise DataError(f"data file is empty: {path}")
    if b"\x00" in data:
        raise DataError(f"data file looks binary (it contains NUL bytes), not text: {path}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"data file is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                        f"{exc.start}): {path}") from None
    text = text.removeprefix("\ufeff").replace("\r\n", "\n")
    if not text.strip():
        raise DataError(f"data file contains only whitespace: {path}")
    return text
