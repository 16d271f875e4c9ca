"""Assembling (coursekit/grading/assemble.py): a solution loaded and checked, a student's answer
cells identified (a stub with a new id, trailing spaces, 30-character cells), the forbid
rules an assembly breaks."""


import pytest
from fakes import answer, asm_mod, code, solution_nb, student
from nbformat.v4 import new_code_cell, new_notebook

from coursekit import grading, notebook
from coursekit.grading import common
from coursekit.grading.assemble import Assembly
from coursekit.grading.common import GradeError
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


def test_load_solution_reads_steps_tasks_and_names(sem):
    assert sem.stem == "01_units"
    assert sem.tasks == [("a", 2), ("b", 1.5), ("c", 1)]
    assert sem.max_points == 4.5
    assert [(s.id, s.kind, s.task) for s in sem.steps] == [
        ("setup", "other", "a"), ("answer-a", "answer", "a"), ("test-a", "test", "a"),
        ("answer-b", "answer", "b"), ("use-b", "other", "b"), ("test-b", "test", "b"),
        ("test-c", "test", "c")]  # "after" follows the last graded cell: not a step
    steps = {s.id: s for s in sem.steps}
    assert steps["test-b"].hidden == frozenset({2, 3, 4})
    assert steps["test-a"].hidden == frozenset() and steps["answer-a"].hidden == frozenset()
    assert steps["answer-a"].seminar == ("def twice(x):\n    # YOUR CODE HERE\n"
                                         "    raise NotImplementedError\n")
    assert steps["test-b"].seminar == "assert result == 4\nprint('b: OK')"
    assert sem.answer_names == {"twice": "answer-a", "plus": "answer-b"}
    assert sem.solution_names == frozenset({"math", "LIMIT", "twice", "plus", "result"})
    assert steps["setup"].capture == ("LIMIT", "math")
    assert steps["use-b"].capture == ("result",)
    assert steps["answer-a"].capture == ()
    assert [s.id for s in sem.answers] == ["answer-a", "answer-b"]
    assert sem.forbid == {}
    assert sem.default_timeout == common.DEFAULT_TIMEOUT


@pytest.mark.parametrize("change, message", [
    (lambda nb: nb.cells[3].metadata["course"].update(points=-1),
     "01_bad.ipynb: code cell 3 (test-a): points must be a number >= 0, got -1"),
    (lambda nb: nb.cells[3].metadata["course"].update(points=True),
     "01_bad.ipynb: code cell 3 (test-a): points must be a number >= 0, got True"),
    (lambda nb: nb.cells[3].metadata["course"].update(points="2"),
     "01_bad.ipynb: code cell 3 (test-a): points must be a number >= 0, got '2'"),
    (lambda nb: nb.cells[2].metadata.update(course={"task": "x"}),
     "01_bad.ipynb: code cell 2 (answer-a) is both an answer cell and a graded test cell"),
    (lambda nb: setattr(nb, "cells", [c for c in nb.cells if not notebook.task_metadata(c)]),
     "01_bad.ipynb has no graded test cell (metadata {'course': {'task': ..., 'points': ...}})"),
    (lambda nb: nb.cells[3].update(source="### BEGIN HIDDEN TESTS\nx = 1"),
     "01_bad.ipynb: code cell 3 (test-a): '### BEGIN HIDDEN TESTS' is never closed"),
    (lambda nb: nb.cells[6].metadata["course"].update(task="a"),
     "01_bad.ipynb: code cell 6 (test-b): task id 'a' is used twice"),
])
def test_broken_solutions_say_which_cell(tmp_path, change, message):
    nb = solution_nb()
    change(nb)
    notebook.write(nb, tmp_path / "01_bad.ipynb")
    with pytest.raises(notebook.CourseError) as info:
        asm_mod.load_solution(tmp_path / "01_bad.ipynb")
    assert message in str(info.value).split("; ")


