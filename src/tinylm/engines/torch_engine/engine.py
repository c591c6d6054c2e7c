"""TorchEngine: the same models as the numpy engine, on CPU or CUDA, optionally data-parallel.

Options
- device: "cpu" | "cuda" | "auto" (cuda when available). Under torchrun each rank uses cuda:LOCAL_RANK.
- dtype: "float32" | "float64" (parameters and compute).
- compile: torch.compile the forward (True, or a torch.compile mode such as "max-autotune").
- amp: bf16 autocast (CUDA only; a no-op on CPU).
- fused: fused Adam/AdamW kernels (CUDA only).  sdpa: F.scaled_dot_product_attention (else explicit softmax).
- deterministic: torch.use_deterministic_algorithms and a pinned thread count (num_threads, default 1),
  so that CPU runs are byte-identical from run to run and machine to machine.

Distributed (torchrun, WORLD_SIZE > 1): the engine joins the process group itself (gloo on CPU, NCCL
on CUDA), wraps the model in DistributedDataParallel, and expects the FULL global batch on every rank;
``train_step``, ``forward_backward`` and ``loss`` are collective (every rank must call them), while
``logits`` and ``decoder`` are local. ``close()`` leaves the group.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F

from ...config import ModelConfig
from ...errors import ConfigError, EngineUnavailable
from ...models import implementation
from ...models.params import decay_names, param_specs
from ..base import Decoder, Engine, OptimConfig, StepStats, check_batch, check_engine_args, check_params
from . import distributed
from .decoder import TorchDecoder
from .makemore_families import BagOfWords, RecurrentLM
from .model import GPT, Bigram, ContextMLP, FamilyModule
from .optim import build_optimizer, export_state, import_state, set_lr

DTYPES = {"float32": torch.float32, "float64": torch.float64}
DEVICES = ("cpu", "cuda", "auto")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def resolve_device(device: str, local_rank: int = 0) -> torch.device:
    if device not in DEVICES:
        raise ConfigError(f"unknown device {device!r} (choose from {', '.join(DEVICES)})")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        if not torch.cuda.is_available():
            raise EngineUnavailable("device 'cuda' asked for, but this PyTorch sees no CUDA device "
                                    f"(torch {torch.__version__}); use --device cpu or auto")
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")


# this engine's implementation of each model family (models/registry.py lists the families): FamilyModules
# built as cls(cfg, sdpa=...), their state_dict keys the family's parameter names
IMPLEMENTATIONS: dict[str, Callable[..., FamilyModule]] = {
    "bigram": Bigram, "mlp": ContextMLP, "gpt": GPT,
    "rnn": partial(RecurrentLM, cell="rnn"), "gru": partial(RecurrentLM, cell="gru"), "bow": BagOfWords,
}


def build_model(cfg: ModelConfig, sdpa: bool = True) -> FamilyModule:
    model = implementation(IMPLEMENTATIONS, cfg, "torch")(cfg, sdpa=sdpa)
    expected = {s.name: s.shape for s in param_specs(cfg)}
    actual = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    if actual != expected:
        wrong = sorted(set(actual.items()) ^ set(expected.items()))[0][0]
        raise ConfigError(f"the torch {cfg.family} module's parameters differ from the family's specs (first: {wrong!r})")
    return model


class TorchEngine(Engine):
    name = "torch"

    def __init__(self, cfg: ModelConfig, params: dict[str, np.ndarray], dtype: str = "float32",
                 device: str = "cpu", compile: bool | str = False, amp: bool = False, fused: bool = False,
                 sdpa: bool = True, deterministic: bool = False, num_threads: int | None = None, **options):
        if options:
            raise ConfigError(f"unknown torch engine option {sorted(options)[0]!r} (choose from device, "
                              "compile, amp, fused, sdpa, deterministic, num_threads)")
        check_engine_args(dtype, dtypes=DTYPES)
        if isinstance(compile, str) and compile not in COMPILE_MODES:
            raise ConfigError(f"unknown torch.compile mode {compile!r} (choose from {', '.join(COMPILE_MODES)})")
        super().__init__(cfg, params, dtype)
        if deterministic:
            # cuBLAS needs a fixed workspace before its first call to be deterministic
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True)
            torch.set_num_threads(num_threads or 1)
        elif num_threads:
            torch.set_num_threads(num_threads)

        # pick this rank's device first: NCCL binds its communicator to the current CUDA device
        self.device = resolve_device(device, distributed.env_local_rank())
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        self.group = distributed.join_from_env(use_cuda=self.device.type == "cuda")
        self.rank, self.world_size = self.group.rank, self.group.world_size
        self.is_main = self.rank == 0
        self.torch_dtype = DTYPES[dtype]
        self.amp = amp and self.device.type == "cuda"
        self.fused = fused and self.device.type == "cuda"
        self.compiled = compile
        compile_kwargs = {"mode": compile} if isinstance(compile, str) else {}

        self.model = build_model(cfg, sdpa=sdpa).to(device=self.device, dtype=self.torch_dtype)
        self.named = dict(self.model.named_parameters())
        self.set_params(params)
        train_model: torch.nn.Module = self.model
        if self.group.active:
            from torch.nn.parallel import DistributedDataParallel
            ids = [self.device.index] if self.device.type == "cuda" else None
            train_model = DistributedDataParallel(self.model, device_ids=ids)
        self.train_model = torch.compile(train_model, **compile_kwargs) if compile else train_model
        # evaluation skips DDP's hooks; a single process shares the compiled graph cache
        self.eval_model = self.model
        if compile:
            self.eval_model = torch.compile(self.model, **compile_kwargs) if self.group.active else self.train_model
        self.optimizer: torch.optim.Optimizer | None = None
        self.optim_cfg: OptimConfig | None = None
        self.steps = 0

    # --- parameters -------------------------------------------------------------------
    def get_params(self) -> dict[str, np.ndarray]:
        return {name: _numpy(p) for name, p in self.named.items()}

    @torch.no_grad()
    def set_params(self, params: dict[str, np.ndarray]) -> None:
        check_params({name: tuple(p.shape) for name, p in self.named.items()}, params, self.cfg.family)
        for name, p in self.named.items():
            p.copy_(torch.as_tensor(np.asarray(params[name]), dtype=p.dtype))

    # --- batches ----------------------------------------------------------------------
    def _to_device(self, x: np.ndarray) -> torch.Tensor:
        """Token ids (already checked) as an int64 tensor on this engine's device."""
        return torch.as_tensor(np.asarray(x).astype(np.int64, copy=False)).to(self.device, non_blocking=True)

    def _batch(self, x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, int]:
        """This rank's rows of the global batch, and the global count of valid targets."""
        x, y = check_batch(self.cfg, x, y)
        n_valid = int(np.count_nonzero(y != -1))
        rows = distributed.own_rows(np.shape(x)[0], self.rank, self.world_size)
        return self._to_device(x[rows]), self._to_device(y[rows]), n_valid

    def _autocast(self):
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.amp)

    def _loss_sum(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with self._autocast():
            logits = model(x)
            return F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1),
                                   ignore_index=-1, reduction="sum")

    def _global_mean(self, loss_sum: torch.Tensor, n_valid: int) -> float:
        total = loss_sum.detach().to(torch.float64)
        if self.group.active:
            distributed.all_reduce_sum(total)
        return float(total) / n_valid

    # --- compute ----------------------------------------------------------------------
    @torch.no_grad()
    def loss(self, x: np.ndarray, y: np.ndarray) -> float:
        xs, ys, n_valid = self._batch(x, y)
        return self._global_mean(self._loss_sum(self.eval_model, xs, ys), n_valid)

    def _forward_backward(self, x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
        xs, ys, n_valid = self._batch(x, y)
        for p in self.named.values():
            p.grad = None
        loss_sum = self._loss_sum(self.train_model, xs, ys)
        # DDP averages gradients over ranks: scale by world/n so the average is d(global mean)/dp
        (loss_sum * (self.world_size / n_valid)).backward()
        return self._global_mean(loss_sum, n_valid), n_valid

    def forward_backward(self, x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        loss, _ = self._forward_backward(x, y)
        return loss, {name: _numpy(p.grad) for name, p in self.named.items()}

    @torch.no_grad()
    def logits(self, x: np.ndarray) -> np.ndarray:
        x, _ = check_batch(self.cfg, x)
        out = self.model(self._to_device(x))
        return out.to("cpu", torch.float64).numpy()

    def decoder(self) -> Decoder:
        return TorchDecoder(self.model, self.device)

    # --- optimisation -----------------------------------------------------------------
    def configure_optimizer(self, opt: OptimConfig) -> None:
        self.optimizer = build_optimizer(self.named, opt, decay_names(self.cfg), fused=self.fused)
        self.optim_cfg = opt
        self.steps = 0

    def train_step(self, x: np.ndarray, y: np.ndarray, lr: float) -> StepStats:
        if self.optimizer is None:
            raise ConfigError("configure_optimizer must be called before train_step")
        loss, n_valid = self._forward_backward(x, y)
        params = list(self.named.values())
        clip = self.optim_cfg.grad_clip
        if clip > 0:
            norm = torch.nn.utils.clip_grad_norm_(params, clip, foreach=True)
        else:
            norm = torch.nn.utils.get_total_norm([p.grad for p in params], foreach=True)
        set_lr(self.optimizer, lr)
        self.optimizer.step()
        self.steps += 1
        return StepStats(loss=loss, grad_norm=float(norm), n_tokens=n_valid)

    def get_optimizer_state(self) -> tuple[int, dict[str, np.ndarray]]:
        if self.optimizer is None:
            raise ConfigError("configure_optimizer must be called before get_optimizer_state")
        return self.steps, export_state(self.optimizer, self.named, self.optim_cfg)

    def set_optimizer_state(self, steps: int, state: dict[str, np.ndarray]) -> None:
        if self.optimizer is None:
            raise ConfigError("configure_optimizer must be called before set_optimizer_state")
        import_state(self.optimizer, self.named, self.optim_cfg, int(steps), state)
        self.steps = int(steps)

    # --- lifecycle --------------------------------------------------------------------
    def close(self) -> None:
        """Leave the torchrun process group (if this engine joined it). Safe to call twice."""
        self.group.close()

    def describe(self) -> dict:
        return {"device": str(self.device), "dtype": self.dtype, "compile": self.compiled, "amp": self.amp,
                "fused": self.fused, "world_size": self.world_size, "threads": torch.get_num_threads()}


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu").numpy().copy()


__all__ = ["TorchEngine", "resolve_device"]
