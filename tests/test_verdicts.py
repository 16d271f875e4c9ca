"""Verdicts out of the student's process (issue 25; README, "Verdicts out of the student's
process"): the wire format, and one exploit submission per class of attack on a seminar
graded by probes, each losing its task while the student's honest answers keep theirs."""
import io
import json
import os
import pickle
import textwrap
from pathlib import Path

import numpy as np
import pytest

from coursekit import grading, notebook, plain, probe
from coursekit.grading import verdict

REPO = notebook.REPO
PILOT = ("01_linear_regression", "02_logistic_regression", "03_backprop")


# ----------------------------------------------------------------------------- plain data
def _wire(x):
    """What the grader gets when a probe process returns x."""
    return plain.decode(json.loads(plain.dumps({"r": plain.encode(x)}))["r"])


def test_plain_values_cross_and_arrive_as_the_graders_own():
    sent = {"loss": 0.5, "n": 12, "ok": True, "name": "B", "none": None,
            "pair": (1.5, [2, 3]), "w": np.arange(6.0).reshape(2, 3),
            "i": np.int64(7), "f": np.float64(2.5)}
    got = _wire(sent)
    assert list(got) == list(sent) and type(got["loss"]) is float and type(got["n"]) is int
    assert got["pair"] == (1.5, [2, 3]) and type(got["pair"]) is tuple
    assert isinstance(got["w"], plain.Array) and got["w"].kind == "ndarray"
    assert type(got["w"].value) is np.ndarray and got["w"].value.tolist() == sent["w"].tolist()
    assert got["i"].kind == "npscalar" and got["i"].value.dtype == np.int64
    torch = pytest.importorskip("torch")
    t = _wire(torch.arange(3.0, requires_grad=True))
    assert t.kind == "tensor" and t.value.tolist() == [0.0, 1.0, 2.0]


class Liar(float):
    def __eq__(self, other):
        return True

    __hash__ = float.__hash__


class LiarStr(str):
    def __eq__(self, other):
        return True

    __hash__ = str.__hash__


class ArrayLike:
    def __array__(self, dtype=None, copy=None):
        return np.zeros(3)


@pytest.mark.parametrize("value, says", [
    (Liar(1.0), "a subclass of float"), (LiarStr("A"), "a subclass of str"),
    (np.zeros(3).view(np.ma.MaskedArray), "a subclass of"),
    (ArrayLike(), "ArrayLike: the grader takes"), (np.array([object()]), "dtype object"),
    ({1: 2.0}, "str keys only"), ([1.0, Liar(2.0)], "the result[1] is a"),
])
def test_values_that_lie_do_not_cross(value, says):
    with pytest.raises(plain.NotPlain, match=r".*" + says.replace("[", r"\[").replace("]", r"\]")):
        plain.encode(value)


def test_a_tensor_subclass_does_not_cross():
    torch = pytest.importorskip("torch")

    class Sly(torch.Tensor):
        pass

    with pytest.raises(plain.NotPlain, match="subclass of torch.Tensor"):
        plain.encode(torch.zeros(2).as_subclass(Sly))


def _npy(a, allow_pickle=False) -> str:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=allow_pickle)
    import base64
    return base64.b64encode(buf.getvalue()).decode()


@pytest.mark.parametrize("obj, says", [
    ({"t": "float", "v": 1.0}, "malformed float"),  # a JSON number, not the tagged text
    ({"t": "ndarray", "npy": _npy(np.array([{"a": 1}], dtype=object), True)}, "not a .npy"),
    ({"t": "ndarray", "npy": "bm90IGFuIGFycmF5"}, "not a .npy"),
    ({"t": "npscalar", "npy": _npy(np.zeros(2))}, "scalar with shape"),
    ({"t": "pickle", "v": "x"}, "not a tagged value"),
    ({"t": "int", "v": "1", "extra": 1}, "not a tagged value"),
    ({"t": "dict", "v": [["a", {"t": "none"}], ["a", {"t": "none"}]]}, "malformed dict"),
])
def test_malformed_data_is_refused(obj, says):
    with pytest.raises(plain.Malformed, match=says):
        plain.decode(obj)


