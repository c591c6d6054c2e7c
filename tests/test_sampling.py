"""Sampling: probabilities, draws, stopping, prompts, the sliding window, and agreement between the
KV-cache decoder and a plain full-prefix reference loop on the real numpy engine."""
from __future__ import annotations

import random

import numpy as np
import pytest

from tinylm.config import ModelConfig, SampleConfig
from tinylm.data import CharTokenizer
from tinylm.engines.base import Decoder
from tinylm.errors import ConfigError, TinyLMError, TokenizerError
from tinylm.models.params import init_params
from tinylm.sampling import draw_tokens, generate, generate_stream, next_token_probs, start_tokens
from tinylm.seeding import rng_for


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# --- fake engines (test scaffolding: real Decoder subclasses over fixed logit rules) ------------

class TableDecoder(Decoder):
    """A bigram: the logits after a token are its row of ``table``."""

    def __init__(self, table: np.ndarray):
        super().__init__(ModelConfig(family="bigram", vocab_size=len(table)))
        self.table = table

    def _start(self, batch_size: int) -> None:
        pass

    def _advance(self, tokens: np.ndarray) -> np.ndarray:
        return self.table[tokens].astype(np.float64)


class WindowSumDecoder(Decoder):
    """A 'GPT' with learned positions: refuses more than block_size tokens since its last start, and its
    greedy next token is (sum of every token fed since that start) mod V, so it reveals what it was fed."""

    def __init__(self, vocab_size: int, block_size: int):
        super().__init__(ModelConfig(family="gpt", vocab_size=vocab_size, block_size=block_size, n_embd=4, n_head=1))
        self.V, self.block = vocab_size, block_size

    def _start(self, batch_size: int) -> None:
        self.fed = np.zeros((batch_size, 0), dtype=np.int64)

    def _advance(self, tokens: np.ndarray) -> np.ndarray:
        if self.fed.shape[1] >= self.block:
            raise AssertionError(f"decoder fed beyond block_size {self.block}")
        self.fed = np.concatenate([self.fed, np.asarray(tokens, dtype=np.int64)[:, None]], axis=1)
        logits = np.zeros((len(tokens), self.V))
        logits[np.arange(len(tokens)), self.fed.sum(axis=1) % self.V] = 10.0
        return logits


class FakeEngine:
    def __init__(self, cfg: ModelConfig, make_decoder):
        self.cfg = cfg
        self.make_decoder = make_decoder

    def decoder(self) -> Decoder:
        return self.make_decoder()


NAMES_TOK = CharTokenizer("abc", bos=True)          # a=0 b=1 c=2 BOS=3


def chain_engine() -> FakeEngine:
    """BOS -> a -> b -> BOS, c -> c (with overwhelming margins)."""
    table = np.full((4, 4), -20.0)
    table[3, 0] = table[0, 1] = table[1, 3] = table[2, 2] = 20.0
    return FakeEngine(ModelConfig(family="bigram", vocab_size=4), lambda: TableDecoder(table))


def random_table_engine(vocab: int, seed: int = 0, scale: float = 2.0) -> tuple[FakeEngine, np.ndarray]:
    table = np.random.default_rng(seed).standard_normal((vocab, vocab)) * scale
    return FakeEngine(ModelConfig(family="bigram", vocab_size=vocab), lambda: TableDecoder(table)), table


# --- next_token_probs / draw_tokens -----------------------------------------------------------

