"""tiny-shakespeare: downloaded at first use into a per-user cache, sha256-verified (see ``data.download``:
``TINYLM_SHAKESPEARE`` for a local copy, ``TINYLM_SHAKESPEARE_URL`` for another address)."""
from __future__ import annotations

import os
from pathlib import Path

from .download import VerifiedFile, default_cache_dir, ensure, sha256_of

SHAKESPEARE = VerifiedFile(
    title="tiny-shakespeare",
    url="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
    sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
    size=1_115_394, cache_name="tinyshakespeare.txt", path_env="TINYLM_SHAKESPEARE",
    url_env="TINYLM_SHAKESPEARE_URL", described="the 1,115,394-byte input.txt")
SHAKESPEARE_URL = SHAKESPEARE.url
SHAKESPEARE_SHA256 = SHAKESPEARE.sha256
CACHE_NAME = SHAKESPEARE.cache_name

__all__ = ["SHAKESPEARE", "SHAKESPEARE_URL", "SHAKESPEARE_SHA256", "CACHE_NAME", "ensure_shakespeare",
           "default_cache_dir", "sha256_of"]


def ensure_shakespeare(path: str | os.PathLike | None = None, url: str | None = None,
                       cache_dir: str | os.PathLike | None = None, quiet: bool = False) -> Path:
    """Path to a verified copy of tiny-shakespeare, downloading it into the cache if needed."""
    return ensure(SHAKESPEARE, path, url, cache_dir, quiet)
