"""makemore's names list (the data microgpt.py trains on): downloaded at first use into the per-user cache,
sha256-verified, exactly as tiny-shakespeare is (see ``data.download``: ``TINYLM_NAMES_MAKEMORE`` for a
local copy, ``TINYLM_NAMES_MAKEMORE_URL`` for another address than the one microgpt.py itself uses).

This list (32,033 names, SSA 2018) differs from the names bundled with tinylm (SSA 2017, see
NAMES_PROVENANCE.md); microgpt.py's losses and samples are only retraced on this one.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .download import VerifiedFile, ensure

MAKEMORE = VerifiedFile(
    title="makemore's names list",
    url="https://raw.githubusercontent.com/karpathy/makemore/refs/heads/master/names.txt",
    sha256="0a30b5557f192f32ab962680889aac5f6fda0f4cecf40a6d0b5694f58ea8cc4d",
    size=228_145, cache_name="names-makemore.txt", path_env="TINYLM_NAMES_MAKEMORE",
    url_env="TINYLM_NAMES_MAKEMORE_URL", described="the 228,145-byte names.txt of 32,033 names")
MAKEMORE_URL = MAKEMORE.url
MAKEMORE_SHA256 = MAKEMORE.sha256
MAKEMORE_SOURCE = "makemore"      # the data source name (``--data makemore``)
CACHE_NAME = MAKEMORE.cache_name


def is_makemore_names(text: str) -> bool:
    """Whether ``text`` (as read by ``data.sources``) is makemore's names list, byte for byte."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest() == MAKEMORE_SHA256


def ensure_makemore_names(path: str | os.PathLike | None = None, url: str | None = None,
                          cache_dir: str | os.PathLike | None = None, quiet: bool = True) -> Path:
    """Path to a verified copy of makemore's names.txt, downloading it into the cache if needed."""
    return ensure(MAKEMORE, path, url, cache_dir, quiet)
