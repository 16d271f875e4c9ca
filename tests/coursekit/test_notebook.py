"""The notebook format (coursekit/notebook.py): the solution and hidden-test regions stripped
or refused, a notebook that cannot be read, the forbid rules stated to the student, the
units a command selects."""
from pathlib import Path
import nbformat
import pytest
from fakes import SOLUTION, f_solution_nb
from coursekit import generate, notebook
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
