"""SampleConfig: how the next token is picked."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError


@dataclass
class SampleConfig:
    temperature: float = 1.0    # > 0: logits are divided by it (lower = more conservative)
    top_k: int = 0              # keep only the k most likely tokens; 0 = off
    greedy: bool = False        # always take the most likely token (temperature and top_k are ignored)
    max_new_tokens: int = 80    # per row; a document's closing BOS counts as one
    stop_at_bos: bool = True    # documents: a row ends when it samples the end token (BOS)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if not isinstance(self.greedy, bool):
            raise ConfigError(f"greedy must be true or false, got {self.greedy!r}")
        if not self.greedy:
            check_temperature(self.temperature)
        check_top_k(self.top_k)
        if not isinstance(self.max_new_tokens, int) or isinstance(self.max_new_tokens, bool) \
                or self.max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens must be a positive integer, got {self.max_new_tokens!r}")


def check_temperature(temperature: float) -> None:
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0 \
            or temperature == float("inf"):
        raise ConfigError(f"temperature must be a number > 0 (use greedy for the most likely token), "
                          f"got {temperature!r}")


def check_top_k(top_k: int) -> None:
    if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 0:
        raise ConfigError(f"top_k must be an integer >= 0 (0 = off), got {top_k!r}")
