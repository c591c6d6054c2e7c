"""Validation of everything a browser sends: run requests, commands and queries.

Every message is a JSON object; anything else, an unknown field, a wrong type or an out-of-range value
is refused with a one-line ``ProtocolError`` that the API returns as ``400 {"error": message}``.
Nothing a client sends is ever used as a file-system path: uploads are bytes held in memory and
referred to by server-made ids.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from ..engines import ENGINES as ENGINE_REGISTRY
from ..errors import TinyLMError
from .texts import BUILTIN

DATA_SOURCES = (*BUILTIN, "upload")        # the package's built-in texts, or a text the learner uploads
ENGINES = tuple(ENGINE_REGISTRY)           # a request may name any engine; the app refuses one not installed
COMMANDS = ("pause", "resume", "step", "stop", "speed")
QUERIES = ("logits", "generate", "inspect", "detail", "hash")
MAX_TEXT_BYTES = 5 * 1024 * 1024
MAX_CHECKPOINT_BYTES = 50 * 1024 * 1024
MAX_STEPS = 50_000
MAX_PROMPT_CHARS = 256
# Run speed 1..100: below 100 the worker takes at most ``2 * speed`` steps per second (speed 10 -> 20 it/s,
# slow enough to read the first few hundred steps); 100 is unthrottled, the default for API clients.
MAX_SPEED = 100
# A learner may override a preset's peak learning rate (e.g. raise it until the run diverges).
MIN_LR, MAX_LR = 1e-6, 100.0


def steps_per_second(speed: int) -> float | None:
    """The pace a run speed stands for: at most this many steps per second (None: as fast as it can)."""
    return None if speed >= MAX_SPEED else 2.0 * speed


class ProtocolError(TinyLMError):
    """A malformed or out-of-range message from a client."""


def _obj(message: Any, allowed: set[str]) -> dict:
    if not isinstance(message, dict):
        raise ProtocolError("expected a JSON object")
    unknown = set(message) - allowed
    if unknown:
        raise ProtocolError(f"unknown field {sorted(unknown)[0]!r}")
    return message


def _str(msg: dict, key: str, default: str | None = None, *, max_len: int = 64, choices: tuple | None = None,
         allow_empty: bool = False) -> str:
    value = msg.get(key, default)
    if not isinstance(value, str):
        raise ProtocolError(f"{key} must be a string")
    if len(value) > max_len:
        raise ProtocolError(f"{key} is longer than {max_len} characters")
    if not value and not allow_empty:
        raise ProtocolError(f"{key} must not be empty")
    if choices is not None and value not in choices:
        raise ProtocolError(f"unknown {key} {value!r} (choose from {', '.join(choices)})")
    return value


def _int(msg: dict, key: str, default: int | None, lo: int, hi: int) -> int | None:
    value = msg.get(key, default)
    if value is None and default is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProtocolError(f"{key} must be an integer")
    if not lo <= value <= hi:
        raise ProtocolError(f"{key} must be between {lo} and {hi}, got {value}")
    return value


def _float(msg: dict, key: str, default: float, lo: float, hi: float) -> float:
    value = msg.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ProtocolError(f"{key} must be a number")
    if not lo <= value <= hi:
        raise ProtocolError(f"{key} must be between {lo} and {hi}, got {value}")
    return float(value)


def _bool(msg: dict, key: str, default: bool) -> bool:
    value = msg.get(key, default)
    if not isinstance(value, bool):
        raise ProtocolError(f"{key} must be true or false")
    return value


@dataclass
class RunRequest:
    data: str = "names"
    upload: str = ""              # id of an uploaded text (data == "upload")
    preset: str = "microgpt"
    engine: str = "numpy"
    seed: str = "lab"
    steps: int | None = None      # None: the preset's
    sample_every: int = 200
    resume: str = ""              # id of an uploaded checkpoint: continue it exactly
    paused: bool = False          # start paused (the first iteration waits for resume/step)
    detail: bool = False          # compute the training-cycle detail of every step (small presets only)
    pathology: str = ""           # one of lab.pathologies.PATHOLOGIES (overrides preset/steps)
    label: str = ""               # free text shown by the page ("twin A", ...)
    speed: int = MAX_SPEED        # 1..100, see steps_per_second; changed live by {"cmd": "speed", "n": ...}
    lr: float | None = None       # peak learning rate instead of the preset's (None: the preset's)

    def to_dict(self) -> dict:
        return asdict(self)


def parse_run_request(message: Any, presets: tuple[str, ...], pathologies: tuple[str, ...]) -> RunRequest:
    msg = _obj(message, set(RunRequest.__dataclass_fields__))
    req = RunRequest(
        data=_str(msg, "data", "names", choices=DATA_SOURCES),
        upload=_str(msg, "upload", "", allow_empty=True),
        preset=_str(msg, "preset", "microgpt", choices=presets),
        engine=_str(msg, "engine", "numpy", choices=ENGINES),
        seed=_str(msg, "seed", "lab"),
        steps=_int(msg, "steps", None, 1, MAX_STEPS),
        sample_every=_int(msg, "sample_every", 200, 0, MAX_STEPS),
        resume=_str(msg, "resume", "", allow_empty=True),
        paused=_bool(msg, "paused", False),
        detail=_bool(msg, "detail", False),
        pathology=_str(msg, "pathology", "", allow_empty=True),
        label=_str(msg, "label", "", max_len=40, allow_empty=True),
        speed=_int(msg, "speed", MAX_SPEED, 1, MAX_SPEED),
        lr=None if msg.get("lr") is None else _float(msg, "lr", None, MIN_LR, MAX_LR),
    )
    if req.lr is not None and (req.resume or req.pathology):
        raise ProtocolError("lr cannot be set for a resumed run or a pathology run: it keeps the learning rate "
                            "it was made with")
    if req.pathology and req.pathology not in pathologies:
        raise ProtocolError(f"unknown pathology {req.pathology!r} (choose from {', '.join(pathologies)})")
    if req.data == "upload" and not req.upload and not req.resume:
        raise ProtocolError("data 'upload' needs an uploaded text (upload a .txt file first)")
    return req


def parse_command(message: Any) -> dict:
    msg = _obj(message, {"cmd", "n"})
    cmd = _str(msg, "cmd", "", choices=COMMANDS)
    if cmd == "speed":
        if "n" not in msg:
            raise ProtocolError("the speed command needs n (1..100)")
        return {"cmd": cmd, "n": _int(msg, "n", None, 1, MAX_SPEED)}
    return {"cmd": cmd, "n": _int(msg, "n", 1, 1, 10_000)}


def parse_query(message: Any) -> dict:
    if not isinstance(message, dict):
        raise ProtocolError("expected a JSON object")
    q = _str(message, "q", "", choices=QUERIES)
    if q == "logits":
        msg = _obj(message, {"q", "prefix"})
        return {"q": q, "prefix": _str(msg, "prefix", "", max_len=MAX_PROMPT_CHARS, allow_empty=True)}
    if q == "generate":
        msg = _obj(message, {"q", "temperature", "count", "prompt", "seed"})
        return {"q": q, "temperature": _float(msg, "temperature", 1.0, 0.1, 2.0),
                "count": _int(msg, "count", 10, 1, 50),
                "prompt": _str(msg, "prompt", "", max_len=MAX_PROMPT_CHARS, allow_empty=True),
                "seed": _str(msg, "seed", "sandbox")}
    if q == "inspect":
        msg = _obj(message, {"q", "document", "param", "apply"})
        return {"q": q, "document": _str(msg, "document", "", max_len=MAX_PROMPT_CHARS),
                "param": _str(msg, "param", "", max_len=128, allow_empty=True),
                "apply": _bool(msg, "apply", False)}
    _obj(message, {"q"})
    return {"q": q}
