"""What a model family is, for every engine: the description each ``models/<family>.py`` fills in.

A family says which parameters a config implies (names, shapes, initialisation: the checkpoint's keys),
what else a config must satisfy, and what its decoders need to know: how many recent tokens the next
token's logits depend on (``window``). Engines register one implementation per family (their own
``IMPLEMENTATIONS`` tables); nothing outside ``models/`` asks which family a config is.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:                      # only for annotations: models sit below config at run time
    from ..config import ModelConfig


@dataclass(frozen=True)
class ParamSpec:
    name: str
    shape: tuple[int, ...]
    init: str          # "normal" | "uniform" (std holds the bound) | "zeros" | "ones"
    std: float = 0.0
    decay: bool = False  # AdamW weight decay applies (matrices, embeddings)


def _no_extra_rules(cfg: ModelConfig) -> None:
    return None


@dataclass(frozen=True)
class ModelFamily:
    name: str
    summary: str                                             # one line, for listings and help
    param_specs: Callable[[ModelConfig], list[ParamSpec]]    # in draw order
    describe: Callable[[ModelConfig], str]                   # "gpt 1L 4H 16d", "mlp ctx 3 · 200 hidden"
    # The decoders' one windowing policy: the next-token logits after any history are those a fresh
    # forward pass gives on the history's last ``window(cfg)`` tokens (nanoGPT's and makemore's
    # idx[:, -block_size:] crop; the MLP's context; 1 for the bigram).
    window: Callable[[ModelConfig], int]
    # Floats one token keeps for the backward pass (the memory estimate made before a run starts).
    activations_per_token: Callable[[ModelConfig], int]
    # Multiply-adds of the forward pass for one token that sees ``positions`` earlier ones (the scalar
    # engine's warning before a step that would take long).
    macs_per_token: Callable[[ModelConfig, float], float]
    check: Callable[[ModelConfig], None] = _no_extra_rules   # rules beyond ModelConfig's own, one-line errors

    def param_count(self, cfg: ModelConfig) -> int:
        return sum(math.prod(s.shape) for s in self.param_specs(cfg))


# --- pieces the families' spec files share --------------------------------------------------------
def linear_specs(prefix: str, n_out: int, n_in: int, std: float, bias: bool) -> tuple[list[ParamSpec], list[ParamSpec]]:
    """A Linear layer stored [out, in] (torch's convention, y = x @ W.T + b): (weights, biases)."""
    weights = [ParamSpec(f"{prefix}.weight", (n_out, n_in), "normal", std, True)]
    biases = [ParamSpec(f"{prefix}.bias", (n_out,), "zeros")] if bias else []
    return weights, biases


def torch_default_init(specs: list[ParamSpec], embeddings: tuple[str, ...] = ("wte", "wpe")) -> list[ParamSpec]:
    """PyTorch's default initialisation (what makemore's models get): embeddings N(0, 1); Linear weights
    and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)); everything else (norm gains, start states) unchanged."""
    fan_in = {s.name[: -len(".weight")]: s.shape[1] for s in specs if s.name.endswith(".weight") and len(s.shape) == 2}
    out = []
    for s in specs:
        if s.name in embeddings:
            s = ParamSpec(s.name, s.shape, "normal", 1.0, s.decay)
        elif s.name.endswith((".weight", ".bias")) and s.name.rsplit(".", 1)[0] in fan_in:
            s = ParamSpec(s.name, s.shape, "uniform", 1.0 / math.sqrt(fan_in[s.name.rsplit(".", 1)[0]]), s.decay)
        out.append(s)
    return out
