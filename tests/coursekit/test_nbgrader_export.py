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

import pytest

from coursekit import grading, nbgrader_export, notebook
from coursekit.notebook import REPO

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
    import nbformat
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
