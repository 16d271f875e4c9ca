"""Plain data across the grader's process boundary (README, "Verdicts out of the student's
process").

A probe process (``coursekit/probe.py``) sends the grader what a student's functions
returned as *plain data*: JSON in which every value is tagged with its type, and every
array is a ``.npy`` file written and read without pickle. ``encode`` runs in the probe
process; ``decode`` and ``compare`` run in the grader, on nothing but what arrived.

    {"t": "none"} {"t": "bool", "v": true} {"t": "int", "v": "12"} {"t": "float", "v": "0.5"}
    {"t": "str", "v": "B"} {"t": "list" | "tuple", "v": [...]} {"t": "dict", "v": [[key, ...]]}
    {"t": "ndarray" | "npscalar" | "tensor", "npy": "<base64 of a .npy file>"}

``encode`` takes only exact built-in types (``type(x) is float``, never a subclass), exact
``numpy.ndarray`` and NumPy scalars, and exact ``torch.Tensor`` of a numeric dtype.
``decode`` checks every tag, key and type again, loads arrays with
``allow_pickle=False`` and accepts only a plain numeric dtype; what it returns is built by
the grader's own Python and NumPy: whatever object the student's code returned, nothing of
it but these bytes crosses. ``compare`` says what differs as ``utils.checks.check_close``
does (the worst error, the first wrong index).
"""
from __future__ import annotations

import base64
import binascii
import io
import json
import math
import sys

import numpy as np

MAX_BYTES = 64 * 2**20  # one message at most
MAX_DEPTH = 32  # nesting of lists/dicts
KINDS = "biufc"  # the array dtypes accepted: bool, signed/unsigned int, float, complex
_SCALARS = frozenset(t for t in np.sctypeDict.values()
                     if isinstance(t, type) and issubclass(t, np.generic) and
                     np.dtype(t).kind in KINDS)


class NotPlain(ValueError):
    """A value that cannot cross: the message says which one and why."""


def _name(t: type) -> str:
    mod = getattr(t, "__module__", "") or ""
    return t.__qualname__ if mod in ("builtins", "") else f"{mod}.{t.__qualname__}"


def _why(x, path: str) -> str:
    t = type(x)
    for base in (bool, int, float, str, list, tuple, dict, np.ndarray):
        if isinstance(x, base):
            return (f"{path} is a {_name(t)}, a subclass of {_name(base)}: the grader takes "
                    f"plain values only (return a {_name(base)})")
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        return (f"{path} is a {_name(t)}, a subclass of torch.Tensor: the grader takes "
                "plain tensors only")
    return (f"{path} is a {_name(t)}: the grader takes None, bool, int, float, str, "
            "lists, tuples, dicts with str keys, NumPy arrays and tensors")


def _npy(a: np.ndarray, path: str) -> str:
    if a.dtype.kind not in KINDS or a.dtype.names is not None or a.dtype.hasobject:
        raise NotPlain(f"{path} has dtype {a.dtype}: the grader takes numeric arrays only")
    buf = io.BytesIO()
    np.save(buf, np.array(a, order="C", copy=True), allow_pickle=False)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def encode(x, path: str = "the result"):
    """``x`` as tagged plain data (NotPlain when it is not plain)."""
    t = type(x)
    if x is None:
        return {"t": "none"}
    if t is bool:
        return {"t": "bool", "v": x}
    if t is int:
        return {"t": "int", "v": str(x)}
    if t is float:
        return {"t": "float", "v": repr(x)}
    if t is str:
        return {"t": "str", "v": x}
    if t is list or t is tuple:
        return {"t": t.__name__, "v": [encode(v, f"{path}[{i}]") for i, v in enumerate(x)]}
    if t is dict:
        bad = [k for k in x if type(k) is not str]
        if bad:
            raise NotPlain(f"{path} has a key of type {_name(type(bad[0]))}: str keys only")
        return {"t": "dict", "v": [[k, encode(v, f"{path}[{k!r}]")] for k, v in x.items()]}
    if t is np.ndarray:
        return {"t": "ndarray", "npy": _npy(x, path)}
    if t in _SCALARS:
        return {"t": "npscalar", "npy": _npy(np.array(x), path)}
    torch = sys.modules.get("torch")
    if torch is not None and t is torch.Tensor:
        if x.is_complex() or x.dtype in (torch.bfloat16,):
            x = x.to(torch.complex128 if x.is_complex() else torch.float64)
        return {"t": "tensor", "npy": _npy(x.detach().cpu().resolve_conj().numpy(), path)}
    raise NotPlain(_why(x, path))


def dumps(message: dict) -> bytes:
    return json.dumps(message, allow_nan=False, separators=(",", ":")).encode()


# ----------------------------------------------------------------------------- the grader's side
class Malformed(ValueError):
    """What arrived is not plain data of the expected form."""


