"""ModelConfig: one dataclass describes every model family, for every engine.

The same config + the same initial parameters (see ``models/params.py``) give the same
function in the numpy, scalar and torch engines.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from ..errors import ConfigError
from ..models.registry import family_named

NORMS = ("rmsnorm", "layernorm")
ACTIVATIONS = ("relu", "gelu", "gelu_tanh", "tanh")


# Upper bounds on the sizes a config (or a checkpoint's metadata) may ask for; far above every preset.
LIMITS = {"vocab_size": 1_000_000, "block_size": 4096, "n_embd": 16_384, "context": 1024, "n_hidden": 65_536,
          "n_layer": 256, "n_head": 256, "mlp_ratio": 64}
MAX_PARAMS = 500_000_000       # 2 GB of float32 weights, 6 GB with Adam's state


@dataclass
class ModelConfig:
    family: str = "gpt"
    vocab_size: int = 27
    block_size: int = 16
    n_embd: int = 16
    # --- mlp, rnn, gru, bow ---
    context: int = 1          # tokens of context the MLP sees (1 = the seeds' MLP; >1 = Bengio-style)
    n_hidden: int = 64        # MLP hidden width; the rnn/gru hidden state; the bow block's MLP width
    # --- gpt ---
    n_layer: int = 1
    n_head: int = 4
    mlp_ratio: int = 4        # GPT MLP hidden = mlp_ratio * n_embd
    norm: str = "rmsnorm"     # rmsnorm | layernorm
    norm_affine: bool = False  # learnable gain (and bias for layernorm when bias=True)
    norm_eps: float = 1e-5
    embed_norm: bool = False  # microgpt normalises wte+wpe before the first block
    final_norm: bool = True   # norm before lm_head
    # --- shared ---
    activation: str = "relu"  # relu | gelu (exact erf) | gelu_tanh | tanh
    bias: bool = False        # biases on linear layers (and layernorm, when affine)
    tie_weights: bool = False  # output head shares wte
    init: str = "normal"      # normal (std init_std) | zeros (bigram) | torch (PyTorch defaults, as makemore)
    init_std: float = 0.02
    scaled_residual_init: bool = False  # nanoGPT: residual projections std / sqrt(2 n_layer)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        family = family_named(self.family)
        if not isinstance(self.block_size, int) or self.block_size < 0:
            raise ConfigError(f"block_size must be a positive integer (0 = longest document + 1), got {self.block_size!r}")
        for name in ("vocab_size", "n_embd", "context", "n_hidden", "n_layer", "n_head", "mlp_ratio"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        for name, hi in LIMITS.items():
            if getattr(self, name) > hi:
                raise ConfigError(f"{name} must be at most {hi:,}, got {getattr(self, name):,}")
        if self.vocab_size < 2:
            raise ConfigError(f"vocab_size must be at least 2, got {self.vocab_size}")
        if self.norm not in NORMS:
            raise ConfigError(f"unknown norm {self.norm!r} (choose from {', '.join(NORMS)})")
        if self.activation not in ACTIVATIONS:
            raise ConfigError(f"unknown activation {self.activation!r} (choose from {', '.join(ACTIVATIONS)})")
        family.check(self)
        if self.init not in ("normal", "zeros", "torch"):
            raise ConfigError(f"unknown init {self.init!r} (choose from normal, zeros, torch)")
        for name in ("norm_affine", "embed_norm", "final_norm", "bias", "tie_weights", "scaled_residual_init"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, got {getattr(self, name)!r}")
        for name, lo, hi in (("init_std", 0.0, 10.0), ("norm_eps", 1e-12, 1.0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
                raise ConfigError(f"{name} must be a number from {lo:g} to {hi:g}, got {value!r}")
        if self.approx_params() > MAX_PARAMS:
            raise ConfigError(f"this model would have about {self.approx_params():,} parameters; "
                              f"tinylm trains models up to {MAX_PARAMS:,}")

    def approx_params(self) -> int:
        """The parameter count (its family's specs; a block_size still to be resolved counts as 1), so a config
        asking for billions of weights is refused before anything is allocated."""
        return family_named(self.family).param_count(replace(self, block_size=max(self.block_size, 1))
                                                     if self.block_size < 1 else self)

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown model config keys: {', '.join(sorted(unknown))}")
        return cls(**data)
