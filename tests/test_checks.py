import numpy as np
import pytest
import torch

from utils import checks
from utils.checks import (CheckFailed, check_close, check_shape, gradient_check,
                          no_float_errors, numerical_gradient, rel_error, torch_gradcheck)


def test_check_close_passes_on_equal_values_of_any_kind():
    check_close(np.array([1.0, 2.0]), torch.tensor([1.0, 2.0]))
    check_close(3.0, np.float64(3.0))


def test_check_close_names_the_shape_mismatch():
    with pytest.raises(CheckFailed, match=r"w: shape \(3,\), expected \(3, 1\)"):
        check_close(np.zeros(3), np.zeros((3, 1)), "w")


def test_check_close_names_the_first_wrong_index_and_max_error():
    a = np.zeros((2, 3))
    e = a.copy()
    e[1, 2] = 0.5
    e[1, 0] = 0.25
    with pytest.raises(CheckFailed) as info:
        check_close(a, e, "grad")
    msg = str(info.value)
    assert "2 of 6 entries differ" in msg
    assert "max abs error 0.5" in msg
    assert "first wrong index (1, 0)" in msg


def test_check_close_explains_none_and_nan():
    with pytest.raises(CheckFailed, match="forget to return"):
        check_close(None, 1.0)
    with pytest.raises(CheckFailed, match="NaN"):
        check_close(np.array([1.0, np.nan]), np.array([1.0, 2.0]))


def test_check_shape():
    check_shape(torch.zeros(2, 3), (2, 3))
    with pytest.raises(CheckFailed, match="expected"):
        check_shape(torch.zeros(2, 3), (3, 2))


def test_numerical_gradient_of_a_known_function():
    x = np.array([1.0, -2.0, 0.5])
    grad = numerical_gradient(lambda v: np.sum(v ** 3), x)
    assert rel_error(grad, 3 * x ** 2) < 1e-8
    assert np.array_equal(x, [1.0, -2.0, 0.5])  # restored


def test_numerical_gradient_with_upstream_gradient():
    x = np.random.default_rng(0).standard_normal((4, 3))
    W = np.random.default_rng(1).standard_normal((3, 2))
    dout = np.random.default_rng(2).standard_normal((4, 2))
    grad = numerical_gradient(lambda v: v @ W, x, df=dout)
    assert rel_error(grad, dout @ W.T) < 1e-8


def test_numerical_gradient_refuses_float32():
    with pytest.raises(TypeError, match="float64"):
        numerical_gradient(np.sum, np.ones(3, dtype=np.float32))


def test_gradient_check_accepts_right_and_rejects_wrong_gradients():
    x = np.array([0.3, -1.2])
    f = lambda v: np.sum(np.sin(v))
    assert gradient_check(f, x, np.cos(x)) < 1e-8
    with pytest.raises(CheckFailed, match="first wrong index"):
        gradient_check(f, x, -np.cos(x))
    with pytest.raises(CheckFailed, match="shape"):
        gradient_check(f, x, np.cos(x)[:1])
    with pytest.raises(CheckFailed, match="forget to return"):
        gradient_check(f, x, None)