def _array(blob, what: str) -> np.ndarray:
    if not isinstance(blob, str):
        raise Malformed(f"{what}: the array is not a base64 string")
    try:
        raw = base64.b64decode(blob.encode("ascii"), validate=True)
        a = np.load(io.BytesIO(raw), allow_pickle=False)
    except (ValueError, binascii.Error, OSError, EOFError, UnicodeError) as exc:
        raise Malformed(f"{what}: not a .npy array ({type(exc).__name__})") from None
    if type(a) is not np.ndarray or a.dtype.kind not in KINDS or a.dtype.names is not None \
            or a.dtype.hasobject:
        raise Malformed(f"{what}: not a plain numeric array")
    return a


_KEYS = {"none": {"t"}, "bool": {"t", "v"}, "int": {"t", "v"}, "float": {"t", "v"},
         "str": {"t", "v"}, "list": {"t", "v"}, "tuple": {"t", "v"}, "dict": {"t", "v"},
         "ndarray": {"t", "npy"}, "npscalar": {"t", "npy"}, "tensor": {"t", "npy"}}


class Array:
    """A decoded array and where it came from ("ndarray", "npscalar" or "tensor")."""
    __slots__ = ("value", "kind")

    def __init__(self, value: np.ndarray, kind: str):
        self.value, self.kind = value, kind

    def __eq__(self, other):
        return isinstance(other, Array) and self.kind == other.kind and \
            self.value.dtype == other.value.dtype and self.value.shape == other.value.shape \
            and np.array_equal(self.value, other.value, equal_nan=self.value.dtype.kind in "fc")

    def __repr__(self):
        return f"Array({self.kind}, {self.value.dtype}, {self.value.shape})"


def decode(obj, what: str = "the result", depth: int = 0):
    """The grader's own value for tagged data ``obj`` (from ``json.loads``); Malformed when
    anything is off. Arrays come back as ``Array``."""
    if depth > MAX_DEPTH:
        raise Malformed(f"{what}: nested too deeply")
    if type(obj) is not dict or type(obj.get("t")) is not str or obj["t"] not in _KEYS \
            or set(obj) != _KEYS[obj["t"]]:
        raise Malformed(f"{what}: not a tagged value")
    t, v = obj["t"], obj.get("v")
    if t == "none":
        return None
    if t == "bool" and type(v) is bool:
        return v
    if t == "str" and type(v) is str:
        return v
    if t == "int" and type(v) is str and len(v) <= 4000:
        try:
            return int(v, 10)
        except ValueError:
            pass
    if t == "float" and type(v) is str and len(v) <= 40:
        try:
            return float(v)
        except ValueError:
            pass
    if t in ("list", "tuple") and type(v) is list:
        items = [decode(x, f"{what}[{i}]", depth + 1) for i, x in enumerate(v)]
        return items if t == "list" else tuple(items)
    if t == "dict" and type(v) is list:
        out = {}
        for pair in v:
            if type(pair) is not list or len(pair) != 2 or type(pair[0]) is not str \
                    or pair[0] in out:
                raise Malformed(f"{what}: a malformed dict entry")
            out[pair[0]] = decode(pair[1], f"{what}[{pair[0]!r}]", depth + 1)
        return out
    if t in ("ndarray", "npscalar", "tensor"):
        a = _array(obj["npy"], what)
        if t == "npscalar" and a.shape != ():
            raise Malformed(f"{what}: a NumPy scalar with shape {a.shape}")
        return Array(a, t)
    raise Malformed(f"{what}: a malformed {t}")


def loads(raw: bytes):
    """A JSON message (dict) from bytes; Malformed when it is not one."""
    if len(raw) > MAX_BYTES:
        raise Malformed("the message is too large")
    try:
        msg = json.loads(raw.decode("utf-8"), parse_constant=lambda c: float("nan"))
    except (ValueError, UnicodeError, RecursionError) as exc:
        raise Malformed(f"not JSON ({type(exc).__name__})") from None
    if type(msg) is not dict:
        raise Malformed("not a JSON object")
    return msg


# ----------------------------------------------------------------------------- comparing
def _describe(x) -> str:
    if isinstance(x, Array):
        return {"ndarray": "a NumPy array", "npscalar": f"a NumPy {x.value.dtype} scalar",
                "tensor": "a tensor"}[x.kind] + (f" of shape {x.value.shape}"
                                                  if x.kind != "npscalar" else "")
    return {type(None): "None", bool: "a bool", int: "an int", float: "a float", str: "a str",
            list: "a list", tuple: "a tuple", dict: "a dict"}.get(type(x), type(x).__name__)


def _numeric(x) -> bool:
    return (type(x) in (int, float)) or (isinstance(x, Array) and x.value.dtype.kind != "b")


def _as_array(x) -> np.ndarray:
    a = x.value if isinstance(x, Array) else np.asarray(x)
    return a if a.dtype.kind == "c" else a.astype(np.float64)


def _fmt(v, other=None) -> str:
    """``v`` in 6 digits, or all of them when ``other`` would read the same."""
    text = f"{v:.6g}"
    if other is not None and text == f"{other:.6g}":
        return repr(complex(v) if isinstance(v, complex) or np.iscomplexobj(v) else float(v))
    return text


