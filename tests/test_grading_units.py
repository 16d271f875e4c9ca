"""Unit tests of the grader's parts without a kernel (coursekit/grading): running a task
with a scripted kernel (anything with ``run(source, timeout, history)``, ``restart()``
and ``shutdown()``), the messages, the records, the reports and the plan of a class.

Every expected value here is what the grader must compute from the inputs (exact
records, messages and files), so a changed comparison, message or count fails a test.
"""
import importlib
import os
import time
import json
import xml.etree.ElementTree as ET
from typing import get_args

import pytest
from fakes import FakeKernel, answer, code, error, put, solution_nb, student
from nbformat.v4 import new_markdown_cell, new_notebook

from coursekit import notebook
from coursekit.grading import batch, common, report, run
from coursekit.grading.assemble import Assembly, Step
from coursekit.grading.common import (
    GradeError,
    STATUSES,
    GradeRecord,
    Options,
    Status,
    TaskVerdict,
    gradebook_json,
    read_gradebook,
)
from coursekit.grading.run import Verdict
from coursekit.sandbox import Outcome

asm_mod = importlib.import_module("coursekit.grading.assemble")  # the package's `assemble` is the function


# ------------------------------------------------------------------------- a fake kernel
# ------------------------------------------------------------------------- the seminar
def test_load_solution_reads_steps_tasks_and_names(sem):
    assert sem.stem == "01_units"
    assert sem.tasks == [("a", 2), ("b", 1.5), ("c", 1)]
    assert sem.max_points == 4.5
    assert [(s.id, s.kind, s.task) for s in sem.steps] == [
        ("setup", "other", "a"), ("answer-a", "answer", "a"), ("test-a", "test", "a"),
        ("answer-b", "answer", "b"), ("use-b", "other", "b"), ("test-b", "test", "b"),
        ("test-c", "test", "c")]  # "after" follows the last graded cell: not a step
    steps = {s.id: s for s in sem.steps}
    assert steps["test-b"].hidden == frozenset({2, 3, 4})
    assert steps["test-a"].hidden == frozenset() and steps["answer-a"].hidden == frozenset()
    assert steps["answer-a"].seminar == ("def twice(x):\n    # YOUR CODE HERE\n"
                                         "    raise NotImplementedError\n")
    assert steps["test-b"].seminar == "assert result == 4\nprint('b: OK')"
    assert sem.answer_names == {"twice": "answer-a", "plus": "answer-b"}
    assert sem.solution_names == frozenset({"math", "LIMIT", "twice", "plus", "result"})
    assert steps["setup"].capture == ("LIMIT", "math")
    assert steps["use-b"].capture == ("result",)
    assert steps["answer-a"].capture == ()
    assert [s.id for s in sem.answers] == ["answer-a", "answer-b"]
    assert sem.forbid == {}
    assert sem.default_timeout == common.DEFAULT_TIMEOUT


@pytest.mark.parametrize("change, message", [
    (lambda nb: nb.cells[3].metadata["course"].update(points=-1),
     "01_bad.ipynb: code cell 3 (test-a): points must be a number >= 0, got -1"),
    (lambda nb: nb.cells[3].metadata["course"].update(points=True),
     "01_bad.ipynb: code cell 3 (test-a): points must be a number >= 0, got True"),
    (lambda nb: nb.cells[3].metadata["course"].update(points="2"),
     "01_bad.ipynb: code cell 3 (test-a): points must be a number >= 0, got '2'"),
    (lambda nb: nb.cells[2].metadata.update(course={"task": "x"}),
     "01_bad.ipynb: code cell 2 (answer-a) is both an answer cell and a graded test cell"),
    (lambda nb: setattr(nb, "cells", [c for c in nb.cells if not notebook.task_metadata(c)]),
     "01_bad.ipynb has no graded test cell (metadata {'course': {'task': ..., 'points': ...}})"),
    (lambda nb: nb.cells[3].update(source="### BEGIN HIDDEN TESTS\nx = 1"),
     "01_bad.ipynb: code cell 3 (test-a): '### BEGIN HIDDEN TESTS' is never closed"),
    (lambda nb: nb.cells[6].metadata["course"].update(task="a"),
     "01_bad.ipynb: code cell 6 (test-b): task id 'a' is used twice"),
])
def test_broken_solutions_say_which_cell(tmp_path, change, message):
    nb = solution_nb()
    change(nb)
    notebook.write(nb, tmp_path / "01_bad.ipynb")
    with pytest.raises(notebook.CourseError) as info:
        asm_mod.load_solution(tmp_path / "01_bad.ipynb")
    assert message in str(info.value).split("; ")


def test_duplicate_colab_ids_are_refused(tmp_path):
    """nbformat repairs duplicate top-level ids when it reads; Colab's ``metadata.id``
    (nbformat 4.4, no top-level id) it leaves alone."""
    nb = solution_nb()
    nb.nbformat_minor = 4
    for cell in nb.cells:
        cell.metadata["id"] = cell.pop("id")
    nb.cells[4].metadata["id"] = "answer-a"
    notebook.write(nb, tmp_path / "01_bad.ipynb")
    with pytest.raises(notebook.CourseError) as info:
        asm_mod.load_solution(tmp_path / "01_bad.ipynb")
    assert str(info.value) == "01_bad.ipynb: code cell 4 (answer-a): duplicate id"


def test_a_cell_without_id_is_refused(tmp_path):
    nb = solution_nb()
    nb.nbformat_minor = 4
    for cell in nb.cells:
        cell.pop("id")
    notebook.write(nb, tmp_path / "01_old.ipynb")
    with pytest.raises(notebook.CourseError) as info:
        asm_mod.load_solution(tmp_path / "01_old.ipynb")
    assert str(info.value).split("; ")[0] == \
        "01_old.ipynb: code cell 1 (None) has no id (save with nbformat >= 4.5)"


def test_points_default_to_one_and_forbid_is_kept(tmp_path):
    nb = solution_nb()
    del nb.cells[3].metadata["course"]["points"]
    nb.cells[6].metadata["course"]["forbid"] = ["math.sqrt", ".pop"]
    notebook.write(nb, tmp_path / "01_x.ipynb")
    sem = asm_mod.load_solution(tmp_path / "01_x.ipynb")
    assert sem.tasks == [("a", 1), ("b", 1.5), ("c", 1)]
    assert sem.forbid == {"b": ("math.sqrt", ".pop")}


def test_num_and_default_timeout():
    assert asm_mod._num(10.0) == 10 and type(asm_mod._num(10.0)) is int
    assert asm_mod._num(2.345) == 2.35 and asm_mod._num(0.5) == 0.5
    nb = solution_nb()
    nb.cells[1].metadata["execution"] = {"iopub.execute_input": "2026-01-01T00:00:00Z",
                                         "shell.execute_reply": "2026-01-01T00:00:03.04Z"}
    assert asm_mod.default_timeout(nb) == 30.0  # 10 x 3.04 rounds to 30: the floor
    nb.cells[2].metadata["execution"] = {"iopub.execute_input": "2026-01-01T00:00:00Z",
                                         "shell.execute_reply": "2026-01-01T00:00:03.06Z"}
    assert asm_mod.default_timeout(nb) == 31.0
    nb.cells[3].metadata["execution"] = {"iopub.execute_input": "garbage"}
    assert asm_mod.default_timeout(nb) == 31.0


def test_load_solutions_marks_identify_and_caches(tmp_path, sem):
    folder = tmp_path / "sols"
    notebook.write(solution_nb(), folder / "01_units.ipynb")
    other = new_notebook(cells=[code("setup", "import math\nLIMIT = 3"),
                                answer("answer-z", "return 0", "def zero():"),
                                code("test-z", "assert zero() == 0  # a long enough line",
                                     task="z")])
    notebook.write(other, folder / "02_other.ipynb")
    seminars = asm_mod.load_solutions(folder)
    assert list(seminars) == ["01_units", "02_other"]
    assert asm_mod.load_solutions(folder) is seminars  # cached until a file changes
    units = seminars["01_units"]
    assert ("id", "setup") not in units.marks  # shared by both: not distinctive
    assert ("id", "answer-a") in units.marks
    assert ("src", "assert math.pi > 3") not in units.marks  # < 30 characters
    assert ("src", "assert result == 4\nprint('b: OK')") in units.marks  # 31
    assert ("src", "assert twice(2) == 4, 'twice(2) is wrong'\nprint('a: OK')") in units.marks
    assert seminars["02_other"].marks == {("id", "answer-z"), ("id", "test-z"),
                                          ("src", "assert zero() == 0  # a long enough line")}
    assert asm_mod.identify(seminars, student()) == {"01_units": 7, "02_other": 0}
    assert asm_mod.identify(seminars, other) == {"01_units": 0, "02_other": 3}


def test_broken_solutions_are_listed_together(tmp_path):
    bad = solution_nb()
    bad.cells[3].metadata["course"]["points"] = -2
    notebook.write(bad, tmp_path / "01_a.ipynb")
    notebook.write(bad, tmp_path / "02_b.ipynb")
    with pytest.raises(GradeError) as info:
        asm_mod.load_solutions(tmp_path)
    assert str(info.value) == (
        "cannot grade with broken solutions: 01_a.ipynb: code cell 3 (test-a): points must "
        "be a number >= 0, got -2 | 02_b.ipynb: code cell 3 (test-a): points must be a "
        "number >= 0, got -2")
    with pytest.raises(GradeError) as info:
        asm_mod.load_solutions(tmp_path / "empty")
    assert str(info.value) == (f"no solution notebooks in {(tmp_path / 'empty').resolve()}: "
                               "the grader takes its tests from solutions/NN_topic.ipynb")


