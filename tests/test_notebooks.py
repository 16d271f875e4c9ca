"""Checks of the course's own notebooks: layout, anatomy, stored outputs, seminars.

The proof that every graded test fails on the generated seminar and passes on the
solution is `tests/test_grade.py::test_solution_full_marks_and_seminar_zero` (the real
grader on every unit); nbval re-executes every solution and compares its outputs.
"""
import re

import pytest

from coursekit import execute, generate, notebook

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
    assert generate.generate(check_only=True) == []


# A decimal number as printed: 0.5, .25, -1.0, 1e-12, 3.2e+00, 12%, 1.1e-15. Integers
# (counts, shapes, steps, labels) are exact by construction and are not matched.
DECIMAL = re.compile(r"(?<![\w.])\d*\.\d+(?:e[-+]?\d+)?(?![\w.])|(?<![\w.])\d+(?:\.\d+)?e[-+]?\d+"
                     r"|\d%")
IGNORED = {"nbval-ignore-output", "nbval-skip", "raises-exception"}


def compared_text(cell) -> str:
    """The text nbval compares for a code cell: stdout and the text/plain of results and
    displays (stderr, images and widgets are skipped by conftest.py; matplotlib's figure
    repr is sanitized)."""
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream" and out.get("name") == "stdout":
            parts.append(out.get("text", ""))
        elif out.get("output_type") in ("execute_result", "display_data"):
            parts.append(out.get("data", {}).get("text/plain", ""))
    return re.sub(r"<Figure size [^>]*>", "", "".join(parts))


def test_decimal_pattern():
    found = lambda s: DECIMAL.findall(s)  # noqa: E731
    assert found("acc 0.952, lr 1e-3, diff 1.1e-15, 12% of units, .5") == \
        ["0.952", "1e-3", "1.1e-15", "2%", ".5"]
    assert found("shape (2, 10), 8,410 parameters, step 40, version 2.14.1, x1.2y") == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_compared_outputs_hold_on_any_cpu(path):
    """A compared cell prints no digit a training run or the last bits of a float decide.

    Another CPU (Intel vs AMD, AVX2 vs AVX-512, another thread count) takes other
    floating-point paths, and a training run amplifies the last bit into the second decimal;
    a round-off-level difference (``max |diff| 1.1e-15``) changes with the kernel outright.
    So a decimal number in an output that nbval compares must be one that every CPU prints
    the same, and the cell says why in its metadata ``exact_output`` (a float64 example from
    given numbers, rounded far from its last digits; a value set in the code). Anything else
    is printed in a cell tagged ``nbval-ignore-output``, with its property asserted next to
    it (``acc >= 0.9: True``). This lint reads stored outputs only: it cannot tell whether
    an ``exact_output`` reason is true (``make test-perturbed`` re-runs the notebooks with
    the arithmetic perturbed), and it does not see integers that a training run decides
    (steps to a target, a count of errors): those need the same care.
    """
    nb = notebook.read(path)
    undeclared, stale = [], []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        compared = not IGNORED & set(cell.metadata.get("tags", []))
        numbers = DECIMAL.findall(compared_text(cell)) if compared else []
        reason = cell.metadata.get("exact_output")
        if numbers and not (isinstance(reason, str) and reason.strip()):
            undeclared.append(f"{cell.get('id')} ({', '.join(numbers[:3])})")
        elif reason is not None and not numbers:
            stale.append(cell.get("id"))
    assert not undeclared, (
        f"cells print decimal numbers in outputs that nbval compares: {'; '.join(undeclared)}. "
        "A number from a training run or a round-off-level difference changes on another CPU: "
        "print the property with its margin (`acc >= 0.9: True`) and move the numbers into a "
        "cell tagged nbval-ignore-output; if every CPU prints these digits by construction, "
        "say why in the cell's metadata `exact_output`")
    assert not stale, f"cells with an `exact_output` reason but no compared decimal: {stale}"
