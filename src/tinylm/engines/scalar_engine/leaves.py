"""Parameters as leaf Values.

The engine keeps every parameter as a float64 numpy array (what the optimizer updates) and, for
each forward pass, wraps it in fresh leaf Values: a ``Leaf`` holds the Values (``values``, nested
like the array) and the same numbers as plain floats (``data``) so that fused ops can compute
without reading ``.data`` attribute by attribute.
"""
from __future__ import annotations

import numpy as np

from .value import Value


class Leaf:
    """One parameter: nested lists of Values (rows of a matrix, or a vector) and of their floats."""

    __slots__ = ("name", "values", "data")

    def __init__(self, name: str, values: list, data: list):
        self.name = name
        self.values = values
        self.data = data

    @classmethod
    def from_array(cls, name: str, array: np.ndarray) -> Leaf:
        data = array.tolist()
        if array.ndim == 1:
            values = [Value(d, (), (), "param") for d in data]
        else:
            values = [[Value(d, (), (), "param") for d in row] for row in data]
        return cls(name, values, data)

    def rows(self, stop: int) -> Leaf:
        """The first ``stop`` rows (an MLP's tied output uses wte without its pad row)."""
        return Leaf(self.name, self.values[:stop], self.data[:stop])

    def grad(self) -> np.ndarray:
        if self.values and isinstance(self.values[0], list):
            return np.array([[v.grad for v in row] for row in self.values], dtype=np.float64)
        return np.array([v.grad for v in self.values], dtype=np.float64)

    def labels(self) -> dict[int, str]:
        """id(Value) -> "name[i,j]" for graph exports."""
        if self.values and isinstance(self.values[0], list):
            return {id(v): f"{self.name}[{i},{j}]" for i, row in enumerate(self.values) for j, v in enumerate(row)}
        return {id(v): f"{self.name}[{i}]" for i, v in enumerate(self.values)}


def make_leaves(params: dict[str, np.ndarray]) -> dict[str, Leaf]:
    return {name: Leaf.from_array(name, array) for name, array in params.items()}
