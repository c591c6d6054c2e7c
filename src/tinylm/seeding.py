"""Seeds are strings. Each purpose (init, data, eval, sample) gets its own independent stream,
derived by hashing, so adding a draw for one purpose never shifts another."""
from __future__ import annotations

import hashlib

import numpy as np

from .errors import CheckpointError


def seed_int(seed: str, purpose: str) -> int:
    digest = hashlib.sha256(f"tinylm\x00{seed}\x00{purpose}".encode("utf-8")).digest()
    return int.from_bytes(digest[:16], "little")


def rng_for(seed: str, purpose: str) -> np.random.Generator:
    """A PCG64 generator for (seed string, purpose); e.g. rng_for("42", "init")."""
    return np.random.Generator(np.random.PCG64(seed_int(seed, purpose)))


def rng_state(rng: np.random.Generator) -> dict:
    """JSON-serialisable state (for checkpoints)."""
    state = rng.bit_generator.state
    return {"bit_generator": state["bit_generator"],
            "state": {"state": str(state["state"]["state"]), "inc": str(state["state"]["inc"])},
            "has_uint32": state["has_uint32"], "uinteger": state["uinteger"]}


def rng_from_state(state: dict) -> np.random.Generator:
    rng = np.random.Generator(np.random.PCG64())
    try:
        rng.bit_generator.state = {"bit_generator": state["bit_generator"],
                                   "state": {"state": int(state["state"]["state"]), "inc": int(state["state"]["inc"])},
                                   "has_uint32": state["has_uint32"], "uinteger": state["uinteger"]}
    except (KeyError, TypeError, ValueError, OverflowError) as exc:   # a saved state from a damaged file
        raise CheckpointError(f"the saved random-number state is invalid ({type(exc).__name__})") from None
    return rng
