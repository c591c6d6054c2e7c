"""``tinylm train --config FILE.toml``: the same keys as ``--set``, in TOML.

    preset = "shakespeare-tiny"      # optional; --preset on the command line wins
    [model]
    n_layer = 2
    [train]
    steps = 500
    seed = "hello"
    [optim]
    lr = 3e-3
    [data]
    source = "my_names.txt"

Dotted keys (``train.steps = 500``) are the same thing in TOML. Every value goes through the same
``apply_overrides`` and validation as ``--set``, so an unknown key or a bad value is the same one-line error;
flags given on the command line (``--steps``, ``--set``...) override the file.
"""
from __future__ import annotations

import tomllib
from pathlib import Path

from ..data.sources import read_text_file
from ..errors import ConfigError, DataError

SECTIONS = ("model", "train", "optim", "data")
MAX_CONFIG_BYTES = 1_000_000


def read_config_file(path: str) -> tuple[str | None, dict]:
    """(preset or None, {dotted key: value}) from a TOML file."""
    try:
        text = read_text_file(path, what="config file", max_bytes=MAX_CONFIG_BYTES)
    except DataError as exc:
        raise ConfigError(str(exc)) from None
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {Path(path).name} is not valid TOML ({exc})") from None
    preset = table.pop("preset", None)
    if preset is not None and not isinstance(preset, str):
        raise ConfigError(f"config file {Path(path).name}: preset must be a name in quotes, got {preset!r}")
    overrides: dict = {}
    for key, value in table.items():
        if isinstance(value, dict):
            if key not in SECTIONS:
                raise ConfigError(f"config file {Path(path).name}: unknown section [{key}] "
                                  f"(use {', '.join(f'[{s}]' for s in SECTIONS)})")
            for name, inner in value.items():
                overrides[f"{key}.{name}"] = _scalar(f"{key}.{name}", inner, path)
        else:
            overrides[key] = _scalar(key, value, path)
    return preset, overrides


def _scalar(key: str, value, path: str):
    if isinstance(value, (dict, list)) or not isinstance(value, (str, int, float, bool)):
        raise ConfigError(f"config file {Path(path).name}: {key} must be a number, text or true/false, "
                          f"got {value!r}")
    return value


__all__ = ["read_config_file"]
