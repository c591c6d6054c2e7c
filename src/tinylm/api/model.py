"""A trained model in a notebook: sample names, score a text, look at the next-character distribution."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import checkpoints, sampling
from ..config import ModelConfig, SampleConfig
from ..data import CharTokenizer
from ..engines import Engine, engine_class
from ..errors import CheckpointError, ConfigError
from ..models import family_of
from ..models.params import param_count
from ..seeding import SAMPLE_STREAM, rng_for
from ..training.loop import CHECKPOINT_NAME

END = "<end>"    # how the end of a document (the BOS token of a names model) is shown in scores and probabilities


def checkpoint_path(run: str | Path) -> Path:
    """A run directory or a checkpoint file → the checkpoint file.

    >>> checkpoint_path("no/such/run.safetensors").name
    'run.safetensors'
    """
    if run is None:
        raise CheckpointError("no run directory: this run was trained in memory (pass run_dir= to train(), "
                              "or use run.model)")
    path = Path(run)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
        if not path.exists():
            raise CheckpointError(f"no {CHECKPOINT_NAME} in run directory {run}")
    return path


def describe_architecture(cfg: ModelConfig) -> str:
    """'gpt 1L 4H 16d', 'mlp ctx 3 · 200 hidden' or 'bigram'."""
    return family_of(cfg).describe(cfg)


@dataclass(repr=False)
class Score:
    """How surprised a model is by a text: ``loss`` is the mean negative log-likelihood (nats per
    prediction, the number the training loss reports); ``surprisal`` pairs each predicted character with
    its -ln p (for a names model the last pair is the end of the name, shown as ``"<end>"``)."""
    text: str
    loss: float
    surprisal: list[tuple[str, float]]

    @property
    def perplexity(self) -> float:
        """e ** loss: as unsure as a uniform choice among this many characters."""
        return math.exp(self.loss) if self.loss < 700 else float("inf")

    def __repr__(self) -> str:
        worst = max(self.surprisal, key=lambda cs: cs[1])
        return (f"Score({self.text!r}: mean NLL {self.loss:.3f} nats, perplexity {self.perplexity:.2f}, "
                f"most surprising {worst[0]!r} {worst[1]:.2f} nats)")


@dataclass(repr=False)
class Model:
    """A trained model ready to sample from, score texts with, and ask for next-character probabilities.
    Get one with ``tinylm.load(run_dir)`` or ``run.model``.

    >>> import tinylm
    >>> model = tinylm.train("bigram", steps=30, seed="doc", progress=False).model
    >>> model.config.family, model.tokenizer.vocab_size
    ('bigram', 27)
    """
    engine: Engine
    tokenizer: CharTokenizer
    config: ModelConfig
    meta: dict

    @property
    def documents(self) -> bool:
        """True for a model of documents (names: every sample is one name), False for a text stream."""
        return self.tokenizer.bos_id is not None

    def __repr__(self) -> str:
        cfg, meta = self.config, self.meta
        where = f"preset {meta.get('preset')}, step {meta.get('step')}" if meta.get("preset") else "untrained"
        kind = "documents" if self.documents else "stream"
        return (f"Model({describe_architecture(cfg)} · {param_count(cfg):,} params · vocab {cfg.vocab_size} "
                f"({kind}) · block {cfg.block_size} · {where})")

    def sample(self, n: int = 10, *, temperature: float = 1.0, top_k: int = 0, greedy: bool = False,
               prompt: str = "", max_new_tokens: int | None = None, seed: str | None = None) -> list[str]:
        """``n`` samples (names for a names model; pieces of text continuing ``prompt`` for a stream).
        Each call draws fresh ones; pass ``seed="any text"`` to get the same ones again.
        ``temperature`` < 1 is more conservative, ``top_k`` keeps the k likeliest characters, ``greedy``
        always takes the likeliest. The prompt is not part of the returned text.

        >>> import tinylm
        >>> model = tinylm.train("bigram", steps=50, seed="doc", progress=False).model
        >>> names = model.sample(5, temperature=0.8, seed="x")
        >>> len(names), names == model.sample(5, temperature=0.8, seed="x")
        (5, True)
        """
        length = max_new_tokens or sampling.default_max_new_tokens(self.config.block_size, self.documents)
        cfg = SampleConfig(temperature=temperature, top_k=top_k, greedy=greedy, max_new_tokens=length)
        rng = np.random.default_rng() if seed is None else rng_for(seed, SAMPLE_STREAM)
        return sampling.generate(self.engine, self.tokenizer, prompt=prompt, n=n, cfg=cfg, rng=rng)

    def _context(self, prefix: str) -> list[int]:
        ids = sampling.start_tokens(self.tokenizer, prefix)
        return ids

    def next_char_probs(self, prefix: str = "", temperature: float = 1.0) -> dict[str, float]:
        """The model's distribution over the character that follows ``prefix`` (at ``temperature``), as
        ``{char: probability}``, likeliest first. For a names model ``"<end>"`` is the name ending there.

        >>> import tinylm
        >>> model = tinylm.train("bigram", steps=100, seed="doc", progress=False).model
        >>> probs = model.next_char_probs("em")
        >>> round(sum(probs.values()), 6), len(probs)
        (1.0, 27)
        >>> top = list(probs.values())[0]
        >>> list(model.next_char_probs("em", temperature=0.5).values())[0] > top   # colder: more peaked
        True
        """
        ids = self._context(prefix)[-self.config.block_size:]
        logits = self.engine.logits(np.array([ids], dtype=np.int64))[0, -1]
        probs = sampling.next_token_probs(logits, temperature)
        labels = [self._label(i) for i in range(self.tokenizer.vocab_size)]
        order = sorted(range(len(labels)), key=lambda i: (-probs[i], labels[i]))
        return {labels[i]: float(probs[i]) for i in order}

    def score(self, text: str) -> Score:
        """How well the model predicts ``text``: mean negative log-likelihood (nats) and each character's
        surprisal -ln p(char | what came before). A names model scores one name, its end included; a stream
        model scores the text as if it followed a newline. Texts longer than the context window are scored
        in windows that overlap by half, so every character is predicted from at least half a window.

        >>> import tinylm
        >>> model = tinylm.train("bigram", steps=200, seed="doc", progress=False).model
        >>> model.score("anna").loss < model.score("xqzv").loss
        True
        >>> [char for char, nats in model.score("anna").surprisal]
        ['a', 'n', 'n', 'a', '<end>']
        """
        if not isinstance(text, str) or not text:
            raise ConfigError("score() needs a non-empty text")
        context = self._context("")
        targets = list(self.tokenizer.encode(text)) + ([self.tokenizer.bos_id] if self.documents else [])
        ids = np.array(context + targets, dtype=np.int64)
        nll = self._token_nll(ids, len(context))
        pairs = [(self._label(t), float(v)) for t, v in zip(targets, nll)]
        return Score(text=text, loss=float(np.mean(nll)), surprisal=pairs)

    def _token_nll(self, ids: np.ndarray, first: int) -> np.ndarray:
        """-ln p(ids[t] | ids[:t]) for t >= first, from windows of at most block_size inputs."""
        block = self.config.block_size
        stride = max(1, block // 2)
        out = np.empty(len(ids) - first)
        start = 0
        done = first                     # targets before this index are scored
        while done < len(ids):
            window = ids[start:start + block + 1]
            logits = self.engine.logits(window[None, :-1])[0]
            z = logits - logits.max(axis=-1, keepdims=True)
            logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
            for t in range(max(done, start + 1), start + len(window)):
                out[t - first] = -logp[t - start - 1, ids[t]]
            done = start + len(window)
            start += stride
        return out

    def _label(self, token: int) -> str:
        return END if token == self.tokenizer.bos_id else self.tokenizer.decode([token])


def load(run: str | Path | bytes, engine: str = "numpy", dtype: str | None = None, **engine_options) -> Model:
    """A Model from a run directory, a ``.safetensors`` checkpoint, or its bytes (``engine``: numpy,
    scalar or torch; ``dtype`` defaults to the one it was trained in).

    >>> import tinylm, tempfile
    >>> run_dir = tempfile.mkdtemp() + "/run"
    >>> run = tinylm.train("bigram", steps=20, seed="doc", run_dir=run_dir, progress=False)
    >>> tinylm.load(run_dir)
    Model(bigram · 729 params · vocab 27 (documents) · block 16 · preset bigram, step 20)
    """
    ckpt = checkpoints.load_checkpoint(run if isinstance(run, bytes) else checkpoint_path(run))
    cfg = ckpt.model_config
    dtype = dtype or str(ckpt.meta.get("dtype", "float32"))
    eng = engine_class(engine)(cfg, ckpt.params, dtype=dtype, **engine_options)
    return Model(engine=eng, tokenizer=CharTokenizer.from_dict(ckpt.meta.get("tokenizer")), config=cfg, meta=ckpt.meta)


__all__ = ["END", "Model", "Score", "checkpoint_path", "load"]
