"""Grading one notebook (coursekit/grading/run.py) with a scripted kernel (tests/fakes.py): the
options, the work folder and the messages, crashed and missing answers, the hints of a
failed answer, the numbers in a message, the grading kernel's threads; a segment of a
task run cell by cell, the tamper guard around instructor cells, a task's record.

Every expected value here is what the grader must compute from the inputs (exact
records, messages and files), so a changed comparison, message or count fails a test."""
import os
from pathlib import Path

import pytest
from fakes import FakeKernel, answer, asm_mod, code, error, solution_nb, student
from nbformat.v4 import new_notebook

from coursekit import grading, notebook, sandbox
from coursekit.grading import run
from coursekit.grading.assemble import Assembly, Step
from coursekit.grading.common import Options
from coursekit.grading.run import Verdict
from coursekit.sandbox import Outcome


def test_leading_zeros_of_a_small_number_are_not_significant():
    assert run.short_numbers("lr 0.00000012 and 0.000000123457") == \
        "lr 0.00000012 and 0.000000123457"


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


def test_grading_kernels_get_the_grading_thread_count(tmp_path, monkeypatch):
    """THREADS, whatever it is set to, not the kernel's own default (records must not
    depend on --jobs or on the machine)."""
    monkeypatch.setattr(run, "THREADS", 3)
    k = run.new_kernel(tmp_path, Options(warm=False, memory_mb=100, grace=2))
    assert (type(k), k.threads, k.memory_mb, k.grace) == (sandbox.Kernel, 3, 100, 2)




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
