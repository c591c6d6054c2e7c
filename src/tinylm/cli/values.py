"""Argument types that check a flag's value while parsing: argparse then names the flag and the allowed
range in its one-line error (exit 2), before anything is allocated or written."""
from __future__ import annotations

import argparse
import math

from ..config import MAX_BATCH, MAX_STEPS
from ..errors import ConfigError

__all__ = ["MAX_BATCH", "MAX_STEPS", "MAX_SAMPLES", "MAX_NEW_TOKENS", "MAX_PROMPT_FILE_BYTES", "int_in", "number_in",
           "text"]

MAX_SAMPLES = 10_000
MAX_NEW_TOKENS = 100_000
MAX_TEXT_ARG = 10_000
MAX_PROMPT_FILE_BYTES = 100_000


def int_in(lo: int, hi: int):
    """An integer in [lo, hi]."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be between {lo:,} and {hi:,}, got {value:,}")
        return value
    parse.__name__ = "integer"
    return parse


def number_in(lo: float, hi: float, *, open_low: bool = False):
    """A finite number in [lo, hi] (or (lo, hi] with ``open_low``)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        low_ok = value > lo if open_low else value >= lo
        if not (math.isfinite(value) and low_ok and value <= hi):
            bracket = "(" if open_low else "["
            raise argparse.ArgumentTypeError(f"must be a finite number in {bracket}{lo:g}, {hi:g}], got {text}")
        return value
    parse.__name__ = "number"
    return parse


def text(text: str) -> str:
    """Any text that is not huge (undecodable bytes in argv are refused by ``main`` for every argument)."""
    if len(text) > MAX_TEXT_ARG:
        raise argparse.ArgumentTypeError(f"is longer than {MAX_TEXT_ARG:,} characters")
    return text


def set_items(items: list[str]) -> dict[str, str]:
    """``--set KEY=VALUE`` flags as a dict; a flag without ``=`` is a one-line error."""
    out: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = value.strip()
    return out
