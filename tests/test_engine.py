"""Tests of utils.engine: every op's value and gradient against torch autograd (float64),
add_to_class, the MLP and its torch twin."""
import math
import random

import pytest
import torch

from utils.engine import MLP, Layer, Value, add_to_class, torch_twin, twin_grads


def test_ops_match_torch():
    def expr(a, b):
        c = a * b + b ** 3 - a / b
        d = (c / 4).exp() + (a - b).relu() + (2 - a).relu() * 3
        return d * c.exp() ** 0.5 - 1 / (1 + a * a) + (-b)

    va, vb = Value(-0.5), Value(1.2)
    out = expr(va, vb)
    out.backward()
    ta, tb = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (-0.5, 1.2))
    out_t = expr(ta, tb)
    out_t.backward()
    assert math.isclose(out.data, out_t.item(), rel_tol=1e-12)
    assert math.isclose(va.grad, ta.grad.item(), rel_tol=1e-12)
    assert math.isclose(vb.grad, tb.grad.item(), rel_tol=1e-12)


def test_value_used_twice_accumulates_and_relu_kink_is_zero():
    a = Value(3.0)
    (a * a).backward()
    assert a.grad == 6.0
    k = Value(0.0)
    k.relu().backward()
    assert k.grad == 0.0


def test_bad_inputs():
    with pytest.raises(TypeError, match="int or float"):
        Value(torch.tensor(1.0))
    with pytest.raises(TypeError, match="int or float k"):
        Value(2.0) ** Value(3.0)


def test_add_to_class_adds_a_method():
    class Box:
        pass

    @add_to_class(Box)
    def double(self, x):
        return 2 * x

    assert Box().double(4) == 8 and double(None, 1) == 2


def test_mlp_gradients_equal_its_torch_twin():
    net = MLP(3, [4, 4, 2], seed=1)
    X = [[0.5, -1.0, 2.0], [1.5, 0.3, -0.7]]
    loss = sum(o * o for x in X for o in net(x)) / 4
    net.zero_grad()
    loss.backward()
    twin = torch_twin(net)
    loss_t = (twin(torch.tensor(X, dtype=torch.float64)) ** 2).sum() / 4
    loss_t.backward()
    assert math.isclose(loss.data, loss_t.item(), rel_tol=1e-12)
    for mine, p in zip(twin_grads(net), twin.parameters(), strict=True):
        torch.testing.assert_close(torch.tensor(mine, dtype=torch.float64), p.grad,
                                   rtol=1e-10, atol=1e-12)
    assert len(net.parameters()) == 3 * 4 + 4 + 4 * 4 + 4 + 4 * 2 + 2
    net.zero_grad()
    assert all(p.grad == 0.0 for p in net.parameters())


def test_code_differences_ignores_comments_docstrings_and_decorators(tmp_path, monkeypatch):
    import importlib
    import textwrap

    from utils import engine

    body = textwrap.dedent('''
        import math
        from utils.engine import add_to_class

        class Value:
            """another docstring"""
            def __init__(self, data, _children=(), _op="", label=""):
                if not isinstance(data, (int, float)):
                    raise TypeError(f"Value holds a Python int or float, got {type(data).__name__}")
                self.data, self.grad = float(data), 0.0
                self._prev, self._op, self.label = tuple(_children), _op, label
                self._backward = lambda: None

        @add_to_class(Value)
        def exp(self):   # a comment of its own
            """and a docstring"""
            out = Value(math.exp(self.data), (self,), "exp")
            def _backward():
                self.grad += out.data * out.grad
            out._backward = _backward
            return out
        ''')
    (tmp_path / "cellwise.py").write_text(body)
    (tmp_path / "broken.py").write_text(body.replace("self.grad += out.data", "self.grad = out.data"))
    monkeypatch.syspath_prepend(str(tmp_path))
    cellwise, broken = importlib.import_module("cellwise"), importlib.import_module("broken")
    missing = sorted(set(engine.code_differences(cellwise.Value, engine.Value)))
    # only the methods cellwise never wrote are reported; __init__ and exp are the same code
    assert "__init__" not in missing and "exp" not in missing and "relu" in missing
    assert "exp" in engine.code_differences(broken.Value, engine.Value)
    assert engine.code_differences(engine.Value, engine.Value) == []


