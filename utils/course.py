"""Course tooling: seminars from solutions, headless execution, the benchmark table.

    python -m utils.course build            # solutions/NN_*.ipynb -> seminars/NN_*.ipynb
    python -m utils.course check            # seminars up to date, clean, no solution text
    python -m utils.course run [NB ...]     # execute into build/, print time/memory/metric
    python -m utils.course bench            # the same, written to BENCHMARKS.md
    python -m utils.course refresh NB ...   # re-execute and store outputs (review the diff!)

Conventions (see README, "Instructor path"):
- a solution region is fenced by ``### BEGIN SOLUTION`` / ``### END SOLUTION`` lines; the
  seminar gets ``# YOUR CODE HERE`` + ``raise NotImplementedError`` at the same indent;
- a hidden-test region (``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS``) is dropped
  from the seminar and runs only when grading;
- a graded test cell has ``metadata["course"] = {"task": "<id>", "points": <n>}``, and
  optionally ``"forbid": [dotted names]``: what the task's answers may not use, stated to
  the student in the task's markdown by a line starting ``**Not allowed:**``;
- a notebook may name its headline metric in ``metadata["course"]["headline"] =
  {"label": "...", "expr": "<python expression evaluated at the end>"}``.
"""
from __future__ import annotations

import argparse
import copy
import json
import platform
import re
import subprocess
import sys
import time
from importlib.util import find_spec
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


def task(cell) -> dict | None:
    """The grading metadata ``{"task": id, "points": n}`` of a graded test cell, else None."""
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
        meta = task(cell) if cell.cell_type == "code" else None
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
    return [c for c in nb.cells if c.cell_type == "code" and task(c)]


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


def solution_texts(nb) -> list[str]:
    """The non-trivial lines inside solution and hidden-test regions (for leak checks)."""
    texts = []
    for cell in nb.cells:
        lines = cell.source.split("\n")
        for begin, end in ((BEGIN, END), (HIDDEN_BEGIN, HIDDEN_END)):
            for a, b in _regions(lines, begin, end, "cell"):
                texts += [s.strip() for s in lines[a + 1:b] if len(s.strip()) >= 20]
    return texts


def make_seminar(solution) -> "nbformat.NotebookNode":  # noqa: F821
    """The student version of a solution notebook: stubs instead of solutions, hidden tests
    removed, outputs and execution counts cleared; cell ids and metadata kept."""
    nb = copy.deepcopy(solution)
    for i, cell in enumerate(nb.cells):
        cell.source = strip_source(cell.source, where=f"cell {i} ({cell.get('id')})")
        cell.metadata.pop("execution", None)  # the solution's run timings
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
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
    text = nbformat.writes(seminar)
    for marker in (BEGIN, END, HIDDEN_BEGIN, HIDDEN_END):
        if marker in text:
            problems.append(f"{seminar_path} contains the marker '{marker}'")
    for line in solution_texts(solution):
        if line in text:
            problems.append(f"{seminar_path} leaks solution text: {line!r}")
    for cell in seminar.cells:
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count):
            problems.append(f"{seminar_path} carries outputs (cell {cell.get('id')})")
            break
    if not graded_cells(solution):
        problems.append(f"{solution_path} has no graded test cell")
    ids = [task(c)["task"] for c in graded_cells(solution)]
    if len(ids) != len(set(ids)):
        problems.append(f"{solution_path}: task ids are not unique: {ids}")
    problems += rule_problems(solution, str(solution_path))
    return problems


