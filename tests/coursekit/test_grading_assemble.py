"""Assembling (coursekit/grading/assemble.py): a solution loaded and checked, a student's answer
cells identified (a stub with a new id, trailing spaces, 30-character cells), the forbid
rules an assembly breaks."""

import pytest
from fakes import answer, code, solution_nb, student
from nbformat.v4 import new_code_cell, new_notebook

from coursekit import grading, notebook
from coursekit.notebook import CourseError


def test_an_unchanged_stub_with_a_new_id_is_still_that_answer(sem):
    """Cells copied into a new notebook get new ids: each answer cell is placed by
    position, also the one the student left as the seminar's stub."""
    stub_a = next(s.seminar for s in sem.answers if s.id == "answer-a")
    nb = student(answer_a=stub_a, answer_b="def plus(x):\n    return x - -1  # mine\n")
    for cell in nb.cells:
        if cell.get("id", "").startswith("answer-"):
            cell.id = "copied-" + cell.id
    asm = grading.assemble(sem, nb)
    assert asm.answers == {"answer-a": stub_a,
                           "answer-b": "def plus(x):\n    return x - -1  # mine\n"}
    assert asm.notes == {i: f"answer cell '{i}' was matched by position (its cell id differs "
                            "from the seminar's)" for i in ("answer-a", "answer-b")}
    assert asm.extra == ["print('not run')"]  # after the last test: not a step


def test_load_solution_checks(tmp_path):
    sol = solution_nb()
    sol.cells[3].metadata["course"]["points"] = 0  # a practice task
    notebook.write(sol, tmp_path / "01_units.ipynb")
    assert grading.load_solution(tmp_path / "01_units.ipynb").tasks == [
        ("a", 0), ("b", 1.5), ("c", 1)]
    sol.cells[3].metadata["course"]["points"] = -1  # bad points, then a bad rule: both said
    sol.cells[6].metadata["course"]["forbid"] = "math"
    notebook.write(sol, tmp_path / "01_units.ipynb")
    with pytest.raises(CourseError) as info:
        grading.load_solution(tmp_path / "01_units.ipynb")
    assert str(info.value) == (
        "01_units.ipynb: code cell 3 (test-a): points must be a number >= 0, got -1; "
        "01_units.ipynb: code cell 6 (test-b): 'forbid' must be a list of dotted names "
        "(strings), got 'math'")


def test_identify_ignores_trailing_spaces_and_counts_30_character_cells(tmp_path):
    sol = new_notebook(cells=[code("setup", "x = 1  # exactly thirty chars."),
                              answer("answer-a", "return 1", "def a():"),
                              code("test-a", "assert a() == 1\nprint('a: fine, all good')",
                                   task="a")])
    notebook.write(sol, tmp_path / "01_one.ipynb")
    sems = grading.load_solutions(tmp_path)
    copied = new_notebook(cells=[new_code_cell("x = 1  # exactly thirty chars.   "),
                                 new_code_cell("assert a() == 1   \nprint('a: fine, all good')")])
    assert grading.identify(sems, copied) == {"01_one": 2}  # the two sources, not their ids


def test_broken_rules_follow_every_earlier_answer_and_only_the_students(tmp_path):
    sol = new_notebook(cells=[
        code("setup", "import math"),
        answer("answer-h", "return math.sqrt(x)", "def helper(x):"),
        code("test-h", "assert helper(4) == 2", task="h"),
        answer("answer-m", "return 1", "def m():"),
        code("test-m", "assert m() == 1", task="m"),
        answer("answer-r", "import math as mm\n    return helper(x) + 0 * mm.pi", "def r(x):"),
        code("test-r", "assert r(4) == 2", task="r")])
    sol.cells[-1].metadata["course"]["forbid"] = ["math.sqrt"]
    notebook.write(sol, tmp_path / "01_r.ipynb")
    sem_ = grading.load_solution(tmp_path / "01_r.ipynb")

    def broken(**answers):
        nb = new_notebook(cells=[code(k.replace("_", "-"), v) for k, v in answers.items()])
        return grading.broken_rules(sem_, grading.assemble(sem_, nb))
    # the helper of task h, two tasks earlier, is followed
    assert broken(answer_h="def helper(x):\n    return math.sqrt(x)\n",
                  answer_m="def m():\n    return 1\n",
                  answer_r="def r(x):\n    return helper(x)\n") == {
        "r": "rule broken: this task must not use math.sqrt; your cell 'answer-h', line 2 uses "
             "math.sqrt"}
    # `mm` is the solution's alias, not the student's: nothing to resolve
    assert broken(answer_r="def r(x):\n    return mm.sqrt(x)\n") == {}
