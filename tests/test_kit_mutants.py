"""Fast tests of the instructor tooling written against the survivors of its mutation run
(``python ci/mutation_coursekit.py --survivors``), each pinning what a user of the tooling
relies on: the simulated class's and the grading benchmark's reports, what the tamper
guard restores, what the forbid rules read, how a kernel's messages become an Outcome,
how a class, a file and a notebook are graded (options, workers, records, messages), what
`make check`, the release and the site report as leaks, and the encodings of what is
written. No kernel starts: the scripted kernels, fake clients and recording stand-ins of
tests/fakes.py (their fixtures in tests/conftest.py) take their place.
"""
import json
import os
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from fakes import (
    COMMON_LINE,
    HIDDEN_LINE,
    FakeKernel,
    answer,
    cli_run,
    code,
    error,
    put,
    solution_nb,
    solution_to_generate,
    student,
)


from coursekit import (
    bwrap,
    cli,
    execute,
    generate,
    grading,
    guard,
    leaks,
    nbgrader_export,
    notebook,
    release,
    rules,
    sandbox,
    simulate,
    site,
)
from coursekit.grading import GradeRecord, Options, TaskVerdict, batch, run
from coursekit.notebook import CourseError
from coursekit.sandbox import Outcome


# ========================================================================== simulate
class Clock:
    """``time`` for simulate.py: perf_counter() gives 100, then +``step`` per call."""

    def __init__(self, step):
        self.now, self.step = 100.0 - step, step

    def perf_counter(self):
        self.now += self.step
        return self.now


@pytest.fixture()
def klass(tmp_path, monkeypatch):
    """A solutions folder of two units under ``tmp_path/solutions`` (tmp_path stands for the
    repository), their known-wrong answers, scripted kernels that record the options each
    grading kernel was asked for, and serial grading (``jobs`` recorded) with 1 s per
    notebook."""
    sols = tmp_path / "solutions"
    notebook.write(solution_nb(), sols / "01_units.ipynb")
    notebook.write(solution_nb(), sols / "02_more.ipynb")
    wrong = {"01_units": [("b", "off by one", {"answer-b": "def plus(x):\n    return x\n"})]}
    monkeypatch.setattr(simulate, "wrong_answers", lambda stem: wrong.get(stem, []))
    script = {"raise NotImplementedError": error("NotImplementedError", ""),
              "not finished": error("RuntimeError", "not finished"),
              "os._exit(1)": Outcome("dead", detail="the kernel exited with code 1"),
              "return x\n": error("AssertionError", "")}
    asked = types.SimpleNamespace(run=[], preflight=[], jobs=[], script=script)

    def run_kernel(cwd, opts):
        asked.run.append(opts)
        return FakeKernel(asked.script)

    def preflight_kernel(cwd, opts, warm=None):
        asked.preflight.append(warm)
        return FakeKernel(asked.script)

    def serial(todo, solutions_dir, opts, jobs=1):
        asked.jobs.append(jobs)
        for student_, key, rec, _ in batch.grade_files(todo, solutions_dir, opts, 1):
            yield student_, key, rec, 1.0

    monkeypatch.setattr(run, "new_kernel", run_kernel)
    monkeypatch.setattr(batch, "new_kernel", preflight_kernel)
    monkeypatch.setattr(grading, "grade_files", serial)
    monkeypatch.setattr(bwrap, "available", lambda: "")  # the OS sandbox works (scripted)
    monkeypatch.delenv("COURSE_UNITS", raising=False)
    asked.sols = sols
    return asked


def test_simulate_defaults_report_and_kernels(klass, tmp_path, monkeypatch):
    monkeypatch.setattr(notebook, "REPO", tmp_path)  # solutions/ of the repository
    monkeypatch.setattr(simulate, "time", Clock(12.0))
    said = []
    result = simulate.simulate(tmp_path / "class", 4, echo=said.append)
    plan = simulate.write_class(tmp_path / "again", 4, klass.sols, seed=0)
    assert result["plan"] == plan and result["misses"] == [] and result["wall"] == 12.0
    n = result["notebooks"]
    assert n == sum(k != "missing" for k, _ in plan.values()) == 6
    assert said == [
        "4 students x 2 seminars: 6 notebooks graded (3 right, 2 broken, 2 missing, 1 wrong), "
        "warm kernels, --jobs 2, sandbox bubblewrap",
        "wall time 12 s (kernel start included): 2.00 s per notebook",
        "| seminar | notebooks | mean s per notebook (one worker) | slowest s |",
        "|---|---:|---:|---:|",
        "| 01_units | 3 | 1.00 | 1.00 |",
        "| 02_more | 3 | 1.00 | 1.00 |",
        "expected grades: 8 of 8 submissions"]
    # --jobs 2: the preflight kernel is a cold one (each worker forks its own zygote), every
    # notebook gets warm kernels, with the solutions and the class out of reach
    assert klass.jobs == [2] and klass.preflight == [False]
    submissions = str(tmp_path / "class" / "submissions")
    assert len(klass.run) == n and all(
        o.warm is True and o.deny == (str(klass.sols.resolve()), submissions)
        and o.sandbox == "required" for o in klass.run)
    assert all(r.sandbox == "bubblewrap" for recs in result["book"].values()
               for r in recs.values() if r.max_points)


def test_simulate_cold_and_its_unexpected_grades(klass, tmp_path, monkeypatch):
    klass.script = {**klass.script, "return 2 * x": error("AssertionError", "")}  # a bad kernel
    monkeypatch.setattr(simulate, "time", Clock(3.0))
    monkeypatch.setattr(simulate, "KINDS", {"right": 1.0})
    said = []
    result = simulate.simulate(tmp_path / "class", 1, jobs=1, warm=False, seed=1,
                               solutions_dir=klass.sols, echo=said.append, sandbox="off")
    assert said[0].startswith("WARNING: grading WITHOUT the OS sandbox: turned off")
    assert said[1] == ("1 students x 2 seminars: 2 notebooks graded (2 right), "
                       "cold kernels, --jobs 1, sandbox off")
    assert said[2] == "wall time 3 s (kernel start included): 1.50 s per notebook"
    misses = ["student000/01_units: right  gave 2.5/4.5", "student000/02_more: right  gave 2.5/4.5"]
    assert result["misses"] == misses
    assert said[-3:] == [f"UNEXPECTED {m}" for m in misses] + ["expected grades: 0 of 2 submissions"]
    assert klass.jobs == [1] and klass.preflight == [False]
    assert [(o.warm, o.sandbox) for o in klass.run] == [(False, "off"), (False, "off")]


def test_simulate_with_nothing_submitted(klass, tmp_path, monkeypatch):
    monkeypatch.setattr(simulate, "time", Clock(5.0))
    monkeypatch.setattr(simulate, "KINDS", {"missing": 1.0})
    said = []
    result = simulate.simulate(tmp_path / "class", 1, jobs=1, solutions_dir=klass.sols,
                               echo=said.append)
    assert result["notebooks"] == 0 and result["book"] == {"student000": {}}
    assert said[1] == "wall time 5 s (kernel start included): 5.00 s per notebook"
    assert said[-1] == "expected grades: 2 of 2 submissions"


