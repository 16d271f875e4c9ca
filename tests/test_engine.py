"""Tests of utils.engine: every op's value and gradient against torch autograd (float64),
add_to_class, the MLP and its torch twin."""
import math

import pytest
import torch

from utils.engine import MLP, Value, add_to_class, torch_twin, twin_grads


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
