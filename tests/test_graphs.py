"""Tests of utils.graphs: tracing an autograd graph, the layout, the drawing, bad input."""
import math

import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from utils.graphs import draw_graph, draw_value_graph, layout, trace  # noqa: E402


class V:
    """The smallest micrograd-like value: what trace() reads, nothing more."""

    def __init__(self, data, prev=(), op="", label=""):
        self.data, self.grad, self._prev, self._op, self.label = data, 0.0, prev, op, label

    def __add__(self, other):
        other = other if isinstance(other, V) else V(other)
        return V(self.data + other.data, (self, other), "+")

    def __mul__(self, other):
        other = other if isinstance(other, V) else V(other)
        return V(self.data * other.data, (self, other), "*")


def fxyz():
    """f = (x + y) z at the lecture's point, gradients filled in by hand."""
    x, y, z = V(-2.0, label="x"), V(5.0, label="y"), V(-4.0, label="z")
    q = x + y
    f = q * z
    for v, g in ((f, 1.0), (q, -4.0), (z, 3.0), (x, -4.0), (y, -4.0)):
        v.grad = g
    return f


def texts(ax):
    return [t.get_text() for t in ax.texts]


def test_trace_nodes_edges_and_values():
    nodes, edges = trace(fxyz())
    by_name = {n["name"] or n["op"]: (i, n) for i, n in nodes.items()}
    assert set(by_name) == {"x", "y", "z", "+", "*"}
    assert by_name["*"][1]["value"] == -12.0 and by_name["*"][1]["grad"] == 1.0
    assert by_name["x"][1]["op"] is None and by_name["x"][1]["grad"] == -4.0
    ids = {k: v[0] for k, v in by_name.items()}
    assert edges == [(ids["x"], ids["+"]), (ids["y"], ids["+"]), (ids["+"], ids["*"]),
                     (ids["z"], ids["*"])]


def test_trace_folds_unlabelled_constants_into_the_gate():
    x = V(1.0, label="x")
    out = (x * -1) + 1
    nodes, edges = trace(out)
    assert sorted(n["op"] or n["name"] for n in nodes.values()) == ["*-1", "+1", "x"]
    assert len(edges) == 2
    nodes, edges = trace(out, fold_constants=False)
    assert len(nodes) == 5 and len(edges) == 4
    # a gate whose inputs are all constants keeps them (nothing left to draw otherwise)
    nodes, _ = trace(V(2.0) * V(3.0))
    assert len(nodes) == 3


def test_trace_shares_a_reused_node():
    x = V(3.0, label="x")
    nodes, edges = trace(x * x)
    assert len(nodes) == 2 and len(edges) == 2


def test_layout_columns_and_rows():
    nodes = {"x": {}, "y": {}, "z": {}, "q": {"op": "+"}, "f": {"op": "*"}}
    pos = layout(nodes, [("x", "q"), ("y", "q"), ("q", "f"), ("z", "f")])
    assert pos["x"][0] == pos["y"][0] == 0 < pos["q"][0] < pos["f"][0]
    assert pos["z"][0] == pos["q"][0]  # an input sits just left of its consumer
    assert pos["x"][1] > pos["y"][1] > pos["z"][1]  # inputs top to bottom, in order
    assert pos["q"][1] == (pos["x"][1] + pos["y"][1]) / 2


def test_draw_graph_shows_values_gradients_and_gates():
    nodes, edges = trace(fxyz())
    ax = draw_graph(nodes, edges, title="f = (x + y) z", output="f")
    shown = texts(ax)
    for s in ("x", "y", "z", "+", "*", "f", "-12", "-4", "3", "5", "1"):
        assert s in shown, s
    assert shown.count("-4") == 4  # dq/dx.. : x, y, q carry -4; z's value is -4
    assert ax.get_title() == "f = (x + y) z"
    plt.close("all")


def test_draw_graph_without_gradients_and_on_given_axes():
    _, ax = plt.subplots()
    nodes = {"a": {"name": "a", "value": 2.0}, "s": {"op": "exp", "value": math.exp(2.0)}}
    out = draw_graph(nodes, [("a", "s")], ax=ax)
    assert out is ax and "7.39" in texts(ax) and not any(t.startswith("0") for t in texts(ax))
    plt.close("all")


def test_draw_value_graph():
    x = V(0.5, label="x")
    ax = draw_value_graph(x * 2 + 1, output="y")
    assert {"*2", "+1", "y", "x", "0.5", "2"} <= set(texts(ax))
    plt.close("all")


def test_bad_input_says_what_is_wrong():
    with pytest.raises(ValueError, match="no nodes"):
        layout({}, [])
    with pytest.raises(ValueError, match="'w'.*not in nodes"):
        layout({"x": {}}, [("x", "w")])
    with pytest.raises(ValueError, match="cycle"):
        layout({"a": {}, "b": {}}, [("a", "b"), ("b", "a")])
    with pytest.raises(ValueError, match="pair"):
        layout({"a": {}}, [("a",)])
    with pytest.raises(TypeError, match="autograd value"):
        trace(3.0)
