"""makemore's names list (the data microgpt.py trains on): downloaded at first use into the per-user cache,
sha256-verified, exactly as tiny-shakespeare is (``data.shakespeare``).

Where the file comes from, first match wins:
1. ``path`` argument, else ``$TINYLM_NAMES_MAKEMORE``: a local copy (verified, used in place);
2. the cache, ``<cache_dir>/names-makemore.txt`` (``$TINYLM_CACHE``, else ``~/.cache/tinylm``), if it verifies;
3. a download from ``url``, else ``$TINYLM_NAMES_MAKEMORE_URL``, else the address microgpt.py itself uses.
The download goes to a temporary file next to the cache entry and is renamed into place only after its
checksum matches, so an interrupted or corrupted download never leaves a bad cache entry.

This list (32,033 names, SSA 2018) differs from the names bundled with tinylm (SSA 2017, see
NAMES_PROVENANCE.md); microgpt.py's losses and samples are only retraced on this one.
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
from .shakespeare import default_cache_dir, sha256_of

MAKEMORE_URL = "https://raw.githubusercontent.com/karpathy/makemore/refs/heads/master/names.txt"
MAKEMORE_SHA256 = "0a30b5557f192f32ab962680889aac5f6fda0f4cecf40a6d0b5694f58ea8cc4d"
MAKEMORE_BYTES = 228_145
MAKEMORE_SOURCE = "makemore"      # the data source name (``--data makemore``)
CACHE_NAME = "names-makemore.txt"
HOW_TO_PROVIDE = "set TINYLM_NAMES_MAKEMORE=/path/to/names.txt (makemore's list) to use a local copy"
_MAX_BYTES = 4 * MAKEMORE_BYTES   # stop reading a wrong (huge) response early
_TIMEOUT_S = 30


def is_makemore_names(text: str) -> bool:
    """Whether ``text`` (as read by ``data.sources``) is makemore's names list, byte for byte."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest() == MAKEMORE_SHA256


def ensure_makemore_names(path: str | os.PathLike | None = None, url: str | None = None,
                          cache_dir: str | os.PathLike | None = None) -> Path:
    """Path to a verified copy of makemore's names.txt, downloading it into the cache if needed."""
    local = path or os.environ.get("TINYLM_NAMES_MAKEMORE")
    if local:
        return _verified_local_copy(Path(local))

    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = cache / CACHE_NAME
    if target.is_file() and sha256_of(target) == MAKEMORE_SHA256:
        return target
    url = url or os.environ.get("TINYLM_NAMES_MAKEMORE_URL") or MAKEMORE_URL
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the cache directory {cache} ({exc.strerror or exc}); "
                        f"set TINYLM_CACHE to a writable directory or {HOW_TO_PROVIDE}") from None
    _download_verified(url, target)
    return target


def _verified_local_copy(path: Path) -> Path:
    if not path.is_file():
        what = "not found" if not path.exists() else "not a file"
        raise DataError(f"TINYLM_NAMES_MAKEMORE: {path} is {what}")
    try:
        digest = sha256_of(path)
    except OSError as exc:
        raise DataError(f"cannot read makemore's names list {path} ({exc.strerror or exc})") from None
    if digest != MAKEMORE_SHA256:
        raise DataError(f"{path} is not makemore's names list: it fails the checksum (sha256 {digest[:12]}..., "
                        f"expected {MAKEMORE_SHA256[:12]}..., the 228,145-byte names.txt of 32,033 names)")
    return path


def _download_verified(url: str, target: Path) -> None:
    fd, tmp_name = tempfile.mkstemp(prefix=f".{CACHE_NAME}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            body = _fetch(url)
            out.write(body)
        digest = hashlib.sha256(body).hexdigest()
        if digest != MAKEMORE_SHA256:
            raise DataError(f"download from {url} fails its checksum (sha256 {digest[:12]}..., expected "
                            f"{MAKEMORE_SHA256[:12]}...); nothing was cached; {HOW_TO_PROVIDE}")
        os.replace(tmp, target)   # atomic: the cache entry is either absent or verified
    finally:
        tmp.unlink(missing_ok=True)


def _fetch(url: str) -> bytes:
    """The response body (228 KB: read at once, no progress bar needed)."""
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT_S) as response:
            body = response.read(_MAX_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise DataError(f"could not download makemore's names list from {url} (HTTP {exc.code} {exc.reason}); "
                        f"{HOW_TO_PROVIDE}") from None
    except urllib.error.URLError as exc:
        raise DataError(f"could not download makemore's names list from {url} ({exc.reason}); "
                        f"offline? {HOW_TO_PROVIDE}") from None
    except (OSError, ValueError, http.client.HTTPException) as exc:  # timeouts, resets, bad URLs, cut-off bodies
        raise DataError(f"could not download makemore's names list from {url} ({exc}); {HOW_TO_PROVIDE}") from None
    if len(body) > _MAX_BYTES:
        raise DataError(f"download from {url} is larger than {_MAX_BYTES:,} bytes: not makemore's names list; "
                        f"{HOW_TO_PROVIDE}")
    return body
