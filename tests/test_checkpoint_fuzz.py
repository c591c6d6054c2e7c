"""A fuzzer for checkpoint loading: hundreds of damaged or hostile checkpoints, each loaded the ways a user
loads one (load_checkpoint, tinylm.load + sample, Trainer resume). Every outcome must be either a clean
TinyLMError or a correct load — never another exception, and never a hang (each case runs under an alarm).
The counts are printed (`pytest -s`) and any traceback or hang fails the test."""
from __future__ import annotations

import copy
import json
import random
import struct
from collections import Counter

import numpy as np
import pytest
import safetensors.numpy

import tinylm
from tinylm.checkpoints import load_checkpoint
from tinylm.checkpoints.header import METADATA_KEY
from tinylm.checkpoints.store import CHECKSUM_KEY, _canonical_json, _checksum
from tinylm.errors import TinyLMError
from tinylm.training.loop import Trainer

from fuzzing import Hang, time_limit     # tests/fuzzing.py

SECONDS_PER_CASE = 10


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    out = tmp_path_factory.mktemp("good")
    tinylm.train("microgpt", steps=3, seed="fuzz", run_dir=out)
    return (out / "checkpoint.safetensors").read_bytes()


def split(data: bytes) -> tuple[dict, dict]:
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    return header, json.loads(header["__metadata__"][METADATA_KEY])


def rebuild(data: bytes, meta: dict, *, sign: bool = True) -> bytes:
    """The same tensors with edited metadata; ``sign`` recomputes the checksum (an attacker can: it is a
    checksum against accidents and edits, not a signature), so the checks behind it are exercised too."""
    tensors = safetensors.numpy.load(data)
    if sign:
        meta = {k: v for k, v in meta.items() if k != CHECKSUM_KEY}
        meta[CHECKSUM_KEY] = _checksum(tensors, _canonical_json(meta))
    return safetensors.numpy.save(tensors, metadata={METADATA_KEY: json.dumps(meta)})


def metadata_cases(data: bytes, rng: random.Random) -> list[tuple[str, bytes]]:
    _, meta = split(data)
    bad_values = [-5, -1, 0, 10**9, 10**30, 1.5, float("nan"), "12", None, True, [], {}, "relu" * 1000]
    cases = []
    for key in ("n_layer", "n_embd", "n_head", "block_size", "vocab_size", "activation", "norm", "norm_eps",
                "family", "mlp_ratio", "init_std", "tie_weights"):
        for value in rng.sample(bad_values, 6):
            m = copy.deepcopy(meta)
            m["model"][key] = value
            cases.append((f"model.{key}={value!r:.20}", rebuild(data, m)))
    for value in (-5, -1, 10**12, 2.5, "3", None):
        m = copy.deepcopy(meta)
        m["step"] = value
        cases.append((f"step={value!r}", rebuild(data, m)))
        m = copy.deepcopy(meta)
        m["optimizer"]["steps"] = value
        cases.append((f"optimizer.steps={value!r}", rebuild(data, m)))
    for key in ("model", "tokenizer", "train", "optimizer", "rng", "data_position", "step", "format", "version"):
        m = copy.deepcopy(meta)
        m.pop(key, None)
        cases.append((f"no {key}", rebuild(data, m)))
        m = copy.deepcopy(meta)
        m[key] = "garbage"
        cases.append((f"{key}=garbage", rebuild(data, m)))
    for chars in ([], ["a"], ["a", "a"], list("abc") * 10_000, [1, 2], "abc"):
        m = copy.deepcopy(meta)
        m["tokenizer"]["chars"] = chars
        cases.append((f"tokenizer.chars={chars!r:.20}", rebuild(data, m)))
    for depth in (100, 10_000, 100_000):
        m = copy.deepcopy(meta)
        m["deep"] = json.loads("[" * depth + "]" * depth) if depth < 500 else None
        raw = rebuild(data, m)
        if depth >= 500:        # too deep to build as a Python object: splice the text in
            n = struct.unpack("<Q", raw[:8])[0]
            header = json.loads(raw[8:8 + n])
            header["__metadata__"][METADATA_KEY] = header["__metadata__"][METADATA_KEY].replace(
                '"deep": null', '"deep": ' + "[" * depth + "]" * depth)
            head = json.dumps(header).encode()
            raw = struct.pack("<Q", len(head)) + head + raw[8 + n:]
        cases.append((f"nested depth {depth}", raw))
    m = copy.deepcopy(meta)
    m["model"]["activation"] = "gelu"
    cases.append(("activation edited, checksum not updated", rebuild(data, m, sign=False)))
    return cases


