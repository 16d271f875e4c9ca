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


# ---------------------------------------------------------------- where things are drawn
FXYZ_POS = {"x": (0.0, 0.0), "y": (0.0, -1.0), "z": (1.4, -2.0), "q": (1.4, -0.5),
            "f": (2.8, -1.25)}


def _fxyz_by_name():
    nodes, edges = trace(fxyz())
    return nodes, edges, {i: n["name"] or {"*": "f", "+": "q"}[n["op"]]
                          for i, n in nodes.items()}


def test_layout_is_columns_of_1_4_units_and_gates_at_the_mean_height_of_their_inputs():
    nodes = {"x": {}, "y": {}, "z": {}, "q": {"op": "+"}, "f": {"op": "*"}}
    assert layout(nodes, [("x", "q"), ("y", "q"), ("q", "f"), ("z", "f")]) == FXYZ_POS
    # a gate fed by a gate two columns back sits right of its latest input
    nodes = {"a": {}, "b": {"op": "exp"}, "c": {"op": "relu"}, "d": {"op": "+"}}
    pos = layout(nodes, [("a", "b"), ("b", "c"), ("c", "d"), ("a", "d")])
    assert [pos[n][0] for n in "abcd"] == pytest.approx([0.0, 1.4, 2.8, 4.2])
    assert pos["d"][1] == 0.0


def test_draw_graph_puts_values_above_and_gradients_below_each_wire_in_their_colours():
    from matplotlib.patches import Circle

    from utils.graphs import GREEN, RED
    nodes, edges, name = _fxyz_by_name()
    ax = draw_graph(nodes, edges, output="out")
    pos = {name[i]: FXYZ_POS[name[i]] for i in nodes}
    wires = {}  # source name -> (value text, gradient text)
    for t in ax.texts:
        if t.get_color() in (GREEN, RED):
            x, y = t.get_position()
            src = min(pos, key=lambda n: abs(pos[n][1] - y) if pos[n][0] <= x else 99)
            wires.setdefault(src, {})[t.get_color()] = (t.get_text(), y - pos[src][1],
                                                        t.get_va())
    for n, value, grad in (("x", "-2", "-4"), ("y", "5", "-4"), ("z", "-4", "3"),
                           ("q", "3", "-4"), ("f", "-12", "1")):
        v_text, v_dy, v_va = wires[n][GREEN]
        g_text, g_dy, g_va = wires[n][RED]
        assert (v_text, g_text) == (value, grad), n
        assert v_dy > 0 and v_va == "bottom" and g_dy < 0 and g_va == "top", n
    gates = sorted((p.center for p in ax.patches if isinstance(p, Circle)))
    assert gates == sorted([pos["q"], pos["f"]])
    assert all(p.radius == pytest.approx(0.22) for p in ax.patches if isinstance(p, Circle))
    out = [t for t in ax.texts if t.get_text() == "out"][0]
    assert out.get_position()[0] > pos["f"][0] + 0.9 and out.get_position()[1] == pos["f"][1]
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    assert x0 < 0 and x1 > out.get_position()[0] and y0 < -2 and y1 > 0
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "forward value", "gradient of the output w.r.t. the wire"]
    assert not ax.axison
    plt.close("all")


def test_draw_graph_names_inputs_and_inner_gates_and_formats_numbers():
    nodes = {"a": {"name": "a", "value": 1 / 3, "grad": 2.0},
             "b": {"value": 2.0},  # no name: its id is written
             "s": {"op": "+", "name": "s", "value": 7 / 3, "grad": 2.0},
             "t": {"op": "**2", "value": 49 / 9, "grad": 1.0}}
    ax = draw_graph(nodes, [("a", "s"), ("b", "s"), ("s", "t")], fmt="{:.2f}")
    shown = texts(ax)
    assert {"a", "b", "s", "+", "**2", "0.33", "2.33", "5.44", "2.00"} <= set(shown)
    s_label = [t for t in ax.texts if t.get_text() == "s"][0]  # above its gate
    assert s_label.get_position()[1] > layout(nodes, [("a", "s"), ("b", "s"), ("s", "t")])["s"][1]
    plt.close("all")


def test_draw_value_graph_passes_its_options_on():
    x = V(1 / 3, label="x")
    _, given = plt.subplots()
    ax = draw_value_graph(x * 2 + 1, ax=given, title="tiny", fmt="{:.2g}",
                          fold_constants=False, output="y")
    shown = texts(ax)
    assert ax is given and ax.get_title() == "tiny"
    assert {"0.33", "+", "*", "2", "1", "y"} <= set(shown)  # constants drawn as inputs
    assert "0.67" in shown and "0.667" not in shown  # the product, in the format given
    x = V(1.5e-5, label="x")
    ax = draw_value_graph(x * 2)
    assert "1.5e-05" in texts(ax) and "*2" in texts(ax)  # default format {:.3g}
    plt.close("all")


class Bare:
    """An autograd value without a ``label`` attribute (trace reads it only if present)."""

    def __init__(self, data, prev=(), op=""):
        self.data, self.grad, self._prev, self._op = data, 0.0, prev, op