def test_duplicate_colab_ids_are_refused(tmp_path):
    """nbformat repairs duplicate top-level ids when it reads; Colab's ``metadata.id``
    (nbformat 4.4, no top-level id) it leaves alone."""
    nb = solution_nb()
    nb.nbformat_minor = 4
    for cell in nb.cells:
        cell.metadata["id"] = cell.pop("id")
    nb.cells[4].metadata["id"] = "answer-a"
    notebook.write(nb, tmp_path / "01_bad.ipynb")
    with pytest.raises(notebook.CourseError) as info:
        asm_mod.load_solution(tmp_path / "01_bad.ipynb")
    assert str(info.value) == "01_bad.ipynb: code cell 4 (answer-a): duplicate id"


def test_a_cell_without_id_is_refused(tmp_path):
    nb = solution_nb()
    nb.nbformat_minor = 4
    for cell in nb.cells:
        cell.pop("id")
    notebook.write(nb, tmp_path / "01_old.ipynb")
    with pytest.raises(notebook.CourseError) as info:
        asm_mod.load_solution(tmp_path / "01_old.ipynb")
    assert str(info.value).split("; ")[0] == \
        "01_old.ipynb: code cell 1 (None) has no id (save with nbformat >= 4.5)"


def test_points_default_to_one_and_forbid_is_kept(tmp_path):
    nb = solution_nb()
    del nb.cells[3].metadata["course"]["points"]
    nb.cells[6].metadata["course"]["forbid"] = ["math.sqrt", ".pop"]
    notebook.write(nb, tmp_path / "01_x.ipynb")
    sem = asm_mod.load_solution(tmp_path / "01_x.ipynb")
    assert sem.tasks == [("a", 1), ("b", 1.5), ("c", 1)]
    assert sem.forbid == {"b": ("math.sqrt", ".pop")}


def test_num_and_default_timeout():
    assert asm_mod._num(10.0) == 10 and type(asm_mod._num(10.0)) is int
    assert asm_mod._num(2.345) == 2.35 and asm_mod._num(0.5) == 0.5
    nb = solution_nb()
    nb.cells[1].metadata["execution"] = {"iopub.execute_input": "2026-01-01T00:00:00Z",
                                         "shell.execute_reply": "2026-01-01T00:00:03.04Z"}
    assert asm_mod.default_timeout(nb) == 30.0  # 10 x 3.04 rounds to 30: the floor
    nb.cells[2].metadata["execution"] = {"iopub.execute_input": "2026-01-01T00:00:00Z",
                                         "shell.execute_reply": "2026-01-01T00:00:03.06Z"}
    assert asm_mod.default_timeout(nb) == 31.0
    nb.cells[3].metadata["execution"] = {"iopub.execute_input": "garbage"}
    assert asm_mod.default_timeout(nb) == 31.0


def test_load_solutions_marks_identify_and_caches(tmp_path, sem):
    folder = tmp_path / "sols"
    notebook.write(solution_nb(), folder / "01_units.ipynb")
    other = new_notebook(cells=[code("setup", "import math\nLIMIT = 3"),
                                answer("answer-z", "return 0", "def zero():"),
                                code("test-z", "assert zero() == 0  # a long enough line",
                                     task="z")])
    notebook.write(other, folder / "02_other.ipynb")
    seminars = asm_mod.load_solutions(folder)
    assert list(seminars) == ["01_units", "02_other"]
    assert asm_mod.load_solutions(folder) is seminars  # cached until a file changes
    units = seminars["01_units"]
    assert ("id", "setup") not in units.marks  # shared by both: not distinctive
    assert ("id", "answer-a") in units.marks
    assert ("src", "assert math.pi > 3") not in units.marks  # < 30 characters
    assert ("src", "assert result == 4\nprint('b: OK')") in units.marks  # 31
    assert ("src", "assert twice(2) == 4, 'twice(2) is wrong'\nprint('a: OK')") in units.marks
    assert seminars["02_other"].marks == {("id", "answer-z"), ("id", "test-z"),
                                          ("src", "assert zero() == 0  # a long enough line")}
    assert asm_mod.identify(seminars, student()) == {"01_units": 7, "02_other": 0}
    assert asm_mod.identify(seminars, other) == {"01_units": 0, "02_other": 3}


