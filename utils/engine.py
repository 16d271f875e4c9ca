"""A scalar autograd engine and a tiny MLP on it (after Karpathy's micrograd), as lecture 03
builds them, kept here so that other notebooks (seminar 03) can use and extend them.

``Value`` knows ``+``, ``*``, ``** k`` (a constant k), ``exp``, ``relu`` and the sugar made
of them (``-a``, ``a - b``, ``a / b``, ``2 * a``, ``1 + a``, ``1 / a``); other ops are added
with the ``add_to_class`` decorator, one method per cell::

    @add_to_class(Value)
    def tanh(self): ...

``Neuron``, ``Layer`` and ``MLP`` are ``Module``s with ``parameters()`` and ``zero_grad()``;
``torch_twin(mlp)`` is the same network as float64 ``torch.nn`` layers, to check gradients.
"""
from __future__ import annotations

import math
import random


def add_to_class(cls):
    """Decorator: add the function it decorates to ``cls`` as a method of the same name
    (d2l's ``add_to_class``), so a class taught method by method stays one class."""
    def register(fn):
        setattr(cls, fn.__name__, fn)
        return fn
    return register


class Value:
    """A scalar that remembers which op made it from which inputs."""

    def __init__(self, data, _children=(), _op="", label=""):
        if not isinstance(data, (int, float)):
            raise TypeError(f"Value holds a Python int or float, got {type(data).__name__}")
        self.data, self.grad = float(data), 0.0
        self._prev, self._op, self.label = tuple(_children), _op, label
        self._backward = lambda: None  # a leaf passes its gradient on to nobody

    def __repr__(self):
        name = self.label or self._op or "const"
        return f"Value({name}: data={self.data:.4g}, grad={self.grad:.4g})"

    def __add__(self, other):  # out = a + b: d(out)/da = d(out)/db = 1
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), "+")
        def _backward():
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _backward
        return out

    def __mul__(self, other):  # out = a * b: d(out)/da = b, d(out)/db = a
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), "*")
        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _backward
        return out

    def __pow__(self, k):  # out = a ** k for a constant k: d(out)/da = k a^(k-1)
        if not isinstance(k, (int, float)):
            raise TypeError(f"Value ** k needs an int or float k, got {type(k).__name__}")
        out = Value(self.data ** k, (self,), f"**{k:g}")
        def _backward():
            self.grad += k * self.data ** (k - 1) * out.grad
        out._backward = _backward
        return out

    def exp(self):  # out = e^a: d(out)/da = e^a = out
        out = Value(math.exp(self.data), (self,), "exp")
        def _backward():
            self.grad += out.data * out.grad
        out._backward = _backward
        return out

    def relu(self):  # out = max(0, a): d(out)/da = 1 if a > 0 else 0 (0 at the kink, as torch)
        out = Value(max(0.0, self.data), (self,), "relu")
        def _backward():
            self.grad += (self.data > 0) * out.grad
        out._backward = _backward
        return out

    def backward(self):
        """Fill .grad of every Value this one was computed from with d(self)/d(that Value)."""
        topo, seen = [], set()
        def build(v):  # post-order: each node after all of its inputs
            if v not in seen:
                seen.add(v)
                for child in v._prev:
                    build(child)
                topo.append(v)
        build(self)
        self.grad = 1.0
        for v in reversed(topo):
            v._backward()

    # sugar made of the ops above: each gets its chain rule for free
    def __neg__(self):
        return self * -1

    def __radd__(self, other):
        return self + other

    def __sub__(self, other):
        return self + (-other)

    def __rsub__(self, other):
        return (-self) + other

    def __rmul__(self, other):
        return self * other

    def __truediv__(self, other):
        return self * other ** -1

    def __rtruediv__(self, other):
        return self ** -1 * other


class Module:
    """What every layer has: its parameters, and a way to reset their gradients."""

    def parameters(self) -> list:
        return []

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = 0.0


