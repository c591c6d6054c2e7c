"""Generate text from any engine through its incremental ``Decoder`` (the KV cache lives in the engine).

Where generation starts
- documents (``tokenizer.bos_id`` is set): from BOS, then the prompt; a row ends when it samples BOS
  (``stop_at_bos``), or renders it as a newline when ``stop_at_bos`` is off.
- streams: from the prompt. A stream model has no start token, so an empty prompt starts from a
  newline (nanoGPT's default start), or from the vocabulary's first character if it has no newline.
  That primer is not part of the returned text.

Context longer than the model's window (a GPT's ``block_size``, whose positions are learned): the decoder
keeps to the last ``window`` tokens itself, like nanoGPT's sampler (``engines.base.Decoder``), so a prompt
longer than that is fed from its last ``window`` tokens only.

Rows are decoded in parallel (one batched decoder); with the default draw, every step takes one
``rng.random(n)`` draw, so the same seed, config and engine give the same text.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np

from ..config import SampleConfig
from ..engines.base import Engine
from ..errors import ConfigError, TinyLMError
from .probs import draw_tokens, next_token_probs

Choose = Callable[[Sequence[float]], int]


def default_max_new_tokens(block_size: int, documents: bool) -> int:
    """How long a sample is when its caller does not say (the notebook API, `tinylm sample`, the lab):
    a document (a name) gets the whole block, room to end itself with BOS; a stream gets SampleConfig's
    default, one line of text (the length of the samples a run shows while it trains)."""
    return block_size if documents else SampleConfig().max_new_tokens


def generate(engine: Engine, tokenizer, *, prompt: str = "", n: int = 1, cfg: SampleConfig,
             rng: np.random.Generator | None, choose: Choose | None = None) -> list[str]:
    """``n`` continuations of ``prompt`` (the prompt itself is not included).

    ``choose(probs) -> int``, when given, picks each token instead of ``rng`` (it receives the
    probabilities as a list of Python floats): microgpt compatibility passes ``random.choices``.
    """
    steps = _token_steps(engine, tokenizer, prompt=prompt, n=n, cfg=cfg, rng=rng, choose=choose)
    pieces = _token_texts(tokenizer, cfg)
    rows: list[list[str]] = [[] for _ in range(n)]
    for tokens, alive in steps:
        for row in np.flatnonzero(alive):
            rows[row].append(pieces[tokens[row]])
    return ["".join(row) for row in rows]


def generate_stream(engine: Engine, tokenizer, *, prompt: str = "", cfg: SampleConfig,
                    rng: np.random.Generator | None, choose: Choose | None = None) -> Iterator[str]:
    """One continuation, yielded one character at a time (the lab and CLI stream it).

    Same draws as ``generate(..., n=1)``: with equal rng states both give the same text.
    Bad arguments raise here, before the first character is asked for.
    """
    steps = _token_steps(engine, tokenizer, prompt=prompt, n=1, cfg=cfg, rng=rng, choose=choose)
    pieces = _token_texts(tokenizer, cfg)
    return (pieces[tokens[0]] for tokens, alive in steps if alive[0] and pieces[tokens[0]])


# --- the decoding loop ------------------------------------------------------------------------

def _token_texts(tokenizer, cfg: SampleConfig) -> list[str]:
    """Text of each token id; BOS ends a row (empty) or separates documents (newline)."""
    texts = [tokenizer.decode([i]) for i in range(tokenizer.vocab_size)]
    if tokenizer.bos_id is not None:
        texts[tokenizer.bos_id] = "" if cfg.stop_at_bos else "\n"
    return texts


def start_tokens(tokenizer, prompt: str) -> list[int]:
    """Token ids the decoder is primed with (see the module docstring)."""
    if not isinstance(prompt, str):
        raise ConfigError(f"prompt must be text, got {type(prompt).__name__}")
    encoded = list(tokenizer.encode(prompt))     # unknown characters: TokenizerError naming them
    if tokenizer.bos_id is not None:
        return [tokenizer.bos_id] + encoded
    if encoded:
        return encoded
    primer = "\n" if "\n" in tokenizer.chars else tokenizer.chars[0]
    return list(tokenizer.encode(primer))


def _check_inputs(engine: Engine, tokenizer, n: int, cfg: SampleConfig, rng, choose) -> None:
    if not isinstance(cfg, SampleConfig):
        raise ConfigError(f"cfg must be a SampleConfig, got {type(cfg).__name__}")
    cfg.validate()
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ConfigError(f"number of samples must be a positive integer, got {n!r}")
    if tokenizer.vocab_size != engine.cfg.vocab_size:
        raise ConfigError(f"the tokenizer has {tokenizer.vocab_size} tokens but the model expects "
                          f"{engine.cfg.vocab_size}")
    if not cfg.greedy and choose is None and not isinstance(rng, np.random.Generator):
        raise ConfigError("sampling needs a numpy Generator as rng (or greedy=True, or a choose function)")


def _pick(logits: np.ndarray, cfg: SampleConfig, rng, choose: Choose | None, alive: np.ndarray,
          filler: int) -> np.ndarray:
    if cfg.greedy:
        if not np.isfinite(logits).all():
            raise TinyLMError("the model produced NaN/inf logits (its weights have diverged); cannot sample")
        return np.argmax(logits, axis=-1).astype(np.int64)   # ties: the lowest id
    probs = next_token_probs(logits, cfg.temperature, cfg.top_k)
    if choose is None:
        return draw_tokens(probs, rng)
    tokens = np.full(len(probs), filler, dtype=np.int64)
    for row in np.flatnonzero(alive):                         # finished rows draw nothing
        token = choose(probs[row].tolist())
        if not isinstance(token, (int, np.integer)) or not 0 <= token < probs.shape[-1]:
            raise ConfigError(f"choose returned {token!r}, not a token id in 0..{probs.shape[-1] - 1}")
        tokens[row] = token
    return tokens


def _token_steps(engine: Engine, tokenizer, *, prompt: str, n: int, cfg: SampleConfig, rng,
                 choose: Choose | None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Per step: (the token each row picked [n], which rows were still generating [n]).

    Arguments are checked now; the decoding itself runs as the iterator is consumed.
    """
    _check_inputs(engine, tokenizer, n, cfg, rng, choose)
    context = start_tokens(tokenizer, prompt)
    return _decode(engine, tokenizer, context, n, cfg, rng, choose)


def _decode(engine: Engine, tokenizer, context: list[int], n: int, cfg: SampleConfig, rng,
            choose: Choose | None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    decoder = engine.decoder()
    history = np.empty((n, len(context) + cfg.max_new_tokens), dtype=np.int64)
    history[:, :len(context)] = context
    length = len(context)

    decoder.reset(n)
    for t in range(max(0, length - decoder.window), length):     # older tokens cannot reach the logits
        logits = decoder.step(history[:, t])

    bos = tokenizer.bos_id
    stops = bos is not None and cfg.stop_at_bos
    alive = np.ones(n, dtype=bool)
    for i in range(cfg.max_new_tokens):
        tokens = _pick(logits, cfg, rng, choose, alive, filler=bos if bos is not None else 0)
        was_alive = alive.copy()
        if stops:
            alive &= tokens != bos
        yield tokens, was_alive
        if not alive.any() or i == cfg.max_new_tokens - 1:
            return
        history[:, length] = np.where(alive, tokens, bos if stops else tokens)
        length += 1
        logits = decoder.step(history[:, length - 1])
