"""Probes of seminar 03 (coursekit/probe.py): each calls the student's functions on inputs
drawn from the grader's seed and returns what they computed; the grader compares it with
what the solution computes on the same inputs, in another process."""
import numpy as np

from coursekit.probe import need, probe
from utils.checks import call_unchanged

SKIP = ("softmax-check", "value-check", "value-ce-check")  # the visible tests' helpers


@probe("linear", rtol=1e-9, atol=1e-12)
def linear(ns, rng):
    f, forward, out = need(ns, "linear_backward"), need(ns, "linear_forward"), {}
    for n, d, o in [(ns.get("B", 5), ns.get("D_IN", 4), ns.get("D_OUT", 3)), (1, 3, 2), (7, 2, 5)]:
        X, W, b = rng.standard_normal((n, d)), rng.standard_normal((o, d)), rng.standard_normal(o)
        grads = call_unchanged(f, rng.standard_normal((n, o)), forward(X, W, b)[1])
        if not (isinstance(grads, tuple) and len(grads) == 3):
            raise TypeError("return the tuple (dX, dW, db)")
        for name, g in zip(("dX (the shape of X)", "dW (the shape of W: [outputs, features])",
                            "db (the shape of b)"), grads, strict=True):
            out[f"{n} x {d} -> {o}: {name}"] = g
    return out