# ------------------------------------------------------------------------- assembling
def test_assemble_takes_answers_by_id_the_last_duplicate_and_lists_extras(sem):
    nb = student(answer_a="def twice(x):\n    return x + x\n")
    dup = code("answer-b", "def plus(x):\n    return 1 + x\n")
    nb.cells.insert(6, dup)
    nb.cells.insert(1, code("mine", "def helper():\n    pass"))
    asm = asm_mod.assemble(sem, nb)
    assert asm.answers == {"answer-a": "def twice(x):\n    return x + x\n",
                           "answer-b": "def plus(x):\n    return 1 + x\n"}
    assert asm.notes == {}
    assert asm.extra == ["def helper():\n    pass", "print('not run')"]


def test_assemble_extra_cells_are_those_with_unknown_ids(sem):
    nb = student()
    nb.cells.insert(1, code("mine", "def helper():\n    pass"))
    asm = asm_mod.assemble(sem, nb)
    # "after" is the solution's cell after the last test: not a step, so not "known"
    assert asm.extra == ["def helper():\n    pass", "print('not run')"]


def test_assemble_by_position_when_ids_differ(sem):
    nb = student(answer_b="def plus(x):\n    return x - -1  # mine\n")
    for cell in nb.cells:
        if cell.get("id") == "answer-b":
            cell.id = "renamed-b"
    asm = asm_mod.assemble(sem, nb)
    assert asm.answers["answer-b"] == "def plus(x):\n    return x - -1  # mine\n"
    assert asm.notes == {"answer-b": "answer cell 'answer-b' was matched by position (its "
                                     "cell id differs from the seminar's)"}
    assert "def plus(x):\n    return x - -1  # mine\n" not in asm.extra


def test_assemble_by_position_picks_the_most_similar_cell(sem):
    nb = student()
    nb.cells = [c for c in nb.cells if c.get("id") != "answer-b"]
    at = [c.get("id") for c in nb.cells].index("use-b")
    nb.cells[at:at] = [code("scratch", "print('just looking')"),
                       code("my-b", "def plus(x):\n    # YOUR CODE HERE\n    return x + 1\n")]
    asm = asm_mod.assemble(sem, nb)
    assert asm.answers["answer-b"] == "def plus(x):\n    # YOUR CODE HERE\n    return x + 1\n"
    assert asm.extra == ["print('just looking')", "print('not run')"]


def test_assemble_missing_and_markdown_answers(sem):
    nb = student()
    nb.cells = [c for c in nb.cells if c.get("id") != "answer-b"]
    for cell in nb.cells:
        if cell.get("id") == "answer-a":
            cell.cell_type = "markdown"
    asm = asm_mod.assemble(sem, nb)
    assert asm.answers == {"answer-a": None, "answer-b": None}
    assert asm.notes == {
        "answer-a": "cell 'answer-a' is a markdown cell in your notebook, not a code cell",
        "answer-b": "your notebook has no answer cell 'answer-b' (deleted, or its id "
                    "changed); graded as unanswered"}


def test_task_segments_and_broken_rules(tmp_path):
    nb = solution_nb()
    nb.cells[6].metadata["course"]["forbid"] = ["math.sqrt"]
    notebook.write(nb, tmp_path / "01_r.ipynb")
    sem = asm_mod.load_solution(tmp_path / "01_r.ipynb")
    assert [(t, [s.id for s in steps]) for t, steps in asm_mod.task_segments(sem)] == [
        ("a", ["setup", "answer-a", "test-a"]), ("b", ["answer-b", "use-b", "test-b"]),
        ("c", ["test-c"])]
    assert [t for t, _ in asm_mod.task_segments(sem, until="b")] == ["a", "b"]
    good = asm_mod.assemble(sem, student())
    assert asm_mod.broken_rules(sem, good) == {}
    bad = asm_mod.assemble(sem, student(
        answer_a="def root(x):\n    return math.sqrt(x)\n\ndef twice(x):\n    return 2 * x\n",
        answer_b="def plus(x):\n    return root(x * x) + 1\n"))
    assert asm_mod.broken_rules(sem, bad) == {"b": (
        "rule broken: this task must not use math.sqrt; your cell 'answer-a', line 2 uses "
        "math.sqrt")}
    missing = Assembly({"answer-a": None, "answer-b": None}, {}, [])
    assert asm_mod.broken_rules(sem, missing) == {}


# ------------------------------------------------------------------------- messages
TB = ["---------------------------------------------------------------------------",
      "ValueError                                Traceback (most recent call last)",
      "Cell In[4], line 1\n----> 1 assert twice(2) == 4\n",
      "Cell In[2], line 3, in twice(x)\n      1 def twice(x):\n      2     y = x\n"
      "----> 3     raise ValueError('bad')\n"]


def steps_of(sem):
    return {s.id: s for s in sem.steps}


def test_where_is_the_innermost_notebook_frame(sem):
    s = steps_of(sem)
    counts = {2: s["answer-a"], 4: s["test-a"]}
    assert run._where(error("ValueError", "bad", TB), counts) == \
        (s["answer-a"], 3, "raise ValueError('bad')")
    assert run._where(error("ValueError", "bad", TB[:3]), counts) == \
        (s["test-a"], 1, "assert twice(2) == 4")
    assert run._where(error("ValueError", "bad", TB), {}) is None
    assert run._where(error("X", "", ["Cell In[2], line 7\nno arrow"]), counts) == \
        (s["answer-a"], 7, "")


def test_describe_names_the_students_cell_and_line(sem):
    s, opts = steps_of(sem), Options(memory_mb=512)
    asm = Assembly({}, {}, [])
    counts = {2: s["answer-a"], 4: s["test-a"]}
    out = error("ValueError", "bad", TB)
    assert run.describe(out, s["test-a"], counts, asm, opts) == \
        "ValueError: bad (in your cell 'answer-a', line 3)"
    assert run.describe(error("ValueError", "", TB), s["test-a"], counts, asm, opts) == \
        "ValueError (in your cell 'answer-a', line 3)"
    assert run.describe(error("KeyError", "'x': ", []), s["test-a"], {}, asm, opts) == \
        "KeyError: 'x'"


def test_describe_hidden_tests_and_bare_assertions(sem):
    s, opts, asm = steps_of(sem), Options(), Assembly({}, {}, [])
    counts = {7: s["test-b"]}
    hidden = error("AssertionError", "", ["Cell In[7], line 3\n----> 3 assert plus(-1) == 0\n"])
    assert run.describe(hidden, s["test-b"], counts, asm, opts) == \
        "a hidden test failed: AssertionError"
    shown = error("AssertionError", "", ["Cell In[7], line 1\n----> 1 assert result == 4\n"])
    assert run.describe(shown, s["test-b"], counts, asm, opts) == \
        "AssertionError at `assert result == 4`"
    said = error("AssertionError", "result is 5", ["Cell In[7], line 1\n----> 1 assert result == 4\n"])
    assert run.describe(said, s["test-b"], counts, asm, opts) == "AssertionError: result is 5"
    other = error("AssertionError", "", ["Cell In[5], line 1\n----> 1 result = plus(LIMIT)\n"])
    assert run.describe(other, s["test-b"], {5: s["use-b"]}, asm, opts) == "AssertionError"


def test_describe_not_answered_memory_and_names(sem):
    s, asm = steps_of(sem), Assembly({}, {}, ["def helper(x):\n    return x", "K = 3",
                                              "class Box:\n    pass", "import numpy as np"])
    opts = Options(memory_mb=777)
    stub = error("NotImplementedError", "", ["Cell In[2], line 3\n----> 3 raise NotImplementedError\n"])
    assert run.describe(stub, s["answer-a"], {2: s["answer-a"]}, asm, opts) == \
        "not answered yet: cell 'answer-a' raises NotImplementedError"
    assert run.describe(stub, s["test-a"], {2: s["answer-a"]}, asm, opts) == \
        "not answered yet (NotImplementedError) in your cell 'answer-a'"
    assert run.describe(stub, s["test-a"], {}, asm, opts) == \
        "not answered yet (NotImplementedError)"
    assert run.describe(error("MemoryError", ""), s["test-a"], {}, asm, opts) == \
        "MemoryError [the grader allows 777 MB per notebook]"
    assert run.describe(error("RuntimeError", "DefaultCPUAllocator: can't allocate memory"),
                        s["test-a"], {}, asm, opts) == \
        "RuntimeError: DefaultCPUAllocator: can't allocate memory [the grader allows 777 MB " \
        "per notebook]"
    for name in ("helper", "K", "Box", "np"):
        assert run.describe(error("NameError", f"name '{name}' is not defined"), s["test-a"],
                            {}, asm, opts) == (
            f"NameError: name '{name}' is not defined [{name} is defined in a cell you added;"
            " the grader runs only the answer cells: move it into the answer cell that uses it]")
    assert run.describe(error("NameError", "name 'twice' is not defined"), s["test-a"], {}, asm,
                        opts, {"twice": "answer-a"}) == \
        "NameError: name 'twice' is not defined [assign `twice` in your answer cell 'answer-a']"
    assert run.describe(error("NameError", "name 'other' is not defined"), s["test-a"], {}, asm,
                        opts, {"twice": "answer-a"}) == "NameError: name 'other' is not defined"
    assert run.describe(error("NameError", "name 'helperx' is not defined"), s["test-a"], {},
                        asm, opts) == "NameError: name 'helperx' is not defined"