def tensor_cases(data: bytes, rng: random.Random) -> list[tuple[str, bytes]]:
    n = struct.unpack("<Q", data[:8])[0]
    cases = []
    for _ in range(60):              # bit flips in the tensor data
        raw = bytearray(data)
        at = rng.randrange(8 + n, len(raw))
        raw[at] ^= 1 << rng.randrange(8)
        cases.append((f"data bit flip at {at}", bytes(raw)))
    for _ in range(40):              # bit flips in the header
        raw = bytearray(data)
        at = rng.randrange(0, 8 + n)
        raw[at] ^= 1 << rng.randrange(8)
        cases.append((f"header bit flip at {at}", bytes(raw)))
    for cut in sorted(rng.sample(range(1, len(data)), 20)):
        cases.append((f"truncated to {cut}", data[:cut]))
    tensors = safetensors.numpy.load(data)
    _, meta = split(data)
    for name in list(tensors)[:6]:
        for what, change in (("nan", lambda a: np.full_like(a, np.nan)), ("inf", lambda a: np.full_like(a, np.inf)),
                             ("reshaped", lambda a: a.reshape(-1)), ("float16", lambda a: a.astype(np.float16)),
                             ("dropped", None)):
            t = dict(tensors)
            if change is None:
                del t[name]
            else:
                t[name] = change(t[name])
            clean = {k: v for k, v in meta.items() if k != CHECKSUM_KEY}
            clean[CHECKSUM_KEY] = _checksum(t, _canonical_json(clean))
            cases.append((f"{name} {what}", safetensors.numpy.save(t, metadata={METADATA_KEY: json.dumps(clean)})))
    return cases


def consume(raw: bytes, tmp_path) -> None:
    """Load it the ways a user does; any TinyLMError is a clean refusal."""
    ckpt = load_checkpoint(raw)
    model = tinylm.load(raw)
    model.sample(1, max_new_tokens=5)
    path = tmp_path / "case.safetensors"
    path.write_bytes(raw)
    Trainer(resume_from=path, engine="numpy").engine.close()
    assert ckpt.step >= 0


@pytest.mark.slow
def test_damaged_and_hostile_checkpoints_never_crash_or_hang(good, tmp_path, capsys):
    rng = random.Random("checkpoint fuzz")
    cases = metadata_cases(good, rng) + tensor_cases(good, rng)
    assert len(cases) >= 200
    outcomes: Counter = Counter()
    failures, loaded = [], set()
    for label, raw in cases:
        try:
            with time_limit(SECONDS_PER_CASE):
                consume(raw, tmp_path)
            outcomes["loaded"] += 1
            loaded.add(label)
        except TinyLMError as exc:
            assert "\n" not in str(exc), label
            outcomes["clean error"] += 1
        except Hang:
            outcomes["hang"] += 1
            failures.append(f"{label}: hang")
        except Exception as exc:     # noqa: BLE001 - the point: nothing else may escape
            outcomes["traceback"] += 1
            failures.append(f"{label}: {type(exc).__name__}: {exc!s:.200}")
    with capsys.disabled():
        print(f"\ncheckpoint fuzz: tried {len(cases)}, " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    assert not failures, "\n".join(failures[:20])
    # only harmless changes load: an extra key, the informational data position (the data order is replayed
    # from the saved random-number state); every bit flip and every edited value is refused
    assert loaded <= {"nested depth 100", "no data_position", "data_position=garbage"}, loaded


def test_every_bit_flip_in_the_tensor_data_is_refused_by_the_checksum(good):
    rng = random.Random("flips")
    n = struct.unpack("<Q", good[:8])[0]
    for _ in range(30):
        raw = bytearray(good)
        raw[rng.randrange(8 + n, len(raw))] ^= 1 << rng.randrange(8)
        with pytest.raises(TinyLMError, match="checksum"):
            load_checkpoint(bytes(raw))
