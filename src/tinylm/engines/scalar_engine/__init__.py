"""The scalar engine: pure-Python autograd on Values (micrograd / microgpt style).

    value.py   Value: data, grad, children, local gradients; backward = chain rule in topological order
    plain.py   ops with one node per scalar operation (microgpt.py, line for line)
    fused.py   the same ops as fused nodes (a dot product is one node) — the default, ~10x faster
    model.py   bigram, MLP and GPT, one position at a time
    engine.py  ScalarEngine (the engines/base.py contract) and its incremental decoder
    graph.py   graph statistics and the graph as plain data, for teaching and the lab
"""
from __future__ import annotations

from .engine import MODES, ScalarDecoder, ScalarEngine
from .graph import graph_stats, graph_to_data
from .value import Value

__all__ = ["MODES", "ScalarDecoder", "ScalarEngine", "Value", "graph_stats", "graph_to_data"]
