"""Grading a class (coursekit/grading/batch.py) with the kernel scripted or the grading of a
file replaced: the plan of a class (renamed files, second copies, capitalisation), the
options, worker processes or one file at a time, the records of unreadable files, the
preflight."""
from pathlib import Path

import pytest
from fakes import FakeKernel, code, put, student
from nbformat.v4 import new_notebook

from coursekit import grading
from coursekit.grading import Options, batch, run


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