def test_clean_removes_paths_addresses_and_cuts_long_messages():
    assert run._clean("at /var/grade-x/work/f.txt: <object at 0x7f3a2b1c9d00>",
                      "/var/grade-x/work") == "at ./f.txt: <object at 0x…>"
    assert run._clean("0x12345 stays, 0x123456 goes") == "0x12345 stays, 0x… goes"
    assert run._clean("x" * 600) == "x" * 600
    assert run._clean("x" * 601) == "x" * 599 + "…"
    assert run._clean("got 3840000.0000000001") == "got 3.84e+06"


@pytest.mark.parametrize("text, short", [
    ("1234567890123", "1.23457e+12"),  # 13 digits: rounded
    ("123456789012", "123456789012"),  # 12 digits: kept
    ("1.234567", "1.23457"),  # 7 significant digits
    ("1.234560", "1.234560"),  # trailing zeros do not count
    ("0.000123456", "0.000123456"),  # leading zeros do not count
    ("0.0001234567", "0.000123457"),
    ("1.5e-10 and 1.23456789e-10", "1.5e-10 and 1.23457e-10"),
    ("x1234567.5 v2.12345678", "x1234567.5 v2.12345678"),  # part of a word: kept
    ("1.2.3456789", "1.2.3456789"),  # a version: kept
    ("9" * 400 + ".5", "9" * 400 + ".5"),  # beyond a float's range: kept, not "inf"
    ("1e999 and 2e-999", "1e999 and 2e-999"),
])
def test_short_numbers_edges(text, short):
    assert run.short_numbers(text) == short


# ------------------------------------------------------------------------- one task
def asm_of(sem, **answers):
    return asm_mod.assemble(sem, student(**answers))


def segment(sem, tid):
    return dict(asm_mod.task_segments(sem))[tid]


def test_run_segment_passes_and_counts_cells(sem):
    k, counts = FakeKernel(), {}
    verdict, lost = run.run_segment(k, segment(sem, "a"), asm_of(sem), False, 7, counts,
                                    Options())
    assert (verdict, lost) == (Verdict("passed"), False)
    assert [(t, h) for _, t, h in k.log] == [(7, True)] * 3
    assert k.cells()[1] == asm_of(sem).answers["answer-a"]
    assert {n: s.id for n, s in counts.items()} == {1: "setup", 2: "answer-a", 3: "test-a"}


def test_run_segment_stubbed_and_missing_answers_run_the_seminar_stub(sem):
    stub = steps_of(sem)["answer-a"].seminar
    for stubbed, asm in ((True, asm_of(sem)), (False, Assembly({"answer-a": None}, {}, []))):
        k = FakeKernel()
        run.run_segment(k, segment(sem, "a"), asm, stubbed, 7, {}, Options())
        assert k.cells()[1] == stub


def test_run_segment_limits_per_cell(sem):
    k = FakeKernel()
    run.run_segment(k, segment(sem, "a"), asm_of(sem), False, 7, {}, Options(),
                    limits={"setup": 120})
    assert [t for _, t, _ in k.log] == [120, 7, 7]


@pytest.mark.parametrize("status, detail, message, lost", [
    ("timeout", "", "your cell 'answer-a' did not finish within 7.5 s (the per-cell limit)",
     False),
    ("killed", "it ignored the interrupt", "your cell 'answer-a' did not finish within 7.5 s "
     "(the per-cell limit); it ignored the interrupt", True),
])
def test_run_segment_timeouts(sem, status, detail, message, lost):
    k = FakeKernel({"return 2 * x": Outcome(status, detail=detail)})
    verdict, dead = run.run_segment(k, segment(sem, "a"), asm_of(sem), False, 7.5, {},
                                    Options())
    assert (verdict, dead) == (Verdict("timeout", message, True), lost)
    assert len(k.log) == 2  # the test cell is not run


def test_run_segment_kernel_death(sem):
    k = FakeKernel({"assert twice": Outcome("dead", detail="the kernel was killed by SIGKILL")})
    verdict, dead = run.run_segment(k, segment(sem, "a"), asm_of(sem), False, 5, {}, Options())
    assert (verdict, dead) == (Verdict("error", "the kernel was killed by SIGKILL while "
                                                "running cell 'test-a'", False), True)
    k = FakeKernel({"return 2 * x": Outcome("dead", detail="gone")})
    verdict, dead = run.run_segment(k, segment(sem, "a"), asm_of(sem), False, 5, {}, Options())
    assert (verdict, dead) == (Verdict("error", "gone while running your cell 'answer-a'",
                                       True), True)
    k = FakeKernel({"LIMIT = 3": Outcome("timeout")})
    verdict, dead = run.run_segment(k, segment(sem, "a"), asm_of(sem), False, 5, {}, Options())
    assert verdict == Verdict("timeout", "cell 'setup' did not finish within 5 s (the per-cell "
                                         "limit)", False)


def test_run_segment_an_answer_that_raises_fails_the_task_even_if_the_test_passes(sem):
    tb = ["Cell In[1], line 2\n      1 def plus(x):\n----> 2     return x +\n"]
    k = FakeKernel({"return x + 1": error("SyntaxError", "invalid syntax", tb)})
    verdict, dead = run.run_segment(k, segment(sem, "b"), asm_of(sem), False, 5, {}, Options())
    assert (verdict, dead) == (Verdict("failed", "SyntaxError: invalid syntax (in your cell "
                                       "'answer-b', line 2)", True), False)
    assert len(k.cells()) == 3  # the rest of the task still runs


def test_run_segment_the_first_error_before_the_test_is_reported(sem):
    """An instructor cell that calls the student's function reports that exception (theirs,
    located in their cell), not the NameError the test cell raises next."""
    tb = ["Cell In[2], line 1\n----> 1 result = plus(LIMIT)\n",
          "Cell In[1], line 2, in plus(x)\n----> 2     return x + '1'\n"]
    k = FakeKernel({"result = plus": error("TypeError", "unsupported operand", tb),
                    "assert result": error("NameError", "name 'result' is not defined")})
    verdict, _ = run.run_segment(k, segment(sem, "b"), asm_of(sem), False, 5, {}, Options())
    assert verdict == Verdict("failed", "TypeError: unsupported operand (in your cell "
                                        "'answer-b', line 2)", True)
    k = FakeKernel({"result = plus": error("ZeroDivisionError", "division by zero", tb[:1]),
                    "assert result": error("NameError", "name 'result' is not defined")})
    verdict, _ = run.run_segment(k, segment(sem, "b"), asm_of(sem), False, 5, {}, Options())
    assert verdict == Verdict("failed", "ZeroDivisionError: division by zero", False)


def test_run_segment_a_failing_test_is_not_the_students_own_error(sem):
    k = FakeKernel({"assert twice": error("AssertionError", "twice(2) is wrong",
                                          ["Cell In[3], line 1\n----> 1 assert twice(2) == 4\n"])})
    verdict, _ = run.run_segment(k, segment(sem, "a"), asm_of(sem), False, 5, {}, Options())
    assert verdict == Verdict("failed", "AssertionError: twice(2) is wrong", False)


def test_run_segment_without_a_test_cell():
    k = FakeKernel()
    steps = [Step("x", "pass", "other", "t")]
    assert run.run_segment(k, steps, Assembly({}, {}, []), False, 5, {}, Options()) == \
        (Verdict("error", "the task has no test cell"), False)


# ------------------------------------------------------------------------- the tamper guard
class FakeGuard:
    """Records the guard's syncs: (capture, restore); answers with ``outcomes`` in turn."""

    def __init__(self, *outcomes):
        self.pending = ()
        self.calls = []
        self.outcomes = list(outcomes)

    def sync(self, kernel, capture, restore, timeout):
        self.calls.append((tuple(capture), restore, timeout))
        return self.outcomes.pop(0) if self.outcomes else Outcome("ok")


def test_guard_restores_before_instructor_cells_and_remembers_their_names(sem):
    g = FakeGuard()
    k = FakeKernel()
    verdict, _ = run.run_segment(k, segment(sem, "b"), asm_of(sem), False, 9, {}, Options(),
                                 guard=g)
    assert verdict == Verdict("passed")
    # before answer-b: nothing pending, no restore -> no call; before use-b: restore;
    # before test-b: remember what use-b bound, restore
    assert g.calls == [((), True, 9), (("result",), True, 9)]
    assert g.pending == ()


def test_guard_pending_names_are_synced_before_an_answer_cell(sem):
    g = FakeGuard()
    g.pending = ("LIMIT",)
    run.run_segment(FakeKernel(), segment(sem, "b")[:1], asm_of(sem), False, 9, {}, Options(),
                    guard=g)
    assert g.calls == [(("LIMIT",), False, 9)]
    assert g.pending == ()


def test_guard_not_pending_after_an_instructor_cell_that_raised(sem):
    g = FakeGuard()
    k = FakeKernel({"result = plus": error("TypeError", "x")})
    run.run_segment(k, segment(sem, "b"), asm_of(sem), False, 9, {}, Options(), guard=g)
    assert g.calls == [((), True, 9), ((), True, 9)]


