"""Checks that tell a student *what* is wrong: shape, worst error, first wrong index.

Numerical gradients use central differences in float64,
``df/dx_i ~ (f(x + h e_i) - f(x - h e_i)) / 2h``, whose error is O(h^2); with h = 1e-5 a
correct analytic gradient agrees to a relative error of about 1e-7 or better, while a
wrong one is typically off by 1e-2 or more.
"""
from __future__ import annotations

import numpy as np


class CheckFailed(AssertionError):
    """A check failed; the message says what differs and where."""


def _to_numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor
        x = x.detach().cpu()
        if x.dtype.is_floating_point or x.dtype.is_complex:
            x = x.double()
        return x.numpy()
    return np.asarray(x)


def check_shape(x, shape, name: str = "value") -> None:
    """Raise ``CheckFailed`` unless ``x.shape`` equals ``shape``."""
    got = tuple(_to_numpy(x).shape)
    if got != tuple(shape):
        raise CheckFailed(f"{name}: shape {got}, expected {tuple(shape)}")


def check_close(actual, expected, name: str = "value", rtol: float = 1e-5,
                atol: float = 1e-8) -> None:
    """Raise ``CheckFailed`` unless ``actual`` matches ``expected`` elementwise
    (``|a - e| <= atol + rtol * |e|``), saying what is wrong: a ``None`` (nothing
    returned), a shape mismatch, NaNs, or the worst error and the first wrong index."""
    if actual is None:
        raise CheckFailed(f"{name}: got None - did the function forget to return a value?")
    a, e = _to_numpy(actual), _to_numpy(expected)
    if a.shape != e.shape:
        raise CheckFailed(f"{name}: shape {a.shape}, expected {e.shape}")
    a64, e64 = a.astype(np.float64), e.astype(np.float64)
    if np.isnan(a64).any() and not np.isnan(e64).any():
        first = tuple(int(i) for i in np.argwhere(np.isnan(a64))[0])
        raise CheckFailed(f"{name}: contains NaN (first at index {first})")
    bad = ~np.isclose(a64, e64, rtol=rtol, atol=atol, equal_nan=True)
    if bad.any():
        err = np.abs(a64 - e64)
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        worst = float(np.nanmax(err))
        raise CheckFailed(
            f"{name}: {int(bad.sum())} of {bad.size} entries differ; max abs error "
            f"{worst:.3g}; first wrong index {first}: got {a64[first]:.6g}, "
            f"expected {e64[first]:.6g}")


