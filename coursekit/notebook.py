"""The course's notebook format: reading and writing, the regions and the metadata.

Conventions (see README, "Instructor path"):
- a solution region is fenced by ``### BEGIN SOLUTION`` / ``### END SOLUTION`` lines; the
  seminar gets ``# YOUR CODE HERE`` + ``raise NotImplementedError`` at the same indent;
- a hidden-test region (``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS``) is dropped
  from the seminar and runs only when grading;
- a graded test cell has ``metadata["course"] = {"task": "<id>", "points": <n>}``, and
  optionally ``"forbid": [dotted names]``: what the task's answers may not use, stated to
  the student in the task's markdown by a line starting ``**Not allowed:**``;
- a notebook may name its headline metric in ``metadata["course"]["headline"] =
  {"label": "...", "expr": "<python expression evaluated at the end>"}``;
- the first code cell of every notebook starts with ``SETUP_CELL``.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


FOLDERS = ("notebooks", "solutions", "seminars")


BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"


STUB = ("# YOUR CODE HERE", "raise NotImplementedError")


NOT_ALLOWED = "**Not allowed:**"  # the markdown line that states a task's forbid rules


_RULE = re.compile(r"^\.?[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


_NOT_ALLOWED_LINE = re.compile(r"^\s*(?:[-*>]\s+)?" + re.escape(NOT_ALLOWED))


BUDGET_SECONDS, BUDGET_MB = 60, 1536


# The first code cell of every notebook starts with exactly these lines (tests check it).
SETUP_CELL = """# Setup (the same in every notebook). On Colab, install the course package first.
import sys
if "google.colab" in sys.modules:
    import subprocess
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "git+https://github.com/dl-course/dl-course"], check=True)
import utils

seed = utils.seed_everything(0)
device = utils.get_device()
"""


class CourseError(Exception):
    """A notebook breaks a course convention; the message names the file and the cell."""


# ----------------------------------------------------------------------------- notebooks
def read(path) -> "nbformat.NotebookNode":  # noqa: F821
    import nbformat

    try:
        return nbformat.read(str(path), as_version=4)
    except Exception as exc:  # malformed JSON, wrong schema
        raise CourseError(f"{path}: not a readable notebook ({type(exc).__name__}: {exc})") \
            from None


def write(nb, path) -> None:
    import nbformat

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))


def task_metadata(cell) -> dict | None:
    """The task metadata ``{"task": id, "points": n, ...}`` of a graded test cell, else None."""
    meta = cell.get("metadata", {}).get("course", {})
    return meta if "task" in meta else None


def forbid_problems(forbid, where: str = "cell") -> list[str]:
    """Problems with a test cell's ``forbid`` metadata: a list of dotted names
    (``"torch.nn.functional.cross_entropy"``, ``"sklearn"``, ``".backward"``)."""
    if not isinstance(forbid, list) or not all(isinstance(r, str) for r in forbid):
        return [f"{where}: 'forbid' must be a list of dotted names (strings), got {forbid!r}"]
    return [f"{where}: 'forbid' entry {r!r} is not a dotted name ('a.b.c', or '.method')"
            for r in forbid if not _RULE.match(r)]


def rule_problems(nb, name: str = "notebook") -> list[str]:
    """Every graded test cell with ``forbid`` rules: valid rules, each named (its last
    dotted component is enough) in a line starting ``**Not allowed:**`` of the task's
    markdown (the markdown cells since the previous graded test cell)."""
    problems, markdown = [], []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            markdown.append(cell.source)
        meta = task_metadata(cell) if cell.cell_type == "code" else None
        if meta is None:
            continue
        where = f"{name}: task {meta['task']!r}"
        forbid = meta.get("forbid")
        if forbid is not None:
            found = forbid_problems(forbid, where)
            lines = [line for src in markdown for line in src.split("\n")
                     if _NOT_ALLOWED_LINE.match(line)]
            if found:
                problems += found
            elif forbid and not lines:
                problems.append(f"{where} forbids {forbid} but its markdown has no line "
                                f"starting '{NOT_ALLOWED}' that tells the student")
            else:
                text = " ".join(lines)
                missing = [r for r in forbid if not re.search(
                    rf"(?<!\w){re.escape(r.rsplit('.', 1)[-1])}(?!\w)", text)]
                if missing:
                    problems.append(f"{where}: its '{NOT_ALLOWED}' line does not name "
                                    f"{', '.join(missing)}")
        markdown = []
    return problems


def graded_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code" and task_metadata(c)]


def is_answer_cell(cell) -> bool:
    return cell.cell_type == "code" and BEGIN in cell.source


def _regions(lines, begin, end, where):
    """Yield (start, stop) line indices of fenced regions, checking they are well formed."""
    start = None
    for i, line in enumerate(lines):
        s = line.strip()
        if s == begin:
            if start is not None:
                raise CourseError(f"{where}: '{begin}' opened twice (line {i + 1})")
            start = i
        elif s == end:
            if start is None:
                raise CourseError(f"{where}: '{end}' without '{begin}' (line {i + 1})")
            yield start, i
            start = None
    if start is not None:
        raise CourseError(f"{where}: '{begin}' is never closed")


def strip_source(source: str, where: str = "cell") -> str:
    """Replace solution regions by the stub and drop hidden-test regions."""
    lines = source.split("\n")
    out, pos = [], 0
    spans = [(a, b, "solution") for a, b in _regions(lines, BEGIN, END, where)]
    spans += [(a, b, "hidden") for a, b in _regions(lines, HIDDEN_BEGIN, HIDDEN_END, where)]
    for a, b, kind in sorted(spans):
        if a < pos:
            raise CourseError(f"{where}: solution and hidden-test regions overlap")
        out += lines[pos:a]
        if kind == "solution":
            indent = lines[a][: len(lines[a]) - len(lines[a].lstrip())]
            out += [indent + s for s in STUB]
        pos = b + 1
    out += lines[pos:]
    return "\n".join(out)


def selected_units(paths, units: str | None = None) -> list:
    """``paths`` whose stem is one of ``units`` (default: the ``COURSE_UNITS`` environment
    variable, comma-separated unit numbers such as ``10`` or stems such as ``10_cnn``);
    all of them when it is empty."""
    wanted = [u.strip() for u in (units if units is not None else
                                  os.environ.get("COURSE_UNITS", "")).split(",") if u.strip()]
    if not wanted:
        return list(paths)
    return [p for p in paths if any(Path(p).stem == u or Path(p).stem.split("_")[0] == u.zfill(2)
                                    for u in wanted)]


def course_notebooks() -> list[Path]:
    return sorted((REPO / "notebooks").glob("*.ipynb")) + \
        sorted((REPO / "solutions").glob("*.ipynb"))
