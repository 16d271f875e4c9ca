"""The recorder of what runs (coursekit/recorder.py, coursekit/record.py; issue 25, "Rules
on what runs"): fast tests on small cells run in this process. Each cell is compiled as an
answer cell ('<cell a>') or an instructor cell ('<cell setup>', trusted), exactly as a probe
process does; this file's own frames count as library code (``library=[__file__]``)."""
import sys
import threading

import numpy as np
import pytest

from coursekit import probe, record
from coursekit.notebook import REPO
from coursekit.recorder import Recorder

torch = pytest.importorskip("torch")


def recorded(forbid=(), ops=(), answer="", instructor="", call=None, arm=True):
    """The record of running ``instructor`` (trusted) then ``answer`` (the student's),
    then ``call(ns)`` (a probe's calls of the student's functions)."""
    rec = Recorder(forbid, ops, ["a"], library=[__file__])
    ns = {"np": np, "__builtins__": __builtins__}
    rec.install()
    try:
        if instructor:
            code = compile(instructor, "<cell setup>", "exec")
            rec.trust(code)
            exec(code, ns)
        if arm:
            rec.arm()
        exec(compile(answer, "<cell a>", "exec"), ns)
        if call is not None:
            call(ns)
    finally:
        out = rec.finish()
    assert sys.getprofile() is None and threading._profile_hook is None
    return out


def rules(rec):
    return [e["rule"] for e in rec]


# ----------------------------------------------------------------------------- Python level
INV = "numpy.linalg.inv"


@pytest.mark.parametrize("how, answer", [
    ("by its name", "x = np.linalg.inv(np.eye(2))"),
    ("a name built at run time", "x = getattr(np.linalg, 'i' + 'nv')(np.eye(2))"),
    ("sys.modules", "import sys\nx = sys.modules['numpy.' + 'linalg'].__dict__['inv'](np.eye(2))"),
    ("importlib", "import importlib\nx = importlib.import_module('num' + 'py.linalg').inv(np.eye(2))"),
    ("a private alias", "x = np.linalg._linalg.inv(np.eye(2))"),
    ("another function that calls it", "x = np.linalg.tensorinv(np.eye(4).reshape(2, 2, 2, 2))"),
    ("in a function the probe calls", "def f(a):\n    return np.linalg.inv(a)\nx = f(np.eye(2))"),
])
def test_a_forbidden_function_however_reached(how, answer):
    got = recorded([INV], answer=answer)
    assert rules(got) == [INV], (how, got)
    assert got[0]["cell"] == "a" and type(got[0]["line"]) is int and "inv" in got[0]["what"]


def test_the_line_is_the_answer_cells():
    got = recorded([INV], answer="y = 1\n\nx = np.linalg.inv(np.eye(2))\n")
    assert (got[0]["cell"], got[0]["line"]) == ("a", 3)


def test_honest_code_and_the_instructors_code_record_nothing():
    assert recorded([INV, "sklearn"], answer="x = np.linalg.lstsq(np.eye(2), np.ones(2))[0]",
                    instructor="w = np.linalg.inv(np.eye(3))") == []
    # the probe (trusted, here this file) calling a forbidden thing itself: not the student's
    assert recorded([INV], answer="def f(a):\n    return a + 1",
                    call=lambda ns: np.linalg.inv(ns["f"](np.eye(2)))) == []


def test_only_after_arming():
    assert recorded([INV], answer="x = np.linalg.inv(np.eye(2))", arm=False) == []


def test_a_student_function_called_by_the_probe_counts():
    got = recorded([INV], answer="def f(a):\n    return np.linalg.inv(a)",
                   call=lambda ns: ns["f"](np.eye(2)))
    assert rules(got) == [INV] and got[0]["line"] == 2


