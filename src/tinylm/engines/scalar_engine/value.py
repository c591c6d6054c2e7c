"""Value: one scalar and the gradient of the loss with respect to it (micrograd / microgpt style).

Each Value remembers the Values it was computed from (``_children``) and, for each of them,
the local derivative d(this)/d(child) (``_local_grads``), evaluated during the forward pass.
``backward`` then applies the chain rule in reverse topological order:

    child.grad += local_grad * node.grad

That single rule serves every op: the primitive ones below (one node per scalar op, what
microgpt.py does) and the fused ones in ``fused.py`` (one node per dot product, softmax row,
norm scale...), which simply carry longer lists of children and local gradients.
"""
from __future__ import annotations

import math

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


class Value:
    __slots__ = ("data", "grad", "_children", "_local_grads", "_op")

    def __init__(self, data: float, children: tuple | list = (), local_grads: tuple | list = (), op: str = ""):
        self.data = data
        self.grad = 0.0
        self._children = children
        self._local_grads = local_grads
        self._op = op

    def __repr__(self) -> str:
        return f"Value(data={self.data:.6g}, grad={self.grad:.6g}{', op=' + self._op if self._op else ''})"

    # --- primitive ops: forward value, then the local gradient for each input -------------
    def __add__(self, other: Value | float) -> Value:
        other = other if isinstance(other, Value) else Value(float(other))
        return Value(self.data + other.data, (self, other), (1.0, 1.0), "+")

    def __mul__(self, other: Value | float) -> Value:
        other = other if isinstance(other, Value) else Value(float(other))
        return Value(self.data * other.data, (self, other), (other.data, self.data), "*")

    def __pow__(self, exponent: float) -> Value:
        # d(x^k)/dx = k x^(k-1); the exponent is a plain number, not a Value
        return Value(self.data ** exponent, (self,), (exponent * self.data ** (exponent - 1),), f"**{exponent:g}")

    def log(self) -> Value:
        return Value(math.log(self.data), (self,), (1.0 / self.data,), "log")

    def exp(self) -> Value:
        e = math.exp(self.data)
        return Value(e, (self,), (e,), "exp")

    def relu(self) -> Value:
        return Value(max(0.0, self.data), (self,), (float(self.data > 0),), "relu")

    def tanh(self) -> Value:
        t = math.tanh(self.data)
        return Value(t, (self,), (1.0 - t * t,), "tanh")

    def erf(self) -> Value:
        # d erf(x)/dx = 2/sqrt(pi) exp(-x^2)
        x = self.data
        return Value(math.erf(x), (self,), (_TWO_OVER_SQRT_PI * math.exp(-x * x),), "erf")

    # --- derived ops: built from the primitives, exactly as microgpt.py writes them -------
    def __neg__(self) -> Value:
        return self * -1.0

    def __radd__(self, other: float) -> Value:
        return self + other

    def __sub__(self, other: Value | float) -> Value:
        return self + (-other)

    def __rsub__(self, other: float) -> Value:
        return other + (-self)

    def __rmul__(self, other: float) -> Value:
        return self * other

    def __truediv__(self, other: Value | float) -> Value:
        # division is multiplication by the reciprocal, so it needs no op of its own
        return self * other ** -1

    def __rtruediv__(self, other: float) -> Value:
        return other * self ** -1

    # --- backpropagation ------------------------------------------------------------------
    def backward(self) -> list[Value]:
        """Fill ``.grad`` of every Value this one depends on; return the nodes in topological order."""
        topo = topological_order(self)
        self.grad = 1.0
        backpropagate(topo)
        return topo


def topological_order(root: Value, include_leaves: bool = True) -> list[Value]:
    """Every node reachable from ``root``, each after all of its children (iterative DFS,
    so deep graphs do not hit Python's recursion limit).

    Backpropagation only needs the nodes that have children: ``include_leaves=False`` leaves out
    the inputs and parameters, which saves visiting thousands of them per step.
    """
    topo: list[Value] = []
    visited = {id(root)}
    stack = [(root, iter(root._children))]
    while stack:
        node, children = stack[-1]
        for child in children:
            if (include_leaves or child._children) and id(child) not in visited:
                visited.add(id(child))
                stack.append((child, iter(child._children)))
                break
        else:  # every child is placed: the node can follow them
            stack.pop()
            topo.append(node)
    return topo


def backpropagate(topo: list[Value]) -> None:
    """Chain rule from the last node of ``topo`` (whose grad the caller has set) to the leaves."""
    for node in reversed(topo):
        g = node.grad
        if g:
            for child, local_grad in zip(node._children, node._local_grads):
                child.grad += local_grad * g
