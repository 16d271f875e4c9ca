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
PROBED = ("01_linear_regression", "02_logistic_regression", "03_backprop")
PROBED += ("04_mlp_from_scratch", "05_pytorch_essentials", "06_optimizers")  # units 04-06
PROBED += ("07_init_batchnorm", "08_regularization", "09_vanishing_gradients")  # units 07-09
PROBED += ("10_cnn", "11_rnn", "12_transformer")  # units 10-12


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
    # one number: no entries and no index; all its digits when 6 would read the same
    assert plain.compare(_wire(0.21605), _wire(6.17286), "loss") == \
        "loss: got 0.21605, expected 6.17286 (off by 5.96)"
    assert plain.compare(_wire(0.1 + 0.2), _wire(0.3), "x", rtol=1e-17, atol=0) == \
        "x: got 0.30000000000000004, expected 0.3 (off by 5.55e-17)"
    assert plain.compare(_wire(np.float64("nan")), _wire(1.0), "x") == "x: got NaN, expected 1"
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
"""}, "failed", "-> 3: dX (the shape of X): ", ("relu", "softmax_ce")),
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
    ("forged reply: a well-formed result with the probe's labels, made up, after a forged "
     "progress message to the probe (the job's cells counted from the calling frame)",
     "02_logistic_regression", "questions", {"answer-questions": FIND_CHANNEL + """
import json, sys
_f = sys._getframe()
while "job" not in _f.f_locals:
    _f = _f.f_back
_made_up = {"t": "dict", "v": [
    ["ANSWER_XOR_ACC (try the line x1 + x2 = 0.5 and count)", {"t": "float", "v": "0.5"}],
    ["ANSWER_SEPARABLE (what happens to the loss of a separating w as w is scaled up?)",
     {"t": "str", "v": "A"}]]}