def test_broken_solutions_are_listed_together(tmp_path):
    bad = solution_nb()
    bad.cells[3].metadata["course"]["points"] = -2
    notebook.write(bad, tmp_path / "01_a.ipynb")
    notebook.write(bad, tmp_path / "02_b.ipynb")
    with pytest.raises(GradeError) as info:
        asm_mod.load_solutions(tmp_path)
    assert str(info.value) == (
        "cannot grade with broken solutions: 01_a.ipynb: code cell 3 (test-a): points must "
        "be a number >= 0, got -2 | 02_b.ipynb: code cell 3 (test-a): points must be a "
        "number >= 0, got -2")
    with pytest.raises(GradeError) as info:
        asm_mod.load_solutions(tmp_path / "empty")
    assert str(info.value) == (f"no solution notebooks in {(tmp_path / 'empty').resolve()}: "
                               "the grader takes its tests from solutions/NN_topic.ipynb")


def test_assemble_takes_answers_by_id_the_last_duplicate_and_lists_extras(sem):
    nb = student(answer_a="def twice(x):\n    return x + x\n")
    dup = code("answer-b", "def plus(x):\n    return 1 + x\n")
    nb.cells.insert(6, dup)
    nb.cells.insert(1, code("mine", "def helper():\n    pass"))
    asm = asm_mod.assemble(sem, nb)
    assert asm.answers == {"answer-a": "def twice(x):\n    return x + x\n",
                           "answer-b": "def plus(x):\n    return 1 + x\n"}
    assert asm.notes == {}
    assert asm.extra == ["def helper():\n    pass", "print('not run')"]


def test_assemble_extra_cells_are_those_with_unknown_ids(sem):
    nb = student()
    nb.cells.insert(1, code("mine", "def helper():\n    pass"))
    asm = asm_mod.assemble(sem, nb)
    # "after" is the solution's cell after the last test: not a step, so not "known"
    assert asm.extra == ["def helper():\n    pass", "print('not run')"]


def test_assemble_by_position_when_ids_differ(sem):
    nb = student(answer_b="def plus(x):\n    return x - -1  # mine\n")
    for cell in nb.cells:
        if cell.get("id") == "answer-b":
            cell.id = "renamed-b"
    asm = asm_mod.assemble(sem, nb)
    assert asm.answers["answer-b"] == "def plus(x):\n    return x - -1  # mine\n"
    assert asm.notes == {"answer-b": "answer cell 'answer-b' was matched by position (its "
                                     "cell id differs from the seminar's)"}
    assert "def plus(x):\n    return x - -1  # mine\n" not in asm.extra


def test_assemble_by_position_picks_the_most_similar_cell(sem):
    nb = student()
    nb.cells = [c for c in nb.cells if c.get("id") != "answer-b"]
    at = [c.get("id") for c in nb.cells].index("use-b")
    nb.cells[at:at] = [code("scratch", "print('just looking')"),
                       code("my-b", "def plus(x):\n    # YOUR CODE HERE\n    return x + 1\n")]
    asm = asm_mod.assemble(sem, nb)
    assert asm.answers["answer-b"] == "def plus(x):\n    # YOUR CODE HERE\n    return x + 1\n"
    assert asm.extra == ["print('just looking')", "print('not run')"]


def test_assemble_missing_and_markdown_answers(sem):
    nb = student()
    nb.cells = [c for c in nb.cells if c.get("id") != "answer-b"]
    for cell in nb.cells:
        if cell.get("id") == "answer-a":
            cell.cell_type = "markdown"
    asm = asm_mod.assemble(sem, nb)
    assert asm.answers == {"answer-a": None, "answer-b": None}
    assert asm.notes == {
        "answer-a": "cell 'answer-a' is a markdown cell in your notebook, not a code cell",
        "answer-b": "your notebook has no answer cell 'answer-b' (deleted, or its id "
                    "changed); graded as unanswered"}