def test_probs_are_float64_softmax_of_scaled_logits_and_input_is_untouched():
    logits = np.array([[1.0, 2.0, 0.5, -1.0], [0.0, 0.0, 3.0, 1.0]], dtype=np.float32)
    before = logits.copy()
    for temperature in (0.3, 1.0, 2.5):
        probs = next_token_probs(logits, temperature)
        assert probs.dtype == np.float64
        np.testing.assert_allclose(probs, softmax(logits.astype(np.float64) / temperature), rtol=1e-12)
        np.testing.assert_allclose(probs.sum(axis=-1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(logits, before)


def test_temperature_never_changes_the_ranking():
    logits = np.random.default_rng(1).standard_normal((5, 30)) * 3
    order = np.argsort(logits, axis=-1)
    for temperature in (0.05, 0.5, 1.0, 4.0, 100.0):
        probs = next_token_probs(logits, temperature)
        ranked = np.take_along_axis(probs, order, axis=-1)
        assert (np.diff(ranked, axis=-1) >= 0).all()        # never reordered (may tie at 0 when tiny T)
    for temperature in (0.5, 1.0, 4.0):
        np.testing.assert_array_equal(np.argsort(next_token_probs(logits, temperature), axis=-1), order)
    # lower temperature = more peaked: the top token's probability only grows
    tops = [next_token_probs(logits, t).max(axis=-1) for t in (4.0, 1.0, 0.5, 0.1)]
    assert all((a <= b + 1e-15).all() for a, b in zip(tops, tops[1:]))


def test_top_k_keeps_exactly_the_k_most_likely():
    logits = np.array([0.1, 3.0, -2.0, 2.0, 1.0, 0.0])
    probs = next_token_probs(logits, 1.0, top_k=3)
    assert set(np.flatnonzero(probs)) == {1, 3, 4}
    np.testing.assert_allclose(probs[[1, 3, 4]], softmax(logits[[1, 3, 4]]), rtol=1e-12)
    np.testing.assert_allclose(next_token_probs(logits, 1.0, top_k=1), np.eye(6)[1])
    np.testing.assert_array_equal(next_token_probs(logits, 1.0, top_k=6), next_token_probs(logits, 1.0))
    np.testing.assert_array_equal(next_token_probs(logits, 1.0, top_k=99), next_token_probs(logits, 1.0))


@pytest.mark.parametrize("temperature", [0, -1.0, float("nan"), float("inf"), "hot", True])
def test_bad_temperature_is_a_config_error(temperature):
    with pytest.raises(ConfigError, match="temperature must be a number > 0"):
        next_token_probs(np.zeros(3), temperature)


def test_bad_top_k_and_non_finite_logits():
    with pytest.raises(ConfigError, match="top_k must be an integer >= 0"):
        next_token_probs(np.zeros(3), 1.0, top_k=-1)
    with pytest.raises(TinyLMError, match="NaN/inf logits"):
        next_token_probs(np.array([0.0, np.nan]), 1.0)


def test_draw_tokens_follows_the_probabilities_and_uses_one_draw_per_row():
    probs = np.array([0.1, 0.0, 0.6, 0.3, 0.0])
    rng = np.random.default_rng(3)
    tokens = draw_tokens(np.tile(probs, (200_000, 1)), rng)
    freq = np.bincount(tokens, minlength=5) / len(tokens)
    assert freq[1] == 0 and freq[4] == 0                 # impossible tokens are never drawn
    np.testing.assert_allclose(freq, probs, atol=0.005)
    a, b = np.random.default_rng(9), np.random.default_rng(9)
    draw_tokens(np.tile(probs, (7, 1)), a)
    b.random(7)
    assert a.random() == b.random()


# --- SampleConfig ------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    ({"temperature": 0.0}, "temperature must be a number > 0"),
    ({"temperature": -0.5}, "temperature must be a number > 0"),
    ({"top_k": -2}, "top_k must be an integer >= 0"),
    ({"max_new_tokens": 0}, "max_new_tokens must be a positive integer"),
    ({"max_new_tokens": 2.5}, "max_new_tokens must be a positive integer"),
])
def test_sample_config_rejects_bad_values_in_one_line(kwargs, message):
    with pytest.raises(ConfigError, match=message) as exc:
        SampleConfig(**kwargs)
    assert "\n" not in str(exc.value)


def test_greedy_does_not_need_a_temperature_or_rng():
    cfg = SampleConfig(greedy=True, temperature=0.0, max_new_tokens=10)
    assert generate(chain_engine(), NAMES_TOK, n=3, cfg=cfg, rng=None) == ["ab", "ab", "ab"]


# --- generate: documents -----------------------------------------------------------------------