def _snapshot(x):
    """A deep copy of what a function could change in place: arrays, tensors (values and
    ``requires_grad``), modules (their ``state_dict``), and lists/tuples/dicts of those."""
    import copy

    if hasattr(x, "state_dict") and callable(x.state_dict):  # torch.nn.Module, optimizer
        return {k: _snapshot(v) for k, v in x.state_dict().items()}
    if hasattr(x, "detach"):
        return x.detach().clone()
    if isinstance(x, np.ndarray):
        return x.copy()
    if isinstance(x, dict):
        return {k: _snapshot(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_snapshot(v) for v in x]
    try:
        return copy.deepcopy(x)
    except Exception:  # noqa: BLE001 - an uncopyable object cannot be compared: skip it
        return None


def _changed(before, after) -> str:
    """'' when ``after`` still equals the snapshot ``before``, else where it differs."""
    if before is None:
        return ""
    if hasattr(after, "state_dict") and callable(after.state_dict):
        after = after.state_dict()
    if isinstance(before, dict):
        if not isinstance(after, dict) or set(before) != set(after):
            return " (its keys changed)"
        for k in before:
            if (where := _changed(before[k], after[k])):
                return f"[{k!r}]{where}"
        return ""
    if isinstance(before, list):
        if not isinstance(after, (list, tuple)) or len(before) != len(after):
            return " (its length changed)"
        for i, (b, a) in enumerate(zip(before, after, strict=True)):
            if (where := _changed(b, a)):
                return f"[{i}]{where}"
        return ""
    if hasattr(before, "detach") or isinstance(before, np.ndarray):
        a, b = _to_numpy(after), _to_numpy(before)
        if a.shape != b.shape:
            return f" (shape {b.shape} became {a.shape})"
        if not np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"):
            diff = np.argwhere(~((a == b) | (np.isnan(a) & np.isnan(b)) if a.dtype.kind in "fc"
                                 else a == b))
            first = tuple(int(i) for i in diff[0])
            return (f" ({len(diff)} of {a.size} entries changed; first at index {first}: "
                    f"{b[first]:.6g} became {a[first]:.6g})")
        return ""
    try:
        return "" if bool(before == after) else " (its value changed)"
    except Exception:  # noqa: BLE001 - incomparable: not our business
        return ""


def call_unchanged(fn, *args, name: str | None = None, **kwargs):
    """Call ``fn(*args, **kwargs)`` and return its result; raise ``CheckFailed`` if the
    call modified any argument in place (arrays, tensors, modules, and lists/tuples/dicts
    of them, e.g. a ``cache``).

    An in-place change to an input (``Z -= Z.max()``, ``dout[a <= 0] = 0``) otherwise
    shows up later as a baffling wrong value somewhere else; this says it plainly."""
    name = name or getattr(fn, "__name__", "the function")
    names = [f"argument {i + 1}" for i in range(len(args))] + [f"argument '{k}'" for k in kwargs]
    values = list(args) + list(kwargs.values())
    before = [_snapshot(v) for v in values]
    result = fn(*args, **kwargs)
    for label, b, v in zip(names, before, values, strict=True):
        where = _changed(b, v)
        if where:
            path, _, detail = where.partition(" (")
            raise CheckFailed(
                f"{name} changed its {label}{path} in place"
                f"{' (' + detail if detail else ''}: a function must leave its "
                "inputs unchanged - work on a copy (x = x.copy(), x.clone()) or use "
                "out-of-place operations (x = x - m, not x -= m)")
    return result


def no_float_errors(fn, *args, name: str = "value", hint: str = ""):
    """Call ``fn(*args)`` with NumPy overflow, invalid and divide-by-zero turned into
    errors, and return its result; on such an error raise ``CheckFailed`` naming it,
    followed by ``hint`` (e.g. how to make the computation numerically stable)."""
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        try:
            return fn(*args)
        except FloatingPointError as err:
            raise CheckFailed(f"{name}: '{err}'" + (f" - {hint}" if hint else "")) from None


def rel_error(a, b) -> float:
    """Largest relative error ``|a - b| / max(1e-8, |a| + |b|)`` over all entries."""
    a, b = _to_numpy(a).astype(np.float64), _to_numpy(b).astype(np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def numerical_gradient(f, x: np.ndarray, df=None, h: float = 1e-5) -> np.ndarray:
    """Central-difference gradient of ``f`` at ``x`` (modified in place and restored).

    ``f`` maps the array ``x`` to a scalar, or to an array when ``df`` (the upstream
    gradient, same shape as ``f(x)``) is given: then the result is the gradient of
    ``sum(f(x) * df)``, i.e. what a layer's backward should return for ``dout = df``.
    """
    if x.dtype != np.float64:
        raise TypeError(f"numerical_gradient needs a float64 array, got {x.dtype}: "
                        "float32 differences are too coarse for h = 1e-5")
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        plus = np.asarray(f(x), dtype=np.float64).copy()
        x[i] = old - h
        minus = np.asarray(f(x), dtype=np.float64).copy()
        x[i] = old
        diff = plus - minus
        grad[i] = (np.sum(diff * df) if df is not None else diff) / (2 * h)
        it.iternext()
    return grad


def gradient_check(f, x: np.ndarray, analytic, df=None, tol: float = 1e-6,
                   name: str = "gradient", h: float = 1e-5) -> float:
    """Compare an analytic gradient with the numerical one; return the relative error,
    raising ``CheckFailed`` (with the first wrong index) when it exceeds ``tol``."""
    if analytic is None:
        raise CheckFailed(f"{name}: got None - did the backward forget to return a value?")
    num = numerical_gradient(f, x, df=df, h=h)
    analytic = _to_numpy(analytic)
    if analytic.shape != num.shape:
        raise CheckFailed(f"{name}: shape {analytic.shape}, expected {num.shape} "
                          "(a gradient has the shape of the variable it is taken for)")
    err = rel_error(analytic, num)
    if err > tol:
        first = tuple(int(i) for i in np.argwhere(
            np.abs(analytic - num) / np.maximum(1e-8, np.abs(analytic) + np.abs(num)) > tol)[0])
        raise CheckFailed(f"{name}: relative error {err:.2e} > {tol:.0e}; first wrong index "
                          f"{first}: analytic {analytic[first]:.6g}, numerical {num[first]:.6g}")
    return err


def torch_gradcheck(fn, *inputs, eps: float = 1e-6, atol: float = 1e-5) -> bool:
    """``torch.autograd.gradcheck`` on float64 copies of ``inputs`` (floating inputs get
    ``requires_grad``), raising ``CheckFailed`` with torch's explanation on a mismatch."""
    import torch
    from torch.autograd.gradcheck import GradcheckError

    args = [x.detach().double().requires_grad_(True)
            if torch.is_tensor(x) and x.is_floating_point() else x for x in inputs]
    try:
        return torch.autograd.gradcheck(fn, tuple(args), eps=eps, atol=atol)
    except GradcheckError as exc:
        raise CheckFailed(f"gradcheck failed: {str(exc).splitlines()[0]}\n{exc}") from None
