"""Grading one notebook (coursekit/grading/run.py) with a scripted kernel (tests/fakes.py): the
options, the work folder and the messages, crashed and missing answers, the hints of a
failed answer, the numbers in a message, the grading kernel's threads."""
from pathlib import Path

import pytest
from fakes import FakeKernel, answer, code, error, solution_nb, student
from nbformat.v4 import new_notebook

from coursekit import grading, notebook, sandbox
from coursekit.grading import Options, run
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