def test_documents_start_at_bos_and_rows_stop_at_bos():
    cfg = SampleConfig(temperature=1.0, max_new_tokens=50)
    assert generate(chain_engine(), NAMES_TOK, n=4, cfg=cfg, rng=np.random.default_rng(0)) == ["ab"] * 4


def test_prompt_primes_the_model_and_is_not_returned():
    cfg = SampleConfig(greedy=True, max_new_tokens=50)
    assert generate(chain_engine(), NAMES_TOK, prompt="a", cfg=cfg, rng=None) == ["b"]
    assert generate(chain_engine(), NAMES_TOK, prompt="ba", cfg=cfg, rng=None) == ["b"]
    assert generate(chain_engine(), NAMES_TOK, prompt="c", cfg=cfg, rng=None) == ["c" * 50]  # hits max_new_tokens


def test_without_stop_at_bos_documents_are_separated_by_newlines():
    cfg = SampleConfig(greedy=True, max_new_tokens=9, stop_at_bos=False)
    assert generate(chain_engine(), NAMES_TOK, cfg=cfg, rng=None) == ["ab\nab\nab\n"]


def test_max_new_tokens_counts_the_closing_bos():
    cfg = SampleConfig(greedy=True, max_new_tokens=2)
    assert generate(chain_engine(), NAMES_TOK, cfg=cfg, rng=None) == ["ab"]
    assert generate(chain_engine(), NAMES_TOK, cfg=SampleConfig(greedy=True, max_new_tokens=1), rng=None) == ["a"]


@pytest.mark.slow
@pytest.mark.parametrize("temperature, top_k", [(1.0, 0), (0.5, 0), (2.0, 0), (1.0, 2)])
def test_parallel_rows_sample_the_model_distribution(temperature, top_k):
    """20,000 rows decoded at once: the first characters follow softmax(table[BOS] / T) (top-k)."""
    tok = CharTokenizer("abcde", bos=True)
    engine, table = random_table_engine(6, seed=4)
    cfg = SampleConfig(temperature=temperature, top_k=top_k, max_new_tokens=1, stop_at_bos=False)
    out = generate(engine, tok, n=20_000, cfg=cfg, rng=np.random.default_rng(5))
    counts = {ch: 0 for ch in "abcde\n"}
    for text in out:
        counts[text] += 1
    freq = np.array([counts[ch] for ch in "abcde\n"]) / len(out)
    np.testing.assert_allclose(freq, next_token_probs(table[5], temperature, top_k), atol=0.012)


def test_same_rng_state_same_text_and_other_seed_other_text():
    tok = CharTokenizer("abcde", bos=True)
    engine, _ = random_table_engine(6, seed=2, scale=1.0)
    cfg = SampleConfig(max_new_tokens=20)
    first = generate(engine, tok, n=8, cfg=cfg, rng=rng_for("42", "sample"))
    assert first == generate(engine, tok, n=8, cfg=cfg, rng=rng_for("42", "sample"))
    assert first != generate(engine, tok, n=8, cfg=cfg, rng=rng_for("43", "sample"))
    assert all(len(s) <= 20 and set(s) <= set("abcde") for s in first)


def test_generate_stream_yields_characters_of_the_same_text():
    tok = CharTokenizer("abcde", bos=True)
    engine, _ = random_table_engine(6, seed=2, scale=1.0)
    cfg = SampleConfig(max_new_tokens=40, stop_at_bos=False)
    pieces = list(generate_stream(engine, tok, prompt="ab", cfg=cfg, rng=np.random.default_rng(7)))
    assert all(len(p) == 1 for p in pieces) and len(pieces) == 40
    assert "".join(pieces) == generate(engine, tok, prompt="ab", cfg=cfg, rng=np.random.default_rng(7))[0]


