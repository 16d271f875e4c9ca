"""The seminar generator and checker (coursekit/generate.py) on small notebooks written
here: what a seminar keeps and clears, and what `make check` reports (each guard alone;
the leak rule's own tests are in test_leaks.py)."""



import nbformat
import pytest
from fakes import SOLUTION, f_solution_nb, fresh_pair, solution_to_generate
from nbformat.v4 import new_code_cell, new_notebook

from coursekit import generate, notebook
from coursekit.generate import make_seminar, seminar_problems
from coursekit.notebook import CourseError


def test_make_seminar_clears_outputs_and_keeps_ids_and_metadata():
    sem = make_seminar(f_solution_nb())
    assert [c.get("id") for c in sem.cells][1:] == ["answer-f", "test-f", *generate.CHECK_IDS]
    assert sem.cells[2].metadata["course"] == {"task": "f", "points": 2}
    assert sem.cells[2].outputs == [] and sem.cells[2].execution_count is None
    assert "raise NotImplementedError" in sem.cells[1].source
    assert "doubled_value" not in sem.cells[1].source


def test_make_seminar_adds_the_badge_the_check_cells_and_says_where_hidden_tests_are():
    from coursekit import colab

    sol = f_solution_nb()
    url = "https://colab.research.google.com/github/o/c/blob/main/solutions/01_t.ipynb"
    sol.cells[0].source = f"# T\n\n{colab.badge(url)}\n\nText about solutions/01_t.ipynb"
    sol.cells[2].source += "\n### BEGIN HIDDEN TESTS\nassert f(5) == 10\n### END HIDDEN TESTS"
    second = nbformat.v4.new_code_cell("assert True")
    second.id, second.metadata["course"] = "test-g", {"task": "g", "points": 1}
    sol.cells.append(second)
    sem = make_seminar(sol)
    assert sem.cells[0].source == "# T\n\n" + colab.badge(url.replace("/solutions/", "/seminars/")) \
        + "\n\nText about solutions/01_t.ipynb"  # only the badge's address changes
    assert sem.cells[2].metadata["course"] == {"task": "f", "points": 2, "hidden_tests": True}
    assert sem.cells[3].metadata["course"] == {"task": "g", "points": 1}
    assert [(c.cell_type, c.source) for c in sem.cells[-2:]] == [
        ("markdown", generate.CHECK_MARKDOWN), ("code", "import utils.check\n\nutils.check.check()")]
    assert "hidden_tests" not in sol.cells[2].metadata["course"]  # the solution is untouched
    old = f_solution_nb()  # nbformat 4.4 has no cell ids: the check cells get none either
    old.nbformat_minor = 4
    for cell in old.cells:
        del cell["id"]
    assert [c.get("id") for c in make_seminar(old).cells] == [None] * 5
    nbformat.validate(make_seminar(old))


def _write_pair(tmp_path, seminar):
    sol, sem = tmp_path / "solutions" / "01_t.ipynb", tmp_path / "seminars" / "01_t.ipynb"
    notebook.write(f_solution_nb(), sol)
    notebook.write(seminar, sem)
    return sol, sem


def test_a_fresh_seminar_has_no_problems(tmp_path):
    sol, sem = _write_pair(tmp_path, make_seminar(f_solution_nb()))
    assert seminar_problems(sol, sem) == []


def test_stale_leaky_or_executed_seminars_are_caught(tmp_path):
    leaky = make_seminar(f_solution_nb())
    leaky.cells[1].source = SOLUTION.replace("    ### BEGIN SOLUTION\n", "").replace(
        "    ### END SOLUTION\n", "")
    leaky.cells[2].outputs = [nbformat.v4.new_output("stream", text="f: OK\n")]
    sol, sem = _write_pair(tmp_path, leaky)
    problems = " | ".join(seminar_problems(sol, sem))
    assert "out of date" in problems
    assert "carries outputs" in problems
    assert "leaks solution text: 'doubled_value = 2 * x'" in problems


