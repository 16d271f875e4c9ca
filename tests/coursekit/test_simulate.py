"""The simulated class (coursekit/simulate.py): seeded, and each submission is what its kind
says, so the grades it expects are the right ones to expect; its class graded with a
scripted kernel (tests/fakes.py) and the benchmark section it writes."""
import types
from pathlib import Path

import pytest
from fakes import FakeKernel, error, files, solution_nb

from coursekit import bwrap, generate, grading, notebook, simulate
from coursekit.grading import GradeRecord, TaskVerdict, batch, run
from coursekit.sandbox import Outcome

SOLUTIONS = notebook.REPO / "solutions"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("class")
    return out, simulate.write_class(out, 8, SOLUTIONS, seed=3)


def test_the_class_is_seeded(built, tmp_path):
    out, plan = built
    assert simulate.write_class(tmp_path, 8, SOLUTIONS, seed=3) == plan
    for path in out.rglob("*.ipynb"):
        assert (tmp_path / path.relative_to(out)).read_bytes() == path.read_bytes()
    assert simulate.write_class(tmp_path / "other", 8, SOLUTIONS, seed=4) != plan


def test_each_submission_is_what_its_kind_says(built):
    out, plan = built
    kinds = {kind.split(" ")[0] for kind, _ in plan.values()}
    assert kinds == {"right", "wrong", "blank", "broken", "missing"}
    for (student, stem), (kind, task) in plan.items():
        path = out / student / f"{stem}.ipynb"
        if kind == "missing":
            assert not path.exists()
            continue
        if kind == "broken (not JSON)":
            with pytest.raises(notebook.CourseError):
                notebook.read(path)
            continue
        solution, nb = notebook.read(SOLUTIONS / path.name), notebook.read(path)
        theirs = {c.id: c.source for c in nb.cells if c.cell_type == "code"}
        answers = {c.id: c.source for c in solution.cells if notebook.is_answer_cell(c)}
        differ = {cid for cid, src in answers.items() if theirs[cid] != src}
        if kind == "right":
            assert not differ
        elif kind == "blank":
            assert generate.make_seminar(solution) == nb
        else:  # wrong or broken: one task's answer cell(s) changed, the rest the solution's
            assert differ and task
            assert all(c.outputs == [] for c in nb.cells if c.cell_type == "code")


def test_expected_grades():
    rec = grading.GradeRecord(3, 5, [grading.TaskVerdict("a", 3, 3, "passed"),
                                     grading.TaskVerdict("b", 0, 2, "failed")], "f.ipynb")
    assert simulate.expected("wrong", "b", rec) and not simulate.expected("wrong", "a", rec)
    assert not simulate.expected("right", None, rec) and not simulate.expected("blank", None, rec)
    assert simulate.expected("missing", None, None) and not simulate.expected("right", None, None)


def test_wrong_answers(tmp_path):
    assert simulate.wrong_answers("01_x", tmp_path) == []
    (tmp_path / "01_x.py").write_text("WRONG = [('t', 'why', {'answer-a': 'x'})]\n")
    assert simulate.wrong_answers("01_x", tmp_path) == [("t", "why", {"answer-a": "x"})]
    real = simulate.wrong_answers("01_linear_regression")
    assert real and all(len(w) == 3 for w in real)


def test_student_notebook():
    sol = solution_nb()
    nb = simulate.student_notebook(sol, {"answer-b": "def plus(x):\n    return 0\n"})
    src = {c.get("id"): c.source for c in nb.cells}
    assert src["answer-a"] == next(c.source for c in sol.cells if c.get("id") == "answer-a")
    assert src["answer-b"] == "def plus(x):\n    return 0\n"
    assert src["test-b"] == "assert result == 4\nprint('b: OK')"  # the seminar's test


@pytest.mark.parametrize("kind, task, rec, ok", [
    ("missing", None, None, True),
    ("missing", None, {"points": 0}, False),
    ("right", None, None, False),
    ("right", None, {"points": 2, "max_points": 2, "tasks": []}, True),
    ("right", None, {"points": 1, "max_points": 2, "tasks": []}, False),
    ("right", None, {"points": 0, "max_points": 0, "tasks": []}, False),
    ("blank", None, {"points": 0, "max_points": 2, "tasks": []}, True),
    ("blank", None, {"points": 1, "max_points": 2, "tasks": []}, False),
    ("broken (not JSON)", None, {"points": 0, "tasks": [{"id": "file", "status": "error"}]},
     True),
    ("broken (not JSON)", None, {"points": 0, "tasks": [{"id": "a", "status": "failed"}]},
     False),
    ("broken (not JSON)", None, {"points": 1, "tasks": [{"id": "a", "status": "error"}]},
     False),
    ("wrong", "a", {"points": 0, "tasks": [{"id": "a", "points": 0, "status": "failed"}]}, True),
    ("wrong", "a", {"points": 0, "tasks": [{"id": "a", "points": 0, "status": "passed"}]},
     False),
    ("wrong", "a", {"points": 1, "tasks": [{"id": "a", "points": 1, "status": "failed"}]},
     False),
    ("wrong", "b", {"points": 0, "tasks": [{"id": "a", "points": 0, "status": "failed"}]},
     False),
])
def test_expected(kind, task, rec, ok):
    """``rec``: the fields of a grade record that matter (the rest: any valid value)."""
    if rec is not None:
        rec = GradeRecord(rec["points"], rec.get("max_points", 2), [
            TaskVerdict(t["id"], t.get("points", 0), 2, t["status"])
            for t in rec.get("tasks", [])], "f.ipynb")
    assert simulate.expected(kind, task, rec) is ok