def test_code_built_at_run_time_counts_whatever_file_it_claims():
    forged = ("src = 'def f(a):\\n    import numpy\\n    return numpy.linalg.inv(a)\\n'\n"
              "exec(compile(src, np.__file__, 'exec'))\n"
              "def g(a):\n    import numpy\n    return numpy.linalg.inv(a)\n"
              "h = type(g)(g.__code__.replace(co_filename='<cell setup>'), globals())\n")
    for name in ("f", "h"):
        got = recorded([INV], answer=forged, call=lambda ns, n=name: ns[n](np.eye(2)))
        assert rules(got) == [INV] and got[0]["cell"] is None, (name, got)


def test_a_module_rule_by_the_code_entered_and_its_builtins():
    got = recorded(["torch"], answer="import sys\nt = sys.modules['to' + 'rch'].zeros(3)")
    assert rules(got) == ["torch"]
    got = recorded(["fractions"], answer="import importlib\n"
                   "q = importlib.import_module('frac' + 'tions').Fraction(1, 3)\n")
    assert rules(got) == ["fractions"]
    assert recorded(["torch", "fractions"], answer="x = np.ones(3).sum()") == []


def test_a_class_by_its_methods_and_a_method_rule_by_name():
    got = recorded(["torch.nn.Conv2d"], answer="import torch\nm = torch.nn.Conv2d(1, 1, 3)")
    assert rules(got) == ["torch.nn.Conv2d"] and "__init__" in got[0]["what"]
    got = recorded([".backward"], answer="import torch\nx = torch.ones(2, requires_grad=True)\n"
                   "(x * 2).sum().backward()")
    assert rules(got) == [".backward"]
    got = recorded([".requires_grad_"], answer="import torch\nx = torch.ones(2).requires_grad_()")
    assert rules(got) == [".requires_grad_"]
    # the student's own method named backward is not a library's
    assert recorded([".backward"], answer="class V:\n    def backward(self):\n        return 1\n"
                    "V().backward()") == []


def test_a_builtin_reached_under_another_module_name():
    # F.conv2d is torch.conv2d: the same builtin, however named
    got = recorded(["torch.nn.functional.conv2d"], answer="import torch\n"
                   "y = torch.conv2d(torch.ones(1, 1, 4, 4), torch.ones(1, 1, 3, 3))")
    assert rules(got) == ["torch.nn.functional.conv2d"]


# ----------------------------------------------------------------------------- ATen level
CONV = "aten::convolution"
X4 = "x = torch.ones(1, 1, 5, 5, requires_grad=True)\nw = torch.ones(1, 1, 3, 3)\n"


@pytest.mark.parametrize("how, answer", [
    ("torch.ops.aten", X4 + "y = torch.ops.aten.convolution(x, w, None, [1, 1], [0, 0], [1, 1], "
     "False, [0, 0], 1)"),
    ("another dimensionality", X4 + "y = torch.nn.functional.conv1d(x[:, :, 0], w[:, :, 0])"),
    ("conv3d", X4 + "y = torch.nn.functional.conv3d(x[None], w[None])"),
    ("an nn.Module", "import torch\ny = torch.nn.Conv2d(1, 1, 3)(torch.ones(1, 1, 5, 5))"),
])
def test_an_aten_operator_however_reached(how, answer):
    got = recorded(ops=[CONV], answer="import torch\n" + answer)
    assert rules(got) == [CONV] and got[0]["cell"] == "a", (how, got)


def test_backward_ops_below_python_are_seen():
    got = recorded(ops=["aten::convolution_backward"], instructor="import torch",
                   answer=X4 + "y = torch.nn.functional.conv2d(x, w).sum()\ny.backward()")
    assert rules(got) == ["aten::convolution_backward"] and got[0]["line"] == 4


def test_honest_loops_record_no_operator():
    answer = X4 + ("out = torch.zeros(3, 3)\nfor i in range(3):\n    for j in range(3):\n"
                   "        out[i, j] = (x[0, 0, i:i + 3, j:j + 3] * w[0, 0]).sum()\n")
    assert recorded(ops=[CONV], instructor="import torch", answer="import torch\n" + answer) == []
    # the instructor's own convolution is not the student's
    assert recorded(ops=[CONV], instructor="import torch\n" + X4 +
                    "ref = torch.nn.functional.conv2d(x, w)", answer="z = 1") == []


