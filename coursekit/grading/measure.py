"""What the grader measures itself (README, "Verdicts out of the student's process"):
budget tasks' scores and speed tasks' times.

**Scores.** A probe marked ``score=`` (``coursekit/probe.py``) returns the student's
predictions on examples drawn from the grader's seed, and the truth for them. The grader
scores the student's predictions against the *solution* process's truth (the student's own
"truth" is never read), in its own process, in float64:

- ``"accuracy"``: predictions are labels (ints, the truth's shape) or scores (floats, the
  truth's shape + (C,); the argmax is the label, a row with a NaN is never right);
- ``"bits"``: logits (floats, the truth's shape + (V,)); the mean over the examples of
  ``-log2 softmax(logits)[truth]``.

The bound (``at_least`` or ``at_most``) must hold. The solution's own predictions are held
to the same bound: a bar the solution misses is the instructor's error, said as such.
"""
from __future__ import annotations

import math

import numpy as np

from .. import plain
from ..notebook import CourseError

LN2 = math.log(2.0)


def _values(x):
    """The ndarray of a decoded array or list of numbers, else None."""
    if isinstance(x, plain.Array):
        return x.value
    if isinstance(x, (list, tuple)) and all(type(v) in (int, float) for v in x):
        return np.asarray(x) if x else np.zeros(0)
    return None


def truth_of(spec: dict, want: dict, where: str) -> np.ndarray:
    """The solution's truth for ``spec`` (int64 labels); CourseError when the solution's
    result does not hold one (the probe module is wrong, not the student)."""
    for key in (spec["predictions"], spec["truth"]):
        if key not in want:
            raise CourseError(f"{where}: the solution's result has no key {key!r} that its "
                              f"score names (keys: {list(want)})")
    t = _values(want[spec["truth"]])
    if t is None or t.dtype.kind not in "iu" or t.size == 0 or (t < 0).any():
        raise CourseError(f"{where}: the truth {spec['truth']!r} is not a non-empty array of "
                          f"labels (ints >= 0) on the solution's side")
    return t.astype(np.int64)


def score(spec: dict, predictions, truth: np.ndarray, label: str) -> tuple[float | None, str]:
    """(the measured value, '') or (None, why the predictions cannot be scored)."""
    p = _values(predictions)
    n, want = truth.size, "labels (ints) or an array of scores" \
        if spec["metric"] == "accuracy" else "an array of logits (floats)"
    shape = tuple(truth.shape)
    if p is None or p.dtype.kind not in "iuf":
        what = plain._describe(predictions) if p is None else f"an array of dtype {p.dtype}"
        return None, f"{label}: got {what}, expected {want} for {n} examples"
    if spec["metric"] == "accuracy" and p.dtype.kind in "iu":
        if p.shape != shape:
            return None, (f"{label}: shape {p.shape}, expected {shape}: one label per "
                          f"example the grader chose")
        return float(np.mean(p.astype(np.int64) == truth)), ""
    rows = "(" + "".join(f"{d}, " for d in shape) + "C)"
    if p.dtype.kind != "f":
        return None, f"{label}: got integers, expected {want} of shape {rows}"
    if p.ndim != len(shape) + 1 or p.shape[:-1] != shape or p.shape[-1] == 0:
        return None, (f"{label}: shape {p.shape}, expected {rows}: a row of "
                      f"{'scores' if spec['metric'] == 'accuracy' else 'logits'} (one per "
                      "class) for each example the grader chose")
    classes = p.shape[-1]
    if int(truth.max()) >= classes:
        return None, (f"{label}: {classes} columns, but the labels go up to "
                      f"{int(truth.max())}: one column per class")
    rows, t = p.reshape(n, classes).astype(np.float64), truth.reshape(n)
    if spec["metric"] == "accuracy":
        right = (np.argmax(rows, axis=1) == t) & ~np.isnan(rows).any(axis=1)
        return float(np.mean(right)), ""
    if np.isnan(rows).any() or np.isposinf(rows).any():
        return None, f"{label}: the logits contain NaN or +inf: the grader cannot score them"
    top = rows.max(axis=1, keepdims=True)
    if not np.isfinite(top).all():
        return None, f"{label}: a row of logits is all -inf: the grader cannot score it"
    lse = top[:, 0] + np.log(np.exp(rows - top).sum(axis=1))
    return float(np.mean(lse - rows[np.arange(n), t]) / LN2), ""


def verdict(spec: dict, value: float, n: int, label: str) -> str:
    """'' when ``value`` keeps the bound of ``spec``, else the message that says so."""
    examples = spec.get("examples", "examples")
    if spec["metric"] == "accuracy":
        what = f"accuracy {value:.4g} ({round(value * n)} of {n} {examples} the grader chose)"
    else:
        what = (f"{value:.4g} bits per example (the mean of -log2 softmax at the truth, on "
                f"{n} {examples} the grader chose)")
    if "at_least" in spec and not value >= spec["at_least"]:
        bound = f"the bar is {spec['at_least']:g}"
    elif "at_most" in spec and not value <= spec["at_most"]:
        bound = f"at most {spec['at_most']:g} is allowed"
    else:
        return ""
    hint = f": {spec['hint']}" if spec.get("hint") else ""
    return f"{label}: {what}, {bound}{hint}"


def scored(spec: dict, got: dict, want: dict, where: str) -> tuple[str, str]:
    """(status, message) of the score ``spec`` of a task: "passed" with '' when its bound
    holds, "failed" with the message that says why not, "error" when the solution's own
    predictions miss it; CourseError when the solution's result lacks a key it names."""
    truth = truth_of(spec, want, where)
    key = spec["predictions"]
    solution_value, why = score(spec, want[key], truth, key)
    if not why:
        why = verdict(spec, solution_value, truth.size, key)
    if why:
        return "error", (f"the solution's own predictions do not pass ({why}): the probe "
                         f"or its bound is wrong ({where})")
    value, why = score(spec, got[key], truth, key)
    if not why:
        why = verdict(spec, value, truth.size, key)
    return ("failed", why) if why else ("passed", "")
