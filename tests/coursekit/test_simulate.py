"""The simulated class (coursekit/simulate.py): seeded, and each submission is what its kind
says, so the grades it expects are the right ones to expect."""
import pytest

from coursekit import generate, grading, notebook, simulate

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