@pytest.mark.parametrize("out, verdict, lost", [
    (Outcome("dead", detail="the kernel was killed by SIGSEGV"),
     Verdict("error", "the kernel was killed by SIGSEGV while the grader prepared cell 'use-b'"),
     True),
    (Outcome("killed"), Verdict("error", "the kernel died while the grader prepared cell "
                                         "'use-b'"), True),
    (Outcome("error", "AttributeError", "no attribute 'x'"),
     Verdict("failed", "the grader could not restore its checks before cell 'use-b' "
                       "(AttributeError: no attribute 'x'): an answer cell changed what the "
                       "tests rely on", True), False),
    (Outcome("timeout"),
     Verdict("failed", "the grader could not restore its checks before cell 'use-b' "
                       "(timeout: ): an answer cell changed what the tests rely on", True),
     False),
])
def test_guard_failures(sem, out, verdict, lost):
    g = FakeGuard(out)
    k = FakeKernel()
    assert run.run_segment(k, segment(sem, "b"), asm_of(sem), False, 9, {}, Options(),
                           guard=g) == (verdict, lost)
    assert len(k.cells()) == 1  # only answer-b ran


# ------------------------------------------------------------------------- a notebook
def statuses(verdicts):
    return {t: (v.status, v.message) for t, v in verdicts.items()}


def test_run_tasks_all_pass_and_the_guard_is_installed_first(sem, monkeypatch):
    scripted, asked = FakeKernel(), []
    monkeypatch.setattr(run, "new_kernel", lambda cwd, opts: asked.append((cwd, opts)) or scripted)
    opts = Options(timeout=11, deny=("/the/class",))
    verdicts = run.run_tasks(sem, asm_of(sem), "/nowhere", opts)
    assert asked == [("/nowhere", opts)]
    guard_source = scripted.log[0][0]
    assert repr(sorted(sem.solution_names)) in guard_source and "'/the/class'" in guard_source
    assert statuses(verdicts) == {"a": ("passed", ""), "b": ("passed", ""), "c": ("passed", "")}
    assert scripted.restarts == 1 and scripted.shutdowns == 1
    source, timeout, history = scripted.log[0]
    assert "_grader_guard" in source and history is False and timeout == 60
    assert scripted.cells()[0] == "import math\nLIMIT = 3"
    # the setup cell before the first answer gets the larger of the limit and DEFAULT_TIMEOUT
    assert [t for s, t, h in scripted.log if h] == [120, 11, 11, 11, 11, 11, 11]
    assert not any("not run" in s for s, _, _ in scripted.log)


def test_run_tasks_default_timeout_is_the_seminars(sem, scripted):
    sem.default_timeout = 150
    run.run_tasks(sem, asm_of(sem), "/nowhere", Options())
    assert [t for s, t, h in scripted.log if h] == [150] * 7


def test_run_tasks_replays_after_a_crash_with_the_stub(sem, scripted):
    scripted.script["return x + 1"] = Outcome("dead", detail="the kernel exited with code 3")
    verdicts = run.run_tasks(sem, asm_of(sem), "/nowhere", Options(timeout=5))
    assert statuses(verdicts) == {
        "a": ("passed", ""),
        "b": ("error", "the kernel exited with code 3 while running your cell 'answer-b'"),
        "c": ("passed", "")}
    assert scripted.restarts == 2 and scripted.shutdowns == 1
    second = scripted.cells()[scripted.cells().index("import math\nLIMIT = 3", 1):]
    assert steps_of(sem)["answer-b"].seminar in second  # the crashing answer: its stub
    assert asm_of(sem).answers["answer-a"] in second  # the others replayed as they are


def test_run_tasks_a_task_after_a_crash_is_annotated(sem, scripted):
    scripted.script["return x + 1"] = Outcome("dead", detail="gone")
    scripted.script["math.pi"] = error("AssertionError", "")
    verdicts = run.run_tasks(sem, asm_of(sem), "/nowhere", Options(timeout=5))
    assert verdicts["c"].message == ("AssertionError (graded in a fresh kernel after task(s) "
                                     "b crashed it)")


def test_run_tasks_gives_up_after_max_restarts(sem, scripted):
    scripted.script["return 2 * x"] = Outcome("dead", detail="boom")
    scripted.script[steps_of(sem)["answer-a"].seminar.split("\n")[0] + "\n    # YOUR"] = \
        Outcome("dead", detail="boom")
    verdicts = run.run_tasks(sem, asm_of(sem), "/nowhere", Options(timeout=5, max_restarts=1))
    assert statuses(verdicts) == {
        "a": ("error", "boom while running your cell 'answer-a'"),
        "b": ("error", "not graded: the kernel died 2 times"),
        "c": ("error", "not graded: the kernel died 2 times")}
    assert scripted.restarts == 2


def test_run_tasks_crash_without_an_answer_cell_ends_the_run(sem, scripted):
    scripted.script["math.pi"] = Outcome("dead", detail="boom")
    verdicts = run.run_tasks(sem, asm_of(sem), "/nowhere", Options(timeout=5))
    assert statuses(verdicts)["c"] == ("error", "boom while running cell 'test-c'")
    assert scripted.restarts == 1
    scripted.log.clear()
    scripted.restarts = 0
    scripted.script["LIMIT = 3"] = Outcome("dead", detail="boom")
    verdicts = run.run_tasks(sem, asm_of(sem), "/nowhere", Options(timeout=5))
    assert statuses(verdicts) == {
        "a": ("error", "boom while running cell 'setup'"),
        "b": ("error", "not graded: the kernel died 4 times"),
        "c": ("error", "not graded: the kernel died 4 times")}
    assert scripted.restarts == 4  # max_restarts (3) fresh kernels after the first


def test_run_tasks_crash_in_an_instructor_only_task_ends_the_run(tmp_path, monkeypatch):
    nb = new_notebook(cells=[code("setup", "LIMIT = 3"),
                             code("test-c", "assert LIMIT == 3", task="c"),
                             answer("answer-b", "return x + 1", "def plus(x):"),
                             code("test-b", "assert plus(1) == 2", task="b")])
    notebook.write(nb, tmp_path / "01_c.ipynb")
    sem = asm_mod.load_solution(tmp_path / "01_c.ipynb")
    k = FakeKernel({"assert LIMIT": Outcome("dead", detail="boom")})
    monkeypatch.setattr(run, "new_kernel", lambda cwd, opts: k)
    verdicts = run.run_tasks(sem, asm_mod.assemble(sem, nb), "/nowhere", Options(timeout=5))
    assert statuses(verdicts) == {
        "c": ("error", "boom while running cell 'test-c'"),
        "b": ("error", "not graded: the kernel died in task 'c', which has no answer cell "
                       "to skip")}
    assert k.restarts == 1


def test_run_tasks_a_kernel_that_cannot_start(sem, monkeypatch):
    k = FakeKernel(fail_restart=RuntimeError("no kernel today"))
    monkeypatch.setattr(run, "new_kernel", lambda cwd, opts: k)
    verdicts = run.run_tasks(sem, asm_of(sem), "/nowhere", Options(timeout=5))
    msg = "not graded: could not start a kernel: RuntimeError: no kernel today"
    assert statuses(verdicts) == {"a": ("error", msg), "b": ("error", msg), "c": ("error", msg)}
    assert k.shutdowns == 1


def test_run_tasks_a_guard_that_cannot_be_installed(sem, scripted):
    scripted.script["_grader_guard"] = error("ImportError", "no audit hooks")
    verdicts = run.run_tasks(sem, asm_of(sem), "/nowhere", Options(timeout=5))
    assert verdicts["a"].message == (
        "not graded: could not start a kernel: RuntimeError: could not install the grader's "
        "guard in the kernel: ImportError: no audit hooks")


def test_run_tasks_timeout_stubs_the_answer_on_replay(sem, scripted):
    scripted.script["return 2 * x"] = Outcome("timeout")
    scripted.script["return x + 1"] = lambda k: Outcome("dead", detail="gone") \
        if k.restarts == 1 else Outcome("ok")
    verdicts = run.run_tasks(sem, asm_of(sem), "/nowhere", Options(timeout=5))
    assert verdicts["a"].status == "timeout" and verdicts["b"].status == "error"
    second = scripted.cells()[scripted.cells().index("import math\nLIMIT = 3", 1):]
    assert asm_of(sem).answers["answer-a"] not in second
    assert second.count(steps_of(sem)["answer-a"].seminar) == 1


def test_run_tasks_until_stops_after_that_task(sem, scripted):
    verdicts = run.run_tasks(sem, asm_of(sem), "/nowhere", Options(timeout=5), until="a")
    assert list(verdicts) == ["a"]
    assert len(scripted.cells()) == 3


def test_broken_rule_outweighs_passed_and_failed_only(sem, scripted):
    scripted.script["math.pi"] = Outcome("timeout")
    scripted.script["assert result"] = error("AssertionError", "")
    verdicts = run.run_tasks(sem, asm_of(sem), "/nowhere", Options(timeout=5),
                             broken={"a": "rule broken: A", "b": "rule broken: B",
                                     "c": "rule broken: C", "zz": "ignored"})
    assert statuses(verdicts) == {
        "a": ("failed", "rule broken: A"),
        "b": ("failed", "rule broken: B"),
        "c": ("timeout", "cell 'test-c' did not finish within 5 s (the per-cell limit) "
                         "(earlier task(s) a, b did not pass; this task may depend on them)")}


def test_annotate_only_tasks_that_are_not_their_own_fault():
    segs = [("a", []), ("b", []), ("c", []), ("d", [])]
    verdicts = {"a": Verdict("failed", "A", True), "b": Verdict("passed"),
                "c": Verdict("failed", "C", True), "d": Verdict("failed", "")}
    run._annotate(verdicts, segs, set())
    assert [v.message for v in verdicts.values()] == [
        "A", "", "C", "earlier task(s) a, c did not pass; this task may depend on them"]
    verdicts = {"a": Verdict("error", "not graded: x"), "b": Verdict("error", "not graded: x")}
    run._annotate(verdicts, segs[:2], set())
    assert verdicts["b"].message == "not graded: x"


