"""Checks of the course's own notebooks: layout, anatomy, stored outputs, seminars.

The proof that every graded test fails on the generated seminar and passes on the
solution is `tests/test_grade.py::test_solution_full_marks_and_seminar_zero` (the real
grader on every unit); nbval re-executes every solution and compares its outputs.
"""
import re

import pytest

from coursekit import build, execute, notebook

NOTEBOOKS = notebook.course_notebooks()
SOLUTIONS = sorted((notebook.REPO / "solutions").glob("*.ipynb"))
ids = lambda paths: [f"{p.parent.name}/{p.name}" for p in paths]


def test_every_unit_has_its_three_notebooks():
    names = {f: {p.name for p in (notebook.REPO / f).glob("*.ipynb")} for f in notebook.FOLDERS}
    assert names["notebooks"], "no lecture notebooks found"
    assert names["solutions"] == names["seminars"] == names["notebooks"], names
    for name in names["notebooks"]:
        assert re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", name), f"{name}: use NN_topic.ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_anatomy(path):
    nb = notebook.read(path)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# "), \
        "the first cell is the title"
    assert code[0].get("id") == "setup" and code[0].source.startswith(notebook.SETUP_CELL.strip()), \
        "the first code cell is the standard setup cell (coursekit.notebook.SETUP_CELL)"
    assert any("parameters" in c.metadata.get("tags", []) for c in code), \
        "a cell tagged 'parameters' holds the knobs"
    assert nb.metadata.get("course", {}).get("headline", {}).get("expr"), \
        "metadata.course.headline names the headline metric"
    long = [c.get("id") for c in code if c.source.count("\n") + 1 > 30]
    assert not long, f"code cells over 30 lines: {long}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_stored_outputs_come_from_a_clean_run(path):
    nb = notebook.read(path)
    code = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    unrun = [c.get("id") for c in code if c.execution_count is None]
    assert not unrun, f"never executed: {unrun} (run `make refresh NB={path.parent.name}/{path.name}`)"
    counts = [c.execution_count for c in code]
    assert counts == list(range(1, len(code) + 1)), "not executed top to bottom in one run"
    assert not execute.error_cells(nb), "stored outputs contain an error"
    widgets = [c.get("id") for c in code for o in c.get("outputs", [])
               if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert not widgets and "widgets" not in nb.metadata, (
        f"widget state stored (cells {widgets}): a progress bar that shows as stuck on GitHub "
        "and pulls scripts from the web on the site; use progress=False, then make refresh")


def test_seminars_are_generated_clean_and_leak_nothing():
    assert build.build(check_only=True) == []