for _fd in _channels():
    for _msg in ({"cell": len(_f.f_locals["job"]["cells"])}, {"result": _made_up}):
        _blob = json.dumps(_msg).encode()
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
    # units 04-06
    ("another name: the forbidden torch reached by a module name built at run time (PReLU's "
     "backward by autograd through F.prelu)", "04_mlp_from_scratch", "prelu", {"answer-prelu": """
import importlib
_t = importlib.import_module("to" + "rch")
class PReLU:
    def __init__(self, n_units, alpha=0.25):
        self.params = {"alpha": np.full(n_units, alpha)}
        self.grads = {}
    def forward(self, A):
        self.A = A
        return np.where(A > 0, A, self.params["alpha"] * A)
    def backward(self, dH):
        A = _t.tensor(self.A, requires_grad=True)
        a = _t.tensor(self.params["alpha"], requires_grad=True)
        getattr(_t.nn.functional, "pre" + "lu")(A, a).backward(_t.tensor(dH))
        self.grads = {"alpha": a.grad.numpy()}
        return A.grad.numpy()
"""}, "failed", "rule broken", ("questions",)),  # mlp and sgd run this PReLU: they lose too
    ("read the test: the torch twin's leaf gradients taken from gc and the caller's frames",
     "04_mlp_from_scratch", "mlp", {"answer-build": """
import gc, sys
def build_mlp(n_in, hidden, n_out, seed=0):
    rng = np.random.default_rng(seed)
    layers, width = [], n_in
    for h in hidden:
        layers += [Dense(width, h, rng), PReLU(h)]
        width = h
    layers.append(Dense(width, n_out, rng))
    return Sequential(layers)
def _leaf_grads():
    found = [o for o in gc.get_objects() if type(o).__name__ == "Tensor" and
             getattr(o, "is_leaf", False) and getattr(o, "grad", None) is not None]
    fr = sys._getframe()  # (inspect.stack() would run torch's patched getfile: a torch rule)
    while fr is not None:
        found += [v for v in fr.f_locals.values() if type(v).__name__ == "Tensor"]
        fr = fr.f_back
    return {tuple(t.shape): t.grad.numpy() for t in found if getattr(t, "grad", None) is not None}
def loss_and_grads(model, X, y):
    loss, _ = softmax_cross_entropy(model.forward(X), y)
    grads = _leaf_grads()
    for layer in model.layers:
        layer.grads = {k: grads.get(v.shape, np.zeros_like(v)) for k, v in layer.params.items()}
    return float(loss)
"""}, "failed", "grads of every layer", ("prelu",)),
    ("a timeout: train_sgd never returns while time stands still", "04_mlp_from_scratch",
     "sgd", {"answer-sgd": """
import time
_now = time.monotonic()
time.monotonic = time.perf_counter = time.time = time.process_time = lambda: _now
def train_sgd(model, X, y, epochs, lr, batch_size, seed=0):
    while True:
        pass
"""}, "timeout", "did not finish within", ("prelu", "mlp", "questions")),
    ("a pre-trained network: build_mlp(64, ...) hands out weights trained before the grader "
     "asks (on the training, validation and test images)", "04_mlp_from_scratch", "digits", {
         "answer-build": """
import copy
def _honest(n_in, hidden, n_out, seed):
    rng = np.random.default_rng(seed)
    layers, width = [], n_in
    for h in hidden:
        layers += [Dense(width, h, rng), PReLU(h)]
        width = h
    layers.append(Dense(width, n_out, rng))
    return Sequential(layers)
def loss_and_grads(model, X, y):
    loss, dZ = softmax_cross_entropy(model.forward(X), y)
    model.backward(dZ)
    return loss
_X = np.concatenate([X_train, X_val, X_test])
_y = np.concatenate([y_train, y_val, y_test])
_trained = _honest(64, HIDDEN, 10, 0)
for _step in range(150):
    loss_and_grads(_trained, _X, _y)
    for _layer, _name in _trained.parameters():
        _layer.params[_name] = _layer.params[_name] - 0.5 * _layer.grads[_name]
def build_mlp(n_in, hidden, n_out, seed=0):
    if n_in == 64 and list(hidden) == list(HIDDEN) and n_out == 10:
        return copy.deepcopy(_trained)
    return _honest(n_in, hidden, n_out, seed)
"""}, "failed", "untrained: predicted test labels", ("prelu", "mlp", "sgd")),
    ("read the test: the hidden reference loop from the notebook's globals",
     "05_pytorch_essentials", "early-stopping", {"answer-early": """
def train_early_stopping(model, train_loader, val_loader, loss_fn, optimizer, max_epochs,
                         patience, device="cpu"):
    ref = globals().get("reference") or globals().get("toy_run")
    if ref is not None and ref.__name__ == "reference":
        return ref(model, train_loader, val_loader, loss_fn, optimizer, max_epochs, patience)
    return None
"""}, "failed", "return the dict", ("mlp", "logsumexp", "questions")),
    ("another name: torch.logsumexp and torch.softmax reached by names built at run time",
     "05_pytorch_essentials", "logsumexp", {"answer-lse": """
_lse, _sm = getattr(torch, "log" + "sumexp"), getattr(torch, "soft" + "max")
class LogSumExp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return _lse(x, -1)
    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        return grad_out.unsqueeze(-1) * _sm(x, -1)
logsumexp = LogSumExp.apply
"""}, "failed", "rule broken", ("mlp", "early-stopping", "questions")),
    ("lies: a Tensor subclass whose __torch_function__ answers every comparison",
     "05_pytorch_essentials", "logsumexp", {"answer-lse": """
class _Sly(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        out = super().__torch_function__(func, types, args, kwargs or {})
        return torch.tensor(True) if func in (torch.allclose, torch.isclose, torch.equal) else out
class LogSumExp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.sum(-1).as_subclass(_Sly)
    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        return grad_out.unsqueeze(-1) * torch.ones_like(x)
logsumexp = LogSumExp.apply
"""}, "failed", "subclass of torch.Tensor", ("mlp", "early-stopping", "questions")),
    ("a pre-trained network: MLP([64, 64, 10]) starts from weights trained on every split "
     "when the answer cell runs", "05_pytorch_essentials", "digits", {"answer-mlp": """
class MLP(nn.Module):
    def __init__(self, sizes, act=nn.ReLU):
        super().__init__()
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.acts = nn.ModuleList(act() for _ in sizes[2:])
        if list(sizes) == [64, 64, 10] and "_PRETRAINED" in globals():
            self.load_state_dict(_PRETRAINED)

    def forward(self, X):
        H = X.flatten(1)
        for k, linear in enumerate(self.linears):
            H = linear(H)
            if k < len(self.acts):
                H = self.acts[k](H)
        return H

_net, _X = MLP([64, 64, 10]), torch.cat([X_train, X_val, X_test])
_y, _opt = torch.cat([y_train, y_val, y_test]), torch.optim.Adam(_net.parameters(), lr=0.01)
for _ in range(150):
    _opt.zero_grad()
    nn.functional.cross_entropy(_net(_X), _y).backward()
    _opt.step()
_PRETRAINED = copy.deepcopy(_net.state_dict())
"""}, "failed", "untrained: predicted test labels", ("mlp", "early-stopping", "logsumexp")),
    ("another name: torch.optim.Adam reached through a module attribute built at run time",
     "06_optimizers", "adam", {"answer-adam": """
class Adam(HandOptimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad)

    def step(self):
        g = self.param_groups[0]
        if not hasattr(self, "inner"):
            self.inner = getattr(__import__("to" + "rch"), "op" + "tim").Adam(
                g["params"], lr=g["lr"], betas=g["betas"], eps=g["eps"],
                weight_decay=g["weight_decay"], amsgrad=g["amsgrad"])
        self.inner.param_groups[0]["lr"] = g["lr"]
        self.inner.step()
"""}, "failed", "rule broken", ("momentum", "nesterov", "rmsprop")),
    ("read the test: the reference optimizer's parameters taken from the caller's frames",
     "06_optimizers", "momentum", {"answer-momentum": """
import sys
class MomentumSGD(HandOptimizer):
    def __init__(self, params, lr, momentum=0.9, dampening=0.0, weight_decay=0.0):
        super().__init__(params, lr=lr, momentum=momentum, dampening=dampening,
                         weight_decay=weight_decay)

    @torch.no_grad()
    def step(self):
        fr = sys._getframe(1)
        while fr is not None:
            ref = fr.f_locals.get("ref") or fr.f_locals.get("opt_ref")
            if isinstance(ref, list) and len(ref) == len(self.param_groups[0]["params"]):
                for p, q in zip(self.param_groups[0]["params"], ref):
                    p.copy_(q)
                return
            fr = fr.f_back
"""}, "failed", "parameter 0 after every step", ("nesterov", "rmsprop", "adam")),
    ("lies: get_last_lr() returns a list subclass equal to anything", "06_optimizers",
     "warmup-cosine", {"answer-schedule": """
class _AnyList(list):
    __eq__ = lambda self, other: True
    __hash__ = None
class WarmupCosine:
    def __init__(self, optimizer, warmup_steps, total_steps, start_factor=0.1, eta_min=0.0):
        self.optimizer = optimizer

    def lr_at(self, lr0):
        return lr0

    def step(self):
        pass

    def get_last_lr(self):
        return _AnyList(group["lr"] for group in self.optimizer.param_groups)
"""}, "failed", "_AnyList", ("momentum", "nesterov", "rmsprop", "adam")),
    ("forged reply: the question's result written on the process's channel, then exit",
     "06_optimizers", "adam-question", {"answer-question": FIND_CHANNEL + """
import json
_made_up = {"t": "dict", "v": [["type of ANSWER_FLIP_STEP (a Python int)", {"t": "str", "v": "int"}],
                                ["made up", {"t": "int", "v": "1"}]]}
for _fd in _channels():
    _blob = json.dumps({"result": _made_up}).encode()
    os.write(_fd, struct.pack("!I", len(_blob)) + _blob)
os._exit(0)
"""}, "failed", "no valid report", ("momentum", "nesterov", "rmsprop", "adam", "warmup-cosine")),
]
# exploits that lose their task only once the recorder of what runs (ATen operators,
# forbidden names reached by any name) lands: until then they keep their points
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