# ------------------------------------------------------------------------- records
def test_record_points_statuses_and_missing_answers(sem):
    asm = Assembly({"answer-a": "x", "answer-b": None},
                   {"answer-b": "your notebook has no answer cell 'answer-b'"}, [])
    verdicts = {"a": Verdict("passed"), "b": Verdict("failed", "NameError: plus"),
                "c": Verdict("timeout", "slow at 0xdeadbeef12")}
    rec = run._record(sem, verdicts, "01_units.ipynb", ["a note"], asm)
    assert rec.to_json() == {"points": 2, "max_points": 4.5, "file": "01_units.ipynb",
                   "notes": ["a note"], "tasks": [
                       {"id": "a", "points": 2, "max_points": 2, "status": "passed",
                        "message": ""},
                       {"id": "b", "points": 0, "max_points": 1.5, "status": "missing",
                        "message": "your notebook has no answer cell 'answer-b'"},
                       {"id": "c", "points": 0, "max_points": 1, "status": "timeout",
                        "message": "slow at 0x…"}]}
    asm.answers["answer-a"] = None
    asm.notes["answer-a"] = "gone"
    rec = run._record(sem, {"a": Verdict("passed")}, "f.ipynb", (), asm)
    assert rec.to_json() == {"points": 2, "max_points": 2, "file": "f.ipynb", "tasks": [
        {"id": "a", "points": 2, "max_points": 2, "status": "passed", "message": ""}]}
    assert "notes" not in rec.to_json() and rec.notes == []


def test_failed_record(sem):
    assert run.failed_record(None, "x.ipynb", "not a seminar").to_json() == {
        "points": 0, "max_points": 0, "file": "x.ipynb",
        "tasks": [{"id": "file", "points": 0, "max_points": 0, "status": "error",
                   "message": "not a seminar"}]}
    rec = run.failed_record(sem, "01_units.ipynb", "unreadable", status="failed")
    assert rec.to_json() == {"points": 0, "max_points": 4.5, "file": "01_units.ipynb", "tasks": [
        {"id": t, "points": 0, "max_points": p, "status": "failed", "message": "unreadable"}
        for t, p in (("a", 2), ("b", 1.5), ("c", 1))]}


def test_grade_notebook_record_with_a_scripted_kernel(sem, scripted):
    scripted.script["raise NotImplementedError"] = error("NotImplementedError", "")
    scripted.script["return x - 1"] = error(
        "AssertionError", "", ["Cell In[7], line 1\n----> 1 assert result == 4\n"])
    nb = student(answer_b="def plus(x):\n    return x - 1\n")
    nb.cells = [c for c in nb.cells if c.get("id") != "answer-a"]
    rec = run.grade_notebook(sem, nb, Options(timeout=5, sandbox="off"), file="01_units.ipynb",
                             notes=["graded as 01_units"])
    assert rec.to_json() == {"points": 1, "max_points": 4.5, "file": "01_units.ipynb",
                   "notes": ["graded as 01_units"], "sandbox": "none", "tasks": [
                       {"id": "a", "points": 0, "max_points": 2, "status": "missing",
                        "message": "your notebook has no answer cell 'answer-a' (deleted, or "
                                   "its id changed); graded as unanswered"},
                       {"id": "b", "points": 0, "max_points": 1.5, "status": "failed",
                        "message": "AssertionError"},
                       {"id": "c", "points": 1, "max_points": 1, "status": "passed",
                        "message": ""}]}


def test_grade_notebook_in_the_sandbox_works_in_the_scratch_root(sem, monkeypatch):
    """With the OS sandbox the notebook's folder is made in the process's scratch root
    (where the warm zygote's tmpfs is), the kernel gets the sandbox, and the record says
    so; without it, a temporary folder anywhere and "none"."""
    from coursekit import bwrap

    asked = []
    monkeypatch.setattr(run, "run_tasks", lambda sem, asm, cwd, opts, until=None, broken=None:
                        asked.append((str(cwd), run.sandbox_for(opts))) or
                        {t: Verdict("passed") for t, _ in sem.tasks})
    rec = run.grade_notebook(sem, student(), Options(sandbox="required", disk_mb=7), file="f")
    (cwd, box), = asked
    assert rec.sandbox == "bubblewrap" and rec.points == rec.max_points == 4.5
    assert os.path.dirname(os.path.dirname(cwd)) == bwrap.scratch_root()
    assert cwd.endswith("/work") and box.disk_mb == 7
    assert not os.path.exists(cwd)  # removed after grading
    rec = run.grade_notebook(sem, student(), Options(sandbox="off"), file="f")
    assert rec.sandbox == "none" and asked[-1][1] is None
    assert not asked[-1][0].startswith(bwrap.scratch_root())


# ------------------------------------------------------------------------- reports
def rec(points, max_points, tasks, file="f.ipynb"):
    return GradeRecord(points, max_points, tasks, file)


def task_(tid, points, max_points, status, message=""):
    return TaskVerdict(tid, points, max_points, status, message)


BOOK = {
    "alice": {"01_x": rec(2, 3, [task_("t1", 2, 2, "passed"),
                                 task_("t2", 0, 1, "failed", "wrong sign")], "01_x.ipynb"),
              "02_y": rec(0.5, 0.5, [task_("u", 0.5, 0.5, "passed")], "02_y.ipynb")},
    "bob": {"01_x": rec(0, 3, [task_("t1", 0, 2, "timeout", "too slow"),
                               task_("t2", 0, 1, "error", "kernel died")], "01_x.ipynb"),
            "notes": rec(0, 0, [task_("file", 0, 0, "error", "not a seminar")], "notes.ipynb")},
    "carol": {},
}


def test_columns_csv_and_table():
    assert report.columns(BOOK) == {"01_x": 3, "02_y": 0.5}
    assert report.to_csv(BOOK) == ("student,01_x,02_y,total\nalice,2,0.5,2.5\nbob,0,,0\n"
                                   "carol,,,0\n")
    assert report.table(BOOK).split("\n") == [
        "student  01_x     02_y    total",
        "alice     2/3  0.5/0.5  2.5/3.5",
        "bob       0/3        -    0/3.5",
        "carol       -        -    0/3.5",
        "",
        "errors and timeouts:",
        "  bob/01_x.ipynb [t1] timeout: too slow",
        "  bob/01_x.ipynb [t2] error: kernel died",
        "  bob/notes.ipynb [file] error: not a seminar"]
    clean = {"alice": BOOK["alice"]}
    assert report.table(clean).split("\n") == [
        "student  01_x     02_y    total", "alice     2/3  0.5/0.5  2.5/3.5"]


def test_columns_take_the_largest_maximum():
    book = {"a": {"01": rec(1, 2, [])}, "b": {"01": rec(1, 5, [])}, "c": {"01": rec(1, 4, [])}}
    assert report.columns(book) == {"01": 5}


def test_junit():
    root = ET.fromstring(report.to_junit(BOOK).split("\n", 1)[1])
    assert report.to_junit(BOOK).startswith('<?xml version="1.0" encoding="utf-8"?>\n<testsuites')
    suites = {s.get("name"): s for s in root}
    assert root.tag == "testsuites" and root.get("name") == "grades"
    assert list(suites) == ["alice/01_x", "alice/02_y", "bob/01_x", "bob/notes"]
    assert {k: (s.get("tests"), s.get("failures"), s.get("errors")) for k, s in suites.items()} == {
        "alice/01_x": ("2", "1", "0"), "alice/02_y": ("1", "0", "0"),
        "bob/01_x": ("2", "0", "2"), "bob/notes": ("1", "0", "1")}
    cases = list(suites["alice/01_x"]) + list(suites["bob/01_x"])
    assert {c.tag for c in cases} == {"testcase"}
    assert [(c.get("classname"), c.get("name")) for c in cases] == [
        ("alice.01_x", "t1"), ("alice.01_x", "t2"), ("bob.01_x", "t1"), ("bob.01_x", "t2")]
    assert [[(e.tag, e.get("type"), e.get("message"), e.text) for e in c] for c in cases] == [
        [("system-out", None, None, "2/2 points")],
        [("failure", "failed", "wrong sign", None), ("system-out", None, None, "0/1 points")],
        [("error", "timeout", "too slow", None), ("system-out", None, None, "0/2 points")],
        [("error", "error", "kernel died", None), ("system-out", None, None, "0/1 points")]]
    missing = {"s": {"k": rec(0, 1, [task_("t", 0, 1, "missing", "no cell")])}}
    suite = ET.fromstring(report.to_junit(missing).split("\n", 1)[1])[0]
    assert suite.get("failures") == "1" and suite[0][0].tag == "failure"


def test_write_reports(tmp_path):
    out = report.write_reports(BOOK, tmp_path / "new" / "grades")
    assert out == tmp_path / "new" / "grades"
    assert sorted(p.name for p in out.iterdir()) == ["grades.csv", "grades.json", "junit.xml"]
    assert read_gradebook(out / "grades.json") == BOOK
    assert json.loads((out / "grades.json").read_text()) == {
        s: {k: r.to_json() for k, r in records.items()} for s, records in BOOK.items()}
    assert (out / "grades.json").read_text().endswith("}\n")
    assert (out / "grades.json").read_text().startswith('{\n  "alice": {\n    "01_x"')
    assert (out / "grades.csv").read_text() == report.to_csv(BOOK)
    assert (out / "junit.xml").read_text() == report.to_junit(BOOK)
    book = {"zoë": {"01": rec(1, 1, [task_("t", 1, 1, "passed", "ok — fine")])}}
    report.write_reports(book, tmp_path / "u")
    assert "zoë" in (tmp_path / "u" / "grades.json").read_text()


