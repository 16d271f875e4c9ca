"""The notebook format (coursekit/notebook.py): the solution and hidden-test regions stripped
or refused, a notebook that cannot be read, the forbid rules stated to the student, the
units a command selects."""
from pathlib import Path

import nbformat
import pytest
from fakes import SOLUTION, f_solution_nb
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from coursekit import generate, leaks, notebook
from coursekit.generate import make_seminar
from coursekit.notebook import CourseError, strip_source


def test_strip_source_replaces_the_region_at_its_indent():
    out = strip_source(SOLUTION)
    assert out.splitlines() == ['def f(x):', '    """Double x."""', "    # YOUR CODE HERE",
                                "    raise NotImplementedError"]


def test_strip_source_drops_hidden_tests_and_keeps_the_rest():
    src = "assert f(1) == 2\n### BEGIN HIDDEN TESTS\nassert f(5) == 10\n### END HIDDEN TESTS\nprint('ok')"
    assert strip_source(src) == "assert f(1) == 2\nprint('ok')"


@pytest.mark.parametrize("src, msg", [
    ("### BEGIN SOLUTION\nx = 1", "never closed"),
    ("x = 1\n### END SOLUTION", "without"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "opened twice"),
])
def test_malformed_regions_are_reported(src, msg):
    with pytest.raises(CourseError, match=msg):
        strip_source(src)


