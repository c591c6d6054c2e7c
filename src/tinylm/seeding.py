"""Seeds are strings. Each purpose (init, data, eval, sample) gets its own independent stream,
derived by hashing, so adding a draw for one purpose never shifts another."""
from __future__ import annotations

import hashlib

import numpy as np

from .errors import CheckpointError

# Purpose labels, named for what they seed. The string is hashed with the seed: changing one changes every
# number drawn from that stream (checkpoints, splits, samples), so the values stay as they first shipped.
INIT_STREAM = "init"                  # a run's initial parameters
BATCH_STREAM = "data"                 # which training batches a run draws, in which order
SPLIT_STREAM = "split"                # the shuffle that splits documents into train / val / test
RUN_SAMPLE_STREAM = "sample"          # the samples a run shows while it trains (and its phase labels' draws)
SAMPLE_STREAM = "cli-sample"          # Model.sample(seed=...) and `tinylm sample --seed` (first named for the CLI)
SANDBOX_STREAM = "sandbox"            # the lab's sandbox: names drawn from a live run


def eval_stream(split: str) -> str:
    """The purpose label of a split's fixed evaluation batches: "eval/train", "eval/val", "eval/test"."""
    return f"eval/{split}"


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
