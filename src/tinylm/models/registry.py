"""The model families tinylm knows, by name. A new family: its ``models/<family>.py`` and one line here,
then one implementation per engine (each engine's ``IMPLEMENTATIONS``) and its tests."""
from __future__ import annotations

from ..errors import ConfigError
from .bigram import BIGRAM
from .bow import BOW
from .family import ModelFamily
from .gpt import GPT
from .mlp import MLP
from .rnn import GRU, RNN

FAMILIES: dict[str, ModelFamily] = {f.name: f for f in (BIGRAM, MLP, GPT, RNN, GRU, BOW)}


def family_named(name: str) -> ModelFamily:
    try:
        return FAMILIES[name]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown model family {name!r} (choose from {', '.join(FAMILIES)})") from None


def family_of(cfg) -> ModelFamily:
    return family_named(cfg.family)


def implementation(table: dict, cfg, engine: str):
    """An engine's implementation of ``cfg``'s family, or a one-line error naming what is missing."""
    family = family_of(cfg)
    try:
        return table[family.name]
    except KeyError:
        raise ConfigError(f"the {engine} engine has no implementation of the {family.name} family") from None
