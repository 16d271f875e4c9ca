"""Draw a small computation graph with matplotlib (no graphviz binary needed), in the style
of the cs231n circuit diagrams: inputs as names on the left, gates as circles, and on every
wire its forward value (green, above) and the gradient of the output with respect to it
(red, below).

    draw_graph(nodes, edges)      # a graph written down by hand
    draw_value_graph(root)        # the graph behind a scalar autograd engine's output

``nodes`` maps an id to ``{"op": "+", "name": "q", "value": 3.0, "grad": -4.0}`` (``op`` is
None or missing for an input, ``name``/``value``/``grad`` are optional); ``edges`` lists
``(source id, consumer id)`` pairs, inputs of a gate in order. When a node feeds several
gates, every one of its wires shows the node's total gradient (the sum of what the
consumers send back), which is what ``backward`` accumulates in ``.grad``.
"""
from __future__ import annotations

GREEN, RED, GATE = "#1a7f1a", "#c62828", "#e8eef7"


def trace(root, fold_constants: bool = True) -> tuple[dict, list]:
    """Nodes and edges of the graph that produced ``root``: any object with ``data``,
    ``grad``, ``_prev`` (its inputs, a tuple for a stable layout), ``_op`` ('' for a leaf)
    and optionally ``label`` (micrograd's ``Value`` fits).

    With ``fold_constants``, an unlabelled leaf that feeds a gate together with other inputs
    (a Python number the engine wrapped, as the 1 in ``x + 1``) is written into the gate's
    symbol (``+1``) instead of being drawn as an input of its own.
    """
    for attr in ("data", "grad", "_prev", "_op"):
        if not hasattr(root, attr):
            raise TypeError(f"trace() needs an autograd value with .{attr}; "
                            f"got {type(root).__name__}")
    ids, nodes, edges = {}, {}, []

    def is_const(v):
        return not v._prev and not getattr(v, "label", "")

    def visit(v):
        if id(v) in ids:
            return ids[id(v)]
        kids = list(v._prev)
        op = v._op or None
        if fold_constants and op and any(not is_const(k) for k in kids):
            consts = [k for k in kids if is_const(k)]
            kids = [k for k in kids if not is_const(k)]
            op += "".join(f"{k.data:g}" for k in consts)
        kid_ids = [visit(k) for k in kids]
        ids[id(v)] = len(ids)
        name = getattr(v, "label", "") or ("" if op else f"{v.data:g}")
        nodes[ids[id(v)]] = {"op": op, "name": name, "value": v.data, "grad": v.grad}
        edges.extend((k, ids[id(v)]) for k in kid_ids)
        return ids[id(v)]

    visit(root)
    return nodes, edges


def layout(nodes: dict, edges: list) -> dict:
    """Positions ``{id: (x, y)}``: a gate one column (1.4 units) right of its latest input,
    an input one column left of its first consumer; inputs stacked top to bottom in depth-first order
    from the output(s), each gate at the mean height of its inputs."""
    if not nodes:
        raise ValueError("the graph has no nodes")
    inputs = {n: [] for n in nodes}
    consumers = {n: [] for n in nodes}
    for edge in edges:
        if len(edge) != 2:
            raise ValueError(f"an edge is a (source, consumer) pair, got {edge!r}")
        src, dst = edge
        for n in (src, dst):
            if n not in nodes:
                raise ValueError(f"edge {edge!r} names node {n!r}, which is not in nodes "
                                 f"(known: {sorted(map(str, nodes))})")
        inputs[dst].append(src)
        consumers[src].append(dst)
    col, state = {}, {}

    def column(n):  # longest path from an input; detects cycles
        if state.get(n) == "busy":
            raise ValueError(f"the graph has a cycle through node {n!r}")
        if n not in col:
            state[n] = "busy"
            col[n] = 1 + max((column(m) for m in inputs[n]), default=-1)
            state[n] = "done"
        return col[n]

    for n in nodes:
        column(n)
    for n in nodes:  # inputs sit just left of their first consumer
        if not inputs[n] and consumers[n]:
            col[n] = min(col[m] for m in consumers[n]) - 1
    row = {}

    def place(n):
        if n in row:
            return row[n]
        if inputs[n]:
            row[n] = sum(place(m) for m in inputs[n]) / len(inputs[n])
        else:
            row[n] = -float(sum(1 for m in row if not inputs[m]))
        return row[n]

    for n in [n for n in nodes if not consumers[n]]:
        place(n)
    return {n: (1.4 * col[n], row[n]) for n in nodes}