class Neuron(Module):
    """act(w . x + b) for a list of inputs x; weights uniform in [-1, 1), bias 0."""

    def __init__(self, nin: int, nonlin: bool = True, rng: random.Random | None = None):
        rng = rng or random.Random(0)
        self.w = [Value(rng.uniform(-1, 1)) for _ in range(nin)]
        self.b = Value(0.0)
        self.nonlin = nonlin

    def __call__(self, x):
        act = sum((wi * xi for wi, xi in zip(self.w, x, strict=True)), self.b)
        return act.relu() if self.nonlin else act

    def parameters(self):
        return [*self.w, self.b]


class Layer(Module):
    """nout neurons reading the same inputs; returns a list of nout Values."""

    def __init__(self, nin: int, nout: int, nonlin: bool = True,
                 rng: random.Random | None = None):
        rng = rng or random.Random(0)  # one stream for all: neurons must start different
        self.neurons = [Neuron(nin, nonlin, rng) for _ in range(nout)]

    def __call__(self, x):
        return [n(x) for n in self.neurons]

    def parameters(self):
        return [p for n in self.neurons for p in n.parameters()]


class MLP(Module):
    """MLP(2, [8, 8, 1]): ReLU after every layer but the last. Returns a list of Values."""

    def __init__(self, nin: int, nouts: list, seed: int = 0):
        rng = random.Random(seed)
        sizes = [nin, *nouts]
        self.layers = [Layer(sizes[i], sizes[i + 1], nonlin=i < len(nouts) - 1, rng=rng)
                       for i in range(len(nouts))]

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]


def torch_twin(mlp: MLP):
    """The same network as float64 ``torch.nn.Linear``/``ReLU`` layers with a copy of the
    weights (``Linear.weight`` is [outputs, inputs]: row j holds neuron j's weights)."""
    import torch

    layers = []
    for i, layer in enumerate(mlp.layers):
        lin = torch.nn.Linear(len(layer.neurons[0].w), len(layer.neurons), dtype=torch.float64)
        with torch.no_grad():
            lin.weight.copy_(torch.tensor([[w.data for w in n.w] for n in layer.neurons],
                                           dtype=torch.float64))
            lin.bias.copy_(torch.tensor([n.b.data for n in layer.neurons], dtype=torch.float64))
        layers.append(lin)
        if i < len(mlp.layers) - 1:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def twin_grads(mlp: MLP) -> list:
    """The engine's gradients in the order of ``torch_twin(mlp).parameters()``: per layer,
    the weights [outputs, inputs] (nested lists), then the bias [outputs]."""
    out = []
    for layer in mlp.layers:
        out.append([[w.grad for w in n.w] for n in layer.neurons])
        out.append([n.b.grad for n in layer.neurons])
    return out


def code_differences(mine: type, ref: type) -> list:
    """Names of the methods whose code differs between the classes ``mine`` and ``ref``,
    and of the methods only one of them has; ``[]`` when they are the same code.

    Comments, docstrings, decorators (``@add_to_class(Value)``) and layout are ignored: the
    methods are compared as syntax trees. Lecture 03 builds ``Value`` cell by cell and checks
    with this that it is still this module's ``Value``, so the two cannot drift apart.
    """
    import ast
    import inspect
    import textwrap

    def tree(fn) -> str:
        node = ast.parse(textwrap.dedent(inspect.getsource(fn))).body[0]
        node.decorator_list = []
        for sub in ast.walk(node):
            body = getattr(sub, "body", None)
            if (isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and body
                    and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                sub.body = body[1:] or [ast.Pass()]
        return ast.dump(node)

    def methods(cls) -> dict:
        return {name: fn for name, fn in vars(cls).items() if inspect.isfunction(fn)}

    a, b = methods(mine), methods(ref)
    return sorted(name for name in a.keys() | b.keys()
                  if name not in a or name not in b or tree(a[name]) != tree(b[name]))