BENCH_HEAD = (
    "## Grading\n\n"
    "`python -m coursekit grade` on copies of the solutions (each student submits every "
    "seminar, 2 notebooks): wall time including kernel starts, 1 thread per kernel, memory "
    "limit 3072 MB. *warm*: each notebook in a process forked from a zygote that imported "
    "torch once per grading process (the default); *cold*: a fresh Jupyter kernel per "
    "notebook (`--cold`). *bubblewrap*: in the OS sandbox (the default where it works); "
    "*none*: `--sandbox off`. *probes* and *test cells*: the mean seconds one notebook took "
    "in its worker (the grader's progress line), for the seminars graded by probes (0: their "
    "verdicts out of the student's process) and for those graded by their test cells in the "
    "kernel, each worker's first notebook (which starts its zygote) left out.\n\n"
    "| kernels | sandbox | submissions | notebooks | --jobs | seconds | seconds per "
    "notebook | probes | test cells | all full marks | records identical to the first "
    "serial run |\n"
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|\n")


@pytest.fixture()
def bench(tmp_path, monkeypatch):
    """grading.grade replaced: records what each run was asked and gives full marks (or
    what ``calls.record(run, student)`` says); each run takes 4 s of a fake clock."""
    sols = tmp_path / "solutions"
    notebook.write(solution_nb(), sols / "01_units.ipynb")
    notebook.write(solution_nb(), sols / "02_more.ipynb")
    calls = types.SimpleNamespace(runs=[], record=lambda i, s: {"points": 2, "max_points": 2})
    boxed = {"auto": "bubblewrap", "off": "none"}

    def fake_grade(submissions, solutions_dir=None, opts=None, jobs=1, students=None,
                   echo=None):
        i = len(calls.runs)
        names = sorted(p.name for p in Path(submissions).iterdir())
        files = {s: sorted(p.name for p in (Path(submissions) / s).iterdir()) for s in names}
        calls.runs.append((solutions_dir and Path(solutions_dir), opts and opts.warm, jobs,
                           files, opts and opts.sandbox))
        return {s: {f[:-6]: GradeRecord(**{"tasks": [], "file": f, **calls.record(i, s)},
                                        sandbox=boxed[opts.sandbox])
                    for f in files[s]} for s in names}

    monkeypatch.setattr(grading, "grade", fake_grade)
    monkeypatch.setattr(simulate, "time", Clock(4.0))
    calls.sols = sols
    return calls


def test_bench_section_defaults(bench, tmp_path, monkeypatch):
    monkeypatch.setattr(notebook, "REPO", tmp_path)
    text = simulate.bench_section()
    assert text == BENCH_HEAD + (
        "| warm | bubblewrap | 1 | 2 | 1 | 4 | 2.00 | - | - | yes | yes |\n"
        "| warm | bubblewrap | 10 | 20 | 2 | 4 | 0.20 | - | - | yes | yes |\n"
        "| warm | none | 10 | 20 | 2 | 4 | 0.20 | - | - | yes | yes |\n"
        "| cold | bubblewrap | 10 | 20 | 2 | 4 | 0.20 | - | - | yes | yes |\n"
        "| cold | none | 10 | 20 | 2 | 4 | 0.20 | - | - | yes | yes |\n")
    both = ["01_units.ipynb", "02_more.ipynb"]
    assert [r[:3] + r[4:] for r in bench.runs] == [
        (bench.sols, True, 1, "auto"), (bench.sols, True, 2, "auto"),
        (bench.sols, True, 2, "off"), (bench.sols, False, 2, "auto"),
        (bench.sols, False, 2, "off")]
    assert bench.runs[0][3] == {"student00": both}
    assert bench.runs[4][3] == {f"student{i:02d}": both for i in range(10)}


def test_bench_section_says_no_when_marks_or_records_differ(bench):
    def record(run_, student_):
        if run_ == 1 and student_ == "student01":
            return {"points": 2, "max_points": 2, "tasks": [TaskVerdict("t", 2, 2, "passed")]}
        return {"points": 1 if run_ == 2 else 2, "max_points": 2}
    bench.record = record
    text = simulate.bench_section(bench.sols, n=2, jobs=1)
    assert text.split("\n")[-6:] == ["| warm | bubblewrap | 1 | 2 | 1 | 4 | 2.00 | - | - | yes | yes |",
                                     "| warm | bubblewrap | 2 | 4 | 1 | 4 | 1.00 | - | - | yes | NO |",
                                     "| warm | none | 2 | 4 | 1 | 4 | 1.00 | - | - | NO | NO |",
                                     "| cold | bubblewrap | 2 | 4 | 1 | 4 | 1.00 | - | - | yes | yes |",
                                     "| cold | none | 2 | 4 | 1 | 4 | 1.00 | - | - | yes | yes |", ""]


def test_seconds_by_verdict_from_the_progress_lines():
    lines = ["probe seed 5 (--probe-seed 5 grades with the same inputs again)",
             "graded s0/01_a.ipynb: 2/2 (9.0 s)", "graded s0/02_b.ipynb: 1/2 (1.0 s)",
             "graded s1/01_a.ipynb: 2/2 (2.0 s)", "graded s1/02_b (1).ipynb: 2/2 (3.0 s)",
             "graded s2/01_a.ipynb: 0/2 (1.5 s)"]
    assert simulate._seconds_by_verdict(lines, {"01_a"}, 1) == {"probes": "1.75",
                                                                "test cells": "2.00"}
    assert simulate._seconds_by_verdict(lines, {"01_a"}, 2) == {"probes": "1.75",
                                                                "test cells": "1.00"}
    assert simulate._seconds_by_verdict(lines[:2], set(), 1) == {"probes": "-",
                                                                 "test cells": "-"}


def test_bench_section_prints_nothing_of_the_grading(tmp_path, monkeypatch, capsys):
    sols = tmp_path / "solutions"
    notebook.write(solution_nb(), sols / "01_units.ipynb")
    monkeypatch.setattr(run, "new_kernel", lambda cwd, opts: FakeKernel())
    monkeypatch.setattr(batch, "new_kernel", lambda cwd, opts, warm=None: FakeKernel())
    text = simulate.bench_section(sols, n=1, jobs=1)
    assert "| cold | none | 1 | 1 | 1 |" in text and text.count("| yes | yes |") == 5
    assert capsys.readouterr() == ("", "")


# ========================================================================== guard
def test_guarded_attributes_of_utils_submodules():
    g = guard._State._guarded_attr
    assert g("utils.checks", "_helper") and g("utils.data", "_cache")  # private helpers too
    assert g("utils.checks", "__private") and g("utils", "trailing__")  # not dunders
    assert not g("utils.checks", "__name__") and not g("numpy.testing", "_private")


def test_state_restores_deleted_values_even_none_and_function_defaults(fake_utils):
    (fake_utils / "__init__.py").write_text(
        "NOTHING = None\n\ndef g(a=1, *, b=2):\n    return a + b\n")
    import utils

    ns = {}
    st = guard._State([], ns)
    st.snapshot_modules()
    ns["best"] = None  # an instructor cell bound best = None
    st.capture(["best"], ns)
    # a student cell deletes them and patches the helper's code and defaults
    del ns["best"], utils.NOTHING
    utils.g.__code__ = (lambda a=0, *, b=0: -1).__code__
    utils.g.__defaults__, utils.g.__kwdefaults__ = (10,), {"b": 20}
    st.restore(ns)
    assert ns["best"] is None and utils.NOTHING is None
    assert utils.g.__defaults__ == (1,) and utils.g.__kwdefaults__ == {"b": 2}
    assert utils.g() == 3


def test_a_later_snapshot_keeps_the_first_values(fake_utils, monkeypatch):
    """Modules imported after the first snapshot are added; what was snapshotted before
    (utils, torch.Tensor) is not re-read with a student's changes in it."""
    (fake_utils / "later.py").write_text("X = 'later'\n")
    fake_torch = types.ModuleType("torch")

    class Tensor:
        cache = None

        def add(self):
            return "add"
    fake_torch.Tensor = Tensor
    monkeypatch.setitem(sys.modules, "torch", fake_torch)
    import utils

    st = guard._State([], {})
    st.snapshot_modules()
    utils.VALUE = 99  # a student cell tampers
    Tensor.add = lambda self: "patched"
    del Tensor.cache
    sys.modules["utils.weird"] = object()  # not a module: skipped, the later ones still read
    import utils.later as later

    st.capture([], {})  # after the next instructor cell: a new look (utils.later appeared)
    assert "utils.later" in st.modules and "utils.weird" not in st.modules
    later.X = "patched"
    st.restore({})
    assert utils.VALUE == 1 and later.X == "later"
    assert Tensor().add() == "add" and Tensor.cache is None


# ========================================================================== rules
SETUP = "import numpy as np\nimport torch\nimport torch.nn.functional as F\n"
LONG = "a" * 51  # "<LONG>.backward" is 60 characters


def found(rule, source, earlier=(), context=(SETUP,)):
    broken = rules.broken_rule([rule], [("answer-x", source)], list(earlier), list(context))
    return broken and broken.message().split("; your cell ")[1]


@pytest.mark.parametrize("rule, source, where", [
    # getattr with a constant name is the attribute, written as the student wrote it
    ("torch.nn.functional.cross_entropy", 'loss = getattr(F, "cross_entropy")(Z, y)\n',
     """'answer-x', line 1 uses getattr(F, "cross_entropy")"""),
    ("torch.nn.functional.relu", "act = getattr(torch.nn, 'functional').relu\n",
     "'answer-x', line 1 uses getattr(torch.nn, 'functional').relu"),
    ("torch.nn.functional.relu", "act = getattr(F, 'relu', None)\n",
     "'answer-x', line 1 uses getattr(F, 'relu', None)"),
    ("torch.nn.functional.relu", "act = getattr(F, 'softmax')\n", None),
    # an imported module's attributes, in order
    ("torch.nn.functional", "relu = __import__('torch').nn.functional.relu\n",
     "'answer-x', line 1 uses __import__('torch').nn.functional.relu"),
    ("sklearn", "from importlib import import_module\nm = import_module('sklearn')\n",
     "'answer-x', line 2 uses import_module('sklearn')"),
    # an attribute rule of several parts, on any object
    (".grad.zero_", "model(x).grad.zero_()\n", "'answer-x', line 1 uses model(x).grad.zero_"),
    (".grad.zero_", "model(x).zero_.grad\n", None),
    # a chain passed to a function is still a use
    ("torch.nn.functional.relu", "ys = list(map(F.relu, xs))\n",
     "'answer-x', line 1 uses F.relu"),
    # an import of a submodule binds its top package
    ("torch.nn.functional", "y = torch.nn.functional.relu(x)\n",
     "'answer-x', line 1 uses torch.nn.functional.relu"),
    ("torch.nn.functional", "from torch.nn import functional as nnf\n",
     "'answer-x', line 1 imports functional from torch.nn"),
    # a chain over several lines is shown on one; long ones are cut at 60 characters
    ("torch.nn.functional.relu", "y = (F\n     .relu)(x)\n", "'answer-x', line 1 uses F .relu"),
    (".backward", f"{LONG}.backward()\n", f"'answer-x', line 1 uses {LONG}.backward"),
    (".backward", f"{LONG}b.backward()\n", f"'answer-x', line 1 uses {LONG}b.backwa…"),
    # names local to a function are not the module's; aliases there are
    ("torch.nn.functional", "act = lambda F: F.relu\n", None),
    ("torch.nn.functional", "def f(x):\n    F = x * 2\n    return F.sum()\n", None),
    ("torch.nn.functional.relu", "def f(x):\n    nnf = torch.nn.functional\n"
     "    return nnf.relu(x)\n", "'answer-x', line 3 uses nnf.relu"),
    ("torch.nn.functional.relu", "def f(x):\n    global G\n    G = F.relu\n",
     "'answer-x', line 3 uses F.relu"),
    ("torch.nn.functional.relu", "class Net:\n    def __init__(self):\n"
     "        self.act = F.relu\n", "'answer-x', line 3 uses F.relu"),
])
def test_forbid_rules_getattr_imports_aliases_and_text(rule, source, where):
    context = ("import torch.nn\n",) if "torch.nn.functional.relu(x)" in source else (SETUP,)
    assert found(rule, source, context=context) == where


def test_forbid_rules_answer_cells_that_do_not_parse_and_dependencies():
    rule = "torch.nn.functional.relu"
    helper = ("answer-helper", "def helper(x):\n    return F.relu(x)\n")
    assert found(rule, "def (:\n", [helper]) is None
    assert found(rule, "y = helper(1)\n", [("answer-bad", "def (:\n"), helper]) == \
        "'answer-helper', line 2 uses F.relu"
    # the second statement's dependencies count too
    assert found(rule, "x = 1\ny = helper(x)\n", [helper]) == \
        "'answer-helper', line 2 uses F.relu"
    broken = rules.broken_rule([rule], [("answer-bad", "def (:\n"), ("answer-x", "y = F.relu\n")],
                               [], [SETUP])
    assert broken.message().endswith("your cell 'answer-x', line 1 uses F.relu")


def test_forbid_rules_functions_that_call_each_other():
    cycle = [("answer-f", "def f(n):\n    return g(n - 1) if n else 0\n"),
             ("answer-g", "def g(n):\n    return f(n) + F.relu(n)\n")]
    result = []
    worker = threading.Thread(target=lambda: result.append(
        found("torch.nn.functional.relu", "y = f(3)\n", cycle)), daemon=True)
    worker.start()
    worker.join(10)
    assert result == ["'answer-g', line 2 uses F.relu"]


@pytest.mark.parametrize("source, where", [
    ("fn = getattr(F, name)\n", "'answer-x', line 1 uses F"),
    ('fn = getattr(torch.nn.functional, "cross_" + "entropy")(Z, y)\n',
     "'answer-x', line 1 uses torch.nn.functional"),
    ("fn = getattr(F, name).__call__\n", "'answer-x', line 1 uses F"),
    ("fn = getattr(F, 'relu')\n", "'answer-x', line 1 uses getattr(F, 'relu')"),
])
def test_a_module_used_through_getattr_with_a_computed_name(source, where):
    """The attribute is unknown, but the forbidden module is used all the same (as with
    ``vars(F)[name]``)."""
    assert found("torch.nn.functional", source) == where


# ========================================================================== sandbox
class FrozenTime:
    """``time`` for sandbox.py: monotonic() stands still at 100."""

    @staticmethod
    def monotonic():
        return 100.0


def iopub(msg_id, msg_type, content):
    return {"parent_header": {"msg_id": msg_id}, "msg_type": msg_type, "content": content}


def test_kernel_wait_honours_its_deadline_and_polls_each_second(fake_jupyter, monkeypatch):
    k = sandbox.Kernel("/w", memory_mb=None).start()
    kc = fake_jupyter[0].kc
    asked = []
    real_get = kc.get_iopub_msg

    def get_iopub_msg(timeout):
        asked.append(timeout)
        return real_get(timeout)
    kc.get_iopub_msg = get_iopub_msg
    monkeypatch.setattr(sandbox, "time", FrozenTime)
    kc.messages = [iopub("m1", "status", {"execution_state": "idle"})]
    assert k._wait("m1", 100.0) is None and asked == []  # no time left: not even a look
    assert k._wait("m1", 100.25).status == "ok" and asked == [0.25]  # never past it
    kc.messages = ["empty", iopub("m1", "status", {"execution_state": "idle"})]
    assert k._wait("m1", 130.0).status == "ok"
    assert asked[1:] == [1.0, 1.0]  # a silent kernel is checked for death every second


def test_kernel_wait_busy_status_and_an_error_without_name_or_value(fake_jupyter):
    k = sandbox.Kernel("/w", memory_mb=None).start()
    kc = fake_jupyter[0].kc
    kc.messages = [iopub("m1", "status", {"execution_state": "busy"}),
                   iopub("m1", "execute_input", {"execution_count": 4}),
                   iopub("m1", "error", {}),
                   iopub("m1", "status", {"execution_state": "idle"})]
    out = k._wait("m1", time.monotonic() + 30)
    assert (out.status, out.ename, out.evalue, out.traceback, out.execution_count) == \
        ("error", "", "", [], 4)


def test_kernel_death_without_a_provisioner(fake_jupyter):
    k = sandbox.Kernel("/w", memory_mb=None).start()
    del fake_jupyter[0].provisioner
    assert k._death() == "the kernel process exited"


# ========================================================================== assemble
def test_an_unchanged_stub_with_a_new_id_is_still_that_answer(sem):
    """Cells copied into a new notebook get new ids: each answer cell is placed by
    position, also the one the student left as the seminar's stub."""
    stub_a = next(s.seminar for s in sem.answers if s.id == "answer-a")
    nb = student(answer_a=stub_a, answer_b="def plus(x):\n    return x - -1  # mine\n")
    for cell in nb.cells:
        if cell.get("id", "").startswith("answer-"):
            cell.id = "copied-" + cell.id
    asm = grading.assemble(sem, nb)
    assert asm.answers == {"answer-a": stub_a,
                           "answer-b": "def plus(x):\n    return x - -1  # mine\n"}
    assert asm.notes == {i: f"answer cell '{i}' was matched by position (its cell id differs "
                            "from the seminar's)" for i in ("answer-a", "answer-b")}
    assert asm.extra == ["print('not run')"]  # after the last test: not a step


# ========================================================================== batch
def test_plan_renamed_files_by_two_marks_and_second_copies(tmp_path, seminars):
    sems = grading.load_solutions(seminars)
    subs = tmp_path / "class"
    two = new_notebook(cells=[code("answer-a", "x"), code("test-a", "y")])
    put(subs, "eve/two.ipynb", two)  # two distinctive marks of 01_units: enough
    put(subs, "fay/copy 1.ipynb", student())
    put(subs, "fay/copy 2.ipynb", student())
    jobs, names, _ = batch.plan(subs, sems)
    assert names == ["eve", "fay"]
    assert [(j.student, j.path, j.stem, j.key, j.note) for j in jobs] == [
        ("eve", str(subs / "eve" / "two.ipynb"), "01_units", "01_units",
         "graded as 01_units: the file was submitted as 'two.ipynb'"),
        ("fay", str(subs / "fay" / "copy 1.ipynb"), "01_units", "01_units",
         "graded as 01_units: the file was submitted as 'copy 1.ipynb'"),
        ("fay", str(subs / "fay" / "copy 2.ipynb"), None, "copy 2",
         "'copy 2.ipynb' is a second copy of seminar 01_units: only copy 1.ipynb is graded")]


@pytest.fixture()
def kernels(monkeypatch):
    """One scripted kernel for every grading kernel; records the preflight's warm flag and
    how many jobs grade_files was asked to run at a time (it runs them serially)."""
    k = FakeKernel()
    k.warm, k.jobs = [], []

    def preflight_kernel(cwd, opts, warm=None):
        k.warm.append(warm)
        return k

    def serial(todo, solutions_dir, opts, jobs=1):
        k.jobs.append(jobs)
        yield from real_grade_jobs(todo, solutions_dir, opts, 1)
    real_grade_jobs = batch.grade_files
    monkeypatch.setattr(run, "new_kernel", lambda cwd, opts: k)
    monkeypatch.setattr(batch, "new_kernel", preflight_kernel)
    monkeypatch.setattr(batch, "grade_files", serial)
    return k


def test_grade_options_students_jobs_and_the_default_solutions(tmp_path, seminars,
                                                               kernels, monkeypatch):
    subs = tmp_path / "class"
    put(subs, "alice/01_units.ipynb", student())
    put(subs, "bob/01_units.ipynb", student())
    monkeypatch.setattr(batch, "REPO", tmp_path)  # the repository's solutions/: `seminars`
    book = batch.grade(subs, opts=Options(timeout=7, warm=True), jobs=2, students=["bob"],
                       echo=lambda line: None)
    assert list(book) == ["bob"] and book["bob"]["01_units"].points == 4.5
    cells = [(s, t) for s, t, history in kernels.log if history]
    answers = [t for s, t in cells if "BEGIN SOLUTION" in s]
    assert answers == [7, 7]  # the --timeout given (the setup cells get at least 120 s)
    # --jobs 2: each worker forks its own zygote, the preflight is a cold kernel
    assert kernels.jobs == [2] and kernels.warm == [False]


# ========================================================================== cli
def test_grade_accepts_a_timeout_of_a_second_or_less(graded, capsys, tmp_path):
    for timeout in ("1", "0.5"):
        assert cli_run(capsys, "grade", "s", "--out", str(tmp_path / timeout),
                       "--timeout", timeout)[0] == 0
    assert [c["opts"].timeout for c in graded[0]] == [1.0, 0.5]


def test_an_empty_shard_names_itself(graded, capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(grading, "shard_students", lambda subs, i, n, students=None: [])
    assert cli_run(capsys, "grade", "subs", "--shard", "2/3", "--out", str(tmp_path)) == \
        (0, "shard 2/3: no students\n", "")


def test_simulate_a_class_of_one_and_the_exact_refusal(monkeypatch, capsys, tmp_path):
    seen = []
    monkeypatch.setattr(simulate, "simulate",
                        lambda out, students, jobs, **kw: seen.append(students) or {"misses": []})
    assert cli_run(capsys, "simulate", "--students", "1", "--out", str(tmp_path))[0] == 0
    assert seen == [1]
    with pytest.raises(SystemExit):
        cli.main(["simulate", "--students", "0"])
    assert capsys.readouterr().err.splitlines()[-1] == \
        "python -m coursekit: error: --students and --jobs must be >= 1"


# ========================================================================== small ones
def test_leading_zeros_of_a_small_number_are_not_significant():
    assert run.short_numbers("lr 0.00000012 and 0.000000123457") == \
        "lr 0.00000012 and 0.000000123457"


def test_site_build_shows_sphinx_errors(repo, tmp_path, monkeypatch):
    """Sphinx's own error output (a real process here: a script in its place) is the
    message."""
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'not quite' \necho 'WARNING: a broken link' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(site, "_importable", lambda m: True)
    monkeypatch.setattr(site, "sys", types.SimpleNamespace(executable=str(fake)))
    with pytest.raises(CourseError) as info:
        site.build(tmp_path / "out", tmp_path / "src", repo)
    assert str(info.value) == "sphinx failed:\nWARNING: a broken link\n"


def test_nbgrader_export_names_the_broken_solution(tmp_path):
    nb = solution_nb()
    nb.cells[0].source += "\n### BEGIN SOLUTION"  # a solution region in a markdown cell
    notebook.write(nb, tmp_path / "solutions" / "01_units.ipynb")
    with pytest.raises(CourseError) as info:
        nbgrader_export.export(tmp_path / "out", tmp_path / "solutions")
    assert str(info.value).startswith("01_units.ipynb: cell ")


# ========================================================================== execute
class OutputsClient:
    """nbclient's client: gives every cell an output as a real run does; the measuring
    cell prints its record in two chunks; a cell ``raise`` fails the run."""

    def __init__(self, nb, km, **kw):
        self.nb, self.km = nb, km

    def execute(self, stderr=None):
        self.km.has_kernel = True
        for cell in self.nb.cells:
            cell.execution_count = 1
            cell.outputs = [nbformat.v4.new_output("stream", text="ran\n")]
            if "raise" in cell.source:
                raise RuntimeError("cell failed")
        last = self.nb.cells[-1]
        if "__COURSE__" in last.source:
            last.outputs = [nbformat.v4.new_output("stream", text='__COURSE__{"peak_mb": 2'),
                            nbformat.v4.new_output("stream", text='0.5, "headline": "0.9"}')]


class SpecManager:
    """jupyter_client's KernelManager: keeps the kernel spec manager it is given."""
    made = []

    def __init__(self, kernel_name, kernel_spec_manager):
        self.spec, self.has_kernel = kernel_spec_manager, False
        SpecManager.made.append(self)

    def shutdown_kernel(self, now):
        pass


def test_execute_leaves_the_callers_notebook_untouched_and_reads_chunked_output(
        monkeypatch, tmp_path):
    import jupyter_client
    import nbclient

    monkeypatch.setattr(jupyter_client, "KernelManager", SpecManager)
    monkeypatch.setattr(nbclient, "NotebookClient", OutputsClient)
    SpecManager.made = []
    nb = new_notebook(cells=[new_code_cell("acc = 0.9")])
    before = nbformat.writes(nb)
    done, info = execute.execute(nb, tmp_path, measure=True)
    assert info == {"peak_mb": 20.5, "headline": "0.9"}
    assert done.cells[0].outputs[0].text == "ran\n"
    assert nbformat.writes(nb) == before  # no outputs, no measuring cell
    # the kernel of this environment, as nbval finds it
    assert type(SpecManager.made[0].spec).__name__ == "NbvalKernelspecManager"
    failing = new_notebook(cells=[new_code_cell("raise")])
    with pytest.raises(RuntimeError):
        execute.execute(failing, tmp_path, measure=True)
    assert [c.source for c in failing.cells] == ["raise"]  # no measuring cell left in it
    assert failing.cells[0].outputs == []


class InlinePool:
    """concurrent.futures' ProcessPoolExecutor run in this process: each submitted call
    runs at once; a job whose file is named ``dies*`` loses its worker process."""
    made = []

    def __init__(self, max_workers=None, mp_context=None):
        self.max_workers, self.context, self.calls = max_workers, mp_context, []
        InlinePool.made.append(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def submit(self, fn, *args):
        from concurrent.futures import Future
        from concurrent.futures.process import BrokenProcessPool

        self.calls.append((fn, args))
        fut = Future()
        if Path(args[0].path).name.startswith("dies"):
            fut.set_exception(BrokenProcessPool("a worker process died"))
        else:
            fut.set_result(fn(*args))
        return fut


def test_grade_files_in_parallel_worker_processes(tmp_path, seminars, monkeypatch):
    import concurrent.futures

    k = FakeKernel()
    monkeypatch.setattr(run, "new_kernel", lambda cwd, opts: k)
    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", InlinePool)
    InlinePool.made = []
    subs = tmp_path / "class"
    put(subs, "alice/01_units.ipynb", student())
    put(subs, "bob/dies.ipynb", student())
    put(subs, "carl/notes.ipynb", new_notebook())
    jobs, _, _ = batch.plan(subs, grading.load_solutions(seminars))
    opts = Options(timeout=9)
    got = sorted(batch.grade_files(jobs, str(seminars), opts, 3))
    pool, = InlinePool.made
    assert pool.max_workers == 3 and pool.context.get_start_method() == "spawn"
    assert pool.calls == [(batch.grade_file, (job, str(seminars), opts)) for job in jobs]
    alice, bob, carl = got
    assert alice[:2] == ("alice", "01_units") and alice[2].points == 4.5
    assert {t for s, t, _ in k.log if "BEGIN SOLUTION" in s} == {9}
    # the worker grading bob's file died: his record says so, with the seminar's tasks
    message = "internal grader error: BrokenProcessPool: a worker process died"
    assert bob == ("bob", "01_units", run.failed_record(
        grading.load_solutions(seminars)["01_units"], "dies.ipynb", message), 0.0)
    assert bob[2].max_points == 4.5 and {t.message for t in bob[2].tasks} == {message}
    assert carl[:2] == ("carl", "notes") and carl[2].tasks[0].id == "file"
    # two files, two jobs: two workers
    assert len(list(batch.grade_files(jobs[:2], str(seminars), opts, 2))) == 2
    assert [p.max_workers for p in InlinePool.made] == [3, 2]


def test_grade_files_one_at_a_time(tmp_path, seminars, monkeypatch):
    import concurrent.futures

    k = FakeKernel()
    monkeypatch.setattr(run, "new_kernel", lambda cwd, opts: k)
    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", InlinePool)
    InlinePool.made = []
    subs = tmp_path / "class"
    put(subs, "alice/01_units.ipynb", student())
    put(subs, "bob/01_units.ipynb", student())
    jobs, _, _ = batch.plan(subs, grading.load_solutions(seminars))
    one = batch.plan(subs, grading.load_solutions(seminars), ["alice"])[0]
    got = list(batch.grade_files(jobs, str(seminars), Options(timeout=9)))  # jobs=1: serial
    got += list(batch.grade_files(one, str(seminars), Options(timeout=9), 2))  # one file
    assert InlinePool.made == []  # no worker processes
    assert [(s, key, rec.points) for s, key, rec, _ in got] == [
        ("alice", "01_units", 4.5), ("bob", "01_units", 4.5), ("alice", "01_units", 4.5)]
    assert {t for s, t, _ in k.log if "BEGIN SOLUTION" in s} == {9}


# ========================================================================== one notebook
@pytest.fixture()
def workdirs(monkeypatch):
    """run.new_kernel replaced: a scripted kernel per call; records each working folder
    and whether it existed; a cell reading 'data.csv' fails naming its full path there."""
    made = []

    def new_kernel(cwd, opts):
        made.append((cwd, Path(cwd).is_dir(), opts))
        return FakeKernel({"open('data.csv')": error(
            "FileNotFoundError", f"[Errno 2] No such file or directory: '{cwd}/data.csv'"),
            "result = plus(LIMIT)": error("NameError", "name 'plus' is not defined"),
            "assert result == 4": error("NameError", "name 'result' is not defined")})
    monkeypatch.setattr(run, "new_kernel", new_kernel)
    return made


def test_grade_notebook_options_workdir_and_messages(sem, workdirs):
    nb = student(answer_a="def twice(x):\n    open('data.csv')\n    return 2 * x\n",
                 answer_b="plus = None\n")
    for cell in nb.cells:
        if cell.get("id") == "answer-b":
            cell.id = "renamed-b"
    rec = run.grade_notebook(sem, nb, Options(timeout=4))
    cwd, existed, opts = workdirs[0]
    assert existed and opts.timeout == 4 and not Path(cwd).exists()  # a fresh folder, removed
    assert rec.file == ""
    assert rec.notes == ["answer cell 'answer-b' was matched by position (its cell id "
                            "differs from the seminar's)"]
    tasks = {t.id: t for t in rec.tasks}

    assert tasks["a"].message == ("FileNotFoundError: [Errno 2] No such file or "
                                     "directory: './data.csv'")  # not the temporary path
    assert tasks["b"].message == ("NameError: name 'plus' is not defined [assign `plus` in "
                                     "your answer cell 'answer-b'] (earlier task(s) a did not "
                                     "pass; this task may depend on them)")


def test_grade_notebook_until_and_broken_rules(tmp_path, workdirs):
    sol = solution_nb()
    sol.cells[3].metadata["course"]["forbid"] = ["math.sqrt"]
    notebook.write(sol, tmp_path / "01_units.ipynb")
    sem_ = grading.load_solution(tmp_path / "01_units.ipynb")
    nb = student(answer_a="def twice(x):\n    return 2 * x + 0 * math.sqrt(4)\n")
    rec = run.grade_notebook(sem_, nb, Options(timeout=4), file="01_units.ipynb", until="a")
    assert rec.to_json()["tasks"] == [{"id": "a", "points": 0, "max_points": 2, "status": "failed",
                             "message": "rule broken: this task must not use math.sqrt; your "
                                        "cell 'answer-a', line 2 uses math.sqrt"}]
    assert rec.notes == [] and rec.file == "01_units.ipynb"


def test_run_tasks_without_answer_cells_use_the_timeout_everywhere(tmp_path):
    nb = new_notebook(cells=[code("setup", "x = 1"), code("t", "assert x == 1", task="t")])
    notebook.write(nb, tmp_path / "01_only.ipynb")
    sem_ = grading.load_solution(tmp_path / "01_only.ipynb")
    k = FakeKernel()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(run, "new_kernel", lambda cwd, opts: k)
        verdicts = run.run_tasks(sem_, grading.assemble(sem_, nb), tmp_path, Options(timeout=4))
    assert verdicts["t"].status == "passed"
    assert [(s, t) for s, t, h in k.log if h] == [("x = 1", 4), ("assert x == 1", 4)]
    # the guard restores before each instructor cell
    assert sum("_grader_" in s for s, _, h in k.log if not h) >= 2


def test_a_crash_in_the_last_task_is_not_replayed(sem, monkeypatch):
    k = FakeKernel({"os._exit(1)": Outcome("dead", detail="the kernel exited with code 1")})
    monkeypatch.setattr(run, "new_kernel", lambda cwd, opts: k)
    nb = student(answer_b="import os\nos._exit(1)\n")
    verdicts = run.run_tasks(sem, grading.assemble(sem, nb), ".", Options(timeout=4), until="b")
    assert [(t, v.status) for t, v in verdicts.items()] == [("a", "passed"), ("b", "error")]
    assert k.restarts == 1  # every task has its verdict: no replay in a fresh kernel


def test_two_missing_answers_of_one_task(tmp_path):
    sol = new_notebook(cells=[answer("answer-p", "return 1", "def p():"),
                              answer("answer-q", "return 2", "def q():"),
                              code("test-pq", "assert p() + q() == 3", task="pq")])
    notebook.write(sol, tmp_path / "01_pq.ipynb")
    sem_ = grading.load_solution(tmp_path / "01_pq.ipynb")
    k = FakeKernel({"assert p() + q()": error("NameError", "name 'p' is not defined")})
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(run, "new_kernel", lambda cwd, opts: k)
        rec = run.grade_notebook(sem_, new_notebook(), Options(timeout=4))
    assert rec.tasks[0].status == "missing"
    assert rec.tasks[0].message == (
        "your notebook has no answer cell 'answer-p' (deleted, or its id changed); graded as "
        "unanswered; your notebook has no answer cell 'answer-q' (deleted, or its id "
        "changed); graded as unanswered")


# ========================================================================== one file
def test_grade_file_records_of_unreadable_and_misnamed_files(
        tmp_path, seminars, scripted):
    sems = grading.load_solutions(seminars)
    cells = put(tmp_path, "bob/01_units.ipynb",
                '{"cells": {}, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    rec = batch._grade_path(sems["01_units"], sems, cells, Options(), "")
    assert rec == run.failed_record(sems["01_units"], "01_units.ipynb",
                                    "your notebook could not be read: 01_units.ipynb: no list "
                                    "of cells")
    # the 01_units seminar submitted as 02_other: refused, with 02_other's tasks
    misnamed = put(tmp_path, "bob/02_other.ipynb", student())
    rec = batch._grade_path(sems["02_other"], sems, misnamed, Options(), "")
    assert rec == run.failed_record(
        sems["02_other"], "02_other.ipynb", "this notebook looks like seminar 01_units, not "
        "02_other (8 of its cells match 01_units, 0 match 02_other): submit each seminar "
        "under its own name")
    assert scripted.log == []
    # graded: no notes unless there is one
    good = put(tmp_path, "bob/01_units.ipynb", student())
    assert batch._grade_path(sems["01_units"], sems, good, Options(), "").notes == []


def test_preflight_kernel_and_guard_install(monkeypatch):
    k = FakeKernel()
    asked = []
    monkeypatch.setattr(batch, "new_kernel", lambda cwd, opts, warm=None: asked.append(warm)
                        or k)
    batch.preflight(Options(warm=True))
    assert asked == [True]  # one job: the warm kernel grading uses
    install = [t for s, t, h in k.log if "_grader_guard" in s]
    assert install == [120]  # a loaded machine may need long to install it


# ========================================================================== build, rules
def test_check_reports_the_problems_of_every_solution(tmp_path):
    """`make check`: a problem of an early seminar is not hidden by a later one's."""
    for stem in ("01_a", "02_b"):
        sol = solution_to_generate()
        sol.cells[2].metadata["course"]["forbid"] = "np.linalg"  # not a list
        notebook.write(sol, tmp_path / "solutions" / f"{stem}.ipynb")
        notebook.write(generate.make_seminar(sol), tmp_path / "seminars" / f"{stem}.ipynb")
    assert generate.generate(check_only=True, root=tmp_path) == [
        f"{tmp_path / 'solutions' / stem}.ipynb: task 'f': 'forbid' must be a list of dotted "
        "names (strings), got 'np.linalg'" for stem in ("01_a", "02_b")]


def test_rule_problems_of_every_task():
    def test_cell(forbid, task):
        c = new_code_cell("assert True")
        c.metadata["course"] = {"task": task, "points": 1, "forbid": forbid}
        return c
    nb = new_notebook(cells=[test_cell("x", "a"), test_cell([1], "b")])
    assert notebook.rule_problems(nb, "n.ipynb") == [
        "n.ipynb: task 'a': 'forbid' must be a list of dotted names (strings), got 'x'",
        "n.ipynb: task 'b': 'forbid' must be a list of dotted names (strings), got [1]"]


def test_junit_elements():
    import xml.etree.ElementTree as ET

    book = grading.gradebook_from_json({"ann": {"01_a": {
        "points": 1, "max_points": 2, "file": "01_a.ipynb", "tasks": [
            {"id": "t", "points": 1, "max_points": 1, "status": "passed", "message": ""},
            {"id": "u", "points": 0, "max_points": 1, "status": "failed", "message": "no"}]}}})
    root = ET.fromstring(grading.to_junit(book).split("\n", 1)[1])
    assert root.tag == "testsuites"
    assert [(s.tag, s.get("name"), s.get("tests"), s.get("failures")) for s in root] == [
        ("testsuite", "ann/01_a", "2", "1")]
    assert [[c.tag for c in case] for case in root[0]] == [["system-out"],
                                                          ["failure", "system-out"]]


def test_top_level_help_is_the_usage_as_written(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert info.value.code == 0 and out.startswith("usage: python -m coursekit ")
    assert cli.__doc__.strip() in out  # its line breaks kept: one command per line


# ========================================================================== simulated class
def test_simulated_class_defaults_rebuild_and_fallbacks(klass, tmp_path, monkeypatch):
    plan = simulate.write_class(tmp_path / "a", 5, klass.sols)
    assert plan == simulate.write_class(tmp_path / "b", 5, klass.sols, seed=0)  # seed 0 by default
    assert simulate.write_class(tmp_path / "a", 5, klass.sols) == plan  # over an earlier class
    # a "wrong" submission of a seminar without known-wrong answers is a right one
    monkeypatch.setattr(simulate, "KINDS", {"wrong": 1.0})
    plan = simulate.write_class(tmp_path / "c", 2, klass.sols)
    assert plan[("student000", "02_more")] == ("right", None)
    assert plan[("student000", "01_units")] == ("wrong", "b")
    # every seminar of a student is planned, also after a file that is not JSON
    monkeypatch.setattr(simulate, "KINDS", {"broken": 1.0})
    monkeypatch.setattr(simulate, "BROKEN", {})
    plan = simulate.write_class(tmp_path / "d", 2, klass.sols)
    assert plan == {(s, stem): ("broken (not JSON)", None) for s in ("student000", "student001")
                    for stem in ("01_units", "02_more")}


# ========================================================================== site
def test_site_leaks_in_markdown_and_undecodable_pages(repo, tmp_path):
    out = tmp_path / "site"
    (out / "lectures").mkdir(parents=True)
    bad = b"\xff\xfe not UTF-8 "
    (out / "lectures" / "01.md").write_bytes(bad + HIDDEN_LINE.encode())
    (out / "lectures" / "02.html").write_bytes(b"<p>" + bad + HIDDEN_LINE.encode() + b"</p>")
    (out / "seminars").mkdir()
    (out / "seminars" / "01.html").write_text(f"<p>{COMMON_LINE}</p>")  # in a lecture: public
    assert site.leaks(out, repo) == [
        f"lectures/01.md contains text of 01_words.ipynb: {HIDDEN_LINE!r}",
        f"lectures/02.html contains text of 01_words.ipynb: {HIDDEN_LINE!r}"]


def test_site_source_in_a_new_folder_links_first_and_short_topics(repo, tmp_path):
    notebook.write(new_notebook(cells=[new_code_cell("x = 1"), new_code_cell("y = 2")]),
                   repo / "notebooks" / "02_code.ipynb")
    readme = (repo / "README.md").read_text().replace("| 02 | Planned unit |",
                                                      "| 02 | Code; more: later |")
    (repo / "README.md").write_text(readme + "| 03 | Planned: soon |\n")
    src = tmp_path / "new" / "src"
    site.assemble(src, repo)
    cells = notebook.read(src / "lectures" / "02_code.ipynb").cells
    assert cells[0].source.startswith("[Open in Colab]")
    assert [c.source for c in cells[1:]] == ["x = 1", "y = 2"]
    index = (src / "index.md").read_text().split("\n")
    assert index[9].startswith("| 02 | Code | [lecture](lectures/02_code.ipynb) |")
    assert index[10] == "| 03 | Planned: soon | planned |  |  |"  # no lecture: as written


def test_release_into_a_new_nested_folder(repo, tmp_path):
    out = tmp_path / "a" / "b" / "course"
    assert release.release(out, repo) == []
    assert (out / "data" / "README.md").read_text() == "data\n"
    assert (out / "seminars" / "01_words.ipynb").is_file()


# ========================================================================== loading a seminar
def test_load_solution_checks(tmp_path):
    sol = solution_nb()
    sol.cells[3].metadata["course"]["points"] = 0  # a practice task
    notebook.write(sol, tmp_path / "01_units.ipynb")
    assert grading.load_solution(tmp_path / "01_units.ipynb").tasks == [
        ("a", 0), ("b", 1.5), ("c", 1)]
    sol.cells[3].metadata["course"]["points"] = -1  # bad points, then a bad rule: both said
    sol.cells[6].metadata["course"]["forbid"] = "math"
    notebook.write(sol, tmp_path / "01_units.ipynb")
    with pytest.raises(CourseError) as info:
        grading.load_solution(tmp_path / "01_units.ipynb")
    assert str(info.value) == (
        "01_units.ipynb: code cell 3 (test-a): points must be a number >= 0, got -1; "
        "01_units.ipynb: code cell 6 (test-b): 'forbid' must be a list of dotted names "
        "(strings), got 'math'")


def test_identify_ignores_trailing_spaces_and_counts_30_character_cells(tmp_path):
    sol = new_notebook(cells=[code("setup", "x = 1  # exactly thirty chars."),
                              answer("answer-a", "return 1", "def a():"),
                              code("test-a", "assert a() == 1\nprint('a: fine, all good')",
                                   task="a")])
    notebook.write(sol, tmp_path / "01_one.ipynb")
    sems = grading.load_solutions(tmp_path)
    copied = new_notebook(cells=[new_code_cell("x = 1  # exactly thirty chars.   "),
                                 new_code_cell("assert a() == 1   \nprint('a: fine, all good')")])
    assert grading.identify(sems, copied) == {"01_one": 2}  # the two sources, not their ids


# ========================================================================== describe
def test_failed_answer_messages_hints(sem, scripted):
    scripted.script = {"return twice_helper(x)": error("NameError",
                                                       "name 'twice_helper' is not defined"),
                       "return big(x)": error("MemoryError", "")}
    nb = student(answer_a="def twice(x):\n    return twice_helper(x)\n",
                 answer_b="def plus(x):\n    return big(x)\n")
    nb.cells.insert(2, code("mine", "def twice_helper(x):\n    return 2 * x\n"))
    verdicts = run.run_tasks(sem, grading.assemble(sem, nb), ".", Options(timeout=4,
                                                                         memory_mb=512))
    assert verdicts["a"].message == (
        "NameError: name 'twice_helper' is not defined [twice_helper is defined in a cell you "
        "added; the grader runs only the answer cells: move it into the answer cell that "
        "uses it]")
    assert verdicts["b"].message.startswith(
        "MemoryError [the grader allows 512 MB per notebook]")


# ========================================================================== rules: bound names
@pytest.mark.parametrize("source, names", [
    ("import torch.nn\nimport numpy.linalg as la\n", {"torch", "la"}),
    ("from math import *\n", set()),
    ("if (n := 3) > 2:\n    pass\n", {"n"}),
    ("try:\n    pass\nexcept ValueError as err:\n    pass\n", {"err"}),
])
def test_bound_names_of_imports_walrus_and_except(source, names):
    assert rules.bound_names(source) == names


# ========================================================================== release
def test_release_leak_rules_read_the_course_released(repo, tmp_path):
    """A hidden-test line that the course's own lecture shows is public, not a leak; one in
    a file it ships that no lecture shows is reported. No __pycache__ ships."""
    lecture = notebook.read(repo / "notebooks" / "01_words.ipynb")
    lecture.cells.append(new_code_cell(HIDDEN_LINE))
    notebook.write(lecture, repo / "notebooks" / "01_words.ipynb")
    out = tmp_path / "rel"
    assert release.release(out, repo) == []
    assert not (out / "utils" / "__pycache__").exists()
    lecture.cells.pop()
    notebook.write(lecture, repo / "notebooks" / "01_words.ipynb")
    (repo / "data" / "README.md").write_text("data\n" + HIDDEN_LINE + "\n")
    assert release.release(out, repo) == [
        f"data/README.md contains text of 01_words.ipynb: {HIDDEN_LINE!r}"]


def test_secret_lines_of_every_region_from_20_characters(tmp_path):
    line20 = "return x + y  # 20ch"
    assert len(line20) == 20
    sol = new_notebook(cells=[
        answer("answer-a", line20, "def a(x, y):"),
        answer("answer-b", "return sorted(xs)[::-1]  # b", "def b(xs):"),
        code("test-b", "assert b([1]) == [1]\n### BEGIN HIDDEN TESTS\n"
                       "assert b([2, 1]) == [2, 1], 'h'\nassert b([]) == [], 'h2'\n"
                       "### END HIDDEN TESTS", task="b")])
    notebook.write(sol, tmp_path / "solutions" / "01_x.ipynb")
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "utils").mkdir()
    answer_lines, hidden = leaks.secret_lines([tmp_path / "solutions" / "01_x.ipynb"],
                                                tmp_path)
    assert answer_lines == {line20: "01_x.ipynb",
                            "return sorted(xs)[::-1]  # b": "01_x.ipynb"}
    assert hidden == {"assert b([2, 1]) == [2, 1], 'h'": "01_x.ipynb",
                      "assert b([]) == [], 'h2'": "01_x.ipynb"}
    assert leaks.region_lines(sol) == [
        line20, "return sorted(xs)[::-1]  # b", "assert b([2, 1]) == [2, 1], 'h'",
        "assert b([]) == [], 'h2'"]


# ========================================================================== feedback, expected
def test_feedback_files_are_utf8_whatever_the_locale(tmp_path):
    """An instructor's machine with an ASCII (or cp1252) locale: messages with
    accents are still written and read."""
    book = {"zoe": {"01_a": {"points": 0, "max_points": 1, "file": "01_a.ipynb", "tasks": [
        {"id": "t", "points": 0, "max_points": 1, "status": "failed",
         "message": "AssertionError: résumé ≠ 1"}]}}}
    (tmp_path / "grades.json").write_text(json.dumps(book, ensure_ascii=False), encoding="utf-8")
    code_ = ("import sys\nfrom coursekit import feedback, grading\n"
             "book = grading.read_gradebook(sys.argv[1])\n"
             "print(len(feedback.write_feedback(book, sys.argv[2])))\n")
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0",
           "PYTHONCOERCECLOCALE": "0"}
    done = subprocess.run([sys.executable, "-c", code_, str(tmp_path / "grades.json"),
                           str(tmp_path / "fb")], capture_output=True, text=True, env=env,
                          cwd=str(notebook.REPO))
    assert (done.returncode, done.stdout) == (0, "1\n"), done.stderr[-1000:]
    text = next((tmp_path / "fb").iterdir()).read_text(encoding="utf-8")
    assert "résumé ≠ 1" in text


@pytest.mark.parametrize("kind, rec, ok", [
    ("right", GradeRecord(1, 1, [], "f.ipynb"), True),
    ("blank", GradeRecord(0, 2, [TaskVerdict("a", 0, 2, "missing")], "f.ipynb"), True),
])
def test_expected_one_point_and_a_blank_with_missing_answers(kind, rec, ok):
    assert simulate.expected(kind, None, rec) is ok


def test_reports_are_utf8_whatever_the_locale(tmp_path):
    """grades.json, grades.csv and junit.xml (which says encoding="utf-8") of a class whose
    messages hold non-ASCII text ('…' cuts every long message), written and merged on a
    machine with an ASCII locale."""
    book = {"zoe": {"01_a": {"points": 0, "max_points": 1, "file": "01_a.ipynb", "tasks": [
        {"id": "t", "points": 0, "max_points": 1, "status": "failed",
         "message": "AssertionError: résumé ≠ 1 …"}]}}}
    (tmp_path / "in.json").write_text(json.dumps(book, ensure_ascii=False), encoding="utf-8")
    code_ = ("import json, sys\nfrom coursekit import grading\n"
             "book = grading.read_gradebook(sys.argv[1])\n"
             "grading.write_reports(book, sys.argv[2])\n"
             "assert grading.merge([sys.argv[2] + '/grades.json']) == book\n")
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0",
           "PYTHONCOERCECLOCALE": "0"}
    done = subprocess.run([sys.executable, "-c", code_, str(tmp_path / "in.json"),
                           str(tmp_path / "out")], capture_output=True, text=True, env=env,
                          cwd=str(notebook.REPO))
    assert done.returncode == 0, done.stderr[-1000:]
    out = tmp_path / "out"
    assert json.loads((out / "grades.json").read_text(encoding="utf-8")) == book
    typed = grading.gradebook_from_json(book)
    assert (out / "grades.csv").read_text(encoding="utf-8") == grading.to_csv(typed)
    assert (out / "junit.xml").read_text(encoding="utf-8") == grading.to_junit(typed)


# ========================================================================== odds and ends
def test_plan_prefers_another_capitalisation_to_a_renamed_copy(tmp_path, seminars):
    subs = tmp_path / "class"
    put(subs, "eve/00 copy.ipynb", student())  # sorts first, but is not named as a seminar
    put(subs, "eve/01_UNITS.ipynb", student())
    jobs, _, _ = batch.plan(subs, grading.load_solutions(seminars))
    assert [(Path(j.path).name, j.stem, j.note) for j in jobs] == [
        ("01_UNITS.ipynb", "01_units", ""),
        ("00 copy.ipynb", None, "'00 copy.ipynb' is a second copy of seminar 01_units: only "
                                "01_UNITS.ipynb is graded")]


def test_describe_keeps_the_message_as_raised(sem):
    test_a = next(s for s in sem.steps if s.id == "test-a")
    out = error("ValueError", "shapes differ: X")
    assert run.describe(out, test_a, {}, grading.assemble(sem, student()), Options()) == \
        "ValueError: shapes differ: X"


def test_tasks_after_two_crashed_ones_say_so(tmp_path, monkeypatch):
    sol = new_notebook(cells=[
        answer("answer-a", "return 1", "def a():"), code("test-a", "assert a() == 1", task="a"),
        answer("answer-b", "return 2", "def b():"), code("test-b", "assert b() == 2", task="b"),
        answer("answer-c", "return a() + b()", "def c():"),
        code("test-c", "assert c() == 3", task="c")])
    notebook.write(sol, tmp_path / "01_abc.ipynb")
    sem_ = grading.load_solution(tmp_path / "01_abc.ipynb")
    nb = new_notebook(cells=[code("answer-a", "def a():\n    crash()\n"),
                             code("answer-b", "def b():\n    crash()\n"),
                             code("answer-c", "def c():\n    return a() + b()\n")])
    k = FakeKernel({"crash()": Outcome("dead", detail="the kernel exited with code 1"),
                    "assert c() == 3": error("NotImplementedError", "")})
    monkeypatch.setattr(run, "new_kernel", lambda cwd, opts: k)
    verdicts = run.run_tasks(sem_, grading.assemble(sem_, nb), ".", Options(timeout=4))
    assert [v.status for v in verdicts.values()] == ["error", "error", "failed"]
    assert verdicts["c"].message.endswith(
        "(graded in a fresh kernel after task(s) a, b crashed it)")


def test_nbgrader_metadata_names_an_unnamed_notebook():
    nb = new_notebook(cells=[new_markdown_cell("x = 1\n### BEGIN SOLUTION")])
    nb.cells[0].id = "md"
    with pytest.raises(CourseError) as info:
        nbgrader_export.nbgrader_metadata(nb)
    assert str(info.value) == "notebook: cell md has a solution region but is not an answer cell"


def test_broken_rules_follow_every_earlier_answer_and_only_the_students(tmp_path):
    sol = new_notebook(cells=[
        code("setup", "import math"),
        answer("answer-h", "return math.sqrt(x)", "def helper(x):"),
        code("test-h", "assert helper(4) == 2", task="h"),
        answer("answer-m", "return 1", "def m():"),
        code("test-m", "assert m() == 1", task="m"),
        answer("answer-r", "import math as mm\n    return helper(x) + 0 * mm.pi", "def r(x):"),
        code("test-r", "assert r(4) == 2", task="r")])
    sol.cells[-1].metadata["course"]["forbid"] = ["math.sqrt"]
    notebook.write(sol, tmp_path / "01_r.ipynb")
    sem_ = grading.load_solution(tmp_path / "01_r.ipynb")

    def broken(**answers):
        nb = new_notebook(cells=[code(k.replace("_", "-"), v) for k, v in answers.items()])
        return grading.broken_rules(sem_, grading.assemble(sem_, nb))
    # the helper of task h, two tasks earlier, is followed
    assert broken(answer_h="def helper(x):\n    return math.sqrt(x)\n",
                  answer_m="def m():\n    return 1\n",
                  answer_r="def r(x):\n    return helper(x)\n") == {
        "r": "rule broken: this task must not use math.sqrt; your cell 'answer-h', line 2 uses "
             "math.sqrt"}
    # `mm` is the solution's alias, not the student's: nothing to resolve
    assert broken(answer_r="def r(x):\n    return mm.sqrt(x)\n") == {}


def test_denied_paths_of_a_worktree_whose_path_has_a_colon(tmp_path):
    from coursekit.grading import common

    checkout = tmp_path / "repo"
    checkout.mkdir()
    want = sorted(str(checkout / n) for n in ("solutions", "tests", ".git", "build", "grades"))
    gitdir = tmp_path / "main:2026" / ".git" / "worktrees" / "wt"
    gitdir.mkdir(parents=True)
    (checkout / ".git").write_text(f"gitdir: {gitdir}\n")
    assert common.denied_paths(Options(), checkout) == sorted(want + [str(gitdir)])
    # a pointer that is not text: ignored, the checkout's own folders still denied
    (checkout / ".git").write_bytes(b"gitdir: \xff\xfe\n")
    assert set(want) <= set(common.denied_paths(Options(), checkout))


def test_grading_kernels_get_the_grading_thread_count(tmp_path, monkeypatch):
    """THREADS, whatever it is set to, not the kernel's own default (records must not
    depend on --jobs or on the machine)."""
    monkeypatch.setattr(run, "THREADS", 3)
    k = run.new_kernel(tmp_path, Options(warm=False, memory_mb=100, grace=2))
    assert (type(k), k.threads, k.memory_mb, k.grace) == (sandbox.Kernel, 3, 100, 2)
