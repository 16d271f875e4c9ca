"""Grading a class (coursekit/grading/batch.py) with the kernel scripted or the grading of a
file replaced: the plan of a class (renamed files, second copies, capitalisation), the
options, worker processes or one file at a time, the records of unreadable files, the
preflight."""
import os
import time
from pathlib import Path

import pytest
from fakes import FakeKernel, answer, asm_mod, code, error, put, student
from nbformat.v4 import new_markdown_cell, new_notebook

from coursekit import grading
from coursekit.grading import batch, run
from coursekit.grading.common import GradeError, Options


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


def test_plan_prefers_another_capitalisation_to_a_renamed_copy(tmp_path, seminars):
    subs = tmp_path / "class"
    put(subs, "eve/00 copy.ipynb", student())  # sorts first, but is not named as a seminar
    put(subs, "eve/01_UNITS.ipynb", student())
    jobs, _, _ = batch.plan(subs, grading.load_solutions(seminars))
    assert [(Path(j.path).name, j.stem, j.note) for j in jobs] == [
        ("01_UNITS.ipynb", "01_units", ""),
        ("00 copy.ipynb", None, "'00 copy.ipynb' is a second copy of seminar 01_units: only "
                                "01_UNITS.ipynb is graded")]


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