def test_a_pickle_is_never_loaded(tmp_path):
    mark = tmp_path / "pwned"

    class Boom:
        def __reduce__(self):
            return (Path.touch, (mark,))

    raw = pickle.dumps(Boom())
    with pytest.raises(plain.Malformed, match="not JSON"):
        plain.loads(raw)
    assert not mark.exists()


def test_compare_says_the_worst_error_and_the_first_wrong_index():
    got, want = _wire(np.array([[1.0, 2.0], [3.0, 5.0]])), _wire(np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert plain.compare(got, want, "dW") == (
        "dW: 1 of 4 entries differ; max abs error 1; first wrong index (1, 1): got 5, expected 4")
    assert plain.compare(_wire(0.5), _wire(0.5 + 1e-12), "loss") == ""
    assert plain.compare(_wire("A"), _wire("B"), "ANSWER") == "ANSWER: 'A' is not the right answer"
    assert "expected a number" in plain.compare(_wire("1"), _wire(1.0), "x")
    assert plain.compare(_wire([1.0, 2.0]), _wire([1.0]), "losses") == \
        "losses: 2 items, expected 1"
    assert "shape (3,), expected (2,)" in plain.compare(_wire(np.zeros(3)), _wire(np.zeros(2)), "b")


def test_seeds_are_per_run_and_task():
    assert verdict.seed_for(1, "a") == verdict.seed_for(1, "a") != verdict.seed_for(2, "a")
    assert verdict.seed_for(1, "a") != verdict.seed_for(1, "b")


@pytest.mark.parametrize("stem", PILOT)
def test_pilot_units_have_a_probe_per_task(stem):
    sem = grading.load_solutions(REPO / "solutions")[stem]
    assert sem.probes is not None and set(sem.probes.specs) == {t for t, _ in sem.tasks}


def test_a_probe_module_that_does_not_fit_is_refused(tmp_path):
    src = REPO / "solutions" / "01_linear_regression.ipynb"
    (tmp_path / "probes").mkdir()
    (tmp_path / "01_linear_regression.ipynb").write_bytes(src.read_bytes())
    (tmp_path / "probes" / "01_linear_regression.py").write_text(textwrap.dedent("""
        from coursekit.probe import probe
        SKIP = ("answer-sgd",)
        @probe("ridge-grad")
        def a(ns, rng):
            return {}
        @probe("nope")
        def b(ns, rng):
            return {}
    """))
    with pytest.raises(grading.GradeError) as err:
        grading.load_solutions(tmp_path)
    for says in ("task 'sgd' has no probe", "a probe for 'nope'", "SKIP names 'answer-sgd'"):
        assert says in str(err.value)


# ----------------------------------------------------------------------------- exploits
FIND_CHANNEL = """
import os, stat, struct
def _channels():
    for fd in range(3, 64):
        try:
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                yield fd
        except OSError:
            pass
"""

# (name, stem, the task it attacks, {answer cell: source}, status it must get, words of the
#  message, tasks of the same submission that must still pass)
EXPLOITS = [
    ("display: swallowed exception, silenced traceback, assert-stripping transformer",
     "01_linear_regression", "ridge-grad", {"answer-ridge-grad": """
import ast, sys
def ridge_loss_grad(X, y, w, b, lam):
    raise AssertionError("this answer is wrong")
sys.excepthook = lambda *a: None
class _NoAsserts(ast.NodeTransformer):
    def visit_Assert(self, node):
        return ast.Pass()
try:
    _ip = get_ipython()
    _ip.set_custom_exc((BaseException,), lambda *a, **k: None)
    _ip.showtraceback = lambda *a, **k: None
    _ip.ast_transformers.append(_NoAsserts())
except NameError:
    pass
"""}, "failed", "AssertionError: this answer is wrong (in your cell 'answer-ridge-grad', line 3)",
     ("ridge-fit", "sgd", "degree", "lr")),
    ("state: a right answer whose call patches numpy, the checks, the RNG and a hook; the "
     "next task's wrong answer", "01_linear_regression", "ridge-fit", {
         "answer-ridge-grad": """
import sys
import numpy as np
import utils.checks
def ridge_loss_grad(X, y, w, b, lam):
    r = X @ w + b - y
    np.isclose = lambda *a, **k: np.ones(np.broadcast(*a[:2]).shape, bool)
    np.allclose = lambda *a, **k: True
    utils.checks.check_close = lambda *a, **k: None
    np.random.default_rng = lambda *a, **k: np.random.Generator(np.random.PCG64(0))
    sys.setprofile(lambda *a: None)
    return float(np.mean(r ** 2) + lam * w @ w), 2 / len(y) * X.T @ r + 2 * lam * w, float(2 * np.mean(r))
""", "answer-ridge-fit": """
import numpy as np
def ridge_fit(X, y, lam):
    return np.zeros(X.shape[1]), float(np.mean(y))
"""}, "failed", "w on N=", ("ridge-grad", "sgd", "degree", "lr")),
    ("lies: float and str subclasses equal to anything", "01_linear_regression", "lr", {
        "answer-lr": """
class _Any(float):
    __eq__ = lambda self, other: True
    __hash__ = float.__hash__
    __sub__ = __rsub__ = lambda self, other: 0.0
class _AnyStr(str):
    __eq__ = lambda self, other: True
    __hash__ = str.__hash__
    strip = upper = lambda self, *a: self
ANSWER_LR_MAX = _Any(1.0)
ANSWER_ZIGZAG = _AnyStr("A")
"""}, "failed", "a subclass of float", ("ridge-grad", "ridge-fit", "sgd", "degree")),
    ("lies: an __array__ object, an ndarray subclass and a Tensor subclass with "
     "__torch_function__", "01_linear_regression", "ridge-grad", {"answer-ridge-grad": """
import numpy as np
import torch
class _Grad:
    def __array__(self, dtype=None, copy=None):
        return np.zeros(1)
    def numpy(self):
        return np.zeros(1)
class _Wild(np.ndarray):
    def __array_ufunc__(self, *a, **k):
        return True
class _T(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return torch.tensor(True)
def ridge_loss_grad(X, y, w, b, lam):
    return torch.zeros(()).as_subclass(_T), np.zeros(len(w)).view(_Wild), _Grad()
"""}, "failed", "a subclass of torch.Tensor", ("ridge-fit", "sgd", "degree", "lr")),
    ("read the test: the reference and the expected values from frames, gc and the "
     "notebook's globals", "03_backprop", "linear", {"answer-linear": """
import gc, sys
import numpy as np
def _grad(v):  # a tensor's .grad, found by duck typing (the task forbids torch by name)
    try:
        g = object.__getattribute__(v, "grad")
        return None if g is None else np.asarray(g.detach())
    except Exception:
        return None
def linear_backward(dZ, cache):
    X, W, b = cache
    found = {}
    fr = sys._getframe()  # inspect.stack() runs torch's patched inspect.getfile: recorded
    while fr is not None:
        for k, v in fr.f_locals.items():
            if (g := _grad(v)) is not None:
                found[g.shape] = g
        fr = fr.f_back
    for o in gc.get_objects():
        if type(o).__name__ == "Tensor" and (g := _grad(o)) is not None:
            found.setdefault(g.shape, g)
    for name in ("expected", "want", "ref", "_EXPECTED"):
        if name in globals():
            found["g"] = globals()[name]
    pick = lambda shape: found.get(shape, np.zeros(shape))
    return pick(X.shape), pick(W.shape), pick(b.shape)
"""}, "failed", "(dX, dW, db)", ("relu", "softmax_ce")),
    ("forged reply: the old protocol's pickled 'ok' (with a payload for the grader) and a "
     "JSON result on the process's own channel, then exit", "01_linear_regression",
     "ridge-grad", {"answer-ridge-grad": FIND_CHANNEL + """
import json, pickle
class _Payload:
    def __reduce__(self):
        return (os.system, ("touch /tmp/coursekit-forged-reply-ran",))
def ridge_loss_grad(X, y, w, b, lam):
    return 0.0, X[0] * 0, 0.0
for _fd in _channels():
    for _blob in (pickle.dumps({"status": "ok", "x": _Payload()}),
                  json.dumps({"result": {"t": "str", "v": "passed"}}).encode()):
        os.write(_fd, struct.pack("!I", len(_blob)) + _blob)
os._exit(0)
"""}, "failed", "no valid report", ()),
    ("forged reply: a well-formed result with the probe's labels, made up", "02_logistic_regression",
     "questions", {"answer-questions": FIND_CHANNEL + """
import json
_made_up = {"t": "dict", "v": [["ANSWER_XOR_ACC", {"t": "float", "v": "0.5"}],
                                ["ANSWER_SEPARABLE", {"t": "str", "v": "A"}]]}
for _fd in _channels():
    _blob = json.dumps({"result": _made_up}).encode()
    os.write(_fd, struct.pack("!I", len(_blob)) + _blob)
os._exit(0)
"""}, "failed", "ANSWER_XOR_ACC", ("softmax-grad", "wbce", "train", "tune")),
    ("exit: the process leaves while the grader calls the function, before any report",
     "01_linear_regression", "ridge-fit", {"answer-ridge-fit": """
import os
def ridge_fit(X, y, lam):
    os._exit(3)
"""}, "error", "exited with code 3", ("ridge-grad", "sgd", "degree", "lr")),
    ("exit: SystemExit raised in the function, and KeyboardInterrupt",
     "02_logistic_regression", "wbce", {"answer-wbce": """
import sys
def weighted_bce(z, y, pos_weight):
    if len(z) > 1:
        raise KeyboardInterrupt
    sys.exit(0)
"""}, "failed", "SystemExit", ("softmax-grad", "train", "tune", "questions")),
    ("a patched clock: time stands still while the answer loops", "01_linear_regression",
     "sgd", {"answer-sgd": """
import time
_t = time.monotonic()
for _name in ("monotonic", "perf_counter", "time", "process_time", "thread_time"):
    setattr(time, _name, lambda: _t)
def minibatch_sgd(X, y, lr, epochs, batch_size, seed=0):
    while True:
        pass
"""}, "timeout", "did not finish within", ("ridge-grad", "ridge-fit", "degree", "lr")),
]


# the recorder (coursekit/recorder.py): a computation the task forbids, reached by a name the
# syntax check cannot read, loses the task as surely as the plain name; so does removing the
# recorder. Every ridge_fit below computes the right (w, b): only what ran can fail it.
RIDGE = """
import sys
import numpy as np
def ridge_fit(X, y, lam):
    N, D = X.shape
    {before}
    A = np.vstack([np.c_[X, np.ones(N)], np.c_[np.sqrt(N * lam) * np.eye(D), np.zeros(D)]])
    theta = {solve} @ np.r_[y, np.zeros(D)]
    return theta[:-1], float(theta[-1])
"""
RIDGE_KEPT = ("ridge-grad", "sgd", "degree", "lr")


def _ridge(solve, before="pass"):
    return {"answer-ridge-fit": RIDGE.format(solve=solve, before=before)}


EXPLOITS += [
    ("recorder: a name built at run time", "01_linear_regression", "ridge-fit",
     _ridge('getattr(np.linalg, "p" + "inv")(A)'), "failed",
     "must not use numpy.linalg.pinv; your code ran numpy.linalg._linalg.pinv (in your cell "
     "'answer-ridge-fit', line 7). Not allowed:", RIDGE_KEPT),
    ("recorder: sys.modules", "01_linear_regression", "ridge-fit",
     _ridge('sys.modules["numpy." + "linalg"].__dict__["pi" + "nv"](A)'), "failed",
     "must not use numpy.linalg.pinv", RIDGE_KEPT),
    ("recorder: a private alias", "01_linear_regression", "ridge-fit",
     _ridge("np.linalg._linalg.pinv(A)"), "failed", "must not use numpy.linalg.pinv", RIDGE_KEPT),
    ("recorder: another form of the primitive (tensorinv runs inv)", "01_linear_regression",
     "ridge-fit", _ridge("np.linalg.tensorinv(A.T @ A, ind=1) @ A.T"), "failed",
     "must not use numpy.linalg.inv", ("ridge-grad", "sgd", "lr")),
    ("recorder: importlib", "01_linear_regression", "ridge-fit", {"answer-ridge-fit": """
import importlib
def ridge_fit(X, y, lam):
    Ridge = importlib.import_module("sk" + "learn.linear_" + "model").Ridge
    m = Ridge(alpha=len(y) * lam, solver="svd").fit(X, y)
    return m.coef_, float(m.intercept_)
"""}, "failed", "must not use sklearn", RIDGE_KEPT),
    ("recorder: code built at run time under a library's file name", "01_linear_regression",
     "ridge-fit", {"answer-ridge-fit": r"""
import numpy as np
_src = ("def ridge_fit(X, y, lam):\n    import numpy as np\n    N, D = X.shape\n"
        "    A = np.vstack([np.c_[X, np.ones(N)], np.c_[np.sqrt(N * lam) * np.eye(D), "
        "np.zeros(D)]])\n    t = getattr(np.linalg, 'pi' + 'nv')(A) @ np.r_[y, np.zeros(D)]\n"
        "    return t[:-1], float(t[-1])\n")
exec(compile(_src, np.__file__, "exec"))
"""}, "failed", "must not use numpy.linalg.pinv; your code ran numpy.linalg._linalg.pinv "
     "(in code your answer ran)", RIDGE_KEPT),
    ("recorder: the attack: sys.setprofile(None) first", "01_linear_regression", "ridge-fit",
     _ridge('getattr(np.linalg, "p" + "inv")(A)', before="sys.setprofile(None)"), "failed",
     "the recorder of what runs was removed: sys.setprofile", RIDGE_KEPT),
    ("recorder: the attack: the profile hook removed with ctypes", "01_linear_regression",
     "ridge-fit", _ridge('getattr(np.linalg, "p" + "inv")(A)',
                         before="__import__('ctypes').pythonapi.PyEval_SetProfile(None, None)"),
     "failed", "the recorder of what runs was removed: the profile hook", RIDGE_KEPT),
    ("recorder: torch and .backward by run-time names", "03_backprop", "linear",
     {"answer-linear": """
import sys
def linear_backward(dZ, cache):
    X, W, b = cache
    t = sys.modules["to" + "rch"]
    Xt, Wt, bt = (t.tensor(a, requires_grad=True) for a in (X, W, b))
    getattr(Xt @ Wt.T + bt, "back" + "ward")(t.tensor(dZ))
    return Xt.grad.numpy(), Wt.grad.numpy(), bt.grad.numpy()
"""}, "failed", "must not use torch; your code ran torch.", ("relu", "softmax_ce")),
]


@pytest.fixture(scope="module")
def exploited(tmp_path_factory):
    """Every exploit as one student's submission (the solution with those answer cells
    replaced), graded in one run; {name: record}."""
    folder = tmp_path_factory.mktemp("exploits")
    jobs = []
    for n, (_name, stem, _task, cells, *_rest) in enumerate(EXPLOITS):
        nb = notebook.read(REPO / "solutions" / f"{stem}.ipynb")
        for cell in nb.cells:
            if cell.get("id") in cells:
                cell.source = cells[cell.id].strip("\n")
        path = folder / f"x{n:02d}" / f"{stem}.ipynb"
        notebook.write(nb, path)
        jobs.append(grading.Job(f"x{n:02d}", str(path), stem, stem))
    opts = grading.Options(timeout=15)
    grading.preflight(opts)
    out = {}
    for student, _, rec, _ in grading.grade_jobs(jobs, str(REPO / "solutions"), opts,
                                                  jobs=min(2, os.cpu_count() or 1)):
        out[EXPLOITS[int(student[1:])][0]] = rec
    return out


@pytest.mark.slow
@pytest.mark.parametrize("name, stem, task, cells, status, says, kept", EXPLOITS,
                         ids=[e[0].split(":")[0] + f"-{i}" for i, e in enumerate(EXPLOITS)])
def test_an_exploit_loses_its_task(exploited, name, stem, task, cells, status, says, kept):
    tasks = {t["id"]: t for t in exploited[name]["tasks"]}
    got = tasks[task]
    assert (got["status"], got["points"]) == (status, 0) and says in got["message"], got
    lost = [f"{t}: {tasks[t]['status']} {tasks[t]['message']}" for t in kept
            if tasks[t]["status"] != "passed"]
    assert not lost, lost  # the honest answers of the same submission keep their points
    assert not Path("/tmp/coursekit-forged-reply-ran").exists()


def test_probe_load_reads_the_marks():
    found, skip = probe.load("from coursekit.probe import probe\nSKIP = ('x',)\n"
                             "@probe('t', rtol=0.5)\ndef f(ns, rng):\n    return 1\n")
    assert skip == ("x",) and found["t"][1] == {"task": "t", "rtol": 0.5, "atol": 1e-9,
                                                "reveal": False, "ops": (), "score": [],
                                                "timed": None}


# ----------------------------------------------------------------------------- the grader's reading
class _Zygote:
    def wait(self, pid, timeout=0.0):
        return 3


def _read(*messages, close=True, limits=(5.0, 5.0)):
    """verdict._read on a socket the given messages (dicts, or raw bytes) were sent to."""
    import socket

    grader, child = socket.socketpair()
    with grader, child:
        for m in messages:
            probe.send(child, m) if isinstance(m, dict) else child.sendall(m)
        if close:
            child.shutdown(socket.SHUT_WR)
        return verdict._read(grader, 1, _Zygote(), 2, list(limits), 5.0, {"answer-x"})


ERROR = {"ename": "ValueError", "evalue": "boom", "cell": "answer-x", "line": 2,
         "phase": "probe", "at": "t"}


def test_the_grader_reads_progress_then_one_result():
    got = _read({"cell": 0}, {"cell": 1}, {"cell": 2}, {"result": plain.encode({"a": 1.0})})
    assert (got.status, got.value, got.at) == ("result", {"a": 1.0}, 2)
    got = _read({"cell": 0}, {"error": ERROR})
    assert (got.status, got.error) == ("error", ERROR)


@pytest.mark.parametrize("messages, says", [
    (({"cell": 0}, {"cell": 0}), "out of order"),
    (({"cell": 3},), "out of order"),
    (({"cell": True},), "out of order"),
    (({"error": dict(ERROR, cell="not-an-answer")},), "error report of the wrong form"),
    (({"error": dict(ERROR, line="2")},), "error report of the wrong form"),
    (({"result": {"t": "float", "v": "x"}},), "malformed float"),
    (({"verdict": "passed"},), "does not know"),
    ((b"\x00\x00\x00\x05hello",), "not JSON"),
    ((b"\xff\xff\xff\xff",), "a message of"),
])
def test_the_grader_refuses_what_is_out_of_protocol(messages, says):
    got = _read(*messages)
    assert got.status == "malformed" and says in got.detail, got


def test_silence_is_a_timeout_and_a_closed_channel_a_death():
    got = _read({"cell": 0}, close=False, limits=(0.2, 5.0))
    assert (got.status, got.at, got.limit) == ("timeout", 0, 0.2)
    got = _read({"cell": 0}, {"cell": 1})
    assert got.status == "dead" and "exited with code 3" in got.detail and got.at == 1


# ----------------------------------------------------------------------------- the recorder, ATen
CONV_SOLUTION = """def conv(x, w):
    \"\"\"x [H, W], w [k, k] (float64 tensors): the valid cross-correlation, [H-k+1, W-k+1].\"\"\"
    ### BEGIN SOLUTION
    k = w.shape[0]
    out = torch.zeros(x.shape[0] - k + 1, x.shape[1] - k + 1, dtype=x.dtype)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = (x[i:i + k, j:j + k] * w).sum()
    return out
    ### END SOLUTION"""
CONV_PROBES = """
import torch
from coursekit.probe import need, probe

@probe("conv", rtol=1e-9, ops=("aten::convolution",))
def conv(ns, rng):
    f = need(ns, "conv")
    x, w = torch.tensor(rng.standard_normal((7, 6))), torch.tensor(rng.standard_normal((3, 3)))
    ref = torch.nn.functional.conv2d(x[None, None], w[None, None])  # the probe may: not counted
    return {"conv of a 7 x 6 image with a 3 x 3 kernel": f(x, w), "shape": list(ref.shape)}
"""
CONV_STUDENTS = {  # student: (answer, the words of the message; '' = passes)
    "loops": (CONV_SOLUTION.replace("    ### BEGIN SOLUTION\n", "").replace(
        "\n    ### END SOLUTION", ""), ""),
    "aten": ("def conv(x, w):\n    return torch.ops.aten.convolution(x[None, None], w[None, None], "
             "None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1)[0, 0]",
             "must not use aten::convolution; your code ran aten.convolution.default (in your "
             "cell 'answer-conv', line 2)"),
    "conv1d": ("import importlib\ndef conv(x, w):\n"
               "    F = importlib.import_module('torch.nn.' + 'functional')\n"
               "    rows = [sum(F.conv1d(x[i + a][None, None], w[a][None, None])[0, 0] "
               "for a in range(w.shape[0])) for i in range(x.shape[0] - w.shape[0] + 1)]\n"
               "    return torch.stack(rows)", "must not use aten::convolution"),
    "pop": ("from torch.utils import _python_dispatch as _pd\ndef conv(x, w):\n    _pd._pop_mode()\n"
            "    return torch.ops.aten.convolution(x[None, None], w[None, None], None, [1, 1], "
            "[0, 0], [1, 1], False, [0, 0], 1)[0, 0]",
            "the recorder of what runs was removed"),
}


@pytest.mark.slow
def test_the_recorder_of_aten_operators_in_the_grader(tmp_path):
    """A synthetic seminar whose probe declares ops=("aten::convolution",): the operator
    reached by torch.ops.aten, by conv1d row by row, or after popping the dispatch mode
    loses the task through the grader; loops keep it (the probe's own conv2d is not theirs)."""
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    def code(cid, source, **meta):
        cell = new_code_cell(source)
        cell.id = cid
        if meta:
            cell.metadata["course"] = meta
        return cell

    sol = new_notebook(cells=[
        code("setup", "import torch"),
        new_markdown_cell("## Task 1: conv\n\n**Not allowed:** `torch.nn.functional.conv2d`."),
        code("answer-conv", CONV_SOLUTION),
        code("test-conv", "x = torch.ones(4, 4, dtype=torch.float64)\n"
             "assert conv(x, torch.ones(2, 2, dtype=torch.float64)).shape == (3, 3)",
             task="conv", points=2, forbid=["torch.nn.functional.conv2d"]),
    ])
    notebook.write(sol, tmp_path / "solutions" / "01_conv.ipynb")
    (tmp_path / "solutions" / "probes").mkdir()
    (tmp_path / "solutions" / "probes" / "01_conv.py").write_text(CONV_PROBES)
    for student, (answer, _) in CONV_STUDENTS.items():
        nb = notebook.read(tmp_path / "solutions" / "01_conv.ipynb")
        nb.cells[2].source = answer
        notebook.write(nb, tmp_path / "class" / student / "01_conv.ipynb")
    book = grading.grade(tmp_path / "class", tmp_path / "solutions", grading.Options(timeout=60),
                         jobs=1, echo=lambda *_: None)
    for student, (_, says) in CONV_STUDENTS.items():
        (task,) = book[student]["01_conv"]["tasks"]
        if not says:
            assert task["status"] == "passed", (student, task["message"])
        else:
            assert task["status"] == "failed" and says in task["message"], (student, task)
            assert "Not allowed: `torch.nn.functional.conv2d`" in task["message"], task
