"""Looking at the computation graph: its size, its depth, and the graph itself as plain data."""
from __future__ import annotations

from operator import attrgetter

from .value import Value

_children = attrgetter("_children")


def count_edges(topo: list[Value]) -> int:
    """Child links of the nodes in ``topo`` (one per local gradient)."""
    return sum(map(len, map(_children, topo)))


def graph_stats(topo: list[Value]) -> dict[str, int]:
    """``nodes``: operation nodes (Values computed from others); ``leaves``: distinct inputs,
    parameters and constants they read; ``edges``: child links; ``depth``: the longest chain of
    operations from a leaf to the root. ``topo`` may include the leaves or not."""
    depth: dict[int, int] = {}
    leaves: set[int] = set()
    edges = nodes = deepest = 0
    for node in topo:  # children come before their parents, so their depths are known
        children = node._children
        if not children:
            continue
        nodes += 1
        edges += len(children)
        d = 0
        for child in children:
            if child._children:
                d = max(d, depth[id(child)])
            else:
                leaves.add(id(child))
        depth[id(node)] = d + 1
        deepest = max(deepest, d + 1)
    return {"nodes": nodes, "leaves": len(leaves), "edges": edges, "depth": deepest}


def graph_to_data(topo: list[Value], labels: dict[int, str] | None = None) -> list[dict]:
    """The graph as JSON-ready dicts ``{id, op, data, grad, children}``, children before parents.

    ``topo`` must include the leaves (``topological_order(root)``). ``labels`` maps ``id(value)``
    to a name (e.g. ``"wte[3,5]"`` for a parameter); labelled nodes get a ``label`` key as well.
    """
    index = {id(node): i for i, node in enumerate(topo)}
    labels = labels or {}
    out = []
    for i, node in enumerate(topo):
        item = {"id": i, "op": node._op or "const", "data": float(node.data), "grad": float(node.grad),
                "children": [index[id(c)] for c in node._children]}
        label = labels.get(id(node))
        if label is not None:
            item["label"] = label
        out.append(item)
    return out
