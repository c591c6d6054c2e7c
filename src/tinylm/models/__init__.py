"""Model families: what each architecture's parameters are and what its decoders need, for every engine.

    family.py     ModelFamily (the description) and ParamSpec
    bigram.py, mlp.py, gpt.py, rnn.py (rnn, gru), bow.py    one file per family (makemore's six)
    registry.py   the families by name; each engine's implementation table is checked against it
    params.py     drawing initial parameters from a family's specs (the same weights on every engine)
"""
from .family import ModelFamily, ParamSpec
from .registry import FAMILIES, family_named, family_of, implementation

__all__ = ["FAMILIES", "ModelFamily", "ParamSpec", "family_named", "family_of", "implementation"]