def test_merge_sorts_agrees_and_refuses(tmp_path):
    (tmp_path / "1.json").write_text(gradebook_json({"bob": {"02": rec(1, 1, [])}}))
    (tmp_path / "2.json").write_text(gradebook_json({"alice": {"01": rec(0, 1, [])},
                                                     "bob": {"01": rec(1, 1, [])}}))
    (tmp_path / "3.json").write_text(gradebook_json({"bob": {"01": rec(1, 1, [])}}))
    merged = report.merge([tmp_path / "1.json", tmp_path / "2.json", tmp_path / "3.json"])
    assert merged == {"alice": {"01": rec(0, 1, [])},
                      "bob": {"01": rec(1, 1, []), "02": rec(1, 1, [])}}
    assert list(merged) == ["alice", "bob"] and list(merged["bob"]) == ["01", "02"]
    (tmp_path / "4.json").write_text(gradebook_json({"bob": {"01": rec(0, 1, [])}}))
    with pytest.raises(GradeError) as info:
        report.merge([tmp_path / "2.json", tmp_path / "4.json"])
    assert str(info.value) == f"{tmp_path / '4.json'}: bob/01 differs from an earlier report"
    for bad in ("[1, 2]", '{"bob": 3}'):
        (tmp_path / "5.json").write_text(bad)
        with pytest.raises(GradeError) as info:
            report.merge([tmp_path / "5.json"])
        assert str(info.value) == \
            f"{tmp_path / '5.json'} is not a grades.json (student -> seminar -> record)"
    (tmp_path / "6.json").write_text("{oops")
    with pytest.raises(GradeError, match=r"^cannot read gradebook .*6\.json: JSONDecodeError: "
                                         "Expecting"):
        report.merge([tmp_path / "6.json"])


def test_grades_json_keeps_its_format_byte_for_byte(tmp_path):
    """GradeRecord.to_json writes what the grader wrote when a record was a dict: keys in
    the order points, max_points, tasks, file, notes (only when some), sandbox (only when
    code ran); whole points as ints; any text as UTF-8. Reading it back and writing it
    again gives the same bytes."""
    book = {"zoë": {
        "01_x": GradeRecord(2, 3.5, [TaskVerdict("t1", 2, 2, "passed"),
                                     TaskVerdict("t2", 0, 1.5, "failed", "résumé ≠ 1")],
                            "01_x (1).ipynb", ["graded as 01_x"], "bubblewrap"),
        "02_y": GradeRecord(0.25, 0.5, [TaskVerdict("u", 0.25, 0.5, "timeout", "slow")],
                            "02_y.ipynb", sandbox="none"),
        "notes": run.failed_record(None, "notes.ipynb", "not a seminar")}, "amy": {}}
    want = {"zoë": {
        "01_x": {"points": 2, "max_points": 3.5, "tasks": [
            {"id": "t1", "points": 2, "max_points": 2, "status": "passed", "message": ""},
            {"id": "t2", "points": 0, "max_points": 1.5, "status": "failed",
             "message": "résumé ≠ 1"}],
            "file": "01_x (1).ipynb", "notes": ["graded as 01_x"], "sandbox": "bubblewrap"},
        "02_y": {"points": 0.25, "max_points": 0.5, "tasks": [
            {"id": "u", "points": 0.25, "max_points": 0.5, "status": "timeout",
             "message": "slow"}], "file": "02_y.ipynb", "sandbox": "none"},
        "notes": {"points": 0, "max_points": 0, "tasks": [
            {"id": "file", "points": 0, "max_points": 0, "status": "error",
             "message": "not a seminar"}], "file": "notes.ipynb"}}, "amy": {}}
    text = json.dumps(want, indent=2, ensure_ascii=False) + "\n"
    assert gradebook_json(book) == text
    report.write_reports(book, tmp_path)
    assert (tmp_path / "grades.json").read_bytes() == text.encode("utf-8")
    again = read_gradebook(tmp_path / "grades.json")
    assert again == book
    assert gradebook_json(again) == text
    assert '"max_points": 3.5' in text and '"points": 2,' in text  # an int stays an int


def test_a_grade_record_is_typed_when_read(tmp_path):
    assert STATUSES == get_args(Status) == ("passed", "failed", "error", "timeout", "missing")
    with pytest.raises(ValueError, match="status 'pass' is not one of passed, failed"):
        TaskVerdict("t", 1, 1, "pass")
    good = {"points": 1, "max_points": 1, "file": "f.ipynb", "tasks": [
        {"id": "t", "points": 1, "max_points": 1, "status": "passed", "message": ""}]}
    assert GradeRecord.from_json(good).to_json() == good
    for change, why in (({"points": True}, "points must be a number"),
                        ({"tasks": [{"id": "t", "points": 1, "max_points": 1,
                                     "status": "Passed", "message": ""}]}, "status 'Passed'"),
                        ({"sandbox": "docker"}, "sandbox 'docker'"),
                        ({"file": None}, "expected text, not None"),
                        ({"tasks": [{"id": "t"}]}, "KeyError: 'points'")):
        path = tmp_path / "g.json"
        path.write_text(json.dumps({"bob": {"01": {**good, **change}}}), encoding="utf-8")
        with pytest.raises(GradeError) as info:
            read_gradebook(path)
        assert str(info.value).startswith(f"cannot read gradebook {path}: bob/01: ")
        assert why in str(info.value)
    bare = {k: v for k, v in good.items() if k != "file"}
    with pytest.raises(ValueError, match="not a grade record .KeyError: 'file'"):
        GradeRecord.from_json(bare)


