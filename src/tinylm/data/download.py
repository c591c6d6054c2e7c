"""Data files fetched once into a per-user cache and sha256-verified (tiny-shakespeare, makemore's names).

Where a file comes from, first match wins:
1. a ``path`` argument, else the file's environment variable (``TINYLM_SHAKESPEARE``...): a local copy,
   verified and used in place;
2. the cache, ``<cache_dir>/<cache_name>`` (``$TINYLM_CACHE``, else ``~/.cache/tinylm``), if it verifies;
3. a download from ``url``, else the file's ``..._URL`` variable, else its public address.
The download streams into a temporary file next to the cache entry and is renamed into place only after
its checksum matches, so an interrupted or corrupted download never leaves a bad cache entry.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError

_CHUNK = 64 * 1024
_TIMEOUT_S = 30


@dataclass(frozen=True)
class VerifiedFile:
    title: str           # how messages name it ("tiny-shakespeare")
    url: str
    sha256: str
    size: int            # bytes of the real file (a response 4x larger is cut off early)
    cache_name: str
    path_env: str        # a local copy
    url_env: str         # another address
    described: str       # what a wrong local copy should have been ("the 1,115,394-byte input.txt")

    @property
    def how_to_provide(self) -> str:
        return f"set {self.path_env}=/path/to/{self.cache_name} to use a local copy"


def default_cache_dir() -> Path:
    return Path(os.environ.get("TINYLM_CACHE") or Path.home() / ".cache" / "tinylm")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def ensure(spec: VerifiedFile, path: str | os.PathLike | None = None, url: str | None = None,
           cache_dir: str | os.PathLike | None = None, quiet: bool = False) -> Path:
    """Path to a verified copy of ``spec``'s file, downloading it into the cache if needed."""
    local = path or os.environ.get(spec.path_env)
    if local:
        return verified_local_copy(spec, Path(local))
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = cache / spec.cache_name
    if target.is_file() and sha256_of(target) == spec.sha256:
        return target
    url = url or os.environ.get(spec.url_env) or spec.url
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the cache directory {cache} ({exc.strerror or exc}); "
                        f"set TINYLM_CACHE to a writable directory or {spec.how_to_provide}") from None
    _download_verified(spec, url, target, quiet)
    return target


def verified_local_copy(spec: VerifiedFile, path: Path) -> Path:
    if not path.is_file():
        what = "not found" if not path.exists() else "not a file"
        raise DataError(f"{spec.title} copy {path} ({spec.path_env}) is {what}")
    try:
        digest = sha256_of(path)
    except OSError as exc:
        raise DataError(f"cannot read {spec.title} copy {path} ({exc.strerror or exc})") from None
    if digest != spec.sha256:
        raise DataError(f"{path} is not {spec.title}: it fails its checksum (sha256 {digest[:12]}..., "
                        f"expected {spec.sha256[:12]}..., {spec.described})")
    return path


def _download_verified(spec: VerifiedFile, url: str, target: Path, quiet: bool) -> None:
    fd, tmp_name = tempfile.mkstemp(prefix=f".{spec.cache_name}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            digest = _stream_to(spec, url, out, quiet)
        if digest != spec.sha256:
            raise DataError(f"download from {url} fails its checksum (sha256 {digest[:12]}..., expected "
                            f"{spec.sha256[:12]}...); nothing was cached; {spec.how_to_provide}")
        os.replace(tmp, target)  # atomic: the cache entry is either absent or verified
    finally:
        tmp.unlink(missing_ok=True)


def _stream_to(spec: VerifiedFile, url: str, out, quiet: bool) -> str:
    """Copy the response body into ``out``; returns its sha256."""
    digest = hashlib.sha256()
    limit = 4 * spec.size
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT_S) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with _progress(spec.title, quiet, total) as advance:
                received = 0
                while chunk := response.read(_CHUNK):
                    received += len(chunk)
                    if received > limit:
                        raise DataError(f"download from {url} is larger than {limit:,} bytes: "
                                        f"not {spec.title}; {spec.how_to_provide}")
                    digest.update(chunk)
                    out.write(chunk)
                    advance(len(chunk))
    except urllib.error.HTTPError as exc:
        raise DataError(f"could not download {spec.title} from {url} (HTTP {exc.code} {exc.reason}); "
                        f"{spec.how_to_provide}") from None
    except urllib.error.URLError as exc:
        raise DataError(f"could not download {spec.title} from {url} ({exc.reason}); "
                        f"offline? {spec.how_to_provide}") from None
    except (OSError, ValueError, http.client.HTTPException) as exc:  # timeouts, resets, bad URLs, cut-off bodies
        raise DataError(f"could not download {spec.title} from {url} ({exc}); {spec.how_to_provide}") from None
    return digest.hexdigest()


class _progress:
    """Context manager yielding ``advance(n_bytes)``: a rich progress bar on stderr, or nothing if quiet."""

    def __init__(self, title: str, quiet: bool, total: int | None) -> None:
        self.title, self.quiet, self.total, self.bar = title, quiet, total, None

    def __enter__(self):
        if self.quiet:
            return lambda n: None
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

        self.bar = Progress(TextColumn(self.title), BarColumn(), DownloadColumn(),
                            TransferSpeedColumn(), console=Console(stderr=True), transient=True)
        self.bar.__enter__()
        task = self.bar.add_task("download", total=self.total)
        return lambda n: self.bar.advance(task, n)

    def __exit__(self, *exc_info) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc_info)
