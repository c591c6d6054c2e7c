"""A short fingerprint of a model's weights (the lab shows it next to a checkpoint)."""
from __future__ import annotations

import hashlib

import numpy as np


def weights_hash(params: dict[str, np.ndarray]) -> str:
    """sha256 (hex) over every parameter's name, dtype, shape and little-endian bytes, sorted by name.

    Same values in a different dtype hash differently: the hash identifies the stored bytes.
    """
    digest = hashlib.sha256()
    for name in sorted(params):
        array = np.asarray(params[name])
        little = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
        # Length-prefixed fields keep the encoding unambiguous.
        for field in (name, array.dtype.name, ",".join(str(d) for d in array.shape)):
            encoded = field.encode("utf-8")
            digest.update(len(encoded).to_bytes(8, "little"))
            digest.update(encoded)
        digest.update(little.nbytes.to_bytes(8, "little"))
        digest.update(little.tobytes())
    return digest.hexdigest()