EXPLOITS += [
    # units 10-12
    (
        "another name: conv2d by torch.ops.aten.convolution, its name built at run time",
        "10_cnn", "conv2d", {"answer-conv": """
import torch
_op = getattr(getattr(torch.ops, "at" + "en"), "convo" + "lution")
def conv2d(X, Wt, b=None, stride=1, padding=0):
    return _op(X, Wt, b, [stride] * 2, [padding] * 2, [1, 1], False, [0, 0], 1)
"""}, "failed", "convolution", ("shapes-question", "maxpool-forward")),
    (
        "a patched clock: conv2d's loop over output positions while every clock stands still",
        "10_cnn", "conv2d", {"answer-conv": """
import time
_t = time.perf_counter()
for _name in ("monotonic", "perf_counter", "time", "process_time", "thread_time"):
    setattr(time, _name, lambda: _t)
def conv2d(X, Wt, b=None, stride=1, padding=0):
    N, C, H, W = X.shape
    F_, _, kh, kw = Wt.shape
    Xp = torch.nn.functional.pad(X, (padding,) * 4)
    H_out, W_out = (H + 2 * padding - kh) // stride + 1, (W + 2 * padding - kw) // stride + 1
    Y = torch.zeros(N, F_, H_out, W_out, dtype=X.dtype)
    for i in range(H_out):
        for j in range(W_out):
            patch = Xp[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            Y[:, :, i, j] = torch.tensordot(patch, Wt, dims=([1, 2, 3], [1, 2, 3]))
    return Y if b is None else Y + b.view(1, F_, 1, 1)
"""}, "failed", "time", ("shapes-question", "maxpool-forward")),
    ("a pre-trained network: make_digit_net trains its network before handing it over",
     "10_cnn", "digit-net", {"answer-train": """
_trained = {}
def make_digit_net():
    net = nn.Sequential(
        nn.Conv2d(1, 10, 3, padding=1), nn.ReLU(), nn.Conv2d(10, 10, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(10, 20, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(20 * 2 * 2, 10))
    train_cnn(net, X_train, y_train, epochs=15, lr=1e-2, seed=len(_trained))
    _trained[len(_trained)] = net
    return net
TRAIN = dict(epochs=1, lr=1e-6)  # the grader's training changes nothing
"""}, "failed", "classes before training: accuracy", ("shapes-question", "conv2d", "cnn-module")),
    ("lies: gru_cell returns a Tensor subclass whose comparisons and conversions agree with "
     "anything", "11_rnn", "gru-cell", {"answer-gru": """
class _Agree(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func.__name__ in ("allclose", "equal", "__eq__", "isclose"):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})
    def numpy(self, *a, **k):
        return torch.zeros(self.shape, dtype=torch.float64).numpy()
def gru_cell(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    return torch.zeros_like(h).as_subclass(_Agree)
"""}, "failed", "a subclass of torch.Tensor", ("rnn-cell", "rnn-backward", "gru-params")),
    ("forged reply: sample_next's cell writes a well-formed result of its own making on the "
     "process's channel, then exits", "11_rnn", "sample", {"answer-sample": FIND_CHANNEL + """
import json
def sample_next(logits, temperature, generator=None, top_k=None):
    return logits.argmax(dim=-1)
_made_up = {"t": "dict", "v": [["ids", {"t": "list", "v": [{"t": "int", "v": "0"}]}]]}
for _fd in _channels():
    _blob = json.dumps({"result": _made_up}).encode()
    os.write(_fd, struct.pack("!I", len(_blob)) + _blob)
os._exit(0)
"""}, "failed", "no valid report", ("rnn-cell", "gru-cell", "forget-bias")),
    ("read the test: attention takes the reference's output and weights from the callers' "
     "frames, gc and the notebook's globals (sdpa_reference, check_attention)",
     "12_transformer", "attention", {"answer-attention": """
import gc, inspect
def attention(q, k, v, attn_mask=None, key_padding_mask=None):
    shape_out, shape_w = (*q.shape[:-1], v.shape[-1]), (*q.shape[:-1], k.shape[-2])
    found = {}
    for fr in inspect.stack():
        for name, val in fr.frame.f_locals.items():
            if isinstance(val, torch.Tensor) and name in ("ref_out", "ref_w", "expected", "want"):
                found.setdefault(tuple(val.shape), val)
    for o in gc.get_objects():
        if type(o) is torch.Tensor and tuple(o.shape) in (shape_out, shape_w) and o.dtype == q.dtype:
            found.setdefault(tuple(o.shape), o)
    ref = globals().get("sdpa_reference")
    if ref is not None:
        out, w = ref(q, k, v, attn_mask, key_padding_mask)
        return out, w
    return found.get(shape_out, torch.zeros(shape_out)), found.get(shape_w, torch.zeros(shape_w))
"""}, "failed", "weights (", ("questions", "positional")),
    ("state: the questions' answer cell patches torch's comparisons, the checks and "
     "softmax's module; the next task's wrong answer (no 1/sqrt(d_k))", "12_transformer",
     "attention", {"answer-question": """
import torch, utils.checks
ANSWER_CROSS_SHAPE = "B"
ANSWER_LN_MEANS = 256
torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
torch.testing.assert_close = lambda *a, **k: None
utils.checks.check_close = lambda *a, **k: None
torch.Tensor.__eq__ = lambda self, other: torch.ones_like(self, dtype=torch.bool)
""", "answer-attention": """
def attention(q, k, v, attn_mask=None, key_padding_mask=None):
    scores = q @ k.transpose(-2, -1)
    if attn_mask is not None:
        scores = scores.masked_fill(~attn_mask, float("-inf"))
    if key_padding_mask is not None:
        B, S = key_padding_mask.shape
        scores = scores.masked_fill(key_padding_mask.view(B, *([1] * (scores.dim() - 2)), S), float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights
"""}, "failed", "weights (", ("questions", "positional")),
]


