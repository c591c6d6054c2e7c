"""Sampling: turn a trained engine into text, one batched decoder step at a time.

    cfg = SampleConfig(temperature=0.8, top_k=0, max_new_tokens=80)     # tinylm.config.SampleConfig
    generate(engine, tokenizer, prompt="", n=5, cfg=cfg, rng=rng_for("42", "sample")) -> list[str]
    generate_stream(engine, tokenizer, prompt="ROMEO:", cfg=cfg, rng=rng) -> Iterator[str]
    next_token_probs(logits, temperature, top_k) -> float64 probabilities
"""
from __future__ import annotations

from .generate import default_max_new_tokens, generate, generate_stream, start_tokens
from .probs import draw_tokens, next_token_probs

__all__ = ["default_max_new_tokens", "generate", "generate_stream", "next_token_probs", "draw_tokens", "start_tokens"]