def test_choose_replaces_the_rng_and_sees_probabilities_as_floats():
    """microgpt compatibility: random.choices over the probabilities picks every token."""
    tok = CharTokenizer("abcde", bos=True)
    engine, table = random_table_engine(6, seed=8)
    calls = []

    def choose(probs):
        calls.append(probs)
        return picker.choices(range(len(probs)), weights=probs)[0]

    picker = random.Random(42)
    cfg = SampleConfig(temperature=0.5, max_new_tokens=16)
    out = [generate(engine, tok, n=1, cfg=cfg, rng=None, choose=choose)[0] for _ in range(5)]
    assert all(isinstance(p, float) for p in calls[0]) and abs(sum(calls[0]) - 1) < 1e-12
    np.testing.assert_allclose(calls[0], next_token_probs(table[5], 0.5))   # first step: after BOS
    assert len(calls) == sum(min(len(s) + 1, 16) for s in out)              # one call per token, BOS included
    picker = random.Random(42)
    assert out == [generate(engine, tok, n=1, cfg=cfg, rng=None, choose=choose)[0] for _ in range(5)]
    with pytest.raises(ConfigError, match="choose returned 9"):
        generate(engine, tok, cfg=cfg, rng=None, choose=lambda probs: 9)


# --- generate: streams -------------------------------------------------------------------------

def test_stream_starts_from_the_prompt_or_a_newline():
    tok = CharTokenizer("\nxyz", bos=False)     # \n=0 x=1 y=2 z=3
    table = np.full((4, 4), -30.0)
    table[0, 1] = table[1, 2] = table[2, 3] = table[3, 0] = 30.0   # \n -> x -> y -> z -> \n
    engine = FakeEngine(ModelConfig(family="bigram", vocab_size=4), lambda: TableDecoder(table))
    cfg = SampleConfig(greedy=True, max_new_tokens=6)
    assert start_tokens(tok, "") == [0]
    assert generate(engine, tok, cfg=cfg, rng=None) == ["xyz\nxy"]
    assert generate(engine, tok, prompt="y", cfg=cfg, rng=None) == ["z\nxyz\n"]
    no_newline = CharTokenizer("qrs", bos=False)
    assert start_tokens(no_newline, "") == [0]   # the first character of the vocabulary


def test_context_longer_than_block_size_slides_the_window():
    """The decoder refuses a (block_size+1)-th token: generation must re-prime it with the last
    block_size-1 tokens; the fake's greedy choice (sum of what it saw mod V) proves what it saw."""
    V, block = 7, 4
    tok = CharTokenizer("0123456", bos=False)
    engine = FakeEngine(ModelConfig(family="gpt", vocab_size=V, block_size=block, n_embd=4, n_head=1),
                        lambda: WindowSumDecoder(V, block))
    for prompt in ("3", "25", "6152403"):       # shorter, and longer, than the block
        context = [int(ch) for ch in prompt]
        expected = []
        for _ in range(15):
            token = sum(context[-block:]) % V
            expected.append(str(token))
            context.append(token)
        cfg = SampleConfig(greedy=True, max_new_tokens=15)
        assert generate(engine, tok, prompt=prompt, n=2, cfg=cfg, rng=None) == ["".join(expected)] * 2


# --- bad input -----------------------------------------------------------------------------------

def test_bad_inputs_give_one_line_errors():
    engine = chain_engine()
    cfg = SampleConfig(max_new_tokens=5)
    rng = np.random.default_rng(0)
    cases = [
        (TokenizerError, "'Z' at position 1 is not in the vocabulary", dict(prompt="aZ")),
        (ConfigError, "number of samples must be a positive integer", dict(n=0)),
        (ConfigError, "needs a numpy Generator", dict(rng=None)),
        (ConfigError, "prompt must be text", dict(prompt=None)),
    ]
    for error, message, override in cases:
        kwargs = dict(prompt="", n=1, cfg=cfg, rng=rng) | override
        with pytest.raises(error, match=message) as exc:
            generate(engine, NAMES_TOK, **kwargs)
        assert "\n" not in str(exc.value)
    with pytest.raises(TokenizerError, match="'Z' at position 0"):
        generate_stream(engine, NAMES_TOK, prompt="Z", cfg=cfg, rng=rng)   # raises before iterating
    with pytest.raises(ConfigError, match="the tokenizer has 6 tokens but the model expects 4"):
        generate(engine, CharTokenizer("abcde", bos=True), cfg=cfg, rng=rng)
    bad = SampleConfig()
    bad.temperature = 0.0                           # mutated after construction: checked again
    with pytest.raises(ConfigError, match="temperature"):
        generate(engine, NAMES_TOK, cfg=bad, rng=rng)
    nan_engine = FakeEngine(ModelConfig(family="bigram", vocab_size=4), lambda: TableDecoder(np.full((4, 4), np.nan)))
    for greedy in (False, True):
        with pytest.raises(TinyLMError, match="NaN/inf logits"):
            generate(nan_engine, NAMES_TOK, cfg=SampleConfig(greedy=greedy), rng=rng)