def draw_graph(nodes: dict, edges: list, ax=None, title: str | None = None,
               fmt: str = "{:.3g}", output: str | None = None):
    """Draw the graph (see the module docstring for ``nodes``/``edges``); ``output`` names
    the final wire (default: the output node's name). Returns the axes."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle, Patch

    pos = layout(nodes, edges)
    xs, ys = [p[0] for p in pos.values()], [p[1] for p in pos.values()]
    if ax is None:
        _, ax = plt.subplots(figsize=(1.1 * (max(xs) - min(xs) + 2) + 1,
                                      0.9 * (max(ys) - min(ys) + 1) + 1.2))
    r = 0.22  # gate radius

    def label(n, y, dx, dy, ha):  # value above the wire, gradient below
        v, g = nodes[n].get("value"), nodes[n].get("grad")
        if v is not None:
            ax.text(dx, y + dy + 0.04, fmt.format(v), color=GREEN, ha=ha, va="bottom",
                    fontsize=10)
        if g is not None:
            ax.text(dx, y + dy - 0.04, fmt.format(g), color=RED, ha=ha, va="top", fontsize=10)

    consumed = {s for s, _ in edges}
    for src, dst in edges:  # horizontal out of the source (labels there), then to the gate
        (x0, y0), (x1, y1) = pos[src], pos[dst]
        x0 += r if nodes[src].get("op") else 0.08
        xm = x0 + 0.55 * (x1 - r - x0) if y1 != y0 else x1 - r
        dx, dy = x1 - xm, y1 - y0
        k = r / (dx * dx + dy * dy) ** 0.5
        ax.plot([x0, xm, x1 - k * dx], [y0, y0, y1 - k * dy], color="0.3", lw=1.2, zorder=1)
        label(src, y0, (x0 + xm) / 2, 0, "center")
    for n, (x, y) in pos.items():
        node = nodes[n]
        if node.get("op"):
            ax.add_patch(Circle((x, y), r, facecolor=GATE, edgecolor="0.3", zorder=2))
            ax.text(x, y, node["op"], ha="center", va="center", zorder=3,
                    fontsize={1: 12, 2: 11, 3: 10, 4: 9}.get(len(node["op"]), 8))
            if node.get("name") and n in consumed:  # an output is named at its wire's end
                ax.text(x, y + r + 0.03, node["name"], ha="center", va="bottom",
                        fontsize=10, style="italic")
        else:
            ax.text(x + 0.04, y, node.get("name") or str(n), ha="right", va="center",
                    fontsize=12, style="italic")
        if n not in consumed:  # an output: a last wire to the right, with its name
            x0 = x + (r if node.get("op") else 0.08)
            ax.plot([x0, x0 + 0.9], [y, y], color="0.3", lw=1.2, zorder=1)
            label(n, y, x0 + 0.45, 0, "center")
            ax.text(x0 + 0.95, y, output or node.get("name") or "", ha="left", va="center",
                    fontsize=12, style="italic")
    ax.set_xlim(min(xs) - 0.6, max(xs) + 1.6)
    ax.set_ylim(min(ys) - 0.6, max(ys) + 0.5)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.legend(handles=[Patch(color=GREEN, label="forward value"),
                       Patch(color=RED, label="gradient of the output w.r.t. the wire")],
              loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, frameon=False,
              fontsize=9)
    if title:
        ax.set_title(title)
    return ax


def draw_value_graph(root, ax=None, title: str | None = None, fmt: str = "{:.3g}",
                     fold_constants: bool = True, output: str | None = None):
    """``draw_graph(*trace(root))``: the graph behind an autograd engine's output."""
    nodes, edges = trace(root, fold_constants=fold_constants)
    return draw_graph(nodes, edges, ax=ax, title=title, fmt=fmt, output=output)