# ----------------------------------------------------------------------------- attacks
@pytest.mark.parametrize("attack", [
    "import sys\nsys.setprofile(None)",
    "import threading\nthreading.setprofile(None)",
    "import ctypes\nctypes.pythonapi.PyEval_SetProfile(None, None)",
])
def test_removing_the_profile_hook_is_recorded(attack):
    got = recorded([INV], answer=attack + "\nx = np.linalg.inv(np.eye(2))")
    assert record.TAMPER in rules(got), got


def test_popping_the_dispatch_mode_is_recorded():
    attack = ("import torch\nfrom torch.utils._python_dispatch import _pop_mode\n_pop_mode()\n"
              + X4 + "y = torch.nn.functional.conv2d(x, w)")
    got = recorded(ops=[CONV], answer=attack)
    assert rules(got)[0] == record.TAMPER, got


# ----------------------------------------------------------------------------- the grader's side
def test_the_grader_checks_what_arrives():
    entry = {"rule": INV, "what": "numpy.linalg.inv", "cell": "a", "line": 3}
    assert record.check([entry], [INV], {"a"}) == [entry]
    for bad in ([dict(entry, rule="os.system")], [dict(entry, cell="setup")],
                [dict(entry, line="3")], [dict(entry, extra=1)], {"rule": INV}, [entry] * 65):
        with pytest.raises(ValueError):
            record.check(bad, [INV], {"a"})
    text = record.message([entry], "Not allowed: np.linalg.inv")
    assert text == ("rule broken: this task must not use numpy.linalg.inv; your code ran "
                    "numpy.linalg.inv (in your cell 'a', line 3). Not allowed: np.linalg.inv")


def test_every_probe_declares_real_aten_operators():
    problems = []
    for path in sorted((REPO / "solutions" / "probes").glob("*.py")):
        found, _ = probe.load(path.read_text(), path.name)
        for task, (_, spec) in found.items():
            problems += record.op_problems(spec["ops"], f"{path.name}: {task}")
    assert not problems, problems


@pytest.mark.parametrize("op, says", [
    ("aten::conv2d", "decomposed before the recorder sees it"),
    ("aten::no_such_op", "no ATen operator"),
    ("convolution", "not an ATen operator name"),
    ("aten::add.NoSuchOverload", "no ATen operator"),
])
def test_an_unknown_op_is_the_instructors_error(op, says):
    assert record.op_problems(["aten::convolution", "aten::add.Tensor"]) == []
    (problem,) = record.op_problems([op], "probes/10_cnn.py: conv2d")
    assert problem.startswith("probes/10_cnn.py: conv2d: ") and says in problem


# ----------------------------------------------------------------------------- the protocol
def _read(*messages, rules=(INV,)):
    """verdict._read of the given messages, for a job with ``rules`` (None: no recorder)."""
    import socket

    from coursekit.grading import verdict

    class _Zygote:
        def wait(self, pid, timeout=0.0):
            return 3

        def cpu(self, pid):  # the probe phase's CPU time (issue 25's timed tasks)
            return 0.0

    grader, child = socket.socketpair()
    with grader, child:
        for m in messages:
            probe.send(child, m)
        child.shutdown(socket.SHUT_WR)
        return verdict._read(grader, 1, _Zygote(), 1, [5.0], 5.0, {"a"},
                             None if rules is None else list(rules))


ENTRY = {"rule": INV, "what": "numpy.linalg.inv", "cell": "a", "line": 3}
RESULT = {"result": {"t": "float", "v": "1.0"}}


def test_the_record_arrives_before_the_result_or_the_result_is_refused():
    got = _read({"cell": 0}, {"cell": 1}, {"record": [ENTRY]}, RESULT)
    assert (got.status, got.value, got.record) == ("result", 1.0, [ENTRY])
    assert _read({"cell": 0}, {"cell": 1}, {"record": []}, RESULT).record == []
    got = _read({"cell": 0}, {"cell": 1}, RESULT)  # a process that skipped its recorder
    assert got.status == "malformed" and "without the record" in got.detail
    got = _read({"cell": 0}, {"cell": 1}, {"record": [dict(ENTRY, cell="not-an-answer")]},
                RESULT)
    assert got.status == "malformed" and "record entry" in got.detail
    got = _read({"cell": 0}, {"cell": 1}, {"record": []}, {"record": []}, RESULT)  # only one
    assert got.status == "malformed"
    got = _read({"cell": 0}, {"cell": 1}, {"record": [ENTRY]}, RESULT, rules=None)  # no recorder
    assert got.status == "malformed"