# --- the real numpy engine: decoder vs a full-prefix reference loop ------------------------------

def reference_generate(engine, tok, prompt, n, cfg, rng):
    """No decoder at all: logits of the last block_size tokens via engine.logits at every step."""
    bos = tok.bos_id
    start = ([bos] if bos is not None else []) + tok.encode(prompt or ("" if bos is not None else "\n"))
    context = np.array([start] * n, dtype=np.int64)
    alive = np.ones(n, dtype=bool)
    out = [[] for _ in range(n)]
    for _ in range(cfg.max_new_tokens):
        logits = engine.logits(context[:, -engine.cfg.block_size:])[:, -1]
        if cfg.greedy:
            tokens = np.argmax(logits, axis=-1)
        else:
            tokens = draw_tokens(next_token_probs(logits, cfg.temperature, cfg.top_k), rng)
        for row in np.flatnonzero(alive):
            if tokens[row] == bos:
                alive[row] = False
            else:
                out[row].append(tok.decode([tokens[row]]))
        if not alive.any():
            break
        context = np.concatenate([context, np.where(alive, tokens, bos if bos is not None else tokens)[:, None]], 1)
    return ["".join(chars) for chars in out]


def numpy_engine(cfg: ModelConfig, dtype: str = "float64"):
    from tinylm.engines.numpy_engine import NumpyEngine
    return NumpyEngine(cfg, init_params(cfg, rng_for("sampling", "init")), dtype=dtype)


GPT = ModelConfig(family="gpt", vocab_size=6, block_size=6, n_embd=8, n_head=2, n_layer=2, init_std=0.6,
                  norm="layernorm", norm_affine=True, bias=True)
MLP = ModelConfig(family="mlp", vocab_size=6, block_size=6, n_embd=4, n_hidden=16, context=3, init_std=0.8)
BIGRAM = ModelConfig(family="bigram", vocab_size=6, block_size=6, init_std=1.5)


@pytest.mark.parametrize("model", [GPT, MLP, BIGRAM], ids=["gpt", "mlp", "bigram"])
@pytest.mark.parametrize("greedy", [True, False], ids=["greedy", "sampled"])
@pytest.mark.parametrize("bos", [True, False], ids=["documents", "stream"])
def test_numpy_engine_decoder_matches_full_prefix_reference(model, greedy, bos):
    tok = CharTokenizer("\nabcde" if not bos else "abcde", bos=bos)
    engine = numpy_engine(model)
    cfg = SampleConfig(temperature=0.8, top_k=4, greedy=greedy, max_new_tokens=20)   # > 3 x block_size
    for prompt in ("", "cab", "abcdabcdab"):
        got = generate(engine, tok, prompt=prompt, n=6, cfg=cfg, rng=rng_for("s", prompt))
        want = reference_generate(engine, tok, prompt, 6, cfg, rng_for("s", prompt))
        assert got == want
    if not bos:
        assert max(len(s) for s in got) == 20


def test_float32_numpy_engine_is_deterministic_and_streams():
    tok = CharTokenizer("abcde", bos=True)
    engine = numpy_engine(GPT, dtype="float32")
    cfg = SampleConfig(temperature=0.7, max_new_tokens=12)
    texts = generate(engine, tok, n=5, cfg=cfg, rng=rng_for("42", "sample"))
    assert texts == generate(engine, tok, n=5, cfg=cfg, rng=rng_for("42", "sample"))
    streamed = "".join(generate_stream(engine, tok, cfg=cfg, rng=rng_for("42", "x")))
    assert streamed == generate(engine, tok, n=1, cfg=cfg, rng=rng_for("42", "x"))[0]
