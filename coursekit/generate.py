"""To *generate* a seminar from its solution (``make seminars``) and check it (``make
check``): stubs instead of solution regions, hidden tests removed, outputs cleared, nothing
leaked (the leak rule: ``coursekit.leaks``)."""
from __future__ import annotations

import copy
from pathlib import Path

from . import leaks
from .colab import retarget
from .notebook import (
    HIDDEN_BEGIN,
    REPO,
    CourseError,
    graded_cells,
    read,
    rule_problems,
    strip_source,
    task_metadata,
    write,
)


# The seminar's last two cells: "check my seminar" (utils/check.py) from the notebook.
CHECK_MARKDOWN = """## Check your seminar

Save the notebook, then run the cell below: it runs this seminar in a fresh kernel with
its visible tests and prints a line per task (`passed`, or what failed, or "not answered
yet"), in the grader's words. The hidden tests run only at grading: a task that passes
here may still lose points there. From a terminal in the course folder:
`python -m utils.check seminars/NN_topic.ipynb`."""
CHECK_CODE = "import utils.check\n\nutils.check.check()"
CHECK_IDS = ("check-seminar-text", "check-seminar")


def student_cells(solution) -> "nbformat.NotebookNode":  # noqa: F821
    """A copy of ``solution`` with what only the student's copy has: the title cell's Colab
    badge pointed at ``seminars/`` and, last, the cells that check the seminar."""
    import nbformat

    nb = copy.deepcopy(solution)
    if nb.cells and nb.cells[0].cell_type == "markdown":
        nb.cells[0].source = retarget(nb.cells[0].source, "seminars")
    cells = [nbformat.v4.new_markdown_cell(CHECK_MARKDOWN), nbformat.v4.new_code_cell(CHECK_CODE)]
    for cell, cid in zip(cells, CHECK_IDS, strict=True):
        if nb.nbformat > 4 or nb.nbformat_minor >= 5:
            cell.id = cid
        else:  # cell ids came with nbformat 4.5
            cell.pop("id", None)
    nb.cells += cells
    return nb


def make_seminar(solution) -> "nbformat.NotebookNode":  # noqa: F821
    """The student version of a solution notebook: stubs instead of solutions, hidden tests
    removed (a graded test cell of a task that had some says ``"hidden_tests": true`` in
    its ``course`` metadata), outputs and execution counts cleared; cell ids and metadata
    kept; the Colab badge pointed at the seminar; the check cells last
    (``student_cells``)."""
    nb = student_cells(solution)
    hidden = False  # a cell of the current task has hidden tests
    for i, cell in enumerate(nb.cells):
        hidden = hidden or HIDDEN_BEGIN in cell.source
        cell.source = strip_source(cell.source, where=f"cell {i} ({cell.get('id')})")
        cell.metadata.pop("execution", None)  # the solution's run timings
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            if task_metadata(cell):
                if hidden:
                    cell.metadata["course"]["hidden_tests"] = True
                hidden = False
    nb.metadata.pop("widgets", None)
    return nb


def seminar_problems(solution_path: Path, seminar_path: Path) -> list[str]:
    """Everything wrong with a generated seminar, as messages (empty when all is well)."""
    import nbformat

    if not seminar_path.exists():
        return [f"{seminar_path} is missing: run `make seminars`"]
    solution, seminar = read(solution_path), read(seminar_path)
    problems = []
    if nbformat.writes(make_seminar(solution)) != nbformat.writes(seminar):
        problems.append(f"{seminar_path} is out of date with {solution_path}: "
                        "run `make seminars` (never edit seminars by hand)")
    problems += leaks.seminar_problems(seminar_path, nbformat.writes(seminar), solution)
    for cell in seminar.cells:
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count):
            problems.append(f"{seminar_path} carries outputs (cell {cell.get('id')})")
            break
    if not graded_cells(solution):
        problems.append(f"{solution_path} has no graded test cell")
    ids = [task_metadata(c)["task"] for c in graded_cells(solution)]
    if len(ids) != len(set(ids)):
        problems.append(f"{solution_path}: task ids are not unique: {ids}")
    problems += rule_problems(solution, str(solution_path))
    return problems


def generate(check_only: bool = False, root: Path = REPO) -> list[str]:
    """Generate every seminar from its solution (or, with ``check_only``, only report
    what is wrong). Returns the problems found, as messages."""
    problems = []
    for sol in sorted((root / "solutions").glob("*.ipynb")):
        sem = root / "seminars" / sol.name
        try:
            if check_only:
                problems += seminar_problems(sol, sem)
            else:
                write(make_seminar(read(sol)), sem)
        except CourseError as exc:
            problems.append(str(exc))
    for sem in sorted((root / "seminars").glob("*.ipynb")):
        if not (root / "solutions" / sem.name).exists():
            problems.append(f"{sem} has no solution in solutions/: delete it or add one")
    return problems