def test_torch_gradcheck_passes_and_fails():
    class BadSquare(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 2

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * x  # the factor 2 is missing

    x = torch.randn(4)
    assert torch_gradcheck(torch.sin, x)
    with pytest.raises(CheckFailed, match="gradcheck failed"):
        torch_gradcheck(BadSquare.apply, x)


def test_no_float_errors_returns_the_result_or_names_the_overflow():
    assert no_float_errors(np.exp, 1.0) == np.exp(1.0)
    with pytest.raises(CheckFailed, match=r"sig: 'overflow encountered in exp' - use -\|z\|"):
        no_float_errors(lambda z: 1 / (1 + np.exp(-z)), np.array([-1000.0]), name="sig",
                        hint="use -|z|")


# ---------------------------------------------------------------- call_unchanged
def test_call_unchanged_returns_the_result_of_a_pure_function():
    Z = np.arange(6.0).reshape(2, 3)
    out = checks.call_unchanged(lambda A, k=1: A - A.max(1, keepdims=True) + k, Z, k=2)
    np.testing.assert_array_equal(out, Z - Z.max(1, keepdims=True) + 2)
    np.testing.assert_array_equal(Z, np.arange(6.0).reshape(2, 3))


def _inplace_softmax_shift(Z):
    Z -= Z.max(axis=1, keepdims=True)
    return Z


@pytest.mark.parametrize("fn, args, where", [
    (_inplace_softmax_shift, (np.arange(6.0).reshape(2, 3),), "argument 1 in place"),
    (lambda d, c: d.__setitem__(c["a"] <= 0, 0), (np.ones(4), {"a": np.array([1, -1, 2, -3])}),
     "argument 1 in place (2 of 4 entries changed; first at index (1,)"),
    (lambda d, c: c["a"].mul_(2), (torch.ones(2), {"a": torch.ones(3)}), "argument 2['a']"),
    (lambda lst: lst.append(1), ([np.zeros(2)],), "argument 1 in place (its length changed)"),
    (lambda net: torch.nn.init.zeros_(net.weight), (torch.nn.Linear(2, 2),),
     "argument 1['weight']"),
])
def test_call_unchanged_names_the_argument_changed_in_place(fn, args, where):
    with pytest.raises(checks.CheckFailed, match=r"in place") as info:
        checks.call_unchanged(fn, *args, name="f")
    assert where in str(info.value) and str(info.value).startswith("f changed its ")


def test_call_unchanged_sees_keyword_arguments_and_nan_stays_nan():
    a = np.array([np.nan, 1.0])
    checks.call_unchanged(lambda x: x * 2, x=a)  # NaN == NaN here: unchanged
    with pytest.raises(checks.CheckFailed, match="argument 'x'"):
        checks.call_unchanged(lambda x: x.fill(0), x=a)


# ---------------------------------------------------------------- what the checks compute
# (issue 15: each test below fails when one line of utils/checks.py is changed; see
# ci/mutate.py for the changes they were written against)
def test_check_close_tolerance_is_rtol_and_atol_no_more_no_less():
    check_close(np.float32(0.1) * np.float32(3), 0.3)  # float32 rounding: within rtol
    check_close(1e-9, 0.0)  # within atol although the relative error is infinite
    check_close(1.0 + 0.9e-5, 1.0)  # |a - e| <= atol + rtol * |e|
    for actual, expected in ((1.0 + 1e-4, 1.0), (1e-7, 0.0), (101.0, 100.0)):
        with pytest.raises(CheckFailed, match="1 of 1 entries differ"):
            check_close(actual, expected)
    check_close(1.0 + 1e-4, 1.0, rtol=1e-3)  # the caller's tolerance is used
    with pytest.raises(CheckFailed):
        check_close(1e-7, 0.0, atol=1e-8)


def test_check_close_nan_where_nan_is_expected_is_fine():
    check_close(np.array([1.0, np.nan]), np.array([1.0, np.nan]))
    check_close(torch.tensor([np.nan]), np.array([np.nan]))
    with pytest.raises(CheckFailed, match=r"contains NaN \(first at index \(1,\)\)"):
        check_close(np.array([1.0, np.nan]), np.array([1.0, 2.0]))


def test_check_close_reads_half_precision_tensors():
    check_close(torch.tensor([1.5, -2.0], dtype=torch.bfloat16), np.array([1.5, -2.0]))
    check_close(torch.tensor([0.25], dtype=torch.float16), [0.25])
    assert rel_error(torch.tensor([2.0], dtype=torch.bfloat16), [2.0]) == 0.0


@pytest.mark.parametrize("fn, arg, says", [
    (np.log, np.array([-1.0]), "invalid value encountered in log"),
    (lambda z: z / z, np.array([0.0]), "invalid value encountered in divide"),
    (np.log, np.array([0.0]), "divide by zero encountered in log"),
    (lambda z: 1.0 / z, np.array([0.0]), "divide by zero encountered in divide"),
])
def test_no_float_errors_catches_invalid_and_divide_by_zero(fn, arg, says):
    with pytest.raises(CheckFailed, match=f"loss: '{says}' - hint"):
        no_float_errors(fn, arg, name="loss", hint="hint")
    assert no_float_errors(fn, np.array([2.0]), name="loss") == fn(np.array([2.0]))


def test_rel_error_is_symmetric_max_over_entries_with_a_tiny_floor():
    assert rel_error(1.0, 3.0) == rel_error(3.0, 1.0) == 0.5  # |1 - 3| / (1 + 3)
    assert rel_error(np.array([1.0, 1.0]), np.array([1.0, 3.0])) == 0.5  # the max, not mean
    assert rel_error(0.0, 0.0) == 0.0
    assert rel_error(1e-9, 0.0) == pytest.approx(0.1)  # floor 1e-8: 1e-9 / 1e-8
    assert rel_error(1e-3, 0.0) == 1.0


def test_gradient_check_rejects_a_gradient_off_by_a_tenth_of_a_percent():
    x = np.array([0.3, -1.2, 2.0])
    f = lambda v: np.sum(np.sin(v))
    with pytest.raises(CheckFailed, match=r"relative error 5\.0\de-04 > 1e-06"):
        gradient_check(f, x, np.cos(x) * (1 + 1e-3))
    assert gradient_check(f, x, np.cos(x) * (1 + 1e-3), tol=1e-3) < 1e-3


# ---------------------------------------------------------------- mutation-tested (mutmut)
# Each test below pins what a line of utils/checks.py computes or says; `make mutation`
# (ci/mutation.py) shows which changes of the code they catch.
def test_default_names_and_the_exact_messages_students_read():
    with pytest.raises(CheckFailed) as info:
        check_shape(np.zeros(2), (3,))
    assert str(info.value) == "value: shape (2,), expected (3,)"
    with pytest.raises(CheckFailed) as info:
        check_close(np.array([1.0, 2.0]), np.array([1.0, 2.5]))
    assert str(info.value) == ("value: 1 of 2 entries differ; max abs error 0.5; first wrong "
                               "index (1,): got 2, expected 2.5")
    with pytest.raises(CheckFailed) as info:
        no_float_errors(np.exp, np.array([1000.0]))
    assert str(info.value) == "value: 'overflow encountered in exp'"
    with pytest.raises(TypeError) as info:
        numerical_gradient(np.sum, np.ones(2, dtype=np.float32))
    assert str(info.value) == ("numerical_gradient needs a float64 array, got float32: "
                               "float32 differences are too coarse for h = 1e-5")
    with pytest.raises(CheckFailed) as info:
        gradient_check(np.sum, np.ones(2), np.ones(3))
    assert str(info.value) == ("gradient: shape (3,), expected (2,) (a gradient has the shape "
                               "of the variable it is taken for)")


def test_check_close_uses_the_callers_atol():
    check_close(1e-7, 0.0, atol=1e-6)
    check_close(np.array([5e-7, 0.0]), np.zeros(2), atol=1e-6, rtol=0.0)
    with pytest.raises(CheckFailed):
        check_close(2e-6, 0.0, atol=1e-6)


def test_gradient_check_passes_the_upstream_gradient_and_the_step():
    rng = np.random.default_rng(0)
    x, W = rng.standard_normal((4, 3)), rng.standard_normal((3, 2))
    dout = rng.standard_normal((4, 2))
    assert gradient_check(lambda v: v @ W, x, dout @ W.T, df=dout) < 1e-7
    # with a coarse step the central difference of sin is off by about h^2 / 6
    x = np.array([0.3, -1.2, 2.0])
    h = 0.1
    central = (np.sin(x + h) - np.sin(x - h)) / (2 * h)
    expected = np.max(np.abs(np.cos(x) - central) / (np.abs(np.cos(x)) + np.abs(central)))
    err = gradient_check(lambda v: np.sum(np.sin(v)), x.copy(), np.cos(x), tol=1e-2, h=h)
    assert err == pytest.approx(expected, rel=1e-6) and err > 1e-4


def test_gradient_check_names_the_first_entry_whose_relative_error_exceeds_tol():
    # f = sum(v^2) / 2 has gradient v; entry 0 is off by 0.1 % (fine at tol 0.1), entries 1
    # and 3 are wrong (relative errors 0.5 and 1/7); the first wrong one is index 1
    x = np.array([5.0, 0.01, 5.0, 3.0])
    analytic = np.array([5.0 * 1.001, 0.03, 5.0, 4.0])
    with pytest.raises(CheckFailed) as info:
        gradient_check(lambda v: np.sum(v ** 2) / 2, x, analytic, tol=0.1)
    assert str(info.value) == ("gradient: relative error 5.00e-01 > 1e-01; first wrong index "
                               "(1,): analytic 0.03, numerical 0.01")


class _Square(torch.autograd.Function):
    """x ** 2 with a backward off by ``factor``."""
    factor = 1.01

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 2

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 2 * x * _Square.factor


def test_torch_gradcheck_passes_its_tolerances_and_keeps_other_arguments():
    x = torch.tensor([0.5, -1.0, 2.0])
    with pytest.raises(CheckFailed) as info:
        torch_gradcheck(_Square.apply, x)  # 1 % off: beyond atol 1e-5 and torch's rtol 1e-3
    assert str(info.value).startswith("gradcheck failed: Jacobian mismatch for output 0 "
                                      "with respect to input 0,\n")
    assert torch_gradcheck(_Square.apply, x, atol=1.0)  # the caller's atol is used
    with pytest.raises(CheckFailed):  # a step of 0.1 is too coarse for x^3: eps is used
        torch_gradcheck(lambda v: v ** 3, x, eps=0.1)
    assert torch_gradcheck(lambda v, k: v ** k, x, 3)  # a non-tensor argument is passed as is
    assert torch_gradcheck(lambda v, i: v[i] ** 2, x, torch.tensor([2, 0]))  # so is an index
    assert x.dtype == torch.float32 and not x.requires_grad


# call_unchanged on what a student's function receives: unchanged containers pass
def test_call_unchanged_accepts_unchanged_containers_modules_and_odd_objects():
    import threading

    net = torch.nn.Linear(2, 2)
    cache = {"x": np.ones(3), "w": torch.ones(2), "n": 3}
    lst = [np.arange(3), (torch.zeros(1), 2.0)]
    out = checks.call_unchanged(lambda c, l, m, lock: len(c) + len(l), cache, lst, net,
                                threading.Lock())  # a lock cannot be copied: skipped
    assert out == 5


class _Box:
    def __init__(self, items):
        self.items = items

    def __eq__(self, other):
        return self.items == other.items


class _NoCompare:
    def __eq__(self, other):
        raise TypeError("cannot compare")


def test_call_unchanged_messages_name_what_changed_and_how():
    def grow(c):
        c["new"] = 1

    with pytest.raises(CheckFailed) as info:
        checks.call_unchanged(grow, {"a": np.ones(2)})
    assert str(info.value) == (
        "grow changed its argument 1 in place (its keys changed): a function must leave its "
        "inputs unchanged - work on a copy (x = x.copy(), x.clone()) or use out-of-place "
        "operations (x = x - m, not x -= m)")
    from functools import partial
    with pytest.raises(CheckFailed, match=r"^the function changed its argument 1\[1\] in place "
                                          r"\(1 of 3 entries changed; first at index \(2,\): "
                                          r"2 became 7\)"):
        checks.call_unchanged(partial(lambda k, lst: lst[1].__setitem__(2, 7), 0),
                              [np.zeros(2), np.arange(3)])
    # an object compared with == (deep-copied before the call, so a nested list counts)
    with pytest.raises(CheckFailed, match=r"argument 1 in place \(its value changed\): "):
        checks.call_unchanged(lambda b: b.items.append(1), _Box([0]))
    checks.call_unchanged(lambda b: None, _NoCompare())  # incomparable: not reported


def test_call_unchanged_counts_changed_entries_exactly():
    a = np.array([np.nan, 1.0, 2.0])  # the NaN stays NaN: not a change
    with pytest.raises(CheckFailed, match=r"\(1 of 3 entries changed; first at index \(2,\): "
                                          r"2 became 5\)"):
        checks.call_unchanged(lambda v: v.__setitem__(2, 5.0), a.copy())
    with pytest.raises(CheckFailed, match=r"\(1 of 3 entries changed; first at index \(1,\): "
                                          r"1 became nan\)"):
        checks.call_unchanged(lambda v: v.__setitem__(1, np.nan), a.copy())
    with pytest.raises(CheckFailed, match=r"\(2 of 4 entries changed; first at index \(0,\): "
                                          r"1 became 0\)"):
        checks.call_unchanged(lambda v: v.__setitem__(slice(0, 2), 0), np.array([1, 2, 3, 4]))
    # a tensor that is the result of a computation (not a leaf: deepcopy refuses it)
    t = torch.ones(3, requires_grad=True) * 2
    with pytest.raises(CheckFailed, match=r"argument 1 in place \(3 of 3 entries changed"):
        checks.call_unchanged(lambda v: v.add_(1), t)