def test_unreadable_notebook_gives_a_course_error(tmp_path):
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{not json")
    with pytest.raises(CourseError, match="not a readable notebook"):
        notebook.read(bad)


def _ruled_nb(first_md: str, second_md: str, forbid):
    """Two tasks; the second's test cell forbids ``forbid``."""
    nb = f_solution_nb()
    test2 = nbformat.v4.new_code_cell("assert g(2) == 4")
    test2.metadata["course"] = {"task": "g", "points": 1, "forbid": forbid}
    nb.cells = [nbformat.v4.new_markdown_cell(first_md), *nb.cells[1:],
                nbformat.v4.new_markdown_cell(second_md),
                nbformat.v4.new_code_cell("def g(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n"
                                          "    ### END SOLUTION\n"), test2]
    return nb


@pytest.mark.parametrize("first_md, second_md, forbid, problem", [
    ("# T", "## Task 2 (1 point): g\n\n**Not allowed:** `np.linalg.inv`, `loss.backward()`.",
     ["numpy.linalg.inv", ".backward"], None),
    ("# T", "## Task 2\n- **Not allowed:** `torch.nn.functional.cross_entropy`",
     ["torch.nn.functional.cross_entropy"], None),
    ("# T", "## Task 2 (1 point): g\n\nDo not use `np.linalg.inv`.", ["numpy.linalg.inv"],
     "has no line starting '**Not allowed:**'"),
    ("**Not allowed:** `inv`", "## Task 2", ["numpy.linalg.inv"],  # another task's markdown
     "has no line starting '**Not allowed:**'"),
    ("# T", "**Not allowed:** `inv`. Use `backward_pass`.", ["numpy.linalg.inv", ".backward"],
     "its '**Not allowed:**' line does not name .backward"),
    ("# T", "**Not allowed:** inv", "numpy.linalg.inv", "must be a list of dotted names"),
])
def test_forbid_rules_are_stated_to_the_student(tmp_path, first_md, second_md, forbid, problem):
    nb = _ruled_nb(first_md, second_md, forbid)
    found = notebook.rule_problems(nb, "01_t.ipynb")
    if problem is None:
        assert found == []
    else:
        assert len(found) == 1 and problem in found[0] and "task 'g'" in found[0], found
        notebook.write(nb, tmp_path / "solutions" / "01_t.ipynb")  # `make check` fails
        notebook.write(make_seminar(nb), tmp_path / "seminars" / "01_t.ipynb")
        assert any(problem in p for p in generate.generate(check_only=True, root=tmp_path))


def test_selected_units_filters_by_number_or_stem(monkeypatch):
    paths = [Path("solutions/01_linear_regression.ipynb"), Path("solutions/10_cnn.ipynb"),
             Path("tests/wrong_answers/11_rnn.py")]
    monkeypatch.delenv("COURSE_UNITS", raising=False)
    assert notebook.selected_units(paths) == paths
    assert notebook.selected_units(paths, "1") == paths[:1]
    assert notebook.selected_units(paths, "10_cnn, 11") == paths[1:]
    monkeypatch.setenv("COURSE_UNITS", "11")
    assert notebook.selected_units(paths) == paths[2:]
    assert notebook.selected_units(paths, "12") == []


@pytest.mark.parametrize("src", [
    "### BEGIN SOLUTION\nx = 1\n### BEGIN HIDDEN TESTS\nassert x\n### END SOLUTION\n"
    "### END HIDDEN TESTS",
    "### BEGIN HIDDEN TESTS\nassert x\n### BEGIN SOLUTION\nx = 1\n### END HIDDEN TESTS\n"
    "### END SOLUTION",
])
def test_guard_solution_and_hidden_regions_overlap(src):
    with pytest.raises(CourseError, match="regions overlap"):
        strip_source(src, where="cell 3")


def test_read_and_write(tmp_path):
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{not json")
    with pytest.raises(CourseError) as info:
        notebook.read(bad)
    assert str(info.value) == (f"{bad}: not a readable notebook (NotJSONError: Notebook does "
                               "not appear to be JSON: '{not json')")
    nb = new_notebook(cells=[new_code_cell("x = 1")])
    notebook.write(nb, tmp_path / "deep" / "er" / "n.ipynb")
    assert notebook.read(tmp_path / "deep" / "er" / "n.ipynb").cells[0].source == "x = 1"


def test_task_forbid_and_answer_cells():
    cell = new_code_cell("x")
    assert notebook.task_metadata(cell) is None
    cell.metadata["course"] = {"points": 1}
    assert notebook.task_metadata(cell) is None
    cell.metadata["course"] = {"task": "t", "points": 1}
    assert notebook.task_metadata(cell) == {"task": "t", "points": 1}
    assert notebook.forbid_problems(["a.b", ".m", "_x9.y_"]) == []
    assert notebook.forbid_problems("a.b", "w") == [
        "w: 'forbid' must be a list of dotted names (strings), got 'a.b'"]
    assert notebook.forbid_problems(["a", 3]) == [
        "cell: 'forbid' must be a list of dotted names (strings), got ['a', 3]"]
    assert notebook.forbid_problems(["a..b", "9a", "a.", "..m", "a b", "ok"], "w") == [
        f"w: 'forbid' entry {r!r} is not a dotted name ('a.b.c', or '.method')"
        for r in ("a..b", "9a", "a.", "..m", "a b")]
    md = new_markdown_cell("### BEGIN SOLUTION")
    assert notebook.is_answer_cell(md) is False
    assert notebook.is_answer_cell(new_code_cell("  ### BEGIN SOLUTION\n")) is True
    assert notebook.is_answer_cell(new_code_cell("### END SOLUTION")) is False
    nb = new_notebook(cells=[md, cell, new_code_cell("y")])
    assert notebook.graded_cells(nb) == [cell]


def test_rule_problems_exact():
    def nb_with(*cells):
        return new_notebook(cells=list(cells))

    def test_cell(forbid, task="t"):
        c = new_code_cell("assert True")
        c.metadata["course"] = {"task": task, "points": 1, "forbid": forbid}
        return c
    ok = nb_with(new_markdown_cell("* **Not allowed:** `np.linalg.inv`"), test_cell(["numpy.linalg.inv"]))
    assert notebook.rule_problems(ok) == []
    quoted = nb_with(new_markdown_cell("> **Not allowed:** inv"), test_cell(["numpy.linalg.inv"]))
    assert notebook.rule_problems(quoted) == []
    assert notebook.rule_problems(nb_with(new_markdown_cell("**Not allowed:** `.backward`"),
                                          test_cell([".backward"]))) == []
    assert notebook.rule_problems(nb_with(test_cell([]))) == []  # nothing forbidden
    assert notebook.rule_problems(nb_with(new_markdown_cell("text **Not allowed:** inv"),
                                          test_cell(["numpy.linalg.inv"])), "n.ipynb") == [
        "n.ipynb: task 't' forbids ['numpy.linalg.inv'] but its markdown has no line starting "
        "'**Not allowed:**' that tells the student"]
    assert notebook.rule_problems(nb_with(new_markdown_cell("**Not allowed:** `inverse`, pinv"),
                                          test_cell(["numpy.linalg.inv", "la.pinv", "x.det"]))) == [
        "notebook: task 't': its '**Not allowed:**' line does not name numpy.linalg.inv, x.det"]
    assert notebook.rule_problems(nb_with(new_markdown_cell("**Not allowed:** x"),
                                          test_cell("x"))) == [
        "notebook: task 't': 'forbid' must be a list of dotted names (strings), got 'x'"]
    # the markdown of an earlier task does not count; several lines are joined
    two = nb_with(new_markdown_cell("**Not allowed:** inv"), test_cell(["numpy.linalg.inv"], "a"),
                  new_markdown_cell("**Not allowed:** det\n- **Not allowed:** `solve`"),
                  new_code_cell("x = 1"), test_cell(["numpy.linalg.inv", "np.solve", "det"], "b"))
    assert notebook.rule_problems(two) == [
        "notebook: task 'b': its '**Not allowed:**' line does not name numpy.linalg.inv"]


def test_regions_and_region_lines():
    with pytest.raises(CourseError) as info:
        list(notebook._regions(["a", "### END SOLUTION"], notebook.BEGIN, notebook.END, "c 2"))
    assert str(info.value) == "c 2: '### END SOLUTION' without '### BEGIN SOLUTION' (line 2)"
    with pytest.raises(CourseError) as info:
        list(notebook._regions(["### BEGIN SOLUTION", "x", "  ### BEGIN SOLUTION"],
                               notebook.BEGIN, notebook.END, "c"))
    assert str(info.value) == "c: '### BEGIN SOLUTION' opened twice (line 3)"
    with pytest.raises(CourseError) as info:
        notebook.strip_source("### BEGIN SOLUTION")
    assert str(info.value) == "cell: '### BEGIN SOLUTION' is never closed"
    assert list(notebook._regions(["### BEGIN SOLUTION", "a", " ### END SOLUTION ", "b",
                                   "### BEGIN SOLUTION", "### END SOLUTION"],
                                  notebook.BEGIN, notebook.END, "c")) == [(0, 2), (4, 5)]
    nb = new_notebook(cells=[
        new_markdown_cell("### BEGIN SOLUTION\n    a line of twenty chars\nshort\n### END SOLUTION"),
        new_code_cell("x\n### BEGIN HIDDEN TESTS\nassert f(2) == 4, 'twenty+'\n"
                      "### END HIDDEN TESTS\nnot in a region, long enough")])
    assert leaks.region_lines(nb) == ["a line of twenty chars", "assert f(2) == 4, 'twenty+'"]
    assert notebook.strip_source("a\n    ### BEGIN SOLUTION\n    x\n    ### END SOLUTION\nb\n"
                                 "### BEGIN HIDDEN TESTS\nh\n### END HIDDEN TESTS\nc") == \
        "a\n    # YOUR CODE HERE\n    raise NotImplementedError\nb\nc"
    with pytest.raises(CourseError) as info:
        notebook.strip_source("### BEGIN HIDDEN TESTS\n### BEGIN SOLUTION\n### END SOLUTION\n"
                              "### END HIDDEN TESTS", "cell 4")
    assert str(info.value) == "cell 4: solution and hidden-test regions overlap"


def test_selected_units_and_course_notebooks(monkeypatch):
    monkeypatch.setenv("COURSE_UNITS", " , ")
    paths = ["a/01_x.ipynb", "a/02_y.ipynb", "a/2_z.ipynb"]
    assert notebook.selected_units(paths) == paths
    assert notebook.selected_units(paths, "2") == ["a/02_y.ipynb"]
    assert notebook.selected_units(paths, "2_z") == ["a/2_z.ipynb"]
    assert notebook.selected_units(paths, "") == paths
    every = notebook.course_notebooks()
    assert every == sorted((notebook.REPO / "notebooks").glob("*.ipynb")) + \
        sorted((notebook.REPO / "solutions").glob("*.ipynb"))
    assert notebook.FOLDERS == ("notebooks", "solutions", "seminars")
    assert (notebook.BUDGET_SECONDS, notebook.BUDGET_MB) == (60, 1536)


def test_rule_problems_of_every_task():
    def test_cell(forbid, task):
        c = new_code_cell("assert True")
        c.metadata["course"] = {"task": task, "points": 1, "forbid": forbid}
        return c
    nb = new_notebook(cells=[test_cell("x", "a"), test_cell([1], "b")])
    assert notebook.rule_problems(nb, "n.ipynb") == [
        "n.ipynb: task 'a': 'forbid' must be a list of dotted names (strings), got 'x'",
        "n.ipynb: task 'b': 'forbid' must be a list of dotted names (strings), got [1]"]