def test_what_ran_outweighs_what_it_computed_and_the_solution_must_not_trip_it():
    from coursekit.grading.verdict import Report, judge

    spec = {"task": "t", "rtol": 1e-6, "atol": 1e-9, "reveal": False}
    clean = Report("result", value={"x": 1.0}, record=[])

    class Sem:  # judge reads only the notebook's markdown and the seminar's name here
        nb = __import__("nbformat").v4.new_notebook(cells=[])
        stem = "01_t"

    status, text, own = judge(Report("result", value={"x": 1.0}, record=[ENTRY]), clean, spec,
                              [], Sem, None, None)
    assert (status, own) == ("failed", True) and text.startswith("rule broken") and \
        "in your cell 'a', line 3" in text
    status, text, _ = judge(clean, Report("result", value={"x": 1.0}, record=[ENTRY]), spec,
                            [], Sem, None, None)
    assert status == "error" and text.startswith("the solution breaks its own rule")
    assert judge(clean, clean, spec, [], Sem, None, None)[0] == "passed"


def test_the_message_quotes_the_tasks_not_allowed_line():
    from coursekit import notebook

    nb = notebook.read(REPO / "solutions" / "01_linear_regression.ipynb")
    line = record.not_allowed_line(nb, "ridge-fit")
    assert line.startswith("Not allowed: `numpy.linalg.inv`, `numpy.linalg.pinv`, `sklearn`")
    assert record.not_allowed_line(nb, "sgd") == "" == record.not_allowed_line(nb, "no-such-task")


def test_a_thread_started_by_the_student_is_recorded_too():
    got = recorded([INV], answer="import threading\n"
                   "t = threading.Thread(target=lambda: np.linalg.inv(np.eye(2)))\n"
                   "t.start()\nt.join()")
    assert rules(got) == [INV] and got[0]["cell"] == "a" and got[0]["line"] == 2


def test_a_module_rule_covers_its_api_defined_elsewhere():
    # torch.func.grad lives in torch/_functorch: the module's __all__ names it
    got = recorded(["torch.func"], answer="import torch, importlib\n"
                   "g = importlib.import_module('torch.' + 'func').grad(lambda x: (x ** 2).sum())"
                   "(torch.ones(3))")
    assert rules(got) == ["torch.func"], got


def test_the_instructors_calls_then_the_students_from_the_same_helper():
    # the walk of the stack is kept for the last frame: a frame of the same helper called
    # next by the student must still be walked again
    got = recorded([INV], instructor="def helper(f):\n    return f(np.eye(2))\n"
                   "for _ in range(3):\n    helper(np.linalg.inv)",
                   answer="x = helper(np.linalg.inv)\ny = np.linalg.inv(np.eye(2))")
    assert rules(got) == [INV] and got[0]["line"] == 1, got



def test_a_module_rule_holds_its_own_computation_not_anothers_private_helpers():
    # torch.autograd's namespace holds torch._C._has_torch_function, which torch's own
    # functions call for every tensor: a hand-written backward that uses torch must not
    # break "no torch.autograd"; autograd itself still does
    x = "import torch\nt = torch.ones(3, requires_grad=True)\n"
    assert rules(recorded(["torch.autograd"], answer=x + "y = (1 - t ** 2) + t // 2  # Tensor.__rsub__\n"
                          "z = torch.where(t > 0, t, 0 * t).sum()")) == []
    got = recorded(["torch.autograd"], answer=x + "g = torch.autograd.grad((t * t).sum(), t)")
    assert rules(got) == ["torch.autograd"]