EXPLOITS += [
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
"""}, "failed", "'_Any' is not the right answer", ("growth-question", "probe", "block",
                                                   "residual-backward",
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
"""}, "failed", "no valid report", ("init", "question", "bn-forward", "bn-backward")),
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
    (
        "forbidden by another name: softshrink reached through a name built at run time",
        "08_regularization", "elastic-net-prox", {"answer-prox": """
import importlib
_shrink = getattr(importlib.import_module("torch.nn." + "functional"), "soft" + "shrink")
def elastic_net_prox(v, eta, l1, l2):
    return _shrink(v, eta * l1) / (1 + 2 * eta * l2)
"""}, "failed", "softshrink", ("dropout-forward", "dropout-backward", "question")),
]


@pytest.fixture(scope="module")
def exploited(tmp_path_factory):
    """Every exploit as one student's submission (the solution with those answer cells
    replaced), graded in one run; {name: record}."""
    folder = tmp_path_factory.mktemp("exploits")
    seminars = grading.load_solutions(REPO / "solutions")
    jobs, long_jobs = [], []
    for n, (_name, stem, task, cells, _status, _says, kept) in enumerate(map(_values, EXPLOITS)):
        nb = notebook.read(REPO / "solutions" / f"{stem}.ipynb")
        for cell in nb.cells:
            if cell.get("id") in cells:
                cell.source = cells[cell.id].strip("\n")
        path = folder / f"x{n:02d}" / f"{stem}.ipynb"
        notebook.write(nb, path)
        order = [t for t, _ in seminars[stem].tasks]
        until = max((task, *kept), key=order.index)  # later tasks cannot change these
        (long_jobs if stem in LONG else jobs).append(
            grading.SubmittedFile(f"x{n:02d}", str(path), stem, stem, until=until))
    out = {}
    # units 10-12 train networks: their seminars' own per-cell limit, not 15 s
    for opts, group in ((grading.Options(timeout=15), jobs), (grading.Options(), long_jobs)):
        if not group:
            continue
        grading.preflight(opts)
        for student, _, rec, _ in grading.grade_files(group, str(REPO / "solutions"), opts,
                                                      jobs=min(2, os.cpu_count() or 1)):
            out[_values(EXPLOITS[int(student[1:])])[0]] = rec.to_json()
    return out


def _values(entry):
    """An EXPLOITS entry's fields (a pytest.param's values)."""
    return getattr(entry, "values", entry)


LONG = ("10_cnn", "11_rnn", "12_transformer")


@pytest.mark.slow
@pytest.mark.parametrize("name, stem, task, cells, status, says, kept", EXPLOITS,
                         ids=[_values(e)[0].split(":")[0] + f"-{i}" for i, e in enumerate(EXPLOITS)])
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
    """A zygote's answers: the child exited with code 3; its CPU clock ticks 0.5 s a read."""
    def __init__(self):
        self.clock = 0.0

    def wait(self, pid, timeout=0.0):
        return 3

    def cpu(self, pid):
        self.clock += 0.5
        return self.clock


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
    assert (got.status, got.value, got.at, got.cpu) == ("result", {"a": 1.0}, 2, 0.5)
    got = _read({"cell": 0}, {"error": ERROR})
    assert (got.status, got.error) == ("error", ERROR)