def build(check_only: bool = False, root: Path = REPO) -> list[str]:
    """Regenerate every seminar from its solution (or, with ``check_only``, only report
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


# ----------------------------------------------------------------------------- execution
_MEASURE = """
import json as _j, resource as _r, sys as _s
_kb = _r.getrusage(_r.RUSAGE_SELF).ru_maxrss / (1024 if _s.platform == 'darwin' else 1)
print('__COURSE__' + _j.dumps({'peak_mb': _kb / 1024, 'headline': %s}))
"""


def execute(nb, cwd, timeout: int = 600, allow_errors: bool = False, measure: bool = False):
    """Run ``nb`` in a fresh kernel of this Python environment with working directory
    ``cwd``. Returns the executed notebook and, with ``measure``, a dict with the kernel's
    peak RSS in MB and the value of the notebook's headline expression."""
    from jupyter_client import KernelManager
    from nbclient import NotebookClient
    from nbval.kernel import CURRENT_ENV_KERNEL_NAME, NbvalKernelspecManager

    nb = copy.deepcopy(nb)
    info = {}
    if measure:
        import nbformat

        head = nb.metadata.get("course", {}).get("headline", {}).get("expr")
        nb.cells.append(nbformat.v4.new_code_cell(_MEASURE % (head or "None")))
    km = KernelManager(kernel_name=CURRENT_ENV_KERNEL_NAME,
                       kernel_spec_manager=NbvalKernelspecManager())
    client = NotebookClient(nb, km=km, timeout=timeout, allow_errors=allow_errors,
                            startup_timeout=180, resources={"metadata": {"path": str(cwd)}})
    try:  # the kernel's own stderr is start-up chatter; cell output comes over iopub
        client.execute(stderr=subprocess.DEVNULL)
    finally:  # a kernel manager we pass in is ours to stop: nbclient leaves it running
        if km.has_kernel:
            km.shutdown_kernel(now=True)
    if measure:
        cell = nb.cells.pop()
        text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        info = json.loads(text.split("__COURSE__", 1)[1])
    return nb, info


def error_cells(nb) -> list:
    """Code cells whose outputs hold an error."""
    return [c for c in nb.cells if c.cell_type == "code"
            and any(o.output_type == "error" for o in c.get("outputs", []))]


def run(paths, out_dir: Path | None = None, echo=print) -> list[dict]:
    """Execute notebooks headless (into ``out_dir`` if given, never over the stored ones)
    and return one row per notebook: name, seconds, peak MB, headline, ok."""
    rows = []
    for path in map(Path, paths):
        t0 = time.perf_counter()
        row = {"notebook": f"{path.parent.name}/{path.name}", "ok": True, "error": ""}
        try:
            executed, info = execute(read(path), cwd=path.parent, measure=True)
            head = read(path).metadata.get("course", {}).get("headline", {})
            row.update(peak_mb=info["peak_mb"],
                       headline=f"{head.get('label', '')} {info['headline']}".strip()
                       if head else "")
            if out_dir is not None:
                write(executed, Path(out_dir) / path.parent.name / path.name)
        except Exception as exc:  # report and go on: one broken notebook hides no other
            row.update(ok=False, peak_mb=float("nan"), headline="",
                       error=f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1][:200]}")
        row["seconds"] = time.perf_counter() - t0
        echo(_format_row(row))
        rows.append(row)
    return rows


def _format_row(r) -> str:
    over = r["ok"] and (r["seconds"] > BUDGET_SECONDS or r["peak_mb"] > BUDGET_MB)
    status = "FAILED: " + r["error"] if not r["ok"] else ("OVER BUDGET" if over else "ok")
    cells = [r["notebook"], f"{r['seconds']:.1f}", f"{r['peak_mb']:.0f}", r["headline"], status]
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


TABLE_HEAD = ("| notebook | time, s | peak RSS, MB | headline metric | status |\n"
              "|---|---:|---:|---|---|")


def selected_units(paths, units: str | None = None) -> list:
    """``paths`` whose stem is one of ``units`` (default: the ``COURSE_UNITS`` environment
    variable, comma-separated unit numbers such as ``10`` or stems such as ``10_cnn``);
    all of them when it is empty."""
    import os
    wanted = [u.strip() for u in (units if units is not None else
                                  os.environ.get("COURSE_UNITS", "")).split(",") if u.strip()]
    if not wanted:
        return list(paths)
    return [p for p in paths if any(Path(p).stem == u or Path(p).stem.split("_")[0] == u.zfill(2)
                                    for u in wanted)]