def test_a_number_times_a_value_and_the_repr():
    a = Value(1.5, label="a")
    out = 2 * a  # int.__mul__ gives up: Value.__rmul__
    out.backward()
    assert (out.data, a.grad) == (3.0, 2.0)
    assert repr(a) == "Value(a: data=1.5, grad=2)"
    assert repr(out) == "Value(*: data=3, grad=1)"  # no label: the op that made it
    assert repr(Value(0.25)) == "Value(const: data=0.25, grad=0)"


@pytest.mark.parametrize("op", [lambda a: a.exp(), lambda a: a.relu(), lambda a: a ** 3,
                                lambda a: 3 / a, lambda a: a * a, lambda a: 2.5 - a])
def test_each_op_accumulates_into_a_value_used_twice(op):
    a = Value(0.7)
    (op(a) + op(a)).backward()
    t = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    (op(t) + op(t)).backward()
    assert math.isclose(a.grad, t.grad.item(), rel_tol=1e-12)
    assert math.isclose((3 / a).data, 3 / 0.7, rel_tol=1e-15)


def test_ops_name_themselves_in_the_graph():
    a = Value(2.0)
    assert [v._op for v in (a + 1, a * 2, a ** 3, a ** 0.5, a.exp(), a.relu())] == \
        ["+", "*", "**3", "**0.5", "exp", "relu"]
    with pytest.raises(TypeError, match=r"Value \*\* k needs an int or float k, got str"):
        a ** "2"


def test_neurons_are_seeded_uniform_in_minus_one_one_with_zero_bias():
    import random

    from utils.engine import Layer, Neuron

    n = Neuron(3)  # no rng: seeded with 0, the same weights every time
    ref = random.Random(0)
    assert [w.data for w in n.w] == [ref.uniform(-1, 1) for _ in range(3)]
    assert n.b.data == 0.0 and n.nonlin
    with pytest.raises(ValueError):  # an input of the wrong length is an error
        n([1.0, 2.0])
    assert Neuron(2)([-5.0, -5.0]).data >= 0.0 and Neuron(2)([-5.0, -5.0])._op == "relu"
    assert all(n.nonlin for n in Layer(2, 3).neurons)
    layer = MLP(2, [3, 1]).layers[0]
    assert len({tuple(w.data for w in n.w) for n in layer.neurons}) == 3  # one rng, drawn on
    mlp = MLP(4, [50, 50, 1])
    ws = [w.data for layer in mlp.layers for n in layer.neurons for w in n.w]
    assert -1 <= min(ws) < -0.99 and 0.99 < max(ws) < 1
    assert len(set(ws)) == len(ws)  # every weight its own draw
    same, other = MLP(4, [50, 50, 1], seed=0), MLP(4, [50, 50, 1], seed=1)
    assert ws == [w.data for layer in same.layers for n in layer.neurons for w in n.w]
    assert ws != [w.data for layer in other.layers for n in layer.neurons for w in n.w]


def test_torch_twin_copies_the_biases_in_float64():
    net = MLP(2, [3, 1])
    for layer in net.layers:
        for k, n in enumerate(layer.neurons):
            n.b.data = 0.1 * (k + 1)  # not representable in float32
    twin = torch_twin(net)
    assert twin[0].bias.tolist() == [0.1, 0.2, 0.1 * 3] and twin[2].bias.tolist() == [0.1]


def test_a_layer_without_rng_has_different_neurons():
    """Layer(nin, nout) alone draws one stream of weights for all its neurons (seeded, 0):
    neurons that all start equal would stay equal under gradient descent."""
    layer = Layer(3, 4)
    weights = [tuple(w.data for w in n.w) for n in layer.neurons]
    assert len(set(weights)) == 4
    again = [tuple(w.data for w in n.w) for n in Layer(3, 4).neurons]
    assert again == weights  # still seeded
    rng = random.Random(0)
    assert weights == [tuple(rng.uniform(-1, 1) for _ in range(3)) for _ in range(4)]
