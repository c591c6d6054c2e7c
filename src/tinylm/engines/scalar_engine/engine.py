"""ScalarEngine: every number of the forward pass is a Value; backward is the chain rule, node by node.

Parameters live in float64 numpy arrays (updated by ``engines.optim.NumpyOptimizer``); each
forward pass wraps them in fresh leaf Values, so a step never sees stale gradients. Python floats
are float64, so the engine always computes in float64; ``dtype`` only sets the dtype of the
arrays it hands back.
"""
from __future__ import annotations

import gc
import time
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from functools import partial

import numpy as np

from ...config import ModelConfig
from ...errors import CheckpointError, ConfigError, DataError
from ...models import family_of, implementation
from ...models.params import param_specs
from ..base import Decoder, Engine, StepStats, check_batch, check_engine_args, check_params
from ..optim import UsesNumpyOptimizer
from .fused import FusedOps
from .graph import count_edges, graph_stats, graph_to_data
from .leaves import Leaf, make_leaves
from .families import ScalarBoW, ScalarRNN
from .model import ScalarBigram, ScalarGPT, ScalarMLP, ScalarModel
from .plain import PlainOps
from .value import Value, backpropagate, topological_order

MODES = {"plain": PlainOps, "fused": FusedOps}
# this engine's implementation of each model family (models/registry.py lists the families)
IMPLEMENTATIONS: dict[str, Callable[..., ScalarModel]] = {
    "bigram": ScalarBigram, "mlp": ScalarMLP, "gpt": ScalarGPT,
    "rnn": partial(ScalarRNN, cell="rnn"), "gru": partial(ScalarRNN, cell="gru"), "bow": ScalarBoW}
# Rough cost of one multiply-add of the model, forward and backward together (graph building,
# topological sort, chain rule), measured on a busy 2-core dev machine: from ~0.5 us (fused) on
# microgpt-sized layers up to ~2 us on 64-wide ones, where memory traffic dominates. Only used to
# warn before a step that would take longer than a second.
SECONDS_PER_MAC = {"plain": 15e-6, "fused": 1.0e-6}
SLOW_STEP_SECONDS = 1.0


