"""The simulated class (coursekit/simulate.py): seeded, and each submission is what its kind
says, so the grades it expects are the right ones to expect; its class graded with a
scripted kernel (tests/fakes.py) and the benchmark section it writes."""
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
