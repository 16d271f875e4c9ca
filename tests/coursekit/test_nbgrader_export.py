"""`make nbgrader`: the solutions exported as an nbgrader course. nbgrader's own
generate_assignment must write exactly the course's seminars, and its autograde must give
a solution full marks and a blank seminar zero (when nbgrader is installed: the `nbgrader`
extra, which `make test` installs)."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from fakes import solution_nb
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from coursekit import grading, nbgrader_export, notebook
from coursekit.notebook import CourseError, REPO

SOLUTIONS = sorted((REPO / "solutions").glob("[0-9][0-9]_*.ipynb"))


def test_metadata_marks_answers_tests_and_locks_the_rest():
    for path in SOLUTIONS:
        nb = nbgrader_export.nbgrader_metadata(notebook.read(path), path.name)
        points = 0.0
        for cell in nb.cells:
            meta = cell.metadata["nbgrader"]
            assert meta["grade_id"] == cell.id and meta["schema_version"] == 3
            if notebook.is_answer_cell(cell):
                assert meta["solution"] and not meta["grade"] and not meta["locked"]
            elif notebook.task_metadata(cell):
                assert meta["grade"] and meta["locked"] and not meta["solution"]
                assert meta["points"] == notebook.task_metadata(cell)["points"]
                points += meta["points"]
            else:
                assert meta["locked"] and not meta["solution"]
                assert meta["grade"] == (notebook.HIDDEN_BEGIN in cell.source)
                assert meta.get("points", 0) == 0
        sem = grading.load_solutions(REPO / "solutions")[path.stem]
        assert points == sum(p for _, p in sem.tasks) > 0, path.name


def test_a_stray_solution_region_is_refused():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
        f"text\n{notebook.BEGIN}\nanswer\n{notebook.END}")])
    nb.cells[0].id = "md"
    with pytest.raises(notebook.CourseError, match="md has a solution region"):
        nbgrader_export.nbgrader_metadata(nb)


def _nbgrader(folder: Path, *args):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args, "--force"], cwd=folder,
                          env=env, capture_output=True, text=True)
    errors = [line for line in (done.stdout + done.stderr).splitlines() if "| ERROR]" in line]
    assert done.returncode == 0 and not errors, (done.stdout + done.stderr)[-3000:]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    pytest.importorskip("nbgrader", reason="NBGRADER TESTS SKIPPED: nbgrader is not "
                                           "installed (pip install -e '.[nbgrader]')")
    folder = tmp_path_factory.mktemp("nbgrader")
    names = nbgrader_export.export(folder / "course")
    _nbgrader(folder / "course", "generate_assignment", "*")
    return folder / "course", names


def test_generate_assignment_writes_the_course_seminars(exported):
    folder, names = exported
    assert names == [p.stem for p in SOLUTIONS]
    for name in names:
        theirs = notebook.read(folder / "release" / name / f"{name}.ipynb")
        ours = notebook.read(REPO / "seminars" / f"{name}.ipynb")
        assert [(c.cell_type, c.source) for c in theirs.cells] == \
            [(c.cell_type, c.source) for c in ours.cells], name


def test_autograde_solution_full_marks_blank_zero(exported):
    folder, _ = exported
    name = SOLUTIONS[0].stem  # the shortest to run; every unit is graded by make grade
    for student, src in (("solution", folder / "source"), ("blank", folder / "release")):
        dest = folder / "submitted" / student / name
        dest.mkdir(parents=True)
        shutil.copy(src / name / f"{name}.ipynb", dest)
    _nbgrader(folder, "autograde", name, "--create")
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{folder / 'gradebook.db'}") as gb:
        scores = {s: (gb.find_submission(name, s).score, gb.find_submission(name, s).max_score)
                  for s in ("solution", "blank")}
    max_points = sum(p for _, p in grading.load_solutions(REPO / "solutions")[name].tasks)
    assert scores == {"solution": (max_points, max_points), "blank": (0.0, max_points)}
    graded = json.loads((folder / "autograded" / "solution" / name / f"{name}.ipynb").read_text())
    assert any(o.get("output_type") == "stream" for c in graded["cells"]
               for o in c.get("outputs", []))  # it really ran


def nb_for_nbgrader():
    cells = [new_markdown_cell("# T"), new_code_cell("import math"),
             new_code_cell("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION"),
             new_code_cell("assert f() == 1"),
             new_code_cell("ref = 2\n### BEGIN HIDDEN TESTS\nref = 3\n### END HIDDEN TESTS")]
    for cell, cid in zip(cells, ["md", "setup", "answer-f", "test-f", "ref"], strict=True):
        cell.id = cid
    cells[3].metadata["course"] = {"task": "f", "points": 2.5}
    nb = new_notebook(cells=cells)
    return nb


def test_nbgrader_metadata_exact():
    nb = nb_for_nbgrader()
    out = nbgrader_export.nbgrader_metadata(nb)
    base = {"schema_version": 3, "task": False, "solution": False, "grade": False,
            "locked": True}
    assert [c.metadata["nbgrader"] for c in out.cells] == [
        {**base, "grade_id": "md"}, {**base, "grade_id": "setup"},
        {**base, "grade_id": "answer-f", "solution": True, "locked": False},
        {**base, "grade_id": "test-f", "grade": True, "points": 2.5},
        {**base, "grade_id": "ref", "grade": True, "points": 0}]
    assert "nbgrader" not in nb.cells[0].metadata  # a copy
    old = nb_for_nbgrader()
    for cell in old.cells:
        del cell["id"]
    assert [c.metadata["nbgrader"]["grade_id"] for c in
            nbgrader_export.nbgrader_metadata(old).cells] == [f"cell-{i}" for i in range(5)]
    old.cells[1].source = "x = 1\n### BEGIN SOLUTION"
    old.cells[1].cell_type = "markdown"
    with pytest.raises(CourseError) as info:
        nbgrader_export.nbgrader_metadata(old, "01_t.ipynb")
    assert str(info.value) == ("01_t.ipynb: cell cell-1 has a solution region but is not an "
                               "answer cell")


def test_nbgrader_export(tmp_path):
    sols = tmp_path / "solutions"
    notebook.write(nb_for_nbgrader(), sols / "01_t.ipynb")
    notebook.write(nb_for_nbgrader(), sols / "02_u.ipynb")
    notebook.write(nb_for_nbgrader(), sols / "notes.ipynb")  # not NN_*: not exported
    out = tmp_path / "nbg"
    (out / "stale").mkdir(parents=True)
    assert nbgrader_export.export(out, sols, timeout=77) == ["01_t", "02_u"]
    assert not (out / "stale").exists()
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "nbgrader_config.py", "source/01_t/01_t.ipynb", "source/02_u/02_u.ipynb"]
    config = (out / "nbgrader_config.py").read_text()
    assert config == nbgrader_export.CONFIG.format(
        stub="# YOUR CODE HERE\nraise NotImplementedError", timeout=77)
    assert "c.ClearSolutions.code_stub = {\"python\": '# YOUR CODE HERE\\nraise " \
           "NotImplementedError'}" in config and "c.ExecutePreprocessor.timeout = 77" in config
    written = notebook.read(out / "source" / "01_t" / "01_t.ipynb")
    assert written.cells[3].metadata["nbgrader"]["points"] == 2.5
    with pytest.raises(CourseError) as info:
        nbgrader_export.export(tmp_path / "o2", tmp_path / "none")
    assert str(info.value) == f"no solution notebooks in {tmp_path / 'none'}"
    assert nbgrader_export.export(tmp_path / "o3", sols) == ["01_t", "02_u"]
    assert "timeout = 300" in (tmp_path / "o3" / "nbgrader_config.py").read_text()


def test_nbgrader_export_names_the_broken_solution(tmp_path):
    nb = solution_nb()
    nb.cells[0].source += "\n### BEGIN SOLUTION"  # a solution region in a markdown cell
    notebook.write(nb, tmp_path / "solutions" / "01_units.ipynb")
    with pytest.raises(CourseError) as info:
        nbgrader_export.export(tmp_path / "out", tmp_path / "solutions")
    assert str(info.value).startswith("01_units.ipynb: cell ")


def test_nbgrader_metadata_names_an_unnamed_notebook():
    nb = new_notebook(cells=[new_markdown_cell("x = 1\n### BEGIN SOLUTION")])
    nb.cells[0].id = "md"
    with pytest.raises(CourseError) as info:
        nbgrader_export.nbgrader_metadata(nb)
    assert str(info.value) == "notebook: cell md has a solution region but is not an answer cell"