@contextmanager
def gc_paused():
    """Pause Python's cycle collector while a graph is built and walked. The graph has no
    reference cycles (a node only points at its inputs), so reference counting frees it anyway;
    the collector would just rescan tens of thousands of fresh Values again and again."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class ScalarEngine(UsesNumpyOptimizer, Engine):
    name = "scalar"

    def __init__(self, cfg: ModelConfig, params: dict[str, np.ndarray], dtype: str = "float32",
                 mode: str = "fused", **options):
        super().__init__(cfg, params, dtype)
        if options:
            raise ConfigError(f"unknown scalar engine option {sorted(options)[0]!r} (known: mode)")
        if mode not in MODES:
            raise ConfigError(f"unknown scalar mode {mode!r} (choose from {', '.join(MODES)})")
        check_engine_args(dtype, cfg)
        self.mode = mode
        self.ops = MODES[mode]()
        self._specs = {s.name: s.shape for s in param_specs(cfg)}
        self.params: dict[str, np.ndarray] = {name: np.zeros(shape) for name, shape in self._specs.items()}
        self.set_params(params)
        self.state_dtype = dtype         # optimizer state leaves in the engine's dtype, like its parameters
        self.last_graph: dict[str, int] = {}
        self._depth_by_pattern: dict[tuple, int] = {}
        self._warned_slow = False

    # --- parameters -------------------------------------------------------------------------
    def get_params(self) -> dict[str, np.ndarray]:
        return {name: p.astype(self.dtype, copy=True) for name, p in self.params.items()}

    def set_params(self, params: dict[str, np.ndarray]) -> None:
        check_params(self._specs, params, self.cfg.family, error=CheckpointError)
        for name in self._specs:
            self.params[name][...] = params[name]  # in place: the optimizer holds these arrays

    def _model(self) -> tuple[ScalarModel, dict[str, Leaf]]:
        leaves = make_leaves(self.params)
        return implementation(IMPLEMENTATIONS, self.cfg, self.name)(self.cfg, leaves, self.ops), leaves

    # --- batches ----------------------------------------------------------------------------
    def _check_tokens(self, x: np.ndarray, y: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        return check_batch(self.cfg, x, y)

    def _losses(self, model: ScalarModel, x: np.ndarray, y: np.ndarray) -> list[Value]:
        """One cross-entropy node per non-ignored target, row by row."""
        losses: list[Value] = []
        for tokens, targets in zip(x.tolist(), y.tolist()):
            valid = [t for t, target in enumerate(targets) if target != -1]
            if not valid:
                continue
            # positions after the last target cannot influence the loss (attention is causal)
            logits = model.sequence_logits(tokens[: valid[-1] + 1])
            losses += [self.ops.cross_entropy(logits[t], targets[t]) for t in valid]
        if not losses:
            raise DataError("every target of the batch is ignored (-1): nothing to learn from")
        return losses

    def _warn_if_slow(self, x: np.ndarray, n_tokens: int) -> None:
        if self._warned_slow:
            return
        estimate = n_tokens * family_of(self.cfg).macs_per_token(self.cfg, x.shape[1] / 2) * SECONDS_PER_MAC[self.mode]
        if estimate > SLOW_STEP_SECONDS:
            self._warned_slow = True
            warnings.warn(f"scalar engine ({self.mode} mode): one step of this batch is estimated at "
                          f"{estimate:.1f} s; the numpy engine computes the same thing far faster",
                          RuntimeWarning, stacklevel=3)

    # --- compute ----------------------------------------------------------------------------
    def loss(self, x: np.ndarray, y: np.ndarray) -> float:
        x, y = self._check_tokens(x, y)
        with gc_paused():
            model, _ = self._model()
            return float(self.ops.mean(self._losses(model, x, y)).data)

    def forward_backward(self, x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        x, y = self._check_tokens(x, y)
        self._warn_if_slow(x, int((y != -1).sum()))
        with gc_paused():
            model, leaves = self._model()
            loss = self.ops.mean(self._losses(model, x, y))
            topo = topological_order(loss, include_leaves=False)  # leaves have nothing to pass on
            loss.grad = 1.0
            backpropagate(topo)
            self.last_graph = self._graph_stats(topo, y)
            return float(loss.data), {name: leaf.grad() for name, leaf in leaves.items()}

    def _graph_stats(self, topo: list[Value], y: np.ndarray) -> dict[str, int]:
        """nodes, edges and depth of this step's graph (see ``graph.graph_stats``).

        Which nodes exist depends only on which positions of each row carry a target, never on
        the token values, so the depth (a full pass over every edge) is computed once per pattern.
        """
        pattern = tuple(tuple(row[: max((i for i, t in enumerate(row) if t != -1), default=-1) + 1])
                        for row in (y != -1).tolist())
        depth = self._depth_by_pattern.get(pattern)
        if depth is None:
            if len(self._depth_by_pattern) > 4096:
                self._depth_by_pattern.clear()
            depth = self._depth_by_pattern[pattern] = graph_stats(topo)["depth"]
        return {"nodes": len(topo), "edges": count_edges(topo), "depth": depth}

    def logits(self, x: np.ndarray) -> np.ndarray:
        x, _ = self._check_tokens(x)
        with gc_paused():
            model, _ = self._model()
            return np.array([[[v.data for v in row] for row in model.sequence_logits(tokens)]
                             for tokens in x.tolist()], dtype=np.float64)

    def position_graph(self, x: np.ndarray, y: np.ndarray, row: int = 0, position: int | None = None) -> list[dict]:
        """The graph of one position's loss, after backward from it, as JSON-ready dicts
        ``{id, op, data, grad, children, [label]}`` (children listed before their parents)."""
        x, y = self._check_tokens(x, y)
        if not 0 <= row < x.shape[0]:
            raise DataError(f"row {row} is outside the batch (size {x.shape[0]})")
        targets = y[row].tolist()
        valid = [t for t, target in enumerate(targets) if target != -1]
        if position is None:
            position = valid[-1] if valid else -1
        if position not in valid:
            raise DataError(f"position {position} of row {row} has no target")
        model, leaves = self._model()
        logits = model.sequence_logits(x[row, : position + 1].tolist())
        loss = self.ops.cross_entropy(logits[position], targets[position])
        topo = loss.backward()
        labels: dict[int, str] = {}
        for leaf in leaves.values():
            labels.update(leaf.labels())
        return graph_to_data(topo, labels)

    def decoder(self) -> Decoder:
        return ScalarDecoder(self)

    # --- optimisation (configure_optimizer, get/set_optimizer_state: UsesNumpyOptimizer) ------------
    def _optimized_params(self) -> dict[str, np.ndarray]:
        return self.params

    def train_step(self, x: np.ndarray, y: np.ndarray, lr: float) -> StepStats:
        self._optimizer("train_step()")
        t0 = time.perf_counter()
        loss, grads = self.forward_backward(x, y)
        norm = self._update(grads, lr)
        n_tokens = int((np.asarray(y) != -1).sum())
        extra = {"mode": self.mode, **self.last_graph, "step_s": time.perf_counter() - t0}
        return StepStats(loss=loss, grad_norm=norm, n_tokens=n_tokens, extra=extra)


class ScalarDecoder(Decoder):
    """Feeds one token per row, each row its own state of Values (a GPT row's KV cache, an MLP row's last
    few tokens); the windowing is ``engines.base.Decoder``'s."""

    def __init__(self, engine: ScalarEngine):
        super().__init__(engine.cfg)
        self.engine = engine
        self.reset(1)

    def reset(self, batch_size: int) -> None:
        # parameters are read once per reset: a decoder sees the weights of the moment it was reset
        self.model, _ = self.engine._model()
        super().reset(batch_size)

    def _start(self, batch_size: int) -> None:
        self.states = [self.model.start_state() for _ in range(batch_size)]

    def _advance(self, tokens: np.ndarray) -> np.ndarray:
        out = np.empty((self.batch_size, self.cfg.vocab_size), dtype=np.float64)
        with gc_paused():
            for row, token in enumerate(tokens.tolist()):
                logits, self.states[row] = self.model.advance(self.states[row], token, self.filled)
                out[row] = [v.data for v in logits]
        return out