@probe("relu", rtol=1e-12, atol=0)
def relu(ns, rng):
    f, forward, out = need(ns, "relu_backward"), need(ns, "relu_forward"), {}
    for shape in [(5, 3), (2, 3, 4), (1,)]:
        a = rng.uniform(0.1, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
        out[f"da, a of shape {shape}"] = call_unchanged(f, rng.standard_normal(shape),
                                                        forward(a)[1])
    a = np.where(rng.random((3, 4)) < 0.5, 0.0, rng.standard_normal((3, 4)))  # exact zeros
    out["da where a holds exact zeros (0 at a = 0)"] = call_unchanged(
        f, rng.standard_normal((3, 4)), forward(a)[1])
    return out


@probe("softmax_ce", rtol=1e-7, atol=1e-12, reveal=True)  # strings: type names
def softmax_ce(ns, rng):
    f, out = need(ns, "softmax_cross_entropy"), {}
    cases = [(rng.standard_normal((5, 6)), rng.integers(0, 6, 5), "5 x 6"),
             (rng.standard_normal((4, 5)), np.array([0, 1, 1, 0]), "classes 2-4 absent"),
             (rng.standard_normal((1, 3)), rng.integers(0, 3, 1), "a batch of one"),
             (rng.standard_normal((9, 2)), rng.integers(0, 2, 9), "two classes")]
    cases += [(1000 * rng.standard_normal((5, 6)), rng.integers(0, 6, 5), "logits ~1000"),
              (-800 * rng.standard_normal((6, 4)), rng.integers(0, 4, 6), "logits ~-800")]
    for Z, y, tag in cases:
        with np.errstate(all="ignore"):
            result = call_unchanged(f, Z, y)
        if not (isinstance(result, tuple) and len(result) == 2):
            raise TypeError("return the tuple (loss, dZ)")
        out[f"{tag}: type of the loss"] = type(result[0]).__name__
        out[f"{tag}: loss (the mean over the batch)"], out[f"{tag}: dZ"] = result
    return out


def _expr(ns, expr, xs):
    """expr(*Values) at xs: the output's data and the inputs' gradients after backward."""
    Value = need(ns, "Value")
    vs = [Value(float(x)) for x in xs]
    out = expr(*vs)
    if not isinstance(out, Value):
        raise TypeError(f"expected a Value, got {type(out).__name__}")
    out.backward()
    return [out.data] + [v.grad for v in vs]


def _point(rng, n, low=-2.0, high=2.0):
    return [float(v) for v in rng.uniform(low, high, n)]


@probe("value_tanh", rtol=1e-10, atol=1e-12)
def value_tanh(ns, rng):
    return {"tanh at a point: value, d/da": _expr(ns, lambda a: a.tanh(), _point(rng, 1)),
            "tanh(tanh(a) b + a) + tanh(a): value, gradients": _expr(
                ns, lambda a, b: (a.tanh() * b + a).tanh() + a.tanh(), _point(rng, 2)),
            "tanh(a b) a: value, gradients": _expr(
                ns, lambda a, b: (a * b).tanh() * a, _point(rng, 2)),
            "tanh(400), tanh(-400): values, d/da (math.tanh does not overflow)": _expr(
                ns, lambda a, b: a.tanh() + b.tanh(), [400.0, -400.0])}


@probe("value_log", rtol=1e-10, atol=1e-12, reveal=True)  # strings: exception names
def value_log(ns, rng):
    Value, out = need(ns, "Value"), {}
    out["log at a point: value, d/da"] = _expr(ns, lambda a: a.log(), _point(rng, 1, 0.1, 5))
    out["log(a b) + log(a) b: value, gradients"] = _expr(
        ns, lambda a, b: (a * b).log() + a.log() * b, _point(rng, 2, 0.2, 3))
    out["log(a^2 + 1) a: value, gradients"] = _expr(ns, lambda a: (a * a + 1).log() * a,
                                                    _point(rng, 1))
    out["3 log(a) + log(a): value, gradients"] = _expr(ns, lambda a: a.log() * 3 + a.log(),
                                                       _point(rng, 1, 0.1, 2))
    out["log(0.001): value, d/da"] = _expr(ns, lambda a: a.log(), [1e-3])
    for bad in (0.0, -abs(float(rng.normal())) - 0.1):
        try:
            Value(bad).log()
            raised = "nothing"
        except Exception as exc:  # noqa: BLE001 - the probe reports which
            raised = type(exc).__name__
        out["what log(0) raises" if bad == 0 else "what log(a < 0) raises"] = raised
    return out


@probe("value_max", rtol=1e-10, atol=1e-12)
def value_max(ns, rng):
    out = {}
    out["max(a, b): value, gradients"] = _expr(ns, lambda a, b: a.maximum(b), _point(rng, 2))
    c = float(rng.uniform(-1, 1))
    out["max(a, a number): value, d/da"] = _expr(ns, lambda a: a.maximum(c) * 3, _point(rng, 1))
    t = float(rng.uniform(-2, 2))
    out["max at a tie: value, gradients"] = _expr(ns, lambda a, b: a.maximum(b), [t, t])
    out["max(a, a): value, d/da (both halves must add up: +=)"] = _expr(
        ns, lambda a: a.maximum(a), _point(rng, 1))
    out["max(max(a, b) c, b c) + max(b, c): value, gradients"] = _expr(
        ns, lambda a, b, c: (a.maximum(b) * c).maximum(b * c) + b.maximum(c), _point(rng, 3))
    out["max(max(a, c) b, b) a: value, gradients"] = _expr(
        ns, lambda a, b, c: (a.maximum(c) * b).maximum(b) * a, _point(rng, 3))
    return out


@probe("value_ce", rtol=1e-9, atol=1e-12)
def value_ce(ns, rng):
    f, Value, out = need(ns, "value_cross_entropy"), need(ns, "Value"), {}
    MLP, twin_grads = need(ns, "MLP"), need(ns, "twin_grads")
    for z, y, tag in [(list(rng.standard_normal(4)), 2, "4 logits"),
                      ([0.3, -0.3], 0, "two logits"),
                      (list(rng.standard_normal(7)), 6, "seven logits"),
                      (list(np.array([1000.0, 998.0, -1000.0, 3.0]) + rng.uniform(-1, 1, 4)),
                       1, "logits ~ +-1000"),
                      (list(1000 + rng.standard_normal(4)), 1, "logits ~ 1000"),
                      (list(np.array([-1000.0, -1003.0, -999.5]) + rng.uniform(-1, 1, 3)), 0,
                       "logits ~ -1000")]:
        vs = [Value(float(v)) for v in z]
        loss = f(vs, y)
        if not isinstance(loss, Value):
            raise TypeError(f"return a Value, got {type(loss).__name__}")
        loss.backward()
        out[f"{tag}: loss, gradients of the logits"] = [loss.data] + [v.grad for v in vs]
    for n_in, sizes, n in [(2, [5, 3], 4), (3, [4, 4, 5], 3)]:
        net = MLP(n_in, sizes, seed=int(rng.integers(100)))
        X, y = rng.standard_normal((n, n_in)), rng.integers(0, sizes[-1], n)
        loss = sum(f(net([float(v) for v in x]), int(t)) for x, t in zip(X, y, strict=True))
        (loss / n).backward()
        out[f"MLP {n_in}-{'-'.join(map(str, sizes))}: gradients of its parameters"] = \
            [np.asarray(g, dtype=np.float64) for g in twin_grads(net)]
    return out


def _letter(ns, name):
    v = need(ns, name)
    return v.strip().upper() if type(v) is str else v


@probe("h_wrong_band")
def h_wrong_band(ns, rng):
    return {"ANSWER_WRONG_BAND (compare eps |f| / h with the derivative 0.2 for each dtype "
            "and h)": _letter(ns, "ANSWER_WRONG_BAND")}


@probe("h_best_float32")
def h_best_float32(ns, rng):
    return {"ANSWER_BEST_H32 (in float32 the round-off term eps |f| / h is 1e9 times "
            "larger than in float64)": _letter(ns, "ANSWER_BEST_H32")}