def _status_strings(source: str) -> list:
    """(line, string) of every string the code gives or compares as a task's status: the
    status argument of Verdict, TaskVerdict and failed_record; in a function documented as
    returning "(status, ...)", the first item of each tuple it returns or assigns to
    ``status, ...``; a string compared with ``status`` or with the ``.status`` of a verdict
    (``v``, ``t``, ``verdict``, ``task``, ``verdicts[...]``, ``tasks[...]``; not a cell's
    or a probe's outcome, whose statuses are others); the keys of a dict looked up by a
    status."""
    import ast

    def strings(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return [node]
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            return [e for e in node.elts if isinstance(e, ast.Constant)
                    and isinstance(e.value, str)]
        if isinstance(node, ast.IfExp):
            return strings(node.body) + strings(node.orelse)
        return []

    def first(node):  # the status of a (status, message...) tuple
        if isinstance(node, ast.Tuple) and node.elts:
            return strings(node.elts[0])
        if isinstance(node, ast.IfExp):
            return first(node.body) + first(node.orelse)
        return []

    def own_nodes(fn):  # a function's nodes, not those of the functions inside it
        todo = list(fn.body)
        while todo:
            node = todo.pop()
            yield node
            if not isinstance(node, (ast.FunctionDef, ast.Lambda)):
                todo += list(ast.iter_child_nodes(node))

    def is_status(node):
        if isinstance(node, ast.Name):
            return node.id == "status"
        if isinstance(node, ast.Attribute) and node.attr == "status":
            owner = node.value
            if isinstance(owner, ast.Subscript):
                owner = owner.value
            return isinstance(owner, ast.Name) and owner.id in (
                "v", "t", "verdict", "task", "verdicts", "tasks")
        return False

    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            at = {"Verdict": 0, "TaskVerdict": 3, "failed_record": 3}.get(name)
            if at is not None:
                if len(node.args) > at:
                    found += strings(node.args[at])
                found += [s for k in node.keywords if k.arg == "status"
                          for s in strings(k.value)]
            if name == "get" and node.args and is_status(node.args[0]) and \
                    isinstance(node.func.value, ast.Dict):
                found += [k for k in node.func.value.keys if k is not None]
        elif isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(is_status(s) for s in sides):
                found += [c for s in sides for c in strings(s)]
        elif isinstance(node, ast.FunctionDef) and \
                (ast.get_docstring(node) or "").startswith("(status,"):
            for inner in own_nodes(node):
                if isinstance(inner, ast.Return) and inner.value is not None:
                    found += first(inner.value)
                elif isinstance(inner, ast.Assign) and isinstance(inner.targets[0], ast.Tuple) \
                        and is_status(inner.targets[0].elts[0]):
                    found += first(inner.value)
    return [(s.lineno, s.value) for s in found]


def test_every_status_string_in_coursekit_is_one_of_the_statuses():
    """A typo in a status ("pass", "timed out") fails here, not in a student's grades."""
    from coursekit.feedback import ICON

    files = sorted((notebook.REPO / "coursekit").rglob("*.py"))
    used = {(f.relative_to(notebook.REPO).as_posix(), line, s) for f in files
            for line, s in _status_strings(f.read_text(encoding="utf-8"))}
    wrong = sorted(u for u in used if u[2] not in STATUSES)
    assert wrong == []
    assert {s for _, _, s in used} == set(STATUSES)  # every status is used somewhere
    assert len(used) >= 30  # the places: run, verdict, measure, report, autograder...
    assert {f for f, _, _ in used} >= {"coursekit/grading/run.py", "coursekit/grading/report.py",
                                      "coursekit/grading/verdict.py", "coursekit/autograder.py",
                                      "coursekit/grading/measure.py", "coursekit/simulate.py"}
    assert set(ICON) == set(STATUSES)
    # the collector finds a wrong status in each kind of place it looks at
    planted = ('Verdict("pass")\nTaskVerdict("t", 0, 1, "timed out")\n'
               'failed_record(None, "f", "m", status="eror")\nif v.status == "fail": pass\n'
               'def f():\n    "(status, message) of x"\n    status, m = "skipped", ""\n'
               '    return ("ok", "") if m else ("passd", m)\n'
               'def g():\n    return "a note", ""\n'
               '{"failure": 1}.get(t.status)\nif out.status == "killed": pass\n')
    assert sorted(s for _, s in _status_strings(planted)) == sorted([
        "pass", "timed out", "eror", "fail", "skipped", "ok", "passd", "failure"])


# ------------------------------------------------------------------------- options
def test_new_kernel_kind_and_bounds(tmp_path, monkeypatch):
    from coursekit import warm
    from coursekit.sandbox import Kernel

    k = run.new_kernel(tmp_path, Options(warm=False, memory_mb=77, grace=2.5))
    assert type(k) is Kernel
    assert (k.cwd, k.memory_mb, k.threads, k.grace) == (str(tmp_path), 77, 1, 2.5)
    monkeypatch.setattr(warm, "supported", lambda: True)
    assert type(run.new_kernel(tmp_path, Options(warm=True))) is warm.WarmKernel
    assert type(run.new_kernel(tmp_path, Options(warm=True), warm=False)) is Kernel
    assert type(run.new_kernel(tmp_path, Options(warm=False), warm=True)) is warm.WarmKernel
    w = run.new_kernel(tmp_path, Options(warm=True, memory_mb=None, grace=4))
    assert (w.cwd, w.memory_mb, w.threads, w.grace) == (str(tmp_path), None, 1, 4)
    monkeypatch.setattr(warm, "supported", lambda: False)
    assert type(run.new_kernel(tmp_path, Options(warm=True))) is Kernel


def test_options_defaults_and_cold(monkeypatch):
    monkeypatch.delenv("COURSE_GRADE_COLD", raising=False)
    o = Options()
    assert (o.timeout, o.memory_mb, o.grace, o.warm, o.max_restarts, o.deny) == \
        (None, 3072, 10, True, 3, ())
    for value, cold in (("", False), ("0", False), (" 0 ", False), ("  ", False), ("1", True),
                        ("true", True)):
        monkeypatch.setenv("COURSE_GRADE_COLD", value)
        assert common.cold_by_default() is cold, value
    assert (common.TIMEOUT_MARGIN, common.TIMEOUT_FLOOR, common.DEFAULT_TIMEOUT) == (10, 30, 120)
    assert (common.THREADS, common.MAX_RESTARTS, common.MESSAGE_CHARS) == (1, 3, 600)


def test_denied_paths_of_a_checkout_and_a_worktree(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    want = sorted(str(repo / n) for n in ("solutions", "tests", ".git", "build", "grades"))
    assert common.denied_paths(Options(), repo) == want
    assert common.denied_paths(Options(deny=(str(tmp_path / "class"),)), repo) == \
        sorted(want + [str(tmp_path / "class")])
    gitdir = tmp_path / "main" / ".git" / "worktrees" / "wt"
    gitdir.mkdir(parents=True)
    (repo / ".git").write_text(f"gitdir: {gitdir}\n")
    assert common.denied_paths(Options(), repo) == sorted(want + [str(gitdir)])
    (gitdir / "commondir").write_text("../..\n")
    assert common.denied_paths(Options(), repo) == \
        sorted(want + [str(gitdir), str(tmp_path / "main" / ".git")])
    (repo / ".git").write_text("not a pointer")
    assert common.denied_paths(Options(), repo) == want


def test_with_denied_is_where_the_deny_list_grows(tmp_path):
    """cli, simulate, batch and the autograder add their folders through with_denied only;
    it keeps what was denied before, never changes the rest, and denied_paths lists it."""
    start = Options(timeout=5, deny=("/first",))
    opts = common.with_denied(start, tmp_path / "class", "/reports")
    assert opts.deny == ("/first", str(tmp_path / "class"), "/reports")
    assert start.deny == ("/first",) and opts.timeout == 5
    assert str(tmp_path / "class") in common.denied_paths(opts, tmp_path)
    assert common.with_denied(start) == start


# ------------------------------------------------------------------------- a class
def test_plan_a_class(tmp_path, seminars):
    sems = asm_mod.load_solutions(seminars)
    subs = tmp_path / "class"
    put(subs, "alice/01_units.ipynb", student())
    put(subs, "alice/01_UNITS.ipynb", student())
    put(subs, "alice/notes.txt", "hi")
    put(subs, "alice/.hidden.ipynb", "{}")
    put(subs, "bob/my copy.ipynb", student())
    put(subs, "bob/02_Other.ipynb", student())
    put(subs, "carol/junk.ipynb", "{not json")
    put(subs, "carol/blank.ipynb", new_notebook(cells=[new_markdown_cell("hi")]))
    (subs / "dave").mkdir()
    (subs / ".git").mkdir()
    put(subs, "stray.ipynb", "{}")
    put(subs, ".DS_Store", "")
    jobs, names, warnings = batch.plan(subs, sems)
    assert names == ["alice", "bob", "carol", "dave"]
    assert warnings == ["ignored stray.ipynb: not inside a student folder",
                        "ignored alice/notes.txt: not a notebook",
                        "dave: no notebooks submitted"]
    expected = ", ".join(["01_units.ipynb", "02_other.ipynb"])
    assert [(j.student, j.path.split("/")[-1], j.stem, j.key, j.note) for j in jobs] == [
        ("alice", "01_units.ipynb", "01_units", "01_units", ""),
        ("alice", "01_UNITS.ipynb", None, "01_UNITS",
         "'01_UNITS.ipynb' is a second copy of seminar 01_units: only 01_units.ipynb is graded"),
        ("bob", "02_Other.ipynb", "02_other", "02_other", ""),
        ("bob", "my copy.ipynb", "01_units", "01_units",
         "graded as 01_units: the file was submitted as 'my copy.ipynb'"),
        ("carol", "blank.ipynb", None, "blank",
         f"'blank.ipynb' is not a seminar of this course (expected one of: {expected}) and "
         "its content matches none of them"),
        ("carol", "junk.ipynb", None, "junk",
         "'junk.ipynb' is not a readable notebook, and its name is not a seminar's "
         f"(expected one of: {expected})")]
    assert all(j.until is None for j in jobs)
    jobs, names, _ = batch.plan(subs, sems, students=["bob"])
    assert names == ["bob"] and {j.student for j in jobs} == {"bob"}


def test_plan_a_renamed_copy_of_a_submitted_seminar(tmp_path, seminars):
    sems = asm_mod.load_solutions(seminars)
    subs = tmp_path / "class"
    put(subs, "eve/01_units.ipynb", student())
    put(subs, "eve/a copy.ipynb", student())
    one = new_notebook(cells=[code("answer-a", "x")])  # a single distinctive mark: too few
    put(subs, "eve/b.ipynb", one)
    jobs, _, _ = batch.plan(subs, sems)
    assert [(j.stem, j.key, j.note) for j in jobs] == [
        ("01_units", "01_units", ""),
        (None, "a copy", "'a copy.ipynb' is a second copy of seminar 01_units: only "
                         "01_units.ipynb is graded"),
        (None, "b", "'b.ipynb' is not a seminar of this course (expected one of: "
                    "01_units.ipynb, 02_other.ipynb) and its content matches none of them")]


def test_plan_an_ambiguous_file_is_not_graded(tmp_path, seminars):
    sems = asm_mod.load_solutions(seminars)
    both = new_notebook(cells=[code("answer-a", "x"), code("test-a", "y"),
                               code("answer-z", "x"), code("test-z", "y")])
    put(tmp_path / "c", "f/mixed.ipynb", both)
    jobs, _, _ = batch.plan(tmp_path / "c", sems)
    assert jobs[0].stem is None and "matches none of them" in jobs[0].note


@pytest.mark.parametrize("make, students, message", [
    (lambda p: None, None, "{p} is not a folder: expected {p}/<student>/NN_topic.ipynb"),
    (lambda p: p.mkdir(), None, "no student folders in {p}: expected "
                                "{p}/<student>/NN_topic.ipynb"),
    (lambda p: (p / "a").mkdir(parents=True), ["b", "c"],
     "no folder for student(s) b, c in {p}"),
])
def test_plan_refuses(tmp_path, make, students, message):
    subs = tmp_path / "class"
    make(subs)
    with pytest.raises(GradeError) as info:
        batch.plan(subs, {}, students)
    assert str(info.value) == message.format(p=subs)


def test_shard_students(tmp_path):
    for name in ("e", "a", "d", "b", "c", ".x"):
        (tmp_path / name).mkdir()
    (tmp_path / "f.ipynb").write_text("{}")
    assert [batch.shard_students(tmp_path, i, 2) for i in (1, 2)] == \
        [["a", "c", "e"], ["b", "d"]]
    assert batch.shard_students(tmp_path, 1, 1) == ["a", "b", "c", "d", "e"]
    assert batch.shard_students(tmp_path, 2, 2, students=["a", "b", "c"]) == ["b"]
    with pytest.raises(GradeError, match="is not a folder"):
        batch.shard_students(tmp_path / "f.ipynb", 1, 2)


def test_grade_file_records(tmp_path, seminars, scripted):
    path = put(tmp_path, "alice/x.ipynb", "{}")
    job = batch.SubmittedFile("alice", str(path), None, "x", "not a seminar")
    s, key, record, secs = batch.grade_file(job, str(seminars), Options())
    assert (s, key, record) == ("alice", "x", run.failed_record(None, "x.ipynb", "not a seminar"))
    assert secs >= 0
    bad = put(tmp_path, "alice/01_units.ipynb", '{"cells": 3}')
    _, _, record, _ = batch.grade_file(
        batch.SubmittedFile("alice", str(bad), "01_units", "01_units"), str(seminars), Options())
    assert {t.message for t in record.tasks} == {
        "your notebook could not be read: 01_units.ipynb: not a readable notebook "
        "(TypeError: 'int' object is not iterable)"}
    assert all(t.status == "error" and t.max_points > 0 for t in record.tasks)


def test_grade_file_of_another_seminar(tmp_path, seminars, scripted):
    sems = asm_mod.load_solutions(seminars)
    other = new_notebook(cells=[answer("answer-z", "return 0", "def zero():"),
                                code("test-z", "assert zero() == 0  # a long enough line",
                                     task="z")])
    path = put(tmp_path, "bob/01_units.ipynb", other)
    rec = batch._grade_path(sems["01_units"], sems, path, Options(), "")
    assert {t.message for t in rec.tasks} == {
        "this notebook looks like seminar 02_other, not 01_units (3 of its cells match "
        "02_other, 0 match 01_units): submit each seminar under its own name"}
    assert scripted.log == []


def test_grade_a_class_with_a_scripted_kernel(tmp_path, seminars, monkeypatch):
    k = FakeKernel({"return x - 1": error("AssertionError", "")})
    monkeypatch.setattr(run, "new_kernel", lambda cwd, opts: k)
    monkeypatch.setattr(batch, "new_kernel", lambda cwd, opts, warm=None: k)
    subs = tmp_path / "class"
    put(subs, "bob/01_units.ipynb", student(answer_b="def plus(x):\n    return x - 1\n"))
    put(subs, "alice/01_units.ipynb", student())
    put(subs, "alice/zz.txt", "x")
    (subs / "carol").mkdir()
    said = []
    book = batch.grade(subs, seminars, Options(timeout=5), echo=said.append)
    assert list(book) == ["alice", "bob", "carol"] and book["carol"] == {}
    assert book["alice"]["01_units"].points == 4.5
    assert book["bob"]["01_units"].points == 3
    assert said[:2] == ["warning: ignored alice/zz.txt: not a notebook",
                        "warning: carol: no notebooks submitted"]
    assert [s.rsplit(" (", 1)[0] for s in said[2:]] == [
        "graded alice/01_units.ipynb: 4.5/4.5", "graded bob/01_units.ipynb: 3/4.5"]
    # the preflight ran "import utils" with the guard installed, the denied folders
    # include the solutions and the class
    assert ("import utils", 120, True) in k.log
    guard = next(s for s, _, h in k.log if "_grader_guard" in s)
    assert repr(str(seminars.resolve())) in guard and repr(str(subs)) in guard


def test_preflight_errors(monkeypatch):
    k = FakeKernel({"import utils": error("ModuleNotFoundError", "No module named 'utils'")})
    monkeypatch.setattr(batch, "new_kernel", lambda cwd, opts, warm=None: k)
    with pytest.raises(GradeError) as info:
        batch.preflight(Options())
    assert str(info.value) == (
        "the grading kernel cannot import the course package (ModuleNotFoundError: No module "
        "named 'utils'): install it with `make env` (pip install -e .)")
    k = FakeKernel(fail_restart=OSError("no such kernel"))
    with pytest.raises(GradeError) as info:
        batch.preflight(Options())
    assert str(info.value) == "cannot start a Jupyter kernel: OSError: no such kernel"
    seen = []
    monkeypatch.setattr(batch, "new_kernel",
                        lambda cwd, opts, warm=None: seen.append(warm) or FakeKernel())
    batch.preflight(Options(warm=True), jobs=1)
    batch.preflight(Options(warm=True), jobs=2)
    batch.preflight(Options(warm=False), jobs=1)
    assert seen == [True, False, False]


@pytest.mark.parametrize("call, broken", [
    ("importlib.import_module('sklearn.')", False),  # not a module name: nothing imported
    ("importlib.import_module(name)", False),
    ("__import__(3)", False),
    ("importlib.import_module('.sklearn', 'pkg')", False),
    ("importlib.import_module('sklearn.linear_model')", True),
])
def test_import_calls_by_their_argument(call, broken):
    from coursekit import rules

    found = rules.broken_rule(["sklearn"], [("answer-x", f"import importlib\nm = {call}\n")],
                              [], [])
    assert (found is not None) is broken


def test_grade_file_of_a_grader_bug_and_its_arguments(tmp_path, seminars, monkeypatch):
    sems = asm_mod.load_solutions(seminars)
    path = put(tmp_path, "alice/01_units.ipynb", student())
    seen = []

    def fake(sem, seminars_, path_, opts, note, until=None):
        seen.append((sem.stem, path_, opts, note, until))
        raise KeyError("oops")
    monkeypatch.setattr(batch, "_grade_path", fake)
    opts = Options(timeout=3)
    t0 = time.perf_counter()
    s, key, rec, secs = batch.grade_file(batch.SubmittedFile(
        "alice", str(path), "01_units", "01_units", "a note", until="b"), str(seminars), opts)
    assert 0 <= secs <= time.perf_counter() - t0
    assert seen == [("01_units", path, opts, "a note", "b")]
    assert rec == run.failed_record(sems["01_units"], "01_units.ipynb",
                                    "internal grader error: KeyError: 'oops'")


def test_grade_file_passes_until_and_options(tmp_path, seminars, monkeypatch):
    sems = asm_mod.load_solutions(seminars)
    path = put(tmp_path, "bob/01_units.ipynb", student())
    seen = []
    monkeypatch.setattr(batch, "grade_notebook", lambda sem, nb, opts, file, notes, until:
                        seen.append((sem.stem, opts, file, notes, until)) or "REC")
    opts = Options(timeout=4)
    assert batch._grade_path(sems["01_units"], sems, path, opts, "n", until="a") == "REC"
    assert seen == [("01_units", opts, "01_units.ipynb", ["n"], "a")]
    # a tie between seminars: the one it was submitted as wins
    same = {"01_units": sems["01_units"], "01_twin": sems["01_units"]}
    assert batch._grade_path(sems["01_units"], same, path, opts, "") == "REC"


def test_preflight_kernel_arguments(monkeypatch):
    seen = []
    monkeypatch.setattr(batch, "new_kernel", lambda cwd, opts, warm=None: seen.append(
        (os.path.isdir(cwd), opts)) or FakeKernel())
    opts = Options(warm=False)
    batch.preflight(opts)
    assert seen == [(True, opts)]


def test_broken_rules_with_an_earlier_missing_answer(tmp_path):
    nb = solution_nb()
    nb.cells[6].metadata["course"]["forbid"] = ["math.sqrt"]
    notebook.write(nb, tmp_path / "01_r.ipynb")
    sem = asm_mod.load_solution(tmp_path / "01_r.ipynb")
    asm = Assembly({"answer-a": None, "answer-b": "def plus(x):\n    return math.sqrt(x)\n"},
                   {}, [])
    assert asm_mod.broken_rules(sem, asm) == {"b": (
        "rule broken: this task must not use math.sqrt; your cell 'answer-b', line 2 uses "
        "math.sqrt")}


def test_position_matching_with_several_answers_in_one_gap(tmp_path):
    nb = new_notebook(cells=[
        code("setup", "import math  # a setup line long enough to count"),
        answer("answer-p", "return 1", "def p():"),
        answer("answer-q", "return 2", "def q():"),
        answer("answer-r", "return 3", "def r():"),
        code("test-all", "assert p() + q() + r() == 6  # long enough to count", task="t")])
    notebook.write(nb, tmp_path / "01_g.ipynb")
    sem = asm_mod.load_solution(tmp_path / "01_g.ipynb")
    theirs = new_notebook(cells=[
        code("setup", "import math  # a setup line long enough to count"),
        code("x1", "print('scratch')"),
        code("x2", "def q():\n    # YOUR CODE HERE\n    return 20\n"),
        code("x3", "def r():\n    # YOUR CODE HERE\n    return 30\n"),
        code("x4", "def p():\n    # YOUR CODE HERE\n    return 10\n"),
        code("test-all", "assert p() + q() + r() == 6  # long enough to count")])
    asm = asm_mod.assemble(sem, theirs)
    # in order, each answer takes the most similar cell after the previous match: p takes
    # the last cell, so nothing is left after it for q and r
    assert asm.answers == {"answer-p": "def p():\n    # YOUR CODE HERE\n    return 10\n",
                           "answer-q": None, "answer-r": None}
    theirs.cells[2:5] = [theirs.cells[4], theirs.cells[2], theirs.cells[3]]  # p, q, r
    assert asm_mod.assemble(sem, theirs).answers == {
        "answer-p": "def p():\n    # YOUR CODE HERE\n    return 10\n",
        "answer-q": "def q():\n    # YOUR CODE HERE\n    return 20\n",
        "answer-r": "def r():\n    # YOUR CODE HERE\n    return 30\n"}


def test_grade_says_what_it_does_on_stderr_by_default(tmp_path, seminars, monkeypatch, capsys):
    k = FakeKernel()
    monkeypatch.setattr(run, "new_kernel", lambda cwd, opts: k)
    monkeypatch.setattr(batch, "new_kernel", lambda cwd, opts, warm=None: k)
    subs = tmp_path / "class"
    put(subs, "alice/01_units.ipynb", student())
    put(subs, "stray.txt", "x")
    batch.grade(subs, seminars, Options(timeout=5))
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.startswith("warning: ignored stray.txt: not inside a student folder\n"
                              "graded alice/01_units.ipynb: 4.5/4.5 (")
