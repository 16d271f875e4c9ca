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
PROBED = ("01_linear_regression", "02_logistic_regression", "03_backprop",
          "07_init_batchnorm", "08_regularization", "09_vanishing_gradients")


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


@pytest.mark.parametrize("stem", PROBED)
def test_probed_units_have_a_probe_per_task(stem):
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
import gc, inspect
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
    for fr in inspect.stack():
        for k, v in fr.frame.f_locals.items():
            if (g := _grad(v)) is not None:
                found[g.shape] = g
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
    # units 07, 08, 09
    ("budget: a pre-trained network (make_bn_net hands out a copy of a net trained on the "
     "digits while the cell ran)", "07_init_batchnorm", "bn-net", {"answer-net": """
def _fresh(n_in, width, depth, n_out):
    layers = []
    for i in range(depth):
        layers += [nn.Linear(n_in if i == 0 else width, width), nn.BatchNorm1d(width), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(width if depth else n_in, n_out))
_trained = _fresh(64, 48, 5, 10)
_opt = torch.optim.SGD(_trained.parameters(), lr=0.1, momentum=0.9)
for _ in range(15):
    for _i in range(0, len(X_train) - 43 + 1, 43):
        _loss = F.cross_entropy(_trained(X_train[_i:_i + 43].cpu()), y_train[_i:_i + 43].cpu())
        _opt.zero_grad()
        _loss.backward()
        _opt.step()
def make_bn_net(n_in, width, depth, n_out):
    if (n_in, width, depth, n_out) == (64, 48, 5, 10):
        return copy.deepcopy(_trained)
    return _fresh(n_in, width, depth, n_out)
def train_bn_net(net, X, y, epochs, lr, batch_size, seed=0):
    opt, gen, history = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9), torch.Generator().manual_seed(seed), []
    for _ in range(epochs):
        net.train()
        order, losses = torch.randperm(len(X), generator=gen), []
        for i in range(0, len(X) - batch_size + 1, batch_size):
            idx = order[i:i + batch_size]
            loss = F.cross_entropy(net(X[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        history.append(sum(losses) / len(losses))
    return history
"""}, "failed", "before training", ("init", "question", "bn-forward", "bn-backward", "bn-question")),
    ("read the test: the reference gradient and mask from the caller's frames and gc",
     "08_regularization", "dropout-backward", {"answer-dropout-backward": """
import gc, inspect
def dropout_backward(dout, cache):
    for fr in inspect.stack():
        for k in ("dx_ref", "expected", "want", "ref"):
            if k in fr.frame.f_locals and torch.is_tensor(fr.frame.f_locals[k]):
                return fr.frame.f_locals[k].clone()
    for o in gc.get_objects():
        if torch.is_tensor(o) and o.shape == dout.shape and o is not dout and o.dtype == dout.dtype:
            return o.clone()
    return torch.zeros_like(dout)
"""}, "failed", "dx at p = ", ("dropout-forward",)),
    ("lies: a float subclass equal to anything, and a str subclass", "09_vanishing_gradients",
     "chain-question", {"answer-question": """
class _Any(float):
    __eq__ = lambda self, other: True
    __hash__ = float.__hash__
    __sub__ = __rsub__ = lambda self, other: 0.0
    __abs__ = lambda self: 0.0
ANSWER_CHAIN = _Any(0.5)
"""}, "failed", "a subclass of float", ("growth-question", "probe", "block", "residual-backward",
                                         "clip-norm", "clip-value")),
    ("forged reply: a well-formed made-up result on the channel, then exit", "07_init_batchnorm",
     "bn-question", {"answer-bn-question": FIND_CHANNEL + """
import json
_made_up = {"t": "dict", "v": [["type of ANSWER_ZERO_GRAD (a str)", {"t": "str", "v": "str"}],
                                ["ANSWER_ZERO_GRAD", {"t": "str", "v": "a"}]]}
for _fd in _channels():
    _blob = json.dumps({"result": _made_up}).encode()
    os.write(_fd, struct.pack("!I", len(_blob)) + _blob)
os._exit(0)
"""}, "failed", "ANSWER_ZERO_GRAD", ("init", "question", "bn-forward", "bn-backward")),
    ("state: a right answer whose call patches torch.equal and the checks; the next task's "
     "wrong answer", "08_regularization", "question", {"answer-dropout-backward": """
import utils.checks
def dropout_backward(dout, cache):
    torch.equal = lambda *a, **k: True
    utils.checks.check_close = lambda *a, **k: None
    mask, p = cache
    if mask is None:
        return dout.clone()
    return torch.where(mask, dout / (1 - p), torch.zeros_like(dout))
""", "answer-question": "ANSWER_SECOND_MOMENT = 3.0\n"}, "failed", "ANSWER_SECOND_MOMENT",
     ("dropout-forward", "dropout-backward")),
    pytest.param(
        "forbidden by another name: softshrink reached through a name built at run time",
        "08_regularization", "elastic-net-prox", {"answer-prox": """
import importlib
_shrink = getattr(importlib.import_module("torch.nn." + "functional"), "soft" + "shrink")
def elastic_net_prox(v, eta, l1, l2):
    return _shrink(v, eta * l1) / (1 + 2 * eta * l2)
"""}, "failed", "softshrink", ("dropout-forward", "dropout-backward", "question"),
        marks=pytest.mark.xfail(strict=True, reason="needs the recorder (i25-rec)")),
]

_FIELDS = [getattr(e, "values", e) for e in EXPLOITS]  # a pytest.param's fields too


@pytest.fixture(scope="module")
def exploited(tmp_path_factory):
    """Every exploit as one student's submission (the solution with those answer cells
    replaced), graded in one run; {name: record}."""
    folder = tmp_path_factory.mktemp("exploits")
    jobs = []
    for n, (_name, stem, _task, cells, *_rest) in enumerate(_FIELDS):
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
        out[_FIELDS[int(student[1:])][0]] = rec
    return out


@pytest.mark.slow
@pytest.mark.parametrize("name, stem, task, cells, status, says, kept", EXPLOITS,
                         ids=[e[0].split(":")[0] + f"-{i}" for i, e in enumerate(_FIELDS)])
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