def close(got, want, name: str, rtol: float, atol: float) -> str:
    """check_close's message for two numeric values ('' when they match)."""
    a, e = _as_array(got), _as_array(want)
    if a.shape != e.shape:
        return f"{name}: shape {a.shape}, expected {e.shape}"
    if np.isnan(a).any() and not np.isnan(e).any():
        if a.shape == ():
            return f"{name}: got NaN, expected {_fmt(e)}"
        first = tuple(int(i) for i in np.argwhere(np.isnan(a))[0])
        return f"{name}: contains NaN (first at index {first})"
    bad = ~np.isclose(a, e, rtol=rtol, atol=atol, equal_nan=True)
    if not bad.any():
        return ""
    err = np.abs(a - e)
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    worst = float(np.nanmax(err)) if not np.isnan(err).all() else math.nan
    g, w = _fmt(a[first], e[first]), _fmt(e[first], a[first])
    if a.shape == ():  # one number: no entries, no index
        ints = all(type(x) is int or (isinstance(x, Array) and x.value.dtype.kind in "iu")
                   for x in (got, want))
        return f"{name}: got {g}, expected {w}" + ("" if ints else f" (off by {worst:.3g})")
    return (f"{name}: {int(bad.sum())} of {bad.size} entries differ; max abs error "
            f"{worst:.3g}; first wrong index {first}: got {g}, expected {w}")


def compare(got, want, name: str, rtol: float = 1e-6, atol: float = 1e-9,
            reveal: bool = False) -> str:
    """'' when ``got`` matches ``want`` (both decoded), else what differs. Numbers and
    arrays within tolerance; None, bools and strings exactly (``reveal``: say the
    expected string); lists, tuples and dicts item by item."""
    if _numeric(want):
        if not _numeric(got):
            return f"{name}: got {_describe(got)}, expected a number or an array"
        return close(got, want, name, rtol, atol)
    if isinstance(want, (list, tuple)):
        if not isinstance(got, (list, tuple)):
            return f"{name}: got {_describe(got)}, expected {_describe(want)}"
        if len(got) != len(want):
            return f"{name}: {len(got)} items, expected {len(want)}"
        if want and all(_numeric(w) and not isinstance(w, Array) for w in want) and \
                all(_numeric(g) and not isinstance(g, Array) for g in got):
            return close(list(got), list(want), name, rtol, atol)
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            if (m := compare(g, w, f"{name}[{i}]", rtol, atol, reveal)):
                return m
        return ""
    if isinstance(want, dict):
        if not isinstance(got, dict) or list(got) != list(want):
            return f"{name}: got {_describe(got)}, expected a dict with keys {list(want)}"
        for k in want:
            if (m := compare(got[k], want[k], f"{name}[{k!r}]", rtol, atol, reveal)):
                return m
        return ""
    if type(got) is not type(want) or got != want:
        if reveal or type(got) is not type(want):
            return f"{name}: got {_short(got)}, expected {_short(want)}"
        return f"{name}: {_short(got)} is not the right answer"
    return ""


def _short(x) -> str:
    if isinstance(x, (str, bool)) or x is None:
        text = repr(x)
        return text if len(text) <= 60 else text[:57] + "..."
    return _describe(x)


# ----------------------------------------------------------------------------- kernels' replies
# A warm kernel (coursekit/warm.py) runs student code: what it sends the grader is JSON,
# never a pickle (unpickling runs code: in the grader's process, outside the sandbox),
# and checked field by field.
_OUTCOME = {"status": str, "ename": str, "evalue": str, "traceback": list,
            "execution_count": (int, type(None))}
MAX_REPLY = 16 * 2**20


def send_outcome(sock, out) -> None:
    data = json.dumps({k: getattr(out, k) for k in _OUTCOME}).encode()
    sock.sendall(len(data).to_bytes(4, "big") + data)


def recv_outcome(sock, recv_exact):
    """A warm child's Outcome (``recv_exact(sock, n)``: its framing); a malformed one is
    the cell's error (the task fails)."""
    from .sandbox import Outcome

    size = int.from_bytes(recv_exact(sock, 4), "big")
    if size > MAX_REPLY:
        return Outcome("error", "GraderProtocolError", f"a reply of {size} bytes")
    raw = recv_exact(sock, size)
    try:
        msg = json.loads(raw.decode("utf-8"))
        ok = type(msg) is dict and set(msg) == set(_OUTCOME) and \
            all(isinstance(msg[k], t) for k, t in _OUTCOME.items()) and \
            msg["status"] in ("ok", "error") and all(type(x) is str for x in msg["traceback"])
    except (ValueError, UnicodeError, RecursionError):
        ok = False
    if not ok:
        return Outcome("error", "GraderProtocolError",
                       "the kernel sent the grader a malformed reply")
    return Outcome(**msg)