def test_task_segments_and_broken_rules(tmp_path):
    nb = solution_nb()
    nb.cells[6].metadata["course"]["forbid"] = ["math.sqrt"]
    notebook.write(nb, tmp_path / "01_r.ipynb")
    sem = asm_mod.load_solution(tmp_path / "01_r.ipynb")
    assert [(t, [s.id for s in steps]) for t, steps in asm_mod.task_segments(sem)] == [
        ("a", ["setup", "answer-a", "test-a"]), ("b", ["answer-b", "use-b", "test-b"]),
        ("c", ["test-c"])]
    assert [t for t, _ in asm_mod.task_segments(sem, until="b")] == ["a", "b"]
    good = asm_mod.assemble(sem, student())
    assert asm_mod.broken_rules(sem, good) == {}
    bad = asm_mod.assemble(sem, student(
        answer_a="def root(x):\n    return math.sqrt(x)\n\ndef twice(x):\n    return 2 * x\n",
        answer_b="def plus(x):\n    return root(x * x) + 1\n"))
    assert asm_mod.broken_rules(sem, bad) == {"b": (
        "rule broken: this task must not use math.sqrt; your cell 'answer-a', line 2 uses "
        "math.sqrt")}
    missing = Assembly({"answer-a": None, "answer-b": None}, {}, [])
    assert asm_mod.broken_rules(sem, missing) == {}


def test_broken_rules_with_an_earlier_missing_answer(tmp_path):
    nb = solution_nb()
    nb.cells[6].metadata["course"]["forbid"] = ["math.sqrt"]
    notebook.write(nb, tmp_path / "01_r.ipynb")
    sem = asm_mod.load_solution(tmp_path / "01_r.ipynb")
    asm = Assembly({"answer-a": None, "answer-b": "def plus(x):\n    return math.sqrt(x)\n"},
                   {}, [])
    assert asm_mod.broken_rules(sem, asm) == {"b": (
        "rule broken: this task must not use math.sqrt; your cell 'answer-b', line 2 uses "
        "math.sqrt")}


def test_position_matching_with_several_answers_in_one_gap(tmp_path):
    nb = new_notebook(cells=[
        code("setup", "import math  # a setup line long enough to count"),
        answer("answer-p", "return 1", "def p():"),
        answer("answer-q", "return 2", "def q():"),
        answer("answer-r", "return 3", "def r():"),
        code("test-all", "assert p() + q() + r() == 6  # long enough to count", task="t")])
    notebook.write(nb, tmp_path / "01_g.ipynb")
    sem = asm_mod.load_solution(tmp_path / "01_g.ipynb")
    theirs = new_notebook(cells=[
        code("setup", "import math  # a setup line long enough to count"),
        code("x1", "print('scratch')"),
        code("x2", "def q():\n    # YOUR CODE HERE\n    return 20\n"),
        code("x3", "def r():\n    # YOUR CODE HERE\n    return 30\n"),
        code("x4", "def p():\n    # YOUR CODE HERE\n    return 10\n"),
        code("test-all", "assert p() + q() + r() == 6  # long enough to count")])
    asm = asm_mod.assemble(sem, theirs)
    # in order, each answer takes the most similar cell after the previous match: p takes
    # the last cell, so nothing is left after it for q and r
    assert asm.answers == {"answer-p": "def p():\n    # YOUR CODE HERE\n    return 10\n",
                           "answer-q": None, "answer-r": None}
    theirs.cells[2:5] = [theirs.cells[4], theirs.cells[2], theirs.cells[3]]  # p, q, r
    assert asm_mod.assemble(sem, theirs).answers == {
        "answer-p": "def p():\n    # YOUR CODE HERE\n    return 10\n",
        "answer-q": "def q():\n    # YOUR CODE HERE\n    return 20\n",
        "answer-r": "def r():\n    # YOUR CODE HERE\n    return 30\n"}