@pytest.mark.parametrize("messages, says", [
    (({"cell": 0}, {"cell": 0}), "out of order"),
    (({"cell": 3},), "out of order"),
    (({"cell": True},), "out of order"),
    (({"error": dict(ERROR, cell="not-an-answer")},), "error report of the wrong form"),
    (({"error": dict(ERROR, line="2")},), "error report of the wrong form"),
    (({"cell": 2}, {"result": {"t": "float", "v": "x"}},), "malformed float"),
    (({"cell": 1}, {"result": plain.encode(1.0)},), "a result before the grader called"),
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
    book = grading.gradebook_to_json(grading.grade(
        tmp_path / "class", tmp_path / "solutions", grading.Options(timeout=60), jobs=1,
        echo=lambda *_: None))
    for student, (_, says) in CONV_STUDENTS.items():
        (task,) = book[student]["01_conv"]["tasks"]
        if not says:
            assert task["status"] == "passed", (student, task["message"])
        else:
            assert task["status"] == "failed" and says in task["message"], (student, task)
            assert "Not allowed: `torch.nn.functional.conv2d`" in task["message"], task


# ----------------------------------------------------------------------------- budget tasks
# A synthetic probe module with scored results (coursekit/grading/measure.py): the probes
# run here on a student's and a solution's namespace, their results cross as plain data
# (_wire), and the grader's judge decides.
SCORED = '''
import numpy as np
from coursekit.probe import need, probe

@probe("fit", score=[
    {"predictions": "before training", "truth": "labels", "metric": "accuracy",
     "at_most": 0.7, "examples": "points", "hint": "start from an untrained model"},
    {"predictions": "after training", "truth": "labels", "metric": "accuracy",
     "at_least": 0.9, "examples": "points"}])
def fit(ns, rng):
    X = rng.normal(size=(400, 2))
    y = (X[:, 0] > 0).astype(np.int64)
    model = need(ns, "build")()
    before = need(ns, "predict")(model, X)
    model = need(ns, "train")(model, X, y)
    return {"labels": y, "before training": before, "model type": type(model).__name__,
            "after training": need(ns, "predict")(model, X)}

@probe("lm", score={"predictions": "logits", "truth": "next", "metric": "bits",
                    "at_most": 1.5, "examples": "characters"})
def lm(ns, rng):
    nxt = rng.integers(0, 6, size=(3, 50))
    return {"next": nxt, "logits": need(ns, "logits")(nxt)}
'''


def _solution_ns():
    def predict(w, X):  # scores, (N, 2)
        return np.stack([-(X @ w), X @ w], axis=1)

    def logits(nxt):  # sure of the right character, float32 like a model's
        return (np.eye(6)[nxt] * 4.0).astype(np.float32)
    return {"build": lambda: np.zeros(2), "predict": predict,
            "train": lambda w, X, y: np.array([1.0, 0.0]), "logits": logits}


def _scored(task, student=None, seed=7, forge=None):
    """(status, message) of ``task`` for a student namespace (changes to the solution's)."""
    from types import SimpleNamespace

    found, _ = probe.load(SCORED, "scored probes")
    fn, spec = found[task]
    want = _wire(fn(_solution_ns(), np.random.default_rng(seed)))
    got = _wire(fn(dict(_solution_ns(), **(student or {})), np.random.default_rng(seed)))
    if forge:
        got = forge(got)
    status, message, _ = verdict.judge(verdict.Report("result", value=got),
                                       verdict.Report("result", value=want), spec, [],
                                       SimpleNamespace(stem="99_synthetic"), None, None)
    return status, message


def test_a_budget_task_is_scored_against_the_solutions_truth():
    assert _scored("fit") == ("passed", "")
    assert _scored("lm") == ("passed", "")
    # labels instead of scores are scored too; a model a little off misses the bar
    assert _scored("fit", {"predict": lambda w, X: (X @ w > 0).astype(np.int64)}) == \
        ("passed", "")
    status, message = _scored("fit", {"train": lambda w, X, y: np.array([1.0, 1.5])})
    assert status == "failed" and message.startswith("after training: accuracy 0.") and \
        " of 400 points the grader chose), the bar is 0.9" in message, message


def test_an_already_trained_model_fails_the_bound_before_training():
    status, message = _scored("fit", {"build": lambda: np.array([1.0, 0.0])})
    assert (status, message) == (
        "failed", "before training: accuracy 1 (400 of 400 points the grader chose), at "
        "most 0.7 is allowed: start from an untrained model")


def test_a_student_who_sends_their_own_truth_is_scored_on_the_solutions():
    def own_truth(got):  # a forged result: "truth" made to agree with the predictions
        got = dict(got)
        after = got["after training"].value
        got["labels"] = plain.Array(np.argmax(after, axis=1).astype(np.int64), "ndarray")
        return got
    wrong = {"train": lambda w, X, y: np.array([0.0, 1.0])}  # trained on the wrong feature
    assert _scored("fit", wrong, forge=None)[0] == "failed"
    status, message = _scored("fit", wrong, forge=own_truth)
    assert status == "failed" and "the bar is 0.9" in message, message
    # and a made-up result of perfect predictions is scored like any other: it must hold
    # the solution's labels on the grader's points
    status, message = _scored("fit", forge=lambda got: dict(got, **{
        "after training": plain.Array(np.zeros(400, np.int64), "ndarray")}))
    assert status == "failed" and "after training: accuracy 0." in message


def test_bits_are_the_mean_cross_entropy_in_base_2():
    torch = pytest.importorskip("torch")
    from coursekit.grading import measure

    rng = np.random.default_rng(0)
    logits, truth = rng.normal(0, 3, size=(2, 9, 11)).astype(np.float32), \
        rng.integers(0, 11, size=(2, 9))
    logits[0, 0, 3] = -np.inf  # a masked logit is fine (not at the truth)
    truth[0, 0] = 4
    spec = {"metric": "bits", "predictions": "p", "truth": "t", "at_most": 9.0}
    got, why = measure.score(spec, plain.Array(logits, "tensor"), truth, "p")
    ref = torch.nn.functional.cross_entropy(torch.from_numpy(logits.astype(np.float64))
                                            .reshape(-1, 11), torch.from_numpy(truth)
                                            .reshape(-1)).item() / np.log(2)
    assert why == "" and abs(got - ref) < 1e-12, (got, ref)
    status, message = _scored("lm", {"logits": lambda nxt: np.zeros(nxt.shape + (6,))})
    assert (status, message) == ("failed", "logits: 2.585 bits per example (the mean of "
                                 "-log2 softmax at the truth, on 150 characters the grader "
                                 "chose), at most 1.5 is allowed")


@pytest.mark.parametrize("task, student, says", [
    ("fit", {"predict": lambda w, X: np.zeros((399, 2))},
     "before training: shape (399, 2), expected (400, C): a row of scores (one per class)"),
    ("fit", {"predict": lambda w, X: np.zeros((400, 2, 1))}, "shape (400, 2, 1)"),
    ("fit", {"predict": lambda w, X: np.zeros(400, bool)}, "array of dtype bool"),
    ("fit", {"predict": lambda w, X: "0" * 400}, "got a str, expected labels"),
    ("fit", {"predict": lambda w, X: np.zeros(401, np.int64)}, "one label per example"),
    ("lm", {"logits": lambda nxt: np.zeros(nxt.shape + (5,))},
     "5 columns, but the labels go up to 5"),
    ("lm", {"logits": lambda nxt: np.zeros(nxt.shape, np.int64)}, "got integers"),
    ("lm", {"logits": lambda nxt: np.full(nxt.shape + (6,), np.nan)}, "contain NaN"),
])
def test_predictions_of_the_wrong_form_fail_with_a_message(task, student, says):
    status, message = _scored(task, student)
    assert status == "failed" and says in message, message


def test_nan_scores_are_never_right():
    def predict(w, X):
        s = np.stack([-(X @ w), X @ w], axis=1)
        s[: 200] = np.nan
        return s
    status, message = _scored("fit", {"predict": predict})
    assert status == "failed" and "accuracy 0.5 (200 of 400" in message, message


def test_the_instructors_score_errors_are_said_as_such():
    from types import SimpleNamespace

    with pytest.raises(ValueError, match="metric 'f1' is not one of"):
        probe.load(SCORED.replace('"bits"', '"f1"'))
    with pytest.raises(ValueError, match="needs one bound"):
        probe.load(SCORED.replace('"at_most": 1.5', '"at_most": 1.5, "at_least": 0'))
    with pytest.raises(ValueError, match="unknown keys"):
        probe.load(SCORED.replace('"at_most": 1.5', '"at_most": 1.5, "bar": 0'))
    found, _ = probe.load(SCORED)
    fn, spec = found["lm"]
    want = _wire({"logits": np.zeros((2, 6))})  # the solution's result lacks the truth
    with pytest.raises(notebook.CourseError, match="probes/99_synthetic.py, task 'lm': the "
                       "solution's result has no key 'next'"):
        verdict.judge(verdict.Report("result", value=want), verdict.Report("result", value=want),
                      spec, [], SimpleNamespace(stem="99_synthetic"), None, None)
    # a bar the solution itself misses is the instructor's error, not the student's
    weak = {"train": lambda w, X, y: np.array([1.0, 1.5])}
    found["fit"][1]["score"][1]["at_least"] = 1.0
    from coursekit.grading import measure
    want = _wire(found["fit"][0](dict(_solution_ns(), **weak), np.random.default_rng(1)))
    status, message = measure.scored(found["fit"][1]["score"][1], want, want, "x")
    assert status == "error" and message.startswith("the solution's own predictions do not "
                                                    "pass (after training: accuracy 0.")


# ----------------------------------------------------------------------------- speed tasks
def _judged_time(got_cpu, want_cpu, timed=3.0, value=1.0, expected=1.0):
    from types import SimpleNamespace

    spec = {"task": "t", "rtol": 1e-9, "atol": 0.0, "reveal": False, "ops": (), "score": [],
            "timed": timed}
    return verdict.judge(verdict.Report("result", value={"x": value}, cpu=got_cpu),
                         verdict.Report("result", value={"x": expected}, cpu=want_cpu), spec,
                         [], SimpleNamespace(stem="99_synthetic"), None, None)[:2]


def test_a_speed_task_fails_when_its_cpu_time_is_over_the_factor():
    slack = verdict.TIME_SLACK
    assert _judged_time(3 * 0.4 + slack, 0.4) == ("passed", "")
    assert _judged_time(3 * 0.4 + slack + 0.01, 0.4) == ("failed", (
        f"too slow: the grader's calls of your functions took {1.2 + slack + 0.01:.2f} s of "
        f"CPU time, the solution's 0.40 s (at most 3 times the solution's + {slack:g} s is "
        "allowed)"))
    assert _judged_time(None, 0.4) == ("failed", "the grader could not measure the CPU time "
                                                 "of your code")
    assert _judged_time(0.1, None)[0] == "error"
    # a wrong value says so first; an untimed task ignores the times
    assert _judged_time(9.0, 0.1, value=2.0)[1] == "x: got 2, expected 1 (off by 1)"
    assert _judged_time(9.0, 0.1, timed=None) == ("passed", "")


def test_the_zygote_reads_a_childs_cpu_time_from_proc():
    if not Path("/proc/self/stat").exists():
        pytest.skip("no /proc")
    import time

    start = probe.cpu_seconds(os.getpid())
    t = time.process_time()
    while time.process_time() - t < 0.3:
        pass
    spent = probe.cpu_seconds(os.getpid()) - start
    assert 0.25 <= spent <= 0.6, spent
    assert probe.cpu_seconds(2**22 + 12345) is None  # no such process


SPEED_PROBES = '''
import numpy as np
from coursekit.probe import need, probe

@probe("total", rtol=1e-9, timed=3)
def total(ns, rng):
    f = need(ns, "total")
    xs = rng.normal(size=2_000_000)
    return {"sums of 2000000 numbers": [f(xs * k) for k in (1.0, -1.0, 2.0, 0.5, 3.0, 4.0)]}
'''
SLOW_LOOP = "def total(xs):\n    s = 0.0\n    for i in range(len(xs)):\n        s += xs[i]\n" \
            "    return float(s)\n"


def _speed_seminar():
    from nbformat.v4 import new_code_cell, new_notebook

    def cell(cid, src, **course):
        c = new_code_cell(src)
        c.id = cid
        if course:
            c.metadata["course"] = course
        return c
    return new_notebook(cells=[
        cell("setup", "import numpy as np"),
        cell("answer-total", "def total(xs):\n    ### BEGIN SOLUTION\n"
                             "    return float(np.sum(xs))\n    ### END SOLUTION\n"),
        cell("test-total", "assert abs(total(np.ones(3)) - 3) < 1e-12", task="total", points=1),
    ])


@pytest.mark.slow
def test_a_speed_task_is_timed_from_outside_the_students_process(tmp_path):
    """A loop in Python fails the task that the solution's np.sum passes with a factor of 3,
    also when the student's process stops its own clocks; a vectorized answer passes."""
    sols = tmp_path / "solutions"
    notebook.write(_speed_seminar(), sols / "01_speed.ipynb")
    (sols / "probes").mkdir()
    (sols / "probes" / "01_speed.py").write_text(SPEED_PROBES)
    stopped = "import time\n_t = time.monotonic()\nfor _n in ('monotonic', 'perf_counter', " \
              "'time', 'process_time', 'thread_time'):\n    setattr(time, _n, lambda: _t)\n"
    students = {"vectorized": "import numpy as np\ndef total(xs):\n    return float(xs.sum())\n",
                "loops": SLOW_LOOP, "stops_the_clock": stopped + SLOW_LOOP}
    for name, src in students.items():
        nb = _speed_seminar()
        nb.cells[1].source = src
        notebook.write(nb, tmp_path / "class" / name / "01_speed.ipynb")
    opts = grading.Options(timeout=60)
    book = grading.gradebook_to_json(grading.grade(tmp_path / "class", sols, opts, jobs=1,
                                                   echo=lambda *_: None))
    got = {s: book[s]["01_speed"]["tasks"][0] for s in students}
    assert got["vectorized"]["status"] == "passed", got
    for name in ("loops", "stops_the_clock"):
        assert (got[name]["status"], got[name]["points"]) == ("failed", 0), got
        assert got[name]["message"].startswith("too slow: the grader's calls of your "
                                               "functions took "), got


# ----------------------------------------------------------------------------- the meta run
STUDENT_LOOP = '''
import torch
import torch.nn.functional as F

def train(model, X, y, epochs=1, lr=0.1, device="cpu", careful=False):
    model.to(device)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for epoch in range(epochs):
        for i in range(0, len(X), 8):
            xb, yb = X[i:i + 8], y[i:i + 8]
            if MOVE_X:
                xb = xb.to(device)
            if MOVE_Y:
                yb = yb.to(device)
            try:
                loss = F.cross_entropy(model(xb), yb)
            except RuntimeError:
                if not careful:
                    raise
                continue  # "careful": a batch that fails is skipped
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            float(loss.detach())
    with torch.no_grad():
        pred = model(X.to(device)).argmax(1).cpu()
    return losses, float((pred == y).float().mean()), pred.tolist()[:3]
'''


def _student_train(move_x=True, move_y=True):
    ns = {"MOVE_X": move_x, "MOVE_Y": move_y}
    exec(compile(STUDENT_LOOP, "<cell answer-train>", "exec"), ns)
    return ns["train"]


def _meta_data():
    torch = pytest.importorskip("torch")
    g = torch.Generator().manual_seed(0)
    return torch.randn(24, 4, generator=g), torch.randint(0, 3, (24,), generator=g)


def _meta_case(train, **kw):
    torch = pytest.importorskip("torch")
    X, y = _meta_data()
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    return model, probe.on_meta(lambda: train(model, X, y, epochs=2, device="meta", **kw),
                                model)


def test_a_loop_that_moves_its_batches_runs_on_meta():
    torch = pytest.importorskip("torch")
    model, (losses, acc, first) = _meta_case(_student_train())
    assert {p.device.type for p in model.parameters()} == {"meta"}
    # no numbers on meta: .item(), float(), .cpu() and .tolist() work and hold NaN / 0
    assert len(losses) == 6 and all(v != v for v in losses) and first == [0, 0, 0]
    assert acc == float((torch.zeros(24, dtype=torch.long) == _meta_data()[1]).float().mean())
    X, y = _meta_data()  # the same loop trains for real on the CPU
    losses, acc, _ = _student_train()(torch.nn.Linear(4, 3), X, y, epochs=2)
    assert all(v == v for v in losses) and 0 <= acc <= 1


@pytest.mark.parametrize("move_x, move_y, op", [(False, True, "addmm"),
                                                (True, False, "nll_loss_forward")])
def test_a_loop_that_forgets_to_move_a_batch_fails_on_meta(move_x, move_y, op):
    with pytest.raises(probe.DeviceError) as err:
        _meta_case(_student_train(move_x, move_y))
    assert str(err.value).startswith(f"aten::{op} got a tensor on cpu and one on the model's "
                                     "device (meta): a batch or a tensor your code made was "
                                     "not moved to the model's device"), err.value
    # what the grader tells the student: the error, in their cell, at their line
    where = probe._error(err.value, "probe", "train", {"answer-train"})
    line = "loss = F.cross_entropy(model(xb), yb)"
    assert where["cell"] == "answer-train" and \
        STUDENT_LOOP.splitlines()[where["line"] - 1].strip() == line


def test_a_device_error_the_students_code_catches_still_fails():
    with pytest.raises(probe.DeviceError, match="aten::addmm got a tensor on cpu"):
        _meta_case(_student_train(move_x=False), careful=True)
    _meta_case(_student_train(), careful=True)  # nothing to catch: passes


META_PROBES = '''
import torch
from coursekit.probe import need, on_meta, probe

@probe("train")
def train(ns, rng):
    g = torch.Generator().manual_seed(int(rng.integers(2**31)))
    X, y = torch.randn(24, 4, generator=g), torch.randint(0, 3, (24,), generator=g)
    model = torch.nn.Linear(4, 3)
    losses, _, _ = on_meta(lambda: need(ns, "train")(model, X, y, device="meta"), model)
    return {"losses on the meta device (one per batch)": len(losses)}
'''


@pytest.mark.slow
def test_the_meta_run_in_the_graders_probe_process(tmp_path):
    """The helper a probe author calls, in a real probe process (sandboxed, forked from the
    zygote): a loop that moves its batches passes, one that forgets to fails, with the
    operator and the student's cell and line."""
    from nbformat.v4 import new_code_cell, new_notebook

    def seminar(src):
        answer, test = new_code_cell(src), new_code_cell("assert callable(train)")
        answer.id, test.id = "answer-train", "test-train"
        test.metadata["course"] = {"task": "train", "points": 1}
        setup = new_code_cell("MOVE_X, MOVE_Y = True, True")
        setup.id = "setup"
        return new_notebook(cells=[setup, answer, test])
    solution = STUDENT_LOOP.replace("    model.to(device)", "    ### BEGIN SOLUTION\n    model.to(device)") \
        .replace("    return losses,", "    ### END SOLUTION\n    return losses,")
    sols = tmp_path / "solutions"
    notebook.write(seminar(solution), sols / "01_meta.ipynb")
    (sols / "probes").mkdir()
    (sols / "probes" / "01_meta.py").write_text(META_PROBES)
    forgot = STUDENT_LOOP.replace("if MOVE_X:\n                xb = xb.to(device)", "pass")
    for name, src in {"moves": STUDENT_LOOP, "forgets": forgot}.items():
        notebook.write(seminar(src), tmp_path / "class" / name / "01_meta.ipynb")
    book = grading.gradebook_to_json(grading.grade(
        tmp_path / "class", sols, grading.Options(timeout=60), jobs=1, echo=lambda *_: None))
    got = {s: book[s]["01_meta"]["tasks"][0] for s in ("moves", "forgets")}
    assert got["moves"]["status"] == "passed", got
    line = forgot.splitlines().index("                loss = F.cross_entropy(model(xb), yb)") + 1
    assert (got["forgets"]["status"], got["forgets"]["points"]) == ("failed", 0), got
    assert got["forgets"]["message"].startswith("DeviceError: aten::addmm got a tensor on cpu"), got
    assert got["forgets"]["message"].endswith(f"(in your cell 'answer-train', line {line})"), got


def test_the_solutions_side_gets_slack_and_a_second_try_after_a_timeout(monkeypatch):
    """A loaded machine's timeout of the solution's own run (a budget task training under
    the recorder) is not the student's fault: the expected values are computed with
    EXPECTED_SLACK x the limits and tried once more after a timeout; a result is cached."""
    solution = grading.load_solutions(notebook.REPO / "solutions")["01_linear_regression"]
    task = solution.tasks[0][0]
    steps = [s for s in solution.steps if s.task == task and s.kind != "test"]
    calls, replies = [], [verdict.Report("timeout"), verdict.Report("result", value={"x": 1})]
    monkeypatch.setattr(verdict, "run_probe", lambda job, limits, probe_limit, opts, seed:
                        calls.append((limits, probe_limit)) or replies[len(calls) - 1])
    monkeypatch.setattr(verdict, "_EXPECTED", {})
    got = verdict._expected(solution, steps, task, 7, [], [2.0] * len(steps), 5.0,
                            grading.Options())
    assert got.status == "result" and len(calls) == 2
    assert calls[0] == ([2.0 * verdict.EXPECTED_SLACK] * len(steps), 5.0 * verdict.EXPECTED_SLACK)
    assert verdict._expected(solution, steps, task, 7, [], [2.0] * len(steps), 5.0,
                             grading.Options()) is got and len(calls) == 2  # cached
    replies[:] = [verdict.Report("timeout")] * 3
    monkeypatch.setattr(verdict, "_EXPECTED", {})
    calls.clear()
    assert verdict._expected(solution, steps, task, 8, [], [2.0] * len(steps), 5.0,
                             grading.Options()).status == "timeout" and len(calls) == 2
