"""Reading a checkpoint's header without trusting it: refuse foreign formats, detect truncation.

A safetensors file is ``u64 little-endian header length N``, then N bytes of JSON (tensor dtypes,
shapes and byte offsets, plus a ``__metadata__`` str->str map), then the raw tensor bytes.
tinylm keeps everything that is not a tensor in one metadata key, ``"tinylm"``, as a JSON string.
"""
from __future__ import annotations

import json
import struct

from ..errors import CheckpointError

FORMAT = "tinylm-checkpoint"
VERSION = 1
METADATA_KEY = "tinylm"
MAX_HEADER_BYTES = 100_000_000  # safetensors' own limit

_PICKLE_OLD_PROTOCOL_STARTS = b"(]}cNIFSVXK"


def sniff_foreign(data: bytes, label: str) -> None:
    """Refuse well-known non-safetensors files with a message that says what they look like.

    Called only once the bytes failed to look like a safetensors header (a header length can
    happen to start with a pickle's first byte, so safetensors is checked first).
    """
    if data[:1] == b"\x80" and data[1:2] and 2 <= data[1] <= 5 or (
            data[:1] and data[0] in _PICKLE_OLD_PROTOCOL_STARTS and data.rstrip().endswith(b".")):
        raise CheckpointError(f"{label} looks like a pickle — tinylm never unpickles; "
                              "load a tinylm .safetensors checkpoint instead")
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        raise CheckpointError(f"{label} looks like a zip archive (a torch .pt file?) — tinylm never unpickles; "
                              "load a tinylm .safetensors checkpoint instead")
    if data[:6] == b"\x93NUMPY":
        raise CheckpointError(f"{label} looks like a numpy .npy file, not a tinylm .safetensors checkpoint")


def read_header(data: bytes, label: str) -> tuple[dict, dict]:
    """Parse and sanity-check the safetensors header; return (header, tinylm metadata)."""
    if len(data) == 0:
        raise CheckpointError(f"{label} is empty (0 bytes), not a tinylm checkpoint")
    header_len = struct.unpack("<Q", data[:8])[0] if len(data) >= 8 else None
    if header_len is None or header_len > MAX_HEADER_BYTES or data[8:9] != b"{":
        sniff_foreign(data, label)
        raise CheckpointError(f"{label} is truncated or corrupt (not a safetensors header)")
    if 8 + header_len > len(data):
        raise CheckpointError(f"{label} is truncated or corrupt (header needs {8 + header_len} bytes, "
                              f"the file has {len(data)})")
    try:
        header = json.loads(data[8:8 + header_len].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise CheckpointError(f"{label} is truncated or corrupt (unreadable safetensors header)") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{label} is truncated or corrupt (unreadable safetensors header)")

    data_end = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            data_end = max(data_end, int(info["data_offsets"][1]))
        except (TypeError, KeyError, IndexError, ValueError, OverflowError):
            raise CheckpointError(f"{label} is truncated or corrupt (bad entry for tensor {name!r})") from None
    if 8 + header_len + data_end > len(data):
        raise CheckpointError(f"{label} is truncated or corrupt (tensor data needs {8 + header_len + data_end} "
                              f"bytes, the file has {len(data)})")

    return header, _tinylm_metadata(header, label)


def _tinylm_metadata(header: dict, label: str) -> dict:
    metadata = header.get("__metadata__") or {}
    raw = metadata.get(METADATA_KEY) if isinstance(metadata, dict) else None
    if raw is None:
        raise CheckpointError(f"{label} is not a tinylm checkpoint (a safetensors file without tinylm metadata)")
    try:
        meta = json.loads(raw)
    except (TypeError, ValueError, RecursionError):
        raise CheckpointError(f"{label} is truncated or corrupt (unreadable tinylm metadata)") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{label} is not a tinylm checkpoint (metadata format is "
                              f"{meta.get('format') if isinstance(meta, dict) else None!r}, expected {FORMAT!r})")
    version = meta.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CheckpointError(f"{label} has an invalid checkpoint version {version!r}")
    if version > VERSION:
        raise CheckpointError(f"{label} is checkpoint format version {version}, newer than this tinylm "
                              f"supports ({VERSION}); upgrade tinylm to load it")
    return meta
