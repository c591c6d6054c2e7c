"""Parameter specs: counts of the named presets and the initialisation schemes."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from tinylm.models.params import init_params, param_count, param_specs
from tinylm.presets import get_preset
from tinylm.seeding import rng_for


@pytest.mark.parametrize("name,vocab,block,count", [("microgpt", 27, 16, 4192), ("mlp", 27, 16, 2480),
                                                    ("names-gpt", 27, 16, 204544), ("shakespeare-cpu", 65, 64, 804096)])
def test_preset_parameter_counts_match_the_references(name, vocab, block, count):
    cfg = dataclasses.replace(get_preset(name).model, vocab_size=vocab, block_size=block)
    assert param_count(cfg) == count


def test_torch_default_init_matches_pytorch_rules():
    cfg = dataclasses.replace(get_preset("names-gpt").model, vocab_size=27, block_size=16, init="torch")
    params = init_params(cfg, rng_for("x", "init"))
    assert 0.9 < params["wte"].std() < 1.1 and 0.9 < params["wpe"].std() < 1.1
    fc2 = params["h.0.mlp.fc2.weight"]
    assert np.abs(fc2).max() <= 1 / math.sqrt(256) and fc2.std() == pytest.approx(1 / math.sqrt(3 * 256), rel=0.05)
    assert np.abs(params["h.0.attn.wq.bias"]).max() <= 1 / 8 and params["h.0.attn.wq.bias"].any()
    assert (params["h.0.norm1.weight"] == 1).all() and (params["h.0.norm1.bias"] == 0).all()
    assert [s.name for s in param_specs(cfg)] == list(params)


def test_same_seed_same_init_and_one_character_changes_it():
    cfg = dataclasses.replace(get_preset("microgpt").model, vocab_size=27)
    a, b, c = (init_params(cfg, rng_for(s, "init")) for s in ("seed", "seed", "seee"))
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["wte"], c["wte"])