def course_notebooks() -> list[Path]:
    return sorted((REPO / "notebooks").glob("*.ipynb")) + \
        sorted((REPO / "solutions").glob("*.ipynb"))


def machine() -> str:
    import os

    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        mem = f", {mem:.0f} GB RAM"
    except (ValueError, OSError, AttributeError):
        mem = ""
    gpu = "CUDA GPU" if torch.cuda.is_available() else "no GPU"
    return (f"{cpu}, {os.cpu_count()} logical CPUs{mem}, {gpu}; {platform.system()} "
            f"{platform.machine()}; Python {platform.python_version()}, torch "
            f"{torch.__version__}, {torch.get_num_threads()} torch threads")


def bench(out: Path, rows=None) -> list[dict]:
    print(TABLE_HEAD)
    rows = rows if rows is not None else run(course_notebooks(), out_dir=REPO / "build")
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m utils.course bench`): every lecture notebook and",
        "solution executed headless in a fresh kernel, wall time including kernel start,",
        "peak resident memory of the kernel process, and the notebook's headline metric.",
        f"Budget per notebook: {BUDGET_SECONDS} s and {BUDGET_MB / 1024:.1f} GB on a 2-core CPU.",
        "",
        f"Machine: {machine()}.",
        f"Run: {time.strftime('%Y-%m-%d')}.",
        "",
        TABLE_HEAD,
        *[_format_row(r) for r in rows],
        "",
        f"Total: {sum(r['seconds'] for r in rows):.0f} s for {len(rows)} notebooks.",
        "",
    ]
    if find_spec("utils.grade") is not None:  # the grader measures itself
        from utils import grade

        lines += [grade.bench_section()]
    out.write_text("\n".join(lines))
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m utils.course", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("build", help="regenerate seminars/ from solutions/")
    sub.add_parser("check", help="fail if a seminar is stale, carries outputs or leaks")
    r = sub.add_parser("run", help="execute notebooks into build/ and print a table")
    r.add_argument("paths", nargs="*", type=Path)
    sub.add_parser("bench", help="run every notebook and write BENCHMARKS.md")
    f = sub.add_parser("refresh", help="re-execute notebooks and store their outputs")
    f.add_argument("paths", nargs="+", type=Path)
    args = p.parse_args(argv)
    try:
        if args.cmd in ("build", "check"):
            problems = build(check_only=args.cmd == "check")
            for msg in problems:
                print("error:", msg, file=sys.stderr)
            if args.cmd == "build":
                print(f"built {len(list((REPO / 'solutions').glob('*.ipynb')))} seminars")
            return 1 if problems else 0
        if args.cmd == "run":
            print(TABLE_HEAD)
            rows = run(args.paths or course_notebooks(), out_dir=REPO / "build")
            return 0 if all(r["ok"] for r in rows) else 1
        if args.cmd == "bench":
            rows = bench(REPO / "BENCHMARKS.md")
            print("wrote BENCHMARKS.md")
            return 0 if all(r["ok"] for r in rows) else 1
        if args.cmd == "refresh":
            from nbclient.exceptions import CellExecutionError

            for path in args.paths:
                t0 = time.perf_counter()
                try:
                    nb, _ = execute(read(path), cwd=path.parent)
                except CellExecutionError as exc:  # keep the stored notebook untouched
                    print(f"error: {path} failed, nothing written:\n{exc}", file=sys.stderr)
                    return 1
                nb.metadata.pop("widgets", None)  # widget state: stale bars, CDN scripts
                write(nb, path)
                print(f"refreshed {path} in {time.perf_counter() - t0:.1f} s")
            return 0
    except CourseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