def test_missing_seminar_and_orphans_are_reported(tmp_path):
    notebook.write(f_solution_nb(), tmp_path / "solutions" / "01_t.ipynb")
    notebook.write(f_solution_nb(), tmp_path / "seminars" / "02_orphan.ipynb")
    problems = " | ".join(generate.generate(check_only=True, root=tmp_path))
    assert "01_t.ipynb is missing" in problems and "02_orphan.ipynb has no solution" in problems
    assert generate.generate(root=tmp_path) == [f"{tmp_path}/seminars/02_orphan.ipynb has no solution "
                                           "in solutions/: delete it or add one"]
    assert seminar_problems(tmp_path / "solutions" / "01_t.ipynb",
                            tmp_path / "seminars" / "01_t.ipynb") == []


# ---------------------------------------------------------------- each guard alone
def test_guard_marker_left_in_the_seminar(tmp_path):
    nb = f_solution_nb()
    nb.cells[0].source = "# T\nYour code goes between ### BEGIN SOLUTION and the end."
    assert [p for p in fresh_pair(tmp_path, nb) if "marker" in p] == [
        f"{tmp_path / 'seminars' / '01_t.ipynb'} contains the marker '### BEGIN SOLUTION'"]


@pytest.mark.parametrize("what", ["execution_count", "outputs"])
def test_guard_stored_execution_count_or_output(tmp_path, what):
    seminar = make_seminar(f_solution_nb())
    if what == "execution_count":
        seminar.cells[2].execution_count = 3
    else:
        seminar.cells[2].outputs = [nbformat.v4.new_output("stream", text="f: OK\n")]
    sol, sem = _write_pair(tmp_path, seminar)
    assert f"{sem} carries outputs (cell test-f)" in seminar_problems(sol, sem)


def test_guard_solution_without_graded_cells(tmp_path):
    nb = f_solution_nb()
    del nb.cells[2].metadata["course"]
    assert fresh_pair(tmp_path, nb) == [
        f"{tmp_path / 'solutions' / '01_t.ipynb'} has no graded test cell"]


def test_guard_duplicate_task_ids(tmp_path):
    nb = f_solution_nb()
    twin = nbformat.v4.new_code_cell("assert f(3) == 6")
    twin.metadata["course"] = {"task": "f", "points": 1}
    nb.cells.append(twin)
    assert fresh_pair(tmp_path, nb) == [
        f"{tmp_path / 'solutions' / '01_t.ipynb'}: task ids are not unique: ['f', 'f']"]


def test_guard_stale_seminar_alone(tmp_path):
    seminar = make_seminar(f_solution_nb())
    seminar.cells[0].source = "# T (edited by hand)"
    sol, sem = _write_pair(tmp_path, seminar)
    problems = seminar_problems(sol, sem)
    assert len(problems) == 1 and "out of date" in problems[0]


# ---------------------------------------------------------------- exit codes of the CLI


def test_make_seminar_exact():
    sol = solution_to_generate()
    sem = generate.make_seminar(sol)
    assert [c.source for c in sem.cells] == [
        "# T", "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError\n",
        "assert f(1) == 2", generate.CHECK_MARKDOWN, generate.CHECK_CODE]
    assert sem.cells[2].metadata == {"course": {"task": "f", "points": 1, "hidden_tests": True}}
    assert sem.cells[2].outputs == [] and sem.cells[2].execution_count is None
    assert "widgets" not in sem.metadata and sem.metadata["course"] == sol.metadata["course"]
    assert "widgets" in sol.metadata and sol.cells[2].outputs  # the solution is untouched
    md = solution_to_generate()
    md.cells[0].source = "### BEGIN SOLUTION"
    with pytest.raises(CourseError) as info:
        generate.make_seminar(md)
    assert str(info.value) == "cell 0 (md): '### BEGIN SOLUTION' is never closed"


