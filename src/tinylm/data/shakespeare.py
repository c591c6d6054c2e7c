"""tiny-shakespeare: downloaded at first use into a per-user cache, sha256-verified.

Where the file comes from, first match wins:
1. ``path`` argument, else ``$TINYLM_SHAKESPEARE``: a local copy (verified, used in place);
2. the cache, ``<cache_dir>/tinyshakespeare.txt`` (``$TINYLM_CACHE``, else ``~/.cache/tinylm``), if it verifies;
3. a download from ``url``, else ``$TINYLM_SHAKESPEARE_URL``, else the char-rnn repository on GitHub.
The download streams into a temporary file next to the cache entry and is renamed into place only
after its checksum matches, so an interrupted or corrupted download never leaves a bad cache entry.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from ..errors import DataError

SHAKESPEARE_URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
SHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
SHAKESPEARE_BYTES = 1_115_394
CACHE_NAME = "tinyshakespeare.txt"
HOW_TO_PROVIDE = "set TINYLM_SHAKESPEARE=/path/to/tinyshakespeare.txt to use a local copy"
_CHUNK = 64 * 1024
_MAX_BYTES = 4 * SHAKESPEARE_BYTES  # stop reading a wrong (huge) response early
_TIMEOUT_S = 30


def default_cache_dir() -> Path:
    return Path(os.environ.get("TINYLM_CACHE") or Path.home() / ".cache" / "tinylm")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def ensure_shakespeare(path: str | os.PathLike | None = None, url: str | None = None,
                       cache_dir: str | os.PathLike | None = None, quiet: bool = False) -> Path:
    """Path to a verified copy of tiny-shakespeare, downloading it into the cache if needed."""
    local = path or os.environ.get("TINYLM_SHAKESPEARE")
    if local:
        return _verified_local_copy(Path(local))

    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = cache / CACHE_NAME
    if target.is_file() and sha256_of(target) == SHAKESPEARE_SHA256:
        return target
    url = url or os.environ.get("TINYLM_SHAKESPEARE_URL") or SHAKESPEARE_URL
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the cache directory {cache} ({exc.strerror or exc}); "
                        f"set TINYLM_CACHE to a writable directory or {HOW_TO_PROVIDE}") from None
    _download_verified(url, target, quiet)
    return target


def _verified_local_copy(path: Path) -> Path:
    if not path.exists():
        raise DataError(f"tiny-shakespeare copy not found: {path}")
    if not path.is_file():
        raise DataError(f"tiny-shakespeare copy is not a file: {path}")
    try:
        digest = sha256_of(path)
    except OSError as exc:
        raise DataError(f"cannot read tiny-shakespeare copy {path} ({exc.strerror or exc})") from None
    if digest != SHAKESPEARE_SHA256:
        raise DataError(f"tiny-shakespeare copy {path} fails its checksum (sha256 {digest[:12]}..., "
                        f"expected {SHAKESPEARE_SHA256[:12]}...): not the 1,115,394-byte input.txt")
    return path


def _download_verified(url: str, target: Path, quiet: bool) -> None:
    fd, tmp_name = tempfile.mkstemp(prefix=f".{CACHE_NAME}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            digest = _stream_to(url, out, quiet)
        if digest != SHAKESPEARE_SHA256:
            raise DataError(f"download from {url} fails its checksum (sha256 {digest[:12]}..., expected "
                            f"{SHAKESPEARE_SHA256[:12]}...); nothing was cached; {HOW_TO_PROVIDE}")
        os.replace(tmp, target)  # atomic: the cache entry is either absent or verified
    finally:
        tmp.unlink(missing_ok=True)


def _stream_to(url: str, out, quiet: bool) -> str:
    """Copy the response body into ``out``; returns its sha256."""
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT_S) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with _progress(quiet, total) as advance:
                received = 0
                while chunk := response.read(_CHUNK):
                    received += len(chunk)
                    if received > _MAX_BYTES:
                        raise DataError(f"download from {url} is larger than {_MAX_BYTES:,} bytes: "
                                        f"not tiny-shakespeare; {HOW_TO_PROVIDE}")
                    digest.update(chunk)
                    out.write(chunk)
                    advance(len(chunk))
    except urllib.error.HTTPError as exc:
        raise DataError(f"could not download tiny-shakespeare from {url} (HTTP {exc.code} {exc.reason}); "
                        f"{HOW_TO_PROVIDE}") from None
    except urllib.error.URLError as exc:
        raise DataError(f"could not download tiny-shakespeare from {url} ({exc.reason}); "
                        f"offline? {HOW_TO_PROVIDE}") from None
    except (OSError, ValueError, http.client.HTTPException) as exc:  # timeouts, resets, bad URLs, cut-off bodies
        raise DataError(f"could not download tiny-shakespeare from {url} ({exc}); {HOW_TO_PROVIDE}") from None
    return digest.hexdigest()


class _progress:
    """Context manager yielding ``advance(n_bytes)``: a rich progress bar on stderr, or nothing if quiet."""

    def __init__(self, quiet: bool, total: int | None) -> None:
        self.quiet, self.total, self.bar = quiet, total, None

    def __enter__(self):
        if self.quiet:
            return lambda n: None
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

        self.bar = Progress(TextColumn("tiny-shakespeare"), BarColumn(), DownloadColumn(),
                            TransferSpeedColumn(), console=Console(stderr=True), transient=True)
        self.bar.__enter__()
        task = self.bar.add_task("download", total=self.total)
        return lambda n: self.bar.advance(task, n)

    def __exit__(self, *exc_info) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc_info)