def test_trace_values_without_labels_shared_nodes_and_gates_with_several_constants():
    x = Bare(2.0, (Bare(0.5),), "g")  # a gate whose only input is a constant keeps it
    nodes, edges = trace(Bare(6.0, (x, Bare(2.0), Bare(3.0)), "f"))  # a 3-input gate
    assert sorted((n["op"] or "", n["name"]) for n in nodes.values()) == [
        ("", "0.5"), ("f23", ""), ("g", "")]
    assert len(edges) == 2  # 0.5 -> g -> f23: the two constants of f are folded
    nodes, edges = trace(Bare(4.0, (x, Bare(2.0)), "*"), fold_constants=False)
    assert sorted(n["name"] for n in nodes.values()) == ["", "", "0.5", "2"]  # leaves by value
    y = V(3.0, label="y")
    nodes, edges = trace(y * y)
    (leaf,) = [i for i, n in nodes.items() if n["name"] == "y"]
    (gate,) = [i for i, n in nodes.items() if n["op"] == "*"]
    assert edges == [(leaf, gate), (leaf, gate)]  # one node, two wires
    with pytest.raises(TypeError, match="got float$"):
        trace(3.0)


def test_layout_of_a_lone_node_and_a_gate_fed_early():
    assert layout({"a": {}}, []) == {"a": (0.0, 0.0)}
    with pytest.raises(ValueError, match="^the graph has no nodes$"):
        layout({}, [])
    # g1 needs only x, but its consumer g3 waits for x -> a -> b: g1 stays in column 1
    nodes = {"x": {}, "g1": {"op": "exp"}, "a": {"op": "a"}, "b": {"op": "b"}, "g3": {"op": "+"}}
    pos = layout(nodes, [("x", "g1"), ("x", "a"), ("a", "b"), ("b", "g3"), ("g1", "g3")])
    assert pos["g1"][0] == pytest.approx(1.4) and pos["g3"][0] == pytest.approx(4.2)


def test_wires_leave_their_source_and_end_on_the_gate_circle():
    nodes, edges, name = _fxyz_by_name()
    ax = draw_graph(nodes, edges)
    pos = {name[i]: FXYZ_POS[name[i]] for i in nodes}
    r = 0.22
    wires = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == 3]
    assert len(wires) == len(edges)
    for (src, dst), ln in zip(edges, wires, strict=True):
        (sx, sy), (dx, dy) = pos[name[src]], pos[name[dst]]
        xs, ys = ln.get_xdata(), ln.get_ydata()
        assert ys[0] == ys[1] == sy  # horizontal out of the source
        if nodes[src]["op"]:
            assert xs[0] == pytest.approx(sx + r)  # from the gate's right edge
        else:
            assert sx < xs[0] < sx + r  # just right of the input's name
        assert xs[0] <= xs[1] <= dx - r + 1e-12  # the bend comes before the gate
        assert math.hypot(xs[2] - dx, ys[2] - dy) == pytest.approx(r)  # on the circle
    out = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == 2]  # the output's wire
    assert len(out) == 1 and out[0].get_xdata()[0] == pytest.approx(pos["f"][0] + r)
    ax = draw_graph({"a": {"name": "a", "value": 2.5e-7}}, [])  # default format {:.3g}
    assert "2.5e-07" in texts(ax)
    plt.close("all")


def test_gate_symbols_sit_on_their_gates_and_names_beside_or_above():
    nodes = {"a": {"name": "a", "value": 1.0}, "s": {"op": "exp", "name": "s", "value": 2.7},
             "t": {"op": "+1", "value": 3.7}}
    edges = [("a", "s"), ("s", "t")]
    pos = layout(nodes, edges)
    ax = draw_graph(nodes, edges)
    at = {t.get_text(): t.get_position() for t in ax.texts}
    assert at["exp"] == pos["s"] and at["+1"] == pos["t"]  # symbols at the gates' centres
    assert at["a"][1] == pos["a"][1] and 0 < at["a"][0] - pos["a"][0] < 0.1  # left of its wire
    assert at["s"][0] == pos["s"][0] and at["s"][1] > pos["s"][1] + 0.22  # above its gate
    plt.close("all")


def test_the_legend_keys_the_colours_of_values_and_gradients():
    from matplotlib.colors import to_rgba

    from utils.graphs import GREEN, RED
    ax = draw_graph({"a": {"name": "a", "value": 1.0, "grad": 2.0}}, [])
    legend = ax.get_legend()
    assert [to_rgba(h.get_facecolor()) for h in legend.legend_handles] == [to_rgba(GREEN),
                                                                           to_rgba(RED)]
    plt.close("all")


def test_the_output_wire_is_named_after_the_output_node_by_default():
    ax = draw_graph({"a": {"name": "a"}, "L": {"op": "exp", "name": "L"}}, [("a", "L")])
    (name,) = [t for t in ax.texts if t.get_text() == "L"]
    assert name.get_position()[0] > layout({"a": {}, "L": {}}, [("a", "L")])["L"][0] + 0.9
    plt.close("all")
