"""Learning-phase labels, decided from the validation loss against the corpus's own entropies.

With U = ln V (uniform guessing), H1 = unigram entropy, H2 = bigram entropy of the train split (nats):

    loss > (U + H1) / 2            -> "random"               (no better than guessing characters)
    loss > (H1 + H2) / 2           -> "character frequency"  (has learned which characters are common)
    loss > H2 - (H1 - H2) / 2      -> "short words"          (about as good as a bigram table)
    otherwise                      -> "styled text"          (clearly beyond bigram statistics)
"""
from __future__ import annotations

import math

PHASES = ("random", "character frequency", "short words", "styled text")


def phase_for(loss: float, entropies: dict) -> str:
    u, h1, h2 = entropies["uniform"], entropies["unigram"], entropies["bigram"]
    if not math.isfinite(loss) or loss > (u + h1) / 2:
        return "random"
    if loss > (h1 + h2) / 2:
        return "character frequency"
    if loss > h2 - (h1 - h2) / 2:
        return "short words"
    return "styled text"