@pytest.fixture()
def course(tmp_path, monkeypatch):
    """A solutions folder of two units, their wrong answers, and kernels scripted to fail
    the way a real one would (a stub raises, a broken cell raises or kills the kernel)."""
    sols = tmp_path / "solutions"
    notebook.write(solution_nb(), sols / "01_units.ipynb")
    notebook.write(solution_nb(), sols / "02_more.ipynb")
    wrong = {"01_units": [("b", "off by one", {"answer-b": "def plus(x):\n    return x\n"})]}
    monkeypatch.setattr(simulate, "wrong_answers", lambda stem: wrong.get(stem, []))
    script = {"raise NotImplementedError": error("NotImplementedError", ""),
              "not finished": error("RuntimeError", "not finished"),
              "os._exit(1)": Outcome("dead", detail="the kernel exited with code 1"),
              "return x\n": error("AssertionError", "")}
    monkeypatch.setattr(run, "new_kernel", lambda cwd, opts: FakeKernel(script))
    monkeypatch.setattr(batch, "new_kernel", lambda cwd, opts, warm=None: FakeKernel(script))
    monkeypatch.setattr(bwrap, "available", lambda: "")  # the OS sandbox works (scripted)
    monkeypatch.delenv("COURSE_UNITS", raising=False)
    return sols


def test_simulated_class_build_is_seeded(course, tmp_path):
    plan = simulate.write_class(tmp_path / "a", 12, course, seed=1)
    assert plan == simulate.write_class(tmp_path / "b", 12, course, seed=1)
    assert files(tmp_path / "a") == files(tmp_path / "b")
    for rel in files(tmp_path / "a"):
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    assert len(plan) == 24 and {s for s, _ in plan} == {f"student{i:03d}" for i in range(12)}
    kinds = {k for k, _ in plan.values()}
    assert {"right", "blank", "missing", "wrong"} <= kinds
    for (student, stem), (kind, task) in plan.items():
        path = tmp_path / "a" / student / f"{stem}.ipynb"
        assert path.exists() is (kind != "missing")
        if kind == "wrong":
            assert (stem, task) == ("01_units", "b")
            assert "def plus(x):\n    return x\n" in \
                [c.source for c in notebook.read(path).cells]
        elif kind == "broken (not JSON)":
            assert path.read_text() == '{"cells": [ this is not a notebook' and task is None
        elif kind.startswith("broken"):
            assert task in ("a", "b")
        elif kind in ("right", "blank", "missing"):
            assert task is None
    assert simulate.write_class(tmp_path / "c", 12, course, seed=2) != plan


def test_simulate_grades_the_class_as_expected(course, tmp_path):
    said = []
    result = simulate.simulate(tmp_path / "class", 6, jobs=1, seed=4, solutions_dir=course,
                               echo=said.append)
    assert result["misses"] == []
    plan, book = result["plan"], result["book"]
    assert result["notebooks"] == sum(k != "missing" for k, _ in plan.values())
    assert said[-1] == f"expected grades: {len(plan)} of {len(plan)} submissions"
    assert said[0].startswith(f"6 students x 2 seminars: {result['notebooks']} notebooks "
                              "graded (") and said[0].endswith(
        "), warm kernels, --jobs 1, sandbox bubblewrap")
    assert said[2:4] == ["| seminar | notebooks | mean s per notebook (one worker) | slowest s |",
                         "|---|---:|---:|---:|"]
    assert grading.read_gradebook(tmp_path / "class" / "grades" / "grades.json") == book
    assert files(tmp_path / "class" / "grades" / "feedback") == [
        f"student{i:03d}.md" for i in range(6)]
    (tmp_path / "class" / "submissions" / "stale").mkdir()
    simulate.simulate(tmp_path / "class", 2, jobs=1, warm=False, seed=4, solutions_dir=course,
                      echo=said.append)
    assert not (tmp_path / "class" / "submissions" / "stale").exists()
    assert said[-1].startswith("expected grades: ")


def test_simulate_reports_an_unexpected_grade(course, tmp_path, monkeypatch):
    monkeypatch.setattr(simulate, "expected", lambda kind, task, rec: kind == "missing")
    said = []
    result = simulate.simulate(tmp_path / "class", 3, jobs=1, seed=0, solutions_dir=course,
                               echo=said.append)
    unexpected = [s for s in said if s.startswith("UNEXPECTED ")]
    assert len(unexpected) == len(result["misses"]) > 0
    assert all(m.startswith("student") and " gave " in m for m in result["misses"])


def test_bench_section(course):
    text = simulate.bench_section(course, n=2, jobs=1)
    lines = text.split("\n")
    assert lines[0] == "## Grading" and lines[-1] == ""
    rows = [line.split(" | ") for line in lines if line.startswith(("| warm", "| cold"))]
    assert [(r[0], r[1], r[2], r[3], r[4], r[9], r[10]) for r in rows] == [
        ("| warm", "bubblewrap", "1", "2", "1", "yes", "yes |"),
        ("| warm", "bubblewrap", "2", "4", "1", "yes", "yes |"),
        ("| warm", "none", "2", "4", "1", "yes", "yes |"),
        ("| cold", "bubblewrap", "2", "4", "1", "yes", "yes |"),
        ("| cold", "none", "2", "4", "1", "yes", "yes |")]
    assert "each student submits every seminar, 2 notebooks" in text
    assert "1 thread per kernel, memory limit 3072 MB" in text


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


@pytest.mark.parametrize("kind, rec, ok", [
    ("right", GradeRecord(1, 1, [], "f.ipynb"), True),
    ("blank", GradeRecord(0, 2, [TaskVerdict("a", 0, 2, "missing")], "f.ipynb"), True),
])
def test_expected_one_point_and_a_blank_with_missing_answers(kind, rec, ok):
    assert simulate.expected(kind, None, rec) is ok