def test_build_writes_every_seminar_and_reports_orphans_and_broken_ones(tmp_path):
    notebook.write(solution_to_generate(), tmp_path / "solutions" / "01_a.ipynb")
    broken = solution_to_generate()
    broken.cells[1].source = "### BEGIN SOLUTION\nx = 1"
    notebook.write(broken, tmp_path / "solutions" / "02_b.ipynb")
    notebook.write(solution_to_generate(), tmp_path / "seminars" / "03_orphan.ipynb")
    problems = generate.generate(root=tmp_path)
    assert problems == [
        "cell 1 (answer-f): '### BEGIN SOLUTION' is never closed",
        f"{tmp_path / 'seminars' / '03_orphan.ipynb'} has no solution in solutions/: delete it "
        "or add one"]
    assert nbformat.writes(notebook.read(tmp_path / "seminars" / "01_a.ipynb")) == \
        nbformat.writes(generate.make_seminar(solution_to_generate()))
    assert not (tmp_path / "seminars" / "02_b.ipynb").exists()
    (tmp_path / "seminars" / "03_orphan.ipynb").unlink()
    (tmp_path / "solutions" / "02_b.ipynb").unlink()
    assert generate.generate(root=tmp_path) == []
    assert generate.generate(check_only=True, root=tmp_path) == []
    before = (tmp_path / "seminars" / "01_a.ipynb").read_bytes()
    notebook.write(new_notebook(cells=[new_code_cell("x")]), tmp_path / "solutions" / "01_a.ipynb")
    problems = generate.generate(check_only=True, root=tmp_path)
    assert (tmp_path / "seminars" / "01_a.ipynb").read_bytes() == before  # check writes nothing
    assert problems == [
        f"{tmp_path / 'seminars' / '01_a.ipynb'} is out of date with "
        f"{tmp_path / 'solutions' / '01_a.ipynb'}: run `make seminars` (never edit seminars "
        "by hand)",
        f"{tmp_path / 'solutions' / '01_a.ipynb'} has no graded test cell"]
    notebook.write(solution_to_generate(), tmp_path / "solutions" / "04_new.ipynb")
    assert generate.generate(check_only=True, root=tmp_path)[-1] == \
        f"{tmp_path / 'seminars' / '04_new.ipynb'} is missing: run `make seminars`"


def test_seminar_problems_each_marker_and_a_leak(tmp_path):
    sol_path, sem_path = tmp_path / "s.ipynb", tmp_path / "m.ipynb"
    notebook.write(solution_to_generate(), sol_path)
    for marker in (notebook.BEGIN, notebook.END, notebook.HIDDEN_BEGIN, notebook.HIDDEN_END):
        sem = generate.make_seminar(solution_to_generate())
        sem.cells[0].source = f"# T {marker}"
        notebook.write(sem, sem_path)
        assert f"{sem_path} contains the marker '{marker}'" in \
            generate.seminar_problems(sol_path, sem_path)
    sem = generate.make_seminar(solution_to_generate())
    sem.cells[0].source = "# T\nreturn x * 2  # the answer"
    notebook.write(sem, sem_path)
    assert generate.seminar_problems(sol_path, sem_path)[1:] == [
        f"{sem_path} leaks solution text: 'return x * 2  # the answer'"]
    sem.cells[1].outputs = [nbformat.v4.new_output("stream", text="x")]
    sem.cells[2].execution_count = 9
    sem.cells[0].source = "# T"
    notebook.write(sem, sem_path)
    assert generate.seminar_problems(sol_path, sem_path)[1:] == [
        f"{sem_path} carries outputs (cell answer-f)"]


def test_check_reports_the_problems_of_every_solution(tmp_path):
    """`make check`: a problem of an early seminar is not hidden by a later one's."""
    for stem in ("01_a", "02_b"):
        sol = solution_to_generate()
        sol.cells[2].metadata["course"]["forbid"] = "np.linalg"  # not a list
        notebook.write(sol, tmp_path / "solutions" / f"{stem}.ipynb")
        notebook.write(generate.make_seminar(sol), tmp_path / "seminars" / f"{stem}.ipynb")
    assert generate.generate(check_only=True, root=tmp_path) == [
        f"{tmp_path / 'solutions' / stem}.ipynb: task 'f': 'forbid' must be a list of dotted "
        "names (strings), got 'np.linalg'" for stem in ("01_a", "02_b")]
