"""The instructor grader: a class of submitted seminars -> points, per task.

    python -m utils.grade SUBMISSIONS --out grades/ [--jobs N] [--timeout S] [--memory-mb M]
    python -m utils.grade SUBMISSIONS --student alice --out reports/alice   # one CI job
    python -m utils.grade SUBMISSIONS --shard 2/4 --out reports/2          # a quarter of them
    python -m utils.grade merge reports/*/grades.json --out grades/          # the gradebook
    python -m utils.grade feedback grades/grades.json --out grades/feedback  # per student
    python -m utils.grade release --out DIR      # the student-facing course, no solutions
    python -m utils.grade bench [--out FILE]     # the grading-time section of BENCHMARKS.md

SUBMISSIONS holds one folder per student with any subset of the seminars under their file
names: ``SUBMISSIONS/<student>/NN_topic.ipynb``. The grader writes ``grades.json``
(student -> seminar -> points, max_points, per-task status and message), ``grades.csv``
(a row per student, a column per seminar, a total) and ``junit.xml``, and prints a table.

How one notebook is graded (see the README, "Grading"):
1. The run is assembled from the instructor's solution ``solutions/NN_topic.ipynb``: every
   cell comes from the solution (tests, hidden tests, setup, data) except the answer cells
   (those with a ``### BEGIN SOLUTION`` region), which come from the student's file,
   matched by cell id, else by position. Edited or deleted test cells change nothing; a
   missing answer cell is graded as the seminar's empty stub. Cells a student added are
   not run. Cells after the last graded test are not run.
2. The cells run one by one in a fresh kernel (``utils.sandbox``): a temporary working
   directory, a memory limit, one thread, the solution's own seeding in the setup cell.
   A task is the graded test cell and the cells since the previous one.
3. Each task scores its points when its answer cells run without error and its test cell
   passes, 0 otherwise, with a status:
   passed, failed (an answer or the test raised: the message says what and where), timeout
   (a cell ran over the per-cell limit: it is interrupted and the next task goes on),
   error (the kernel died, or the file could not be graded at all) or missing (the
   answer cell is not in the submission).
4. Guards (README, "What the grader guards against"): a task whose answers use a name
   its test cell's ``forbid`` metadata lists fails with the rule, cell and line
   (``utils/rules.py``, by syntax tree); before every instructor cell the names
   instructor cells bound and the attributes of utils, NumPy, torch, math and builtins
   are restored; the kernel cannot read solutions/, tests/, .git, build/, grades/ or the
   submissions, nor start processes (``utils/guard.py``).
5. A kernel that dies (memory, ``os._exit``, a segfault, a cell that ignores the
   interrupt) costs the task it died in: the grader starts a new kernel and replays the
   notebook from the top with that task's answer replaced by the stub, so the later tasks
   are still graded (at most ``MAX_RESTARTS`` times per notebook; a crash in a task with
   no student cell to blame ends the run and the remaining tasks get ``error``).

Exit status: 0 when grading completed, whatever the students scored; 2 when the grader
cannot run (bad arguments, no or broken solutions, no kernel), with a one-line reason;
3 on a bug of the grader itself (one line; GRADE_DEBUG=1 shows the traceback).
"""
from __future__ import annotations

import argparse
import csv
import difflib
import io
import json
import os
import re
import shutil
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from . import course, rules
from .course import REPO, CourseError
from .sandbox import GRACE, Guard, Kernel

# Per-cell time limit. Default: TIMEOUT_MARGIN x the slowest cell of the solution as timed
# when its outputs were stored (nbclient records it in the cell metadata), and at least
# TIMEOUT_FLOOR: a correct but unvectorized answer may be 10x slower than the solution,
# and a loaded CI machine doubles times again. Without timings: DEFAULT_TIMEOUT, twice
# the whole-notebook budget (every notebook runs in 60 s on a 2-core CPU).
TIMEOUT_MARGIN, TIMEOUT_FLOOR, DEFAULT_TIMEOUT = 10, 30, 120
# RLIMIT_DATA per kernel: twice the 1.5 GB budget of a notebook (see utils/sandbox.py).
DEFAULT_MEMORY_MB = 3072
THREADS = 1  # per kernel, whatever --jobs is: so serial and parallel runs agree exactly
MAX_RESTARTS = 3  # fresh kernels per notebook after crashes before giving up
MESSAGE_CHARS = 600
STATUSES = ("passed", "failed", "error", "timeout", "missing")
# What a grading kernel may not open, list or copy (besides the submissions being graded
# and the solutions graded against): see utils/guard.py.
DENIED = ("solutions", "tests", ".git", "build", "grades")


class GradeError(Exception):
    """The grader cannot run (bad arguments, broken solutions): exit 2 with this message."""


def cold_by_default() -> bool:
    """True when the environment asks for cold kernels: ``COURSE_GRADE_COLD`` set to
    anything but empty or ``0`` (read each time an ``Options`` is made)."""
    return os.environ.get("COURSE_GRADE_COLD", "").strip() not in ("", "0")


@dataclass
class Options:
    timeout: float | None = None  # per cell, seconds; None: each seminar's default
    memory_mb: int | None = DEFAULT_MEMORY_MB
    grace: float = GRACE  # seconds an interrupted kernel gets before it is killed
    # fork kernels from a warm zygote (utils.warm) where the OS can; default off when the
    # environment sets COURSE_GRADE_COLD=1 (a Jupyter kernel per notebook: make test cold)
    warm: bool = field(default_factory=lambda: not cold_by_default())
    max_restarts: int = MAX_RESTARTS
    deny: tuple = ()  # more folders out of the kernel's reach (besides DENIED of the checkout)


def denied_paths(opts: Options, repo: Path = REPO) -> list:
    """The folders a grading kernel cannot read: the checkout's DENIED folders (and the
    git directory a worktree's ``.git`` file points to), and ``opts.deny``."""
    paths = [repo / name for name in DENIED] + [Path(d) for d in opts.deny]
    git = repo / ".git"
    if git.is_file():
        text = git.read_text(errors="ignore").strip()
        if text.startswith("gitdir:"):
            gitdir = (repo / text.split(":", 1)[1].strip()).resolve()
            paths.append(gitdir)
            common = gitdir / "commondir"
            if common.is_file():
                paths.append((gitdir / common.read_text().strip()).resolve())
    return sorted({os.path.realpath(p) for p in paths})


# ============================================================================ solutions
@dataclass
class Step:
    """One code cell of an assembled run."""
    id: str
    source: str
    kind: str  # "answer", "test" or "other"
    task: str  # the task whose segment holds the cell
    seminar: str = ""  # the cell as the student got it (stub; hidden tests removed)
    hidden: frozenset = frozenset()  # tests: 1-based line numbers of hidden-test lines
    binds: frozenset = frozenset()  # names the solution's cell binds at top level
    capture: tuple = ()  # instructor cells: the names the tamper guard restores


@dataclass
class Seminar:
    """A solution notebook, ready to grade against."""
    stem: str
    nb: object
    steps: list  # the solution's code cells up to the last graded one, as Steps
    tasks: list  # [(task id, points)] in notebook order
    default_timeout: float
    marks: set = field(default_factory=set)  # distinctive cell ids/sources (identification)
    forbid: dict = field(default_factory=dict)  # task id -> names its answers may not use

    @property
    def max_points(self) -> float:
        return _num(sum(p for _, p in self.tasks))

    @property
    def answers(self) -> list:
        return [s for s in self.steps if s.kind == "answer"]

    @property
    def answer_names(self) -> dict:
        """name -> the answer cell of the solution that binds it (the student's names)."""
        return {n: s.id for s in reversed(self.answers) for n in s.binds}

    @property
    def solution_names(self) -> frozenset:
        return frozenset().union(*(s.binds for s in self.steps))


def cell_id(cell) -> str | None:
    """A cell's id; Colab keeps it in ``metadata.id`` when it drops the top-level one."""
    return cell.get("id") or cell.get("metadata", {}).get("id")


def _hidden_lines(source: str) -> frozenset:
    lines = source.split("\n")
    spans = course._regions(lines, course.HIDDEN_BEGIN, course.HIDDEN_END, "cell")
    return frozenset(i + 1 for a, b in spans for i in range(a, b + 1))


def _seconds(cell) -> float | None:
    ex = cell.get("metadata", {}).get("execution", {})
    try:
        a, b = (datetime.fromisoformat(ex[k].replace("Z", "+00:00"))
                for k in ("iopub.execute_input", "shell.execute_reply"))
    except (KeyError, ValueError, AttributeError):
        return None
    return (b - a).total_seconds()


def default_timeout(nb) -> float:
    """TIMEOUT_MARGIN x the slowest stored cell time, at least TIMEOUT_FLOOR seconds."""
    times = [t for c in nb.cells if c.cell_type == "code" and (t := _seconds(c)) is not None]
    if not times:
        return DEFAULT_TIMEOUT
    return float(max(TIMEOUT_FLOOR, round(TIMEOUT_MARGIN * max(times))))


def _num(x):
    """Points as an int when whole (10, not 10.0), else rounded to 2 decimals."""
    x = round(float(x), 2)
    return int(x) if x == int(x) else x


def load_seminar(path: Path) -> Seminar:
    """Read and check one solution; CourseError names the file and the cell on problems."""
    nb = course.read(path)
    steps, tasks, problems, ids, forbid = [], [], [], set(), {}
    pending = []  # cells since the last graded cell: their task is the next graded cell
    for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        cid, meta = cell_id(cell), course.task(cell)
        where = f"{path.name}: code cell {i + 1} ({cid})"
        if not cid:
            problems.append(f"{where} has no id (save with nbformat >= 4.5)")
        elif cid in ids:
            problems.append(f"{where}: duplicate id")
        ids.add(cid)
        if meta is not None and course.is_answer_cell(cell):
            problems.append(f"{where} is both an answer cell and a graded test cell")
        kind = "test" if meta else "answer" if course.is_answer_cell(cell) else "other"
        step = Step(str(cid), cell.source, kind, task="",
                    binds=frozenset(rules.bound_names(cell.source)))
        try:
            step.seminar = course.strip_source(cell.source, where)
            step.hidden = _hidden_lines(cell.source) if kind == "test" else frozenset()
        except CourseError as exc:
            problems.append(str(exc))
        pending.append(step)
        if meta is not None:
            points = meta.get("points", 1)
            if not isinstance(points, (int, float)) or isinstance(points, bool) or points < 0:
                problems.append(f"{where}: points must be a number >= 0, got {points!r}")
                points = 0
            tid = str(meta["task"])
            if tid in {t for t, _ in tasks}:
                problems.append(f"{where}: task id {tid!r} is used twice")
            if "forbid" in meta:
                found = course.forbid_problems(meta["forbid"], where)
                problems += found
                forbid[tid] = () if found else tuple(meta["forbid"])
            tasks.append((tid, points))
            for s in pending:
                s.task = tid
            steps += pending
            pending = []
    if not tasks:
        problems.append(f"{path.name} has no graded test cell "
                        "(metadata {'course': {'task': ..., 'points': ...}})")
    if problems:
        raise CourseError("; ".join(problems))
    sem = Seminar(path.stem, nb, steps, tasks, default_timeout(nb), forbid=forbid)
    theirs = sem.answer_names
    for step in steps:
        if step.kind != "answer":
            step.capture = tuple(sorted(n for n in step.binds if n not in theirs))
    return sem


def _norm(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().split("\n"))


def _marks_of(sem: Seminar) -> set:
    """Cell ids and (long enough) non-answer sources: what identifies this seminar."""
    marks = {("id", s.id) for s in sem.steps}
    marks |= {("src", _norm(s.seminar)) for s in sem.steps
              if s.kind != "answer" and len(_norm(s.seminar)) >= 30}
    return marks


def load_solutions(solutions_dir) -> dict:
    """Every solution notebook in ``solutions_dir``, checked; GradeError when none or broken.
    Cached per process until a file changes."""
    folder = Path(solutions_dir).resolve()
    paths = sorted(folder.glob("*.ipynb")) if folder.is_dir() else []
    return _load_solutions(str(folder), tuple((p.name, p.stat().st_mtime_ns) for p in paths))


@lru_cache(maxsize=8)
def _load_solutions(solutions_dir: str, signature: tuple) -> dict:
    folder = Path(solutions_dir)
    paths = [folder / name for name, _ in signature]
    if not paths:
        raise GradeError(f"no solution notebooks in {folder}: the grader takes its tests "
                         "from solutions/NN_topic.ipynb")
    seminars, problems = {}, []
    for path in paths:
        try:
            seminars[path.stem] = load_seminar(path)
        except CourseError as exc:
            problems.append(str(exc))
    if problems:
        raise GradeError("cannot grade with broken solutions: " + " | ".join(problems))
    all_marks = {stem: _marks_of(s) for stem, s in seminars.items()}
    for stem, sem in seminars.items():  # what no other seminar has (drops "setup", ...)
        others = set().union(*(m for k, m in all_marks.items() if k != stem))
        sem.marks = all_marks[stem] - others
    return seminars


def identify(seminars: dict, nb) -> dict:
    """How many of each seminar's distinctive ids/sources the notebook carries."""
    have = set()
    for cell in nb.cells:
        have.add(("id", cell_id(cell)))
        if cell.get("cell_type") == "code":
            have.add(("src", _norm(cell.get("source", ""))))
    return {stem: len(sem.marks & have) for stem, sem in seminars.items()}


# ============================================================================ assembling
@dataclass
class Assembly:
    answers: dict  # answer cell id -> the student's source, or None (missing)
    notes: dict  # answer cell id -> why it is missing / how it was matched
    extra: list  # sources of the student's cells that are not run (for hints)


def _code_cells(nb) -> list:
    return [c for c in nb.cells if c.get("cell_type") == "code"]


def assemble(sem: Seminar, nb) -> Assembly:
    """Take the student's answer cells: by id, else by position among unplaced cells."""
    answers, notes = {}, {}
    by_id = {}
    for cell in nb.cells:
        by_id.setdefault(cell_id(cell), []).append(cell)
    for step in sem.answers:
        cells = by_id.get(step.id)
        if not cells:
            continue
        cell = cells[-1]  # duplicated cell: the last one wins, as in "Run All"
        if cell.get("cell_type") != "code":
            answers[step.id] = None
            notes[step.id] = f"cell '{step.id}' is a {cell.get('cell_type')} cell in your " \
                             "notebook, not a code cell"
        else:
            answers[step.id] = cell.source
    unmatched = [s for s in sem.answers if s.id not in answers]
    known = {s.id for s in sem.steps}
    used = set()
    if unmatched:
        for step, cell in _match_by_position(sem, nb, unmatched, known):
            answers[step.id] = cell.source
            used.add(id(cell))
            notes[step.id] = f"answer cell '{step.id}' was matched by position (its cell id " \
                             "differs from the seminar's)"
    for step in sem.answers:
        if step.id not in answers:
            answers[step.id] = None
            notes.setdefault(step.id, f"your notebook has no answer cell '{step.id}' "
                                      "(deleted, or its id changed); graded as unanswered")
    extra = [c.source for c in _code_cells(nb) if cell_id(c) not in known and id(c) not in used]
    return Assembly(answers, notes, extra)


def _match_by_position(sem, nb, unmatched, known) -> list:
    """Align the seminar's code cells with the student's (difflib on their sources): an
    unmatched answer takes a student cell in the gap where the alignment puts it, the
    most similar to the stub when the gap holds several."""
    todo = {s.id for s in unmatched}
    theirs, ours = _code_cells(nb), sem.steps
    a = [f"\0answer {s.id}" if s.kind == "answer" else _norm(s.seminar) for s in ours]
    b = [_norm(c.source) for c in theirs]
    pairs = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            continue
        wanted = [s for s in ours[i1:i2] if s.id in todo]
        pool = [c for c in theirs[j1:j2] if cell_id(c) not in known]
        if len(pool) == len(wanted):
            pairs += list(zip(wanted, pool, strict=True))
            continue
        start = 0
        for step in wanted:
            if start >= len(pool):
                break
            ratios = [difflib.SequenceMatcher(None, step.seminar, c.source).ratio()
                      for c in pool[start:]]
            k = start + ratios.index(max(ratios))
            pairs.append((step, pool[k]))
            start = k + 1
    return pairs


# ============================================================================ running
def segments(sem: Seminar, until: str | None = None) -> list:
    """[(task id, [steps])] in order, stopping after task ``until`` when given."""
    out = []
    for tid, _ in sem.tasks:
        out.append((tid, [s for s in sem.steps if s.task == tid]))
        if tid == until:
            break
    return out


_CELL = re.compile(r"Cell In\[(\d+)\], line (\d+)")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,}")


def _where(outcome, counts: dict):
    """(step, line, failing statement) of the innermost notebook frame of a traceback."""
    found = None
    for entry in outcome.traceback:
        for m in _CELL.finditer(entry):
            step = counts.get(int(m.group(1)))
            if step is not None:
                arrow = [ln for ln in entry.split("\n") if ln.lstrip().startswith("---->")]
                stmt = re.sub(r"^\s*---->\s*\d+\s?", "", arrow[0]).strip() if arrow else ""
                found = (step, int(m.group(2)), stmt)
    return found


def describe(outcome, step, counts: dict, asm: Assembly, opts: Options,
             theirs: dict | None = None) -> str:
    """A message a student can act on: the exception, where it came from, a hint."""
    what = f"{outcome.ename}: {outcome.evalue}".strip().rstrip(":") if outcome.evalue \
        else outcome.ename
    where = _where(outcome, counts)
    if where is not None:
        wstep, line, stmt = where
        if wstep.kind == "answer":
            what += f" (in your cell '{wstep.id}', line {line})"
        elif wstep.kind == "test" and line in wstep.hidden:
            what = "a hidden test failed: " + what
        elif wstep.kind == "test" and not outcome.evalue and stmt:
            what += f" at `{stmt}`"
    if step.kind == "answer" and outcome.ename == "NotImplementedError":
        what = f"not answered yet: cell '{step.id}' raises NotImplementedError"
    elif outcome.ename == "NotImplementedError":
        what = "not answered yet (NotImplementedError)" + \
            (f" in your cell '{where[0].id}'" if where and where[0].kind == "answer" else "")
    if outcome.ename == "MemoryError" or "can't allocate memory" in outcome.evalue:
        what += f" [the grader allows {opts.memory_mb} MB per notebook]"
    name = re.match(r"name '(\w+)' is not defined", outcome.evalue or "")
    if outcome.ename == "NameError" and name and any(
            re.search(rf"(^|\n)\s*(def|class)\s+{name[1]}\b|(^|\n){name[1]}\s*=|import .*\b"
                      rf"{name[1]}\b", src) for src in asm.extra):
        what += (f" [{name[1]} is defined in a cell you added; the grader runs only the "
                 "answer cells: move it into the answer cell that uses it]")
    elif outcome.ename == "NameError" and name and theirs and name[1] in theirs:
        what += f" [assign `{name[1]}` in your answer cell '{theirs[name[1]]}']"
    return what


_NUMBER = re.compile(r"(?<![\w.])(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?(?!\w|\.\d)")
SIGNIFICANT = 6  # digits a number in a message keeps at most


def _short_number(m) -> str:
    text = m.group(0)
    digits = m.group(1).replace(".", "").lstrip("0")
    is_int = "." not in m.group(1) and not m.group(2)
    if len(digits.rstrip("0") if not is_int else digits) <= (12 if is_int else SIGNIFICANT):
        return text
    try:
        return f"{float(text):.{SIGNIFICANT}g}"
    except OverflowError:
        return text


def short_numbers(message: str) -> str:
    """Numbers with more than SIGNIFICANT significant digits (integers: more than 12
    digits) rounded to SIGNIFICANT: '3840000.0000000001' -> '3.84e+06'."""
    return _NUMBER.sub(_short_number, message)


def _clean(message: str, cwd: str = "") -> str:
    """No temporary paths or memory addresses (records must not differ between runs);
    numbers with at most SIGNIFICANT significant digits."""
    message = _ADDRESS.sub("0x…", message.replace(cwd, ".") if cwd else message)
    message = short_numbers(message)
    return message if len(message) <= MESSAGE_CHARS else message[:MESSAGE_CHARS - 1] + "…"


@dataclass
class Verdict:
    status: str
    message: str = ""
    own: bool = False  # the error is located in this task's own answer cell


def _guard(kernel, guard, step, timeout: float):
    """The tamper guard's bookkeeping before ``step`` (utils/guard.py): remember what the
    last instructor cell bound; before an instructor cell, restore the names instructor
    cells bound and the guarded modules. (Verdict, kernel_lost) when it failed, else None."""
    restore = step.kind != "answer"
    if guard is None or not (restore or guard.pending):
        return None
    out = guard.sync(kernel, guard.pending, restore, timeout)
    guard.pending = ()
    if out.status == "ok":
        return None
    if out.status in ("dead", "killed"):
        return Verdict("error", f"{out.detail or 'the kernel died'} while the grader "
                       f"prepared cell '{step.id}'"), True
    return Verdict("failed", f"the grader could not restore its checks before cell "
                   f"'{step.id}' ({out.ename or out.status}: {out.evalue}): an answer cell "
                   "changed what the tests rely on", True), False


def run_segment(kernel, steps, asm: Assembly, stubbed: bool, timeout: float,
                counts: dict, opts: Options, theirs: dict | None = None,
                limits: dict | None = None, guard: Guard | None = None):
    """Run one task's cells (``limits``: seconds for some cells by id, else ``timeout``;
    ``guard``: the tamper guard installed in ``kernel``). Returns (Verdict, kernel_lost)."""
    failed = False  # an answer cell raised: the task fails whatever its test says
    first = None  # (step, outcome) of the first cell before the test that raised
    for step in steps:
        guarded = _guard(kernel, guard, step, timeout)
        if guarded is not None:
            return guarded
        source = step.source
        if step.kind == "answer":
            mine = asm.answers.get(step.id)
            source = step.seminar if stubbed or mine is None else mine
        limit = (limits or {}).get(step.id, timeout)
        out = kernel.run(source, timeout=limit)
        if out.execution_count is not None:
            counts[out.execution_count] = step
        cell = f"your cell '{step.id}'" if step.kind == "answer" else f"cell '{step.id}'"
        mine = step.kind == "answer"
        if out.status in ("timeout", "killed"):
            return Verdict("timeout", f"{cell} did not finish within {limit:g} s (the "
                           f"per-cell limit){'; ' + out.detail if out.detail else ''}",
                           mine), out.status == "killed"
        if out.status == "dead":
            return Verdict("error", f"{out.detail} while running {cell}", mine), True
        if step.kind != "answer" and out.status == "ok" and guard is not None:
            guard.pending = step.capture
        if out.status == "error" and step.kind != "test":
            # an instructor cell calling the student's function reports THAT exception,
            # not the NameError the test cell gets next
            failed = failed or step.kind == "answer"
            first = first or (step, out)
        if step.kind == "test":
            if out.status == "ok" and not failed:
                return Verdict("passed"), False
            culprit = first or (step, out)
            where = _where(culprit[1], counts)
            own = culprit[0].kind == "answer" or (where is not None and where[0] in steps
                                                   and where[0].kind == "answer")
            return Verdict("failed", describe(culprit[1], culprit[0], counts, asm, opts,
                                              theirs), own), False
    return Verdict("error", "the task has no test cell"), False  # unreachable for checked


def run_tasks(sem: Seminar, asm: Assembly, cwd, opts: Options, until=None,
              broken: dict | None = None) -> dict:
    """Run the assembled notebook task by task; replay after a crash (module docstring).
    ``broken``: task id -> the message of a rule its answers break (fails the task)."""
    timeout = opts.timeout or sem.default_timeout
    segs = segments(sem, until)
    theirs = sem.answer_names
    # the cells before the first answer (setup: import torch) run no student code: on a
    # loaded machine they may take longer than the solution's timings suggest
    first = next((i for i, s in enumerate(sem.steps) if s.kind == "answer"), 0)
    limits = {s.id: max(timeout, DEFAULT_TIMEOUT) for s in sem.steps[:first]}
    # crashed: tasks that killed the kernel; skip: their answers and those of timed-out
    # tasks are replaced by stubs when the notebook is replayed in a fresh kernel.
    verdicts, crashed, skip = {}, set(), set()
    kernel = new_kernel(cwd, opts)
    guard = Guard(denied_paths(opts), sem.solution_names)
    try:
        for attempt in range(opts.max_restarts + 1):
            problem = _start(kernel, guard)
            if problem:
                break
            counts, lost = {}, None
            for tid, steps in segs:
                verdict, dead = run_segment(kernel, steps, asm, tid in skip, timeout,
                                            counts, opts, theirs, limits, guard)
                verdict = verdicts.setdefault(tid, verdict)  # a replay only rebuilds state
                if verdict.status == "timeout":
                    skip.add(tid)
                if dead:
                    lost = tid
                    break
            if lost is None or all(t in verdicts for t, _ in segs):
                break
            crashed.add(lost)
            skip.add(lost)
            problem = f"the kernel died {attempt + 1} times"
            if not any(s.kind == "answer" for s in dict(segs)[lost]):
                problem = f"the kernel died in task '{lost}', which has no answer cell to skip"
                break
    finally:
        kernel.shutdown()
    for t, _ in segs:  # tasks never reached: say why
        verdicts.setdefault(t, Verdict("error", f"not graded: {problem}"))
    for t, message in (broken or {}).items():  # a broken rule outweighs a passed test
        if t in verdicts and verdicts[t].status in ("passed", "failed"):
            verdicts[t] = Verdict("failed", message, True)
    return _annotate(verdicts, segs, crashed)


def new_kernel(cwd, opts: Options, warm: bool | None = None):
    """A grading kernel in ``cwd``: forked from the warm zygote (torch already imported,
    see utils/warm.py) when ``opts.warm`` and the OS can fork, else a fresh Jupyter
    kernel. Both are bounded alike and give the same records."""
    from . import warm as _warm

    use_warm = opts.warm if warm is None else warm
    cls = _warm.WarmKernel if use_warm and _warm.supported() else Kernel
    return cls(cwd, memory_mb=opts.memory_mb, threads=THREADS, grace=opts.grace)


def _start(kernel, guard: Guard | None = None) -> str:
    """(Re)start the kernel and install the guard; '' on success, else why not."""
    try:
        kernel.restart()
        if guard is not None:
            guard.install(kernel)
    except Exception as exc:  # noqa: BLE001 - reported on every task left
        return f"could not start a kernel: {type(exc).__name__}: {exc}"
    return ""


def _annotate(verdicts: dict, segs, crashed: set) -> dict:
    """Say when a task that did not pass came after one that did not (it may depend on it)."""
    before = []
    for tid, _ in segs:
        v = verdicts[tid]
        if v.status != "passed" and before and not v.own:
            dead = [t for t in before if t in crashed]
            note = (f"graded in a fresh kernel after task(s) {', '.join(dead)} crashed it"
                    if dead else f"earlier task(s) {', '.join(before)} did not pass; this "
                    "task may depend on them")
            if "not graded" not in v.message:
                v.message = f"{v.message} ({note})" if v.message else note
        if v.status != "passed":
            before.append(tid)
    return verdicts


# ============================================================================ records
def _record(sem: Seminar, verdicts: dict, file: str, notes=(), asm: Assembly | None = None,
            cwd: str = "") -> dict:
    tasks = []
    for tid, points in sem.tasks:
        if tid not in verdicts:
            continue
        v = verdicts[tid]
        missing = [s.id for s in sem.answers if s.task == tid and asm is not None
                   and asm.answers.get(s.id) is None]
        status, message = v.status, v.message
        if missing and status in ("failed", "passed"):
            why = "; ".join(asm.notes[i] for i in missing)
            status = "missing" if status == "failed" else status
            message = why if status == "missing" else message
        tasks.append({"id": tid, "points": _num(points if status == "passed" else 0),
                      "max_points": _num(points), "status": status,
                      "message": _clean(message, cwd)})
    rec = {"points": _num(sum(t["points"] for t in tasks)),
           "max_points": _num(sum(t["max_points"] for t in tasks)), "tasks": tasks,
           "file": file}
    if notes:
        rec["notes"] = list(notes)
    return rec


def failed_record(sem: Seminar | None, file: str, message: str, status="error") -> dict:
    """Every task of ``sem`` at 0 with ``message``; a pseudo-task 'file' when sem is None."""
    if sem is None:
        return {"points": 0, "max_points": 0, "file": file,
                "tasks": [{"id": "file", "points": 0, "max_points": 0, "status": status,
                           "message": message}]}
    return _record(sem, {t: Verdict(status, message) for t, _ in sem.tasks}, file)


def grade_notebook(sem: Seminar, nb, opts: Options | None = None, file: str = "",
                   notes=(), until: str | None = None) -> dict:
    """Grade one (already read) submission against its seminar: the record."""
    opts = opts or Options()
    asm = assemble(sem, nb)
    notes = list(notes) + [n for i, n in asm.notes.items() if "matched by position" in n]
    with tempfile.TemporaryDirectory(prefix="grade-", ignore_cleanup_errors=True) as tmp:
        cwd = Path(tmp) / "work"
        cwd.mkdir()
        verdicts = run_tasks(sem, asm, cwd, opts, until=until, broken=broken_rules(sem, asm))
        return _record(sem, verdicts, file, notes, asm, cwd=str(cwd))


def broken_rules(sem: Seminar, asm: Assembly) -> dict:
    """task id -> the message of the first ``forbid`` rule its answers break (by their
    syntax tree: utils/rules.py), for the tasks that have rules."""
    out, done = {}, []
    for tid, steps in segments(sem):
        own = [(s.id, asm.answers[s.id]) for s in steps
               if s.kind == "answer" and asm.answers.get(s.id) is not None]
        if sem.forbid.get(tid) and own:
            earlier = [(s.id, asm.answers[s.id]) for s in done
                       if s.kind == "answer" and asm.answers.get(s.id) is not None]
            context = [s.source for s in done + steps if s.kind != "answer"]
            found = rules.broken_rule(list(sem.forbid[tid]), own, earlier, context)
            if found is not None:
                out[tid] = found.message()
        done += steps
    return out


# ============================================================================ a class
@dataclass
class Job:
    student: str
    path: str
    stem: str | None  # the seminar to grade it as; None: not a seminar (error record)
    key: str  # where the record goes: the seminar stem, or the file stem
    note: str = ""
    until: str | None = None  # stop after this task (tests of known-wrong answers)


def plan(submissions: Path, seminars: dict, students=None) -> tuple[list, list, list]:
    """(jobs, all student names, warnings) for a submissions folder."""
    if not submissions.is_dir():
        raise GradeError(f"{submissions} is not a folder: expected "
                         f"{submissions}/<student>/NN_topic.ipynb")
    folders = sorted(p for p in submissions.iterdir() if p.is_dir() and not p.name.startswith("."))
    warnings = [f"ignored {p.name}: not inside a student folder" for p in
                sorted(submissions.iterdir()) if p.is_file() and not p.name.startswith(".")]
    if students:
        unknown = sorted(set(students) - {p.name for p in folders})
        if unknown:
            raise GradeError(f"no folder for student(s) {', '.join(unknown)} in {submissions}")
        folders = [p for p in folders if p.name in students]
    if not folders:
        raise GradeError(f"no student folders in {submissions}: expected "
                         f"{submissions}/<student>/NN_topic.ipynb")
    jobs = []
    lower = {s.lower(): s for s in seminars}
    for folder in folders:
        files = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
        notebooks = [p for p in files if p.is_file() and p.suffix == ".ipynb"]
        warnings += [f"ignored {folder.name}/{p.name}: not a notebook" for p in files
                     if p not in notebooks]
        if not notebooks:
            warnings.append(f"{folder.name}: no notebooks submitted")
        # exact names first, then other capitalisations, then the files named otherwise
        order = sorted(notebooks, key=lambda p: (p.stem not in seminars,
                                                 p.stem.lower() not in lower, p.name))
        named = {}  # seminar stem -> the file graded as it
        for p in order:
            stem = lower.get(p.stem.lower())
            if stem is None:
                jobs.append(_renamed(folder.name, p, seminars, named))
            elif stem in named:
                jobs.append(_second_copy(folder.name, p, stem, named))
            else:
                named[stem] = p.name
                jobs.append(Job(folder.name, str(p), stem, stem))
    return jobs, [p.name for p in folders], warnings


def _second_copy(student: str, path: Path, stem: str, named: dict) -> Job:
    return Job(student, str(path), None, path.stem, f"'{path.name}' is a second copy of "
               f"seminar {stem}: only {named[stem]} is graded")


def _renamed(student: str, path: Path, seminars: dict, named: dict) -> Job:
    """A file whose name is not a seminar's: grade it as the seminar it is, if unambiguous
    and not also submitted under the right name."""
    expected = ", ".join(f"{s}.ipynb" for s in seminars)
    try:
        scores = identify(seminars, course.read(path))
    except CourseError:
        return Job(student, str(path), None, path.stem,
                   f"'{path.name}' is not a readable notebook, and its name is not a "
                   f"seminar's (expected one of: {expected})")
    best = max(scores.values())
    winners = [s for s, v in scores.items() if v == best]
    if best >= 2 and len(winners) == 1:
        stem = winners[0]
        if stem in named:
            return _second_copy(student, path, stem, named)
        named[stem] = path.name
        return Job(student, str(path), stem, stem,
                   f"graded as {stem}: the file was submitted as '{path.name}'")
    return Job(student, str(path), None, path.stem,
               f"'{path.name}' is not a seminar of this course (expected one of: {expected}) "
               "and its content matches none of them")


def grade_job(job: Job, solutions_dir: str, opts: Options) -> tuple:
    """(student, key, record, seconds) for one submitted file; never raises."""
    t0 = time.perf_counter()
    name = Path(job.path).name
    seminars = load_solutions(solutions_dir)
    sem = seminars.get(job.stem) if job.stem else None
    try:
        if job.stem is None:
            rec = failed_record(None, name, job.note)
        else:
            rec = _grade_file(sem, seminars, Path(job.path), opts, job.note, job.until)
    except Exception as exc:  # noqa: BLE001 - a grader bug must not lose the others
        rec = failed_record(sem, name, f"internal grader error: {type(exc).__name__}: {exc}")
    return job.student, job.key, rec, time.perf_counter() - t0


def _grade_file(sem: Seminar, seminars: dict, path: Path, opts: Options, note: str,
                until: str | None = None) -> dict:
    notes = [note] if note else []
    try:
        nb = course.read(path)
        if not isinstance(nb.get("cells"), list):
            raise CourseError(f"{path.name}: no list of cells")
    except CourseError as exc:
        msg = str(exc).replace(str(path.parent) + "/", "").strip().splitlines()[0]
        return failed_record(sem, path.name, f"your notebook could not be read: {msg}")
    scores = identify(seminars, nb)
    best = max(scores, key=lambda s: (scores[s], s == sem.stem))
    if best != sem.stem and scores[best] > scores[sem.stem]:
        return failed_record(sem, path.name,
                             f"this notebook looks like seminar {best}, not {sem.stem} "
                             f"({scores[best]} of its cells match {best}, {scores[sem.stem]} "
                             f"match {sem.stem}): submit each seminar under its own name")
    return grade_notebook(sem, nb, opts, file=path.name, notes=notes, until=until)


def grade(submissions, solutions_dir=None, opts: Options | None = None, jobs: int = 1,
          students=None, echo=None) -> dict:
    """Grade a class: the gradebook {student: {seminar: record}}, sorted."""
    opts = opts or Options()
    solutions_dir = str(Path(solutions_dir or REPO / "solutions").resolve())
    opts = replace(opts, deny=tuple(opts.deny) + (solutions_dir, str(Path(submissions))))
    seminars = load_solutions(solutions_dir)
    todo, names, warnings = plan(Path(submissions), seminars, students)
    for w in warnings:
        (echo or _err)(f"warning: {w}")
    preflight(opts, jobs)
    book = {name: {} for name in names}
    for student, key, rec, secs in grade_jobs(todo, solutions_dir, opts, jobs):
        book[student][key] = rec
        (echo or _err)(f"graded {student}/{rec['file']}: {rec['points']:g}/{rec['max_points']:g}"
                       f" ({secs:.1f} s)")
    return {s: dict(sorted(book[s].items())) for s in sorted(book)}


def grade_jobs(todo, solutions_dir, opts: Options, jobs: int = 1):
    """Yield grade_job(...) for each job, ``jobs`` at a time (separate processes), in the
    order they finish."""
    if jobs <= 1 or len(todo) <= 1:
        for job in todo:
            yield grade_job(job, solutions_dir, opts)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    ctx = multiprocessing.get_context("spawn")  # no fork of a process holding zmq sockets
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        futures = {pool.submit(grade_job, job, solutions_dir, opts): job for job in todo}
        for fut in as_completed(futures):
            try:
                yield fut.result()
            except Exception as exc:  # noqa: BLE001 - a worker process died
                job = futures[fut]
                sem = load_solutions(solutions_dir).get(job.stem) if job.stem else None
                yield job.student, job.key, failed_record(
                    sem, Path(job.path).name, f"internal grader error: {type(exc).__name__}: "
                    f"{exc}"), 0.0


def preflight(opts: Options, jobs: int = 1) -> None:
    """Start one kernel the way grading does and import the course: fail early and clearly.
    (With parallel jobs each worker starts its own warm zygote: a cold kernel here.)"""
    with tempfile.TemporaryDirectory(prefix="grade-") as tmp:
        try:
            with new_kernel(tmp, opts, warm=opts.warm and jobs <= 1) as k:
                Guard(denied_paths(opts)).install(k, timeout=120)
                out = k.run("import utils", timeout=120)
        except Exception as exc:  # noqa: BLE001
            raise GradeError(f"cannot start a Jupyter kernel: {type(exc).__name__}: {exc}") \
                from None
    if out.status != "ok":
        raise GradeError(f"the grading kernel cannot import the course package ({out.ename}: "
                         f"{out.evalue}): install it with `make env` (pip install -e .)")


# ============================================================================ reports
def columns(book: dict) -> dict:
    """{seminar stem: max points} over all graded records (not the unknown files)."""
    cols = {}
    for recs in book.values():
        for key, rec in recs.items():
            if rec["max_points"] > 0:
                cols[key] = max(cols.get(key, 0), rec["max_points"])
    return dict(sorted(cols.items()))


def _total(recs: dict, cols: dict):
    return _num(sum(recs[k]["points"] for k in cols if k in recs))


def to_csv(book: dict) -> str:
    cols = columns(book)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["student", *cols, "total"])
    for student, recs in book.items():
        w.writerow([student, *(recs[k]["points"] if k in recs else "" for k in cols),
                    _total(recs, cols)])
    return buf.getvalue()


def to_junit(book: dict) -> str:
    root = ET.Element("testsuites", name="grades")
    for student, recs in book.items():
        for key, rec in recs.items():
            tasks = rec["tasks"]
            suite = ET.SubElement(
                root, "testsuite", name=f"{student}/{key}", tests=str(len(tasks)),
                failures=str(sum(t["status"] in ("failed", "missing") for t in tasks)),
                errors=str(sum(t["status"] in ("error", "timeout") for t in tasks)))
            for t in tasks:
                case = ET.SubElement(suite, "testcase", classname=f"{student}.{key}",
                                     name=t["id"])
                tag = {"failed": "failure", "missing": "failure", "error": "error",
                       "timeout": "error"}.get(t["status"])
                if tag:
                    ET.SubElement(case, tag, type=t["status"], message=t["message"])
                ET.SubElement(case, "system-out").text = \
                    f"{t['points']:g}/{t['max_points']:g} points"
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def table(book: dict) -> str:
    """The points table: a row per student, 'points/max' per seminar, a total."""
    cols = columns(book)
    head = ["student", *cols, "total"]
    rows = [head]
    for student, recs in book.items():
        rows.append([student, *(f"{recs[k]['points']:g}/{m:g}" if k in recs else "-"
                                for k, m in cols.items()),
                     f"{_total(recs, cols):g}/{sum(cols.values()):g}"])
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                       enumerate(zip(r, widths, strict=True))) for r in rows]
    problems = [f"  {s}/{rec['file']} [{t['id']}] {t['status']}: {t['message']}"
                for s, recs in book.items() for rec in recs.values() for t in rec["tasks"]
                if t["status"] in ("error", "timeout")]
    return "\n".join(lines + (["", "errors and timeouts:", *problems] if problems else []))


def write_reports(book: dict, out) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "grades.json").write_text(json.dumps(book, indent=2, ensure_ascii=False) + "\n")
    (out / "grades.csv").write_text(to_csv(book))
    (out / "junit.xml").write_text(to_junit(book))
    return out


def merge(paths) -> dict:
    """One gradebook from several grades.json (e.g. one per CI job). The same student and
    seminar in two reports must agree, else GradeError."""
    book = {}
    for path in map(Path, paths):
        try:
            part = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise GradeError(f"cannot read report {path}: {exc}") from None
        if not isinstance(part, dict) or not all(isinstance(v, dict) for v in part.values()):
            raise GradeError(f"{path} is not a grades.json (student -> seminar -> record)")
        for student, recs in part.items():
            mine = book.setdefault(student, {})
            for key, rec in recs.items():
                if key in mine and mine[key] != rec:
                    raise GradeError(f"{path}: {student}/{key} differs from an earlier report")
                mine[key] = rec
    return {s: dict(sorted(book[s].items())) for s in sorted(book)}


# ============================================================================ benchmark
def bench_section(solutions_dir=None, n: int = 10, jobs: int = 2) -> str:
    """A markdown section for BENCHMARKS.md: seconds to grade one full submission (every
    solution, copied as a student's files) serially, and ``n`` of them with ``jobs``, on
    warm kernels and, side by side in the same run, on cold ones (a Jupyter kernel per
    notebook); whether every record is full marks and identical to the first serial one
    (determinism: serial = parallel = warm = cold)."""
    solutions_dir = Path(solutions_dir or REPO / "solutions")
    sols = sorted(solutions_dir.glob("*.ipynb"))
    rows, first = [], None
    with tempfile.TemporaryDirectory(prefix="grade-bench-") as tmp:
        for warm, students, j in ((True, 1, 1), (True, n, jobs), (False, n, jobs)):
            sub = Path(tmp) / f"class-{students}"
            for i in range(students):
                if not (sub / f"student{i:02d}").is_dir():
                    (sub / f"student{i:02d}").mkdir(parents=True)
                    for sol in sols:
                        shutil.copy2(sol, sub / f"student{i:02d}" / sol.name)
            t0 = time.perf_counter()
            book = grade(sub, solutions_dir, Options(warm=warm), jobs=j, echo=lambda *_: None)
            secs = time.perf_counter() - t0
            first = first or book["student00"]
            full = all(r["points"] == r["max_points"] for recs in book.values()
                       for r in recs.values())
            same = all(recs == first for recs in book.values())
            count = students * len(sols)
            rows.append(f"| {'warm' if warm else 'cold'} | {students} | {count} | {j} | "
                        f"{secs:.0f} | {secs / count:.2f} | {'yes' if full else 'NO'} | "
                        f"{'yes' if same else 'NO'} |")
    return "\n".join([
        "## Grading", "",
        "`python -m utils.grade` on copies of the solutions (each student submits every "
        f"seminar, {len(sols)} notebooks): wall time including kernel starts, "
        f"{THREADS} thread per kernel, memory limit {DEFAULT_MEMORY_MB} MB. *warm*: each "
        "notebook in a process forked from a zygote that imported torch once per grading "
        "process (the default); *cold*: a fresh Jupyter kernel per notebook (`--cold`).", "",
        "| kernels | submissions | notebooks | --jobs | seconds | seconds per notebook | "
        "all full marks | records identical to the first serial run |",
        "|---|---:|---:|---:|---:|---:|---|---|", *rows, ""])


# ============================================================================ CLI
def _shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected I/N such as 2/4, got {text!r}") from None
    if not 1 <= i <= n:
        raise argparse.ArgumentTypeError(f"shard {text}: need 1 <= I <= N")
    return i, n


def shard_students(submissions: Path, i: int, n: int, students=None) -> list:
    """The students of shard ``i`` of ``n``: every n-th student folder in sorted order,
    from the i-th (1-based), among ``students`` when given."""
    if not Path(submissions).is_dir():
        raise GradeError(f"{submissions} is not a folder: expected "
                         f"{submissions}/<student>/NN_topic.ipynb")
    names = sorted(p.name for p in Path(submissions).iterdir()
                   if p.is_dir() and not p.name.startswith("."))
    if students:
        names = [s for s in names if s in set(students)]
    return names[i - 1::n]


def _err(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _parser(cmd: str) -> argparse.ArgumentParser:
    prog = "python -m utils.grade" + ("" if cmd == "grade" else f" {cmd}")
    p = argparse.ArgumentParser(prog=prog, description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    if cmd == "grade":
        p.add_argument("submissions", type=Path, help="folder of <student>/NN_topic.ipynb")
        p.add_argument("--out", type=Path, default=Path("grades"))
        p.add_argument("--jobs", type=int, default=1, help="notebooks graded in parallel")
        p.add_argument("--timeout", type=float, default=None,
                       help="seconds per cell (default: 10x the solution's slowest cell, "
                            f">= {TIMEOUT_FLOOR})")
        p.add_argument("--memory-mb", type=int, default=DEFAULT_MEMORY_MB,
                       help="data-segment limit per kernel (0: none)")
        p.add_argument("--solutions", type=Path, default=REPO / "solutions")
        p.add_argument("--student", action="append", help="grade only this student (repeat)")
        p.add_argument("--shard", type=_shard, default=None, metavar="I/N",
                       help="grade only every N-th student, starting with the I-th (1-based, "
                            "in sorted order): one job of a CI matrix; merge the reports")
        p.add_argument("--cold", action="store_true",
                       help="a fresh Jupyter kernel per notebook instead of warm forks")
    elif cmd == "merge":
        p.add_argument("reports", nargs="+", type=Path, help="grades.json files")
        p.add_argument("--out", type=Path, default=Path("grades"))
    elif cmd == "feedback":
        p.add_argument("gradebook", type=Path, help="a grades.json")
        p.add_argument("--out", type=Path, default=Path("grades/feedback"),
                       help="folder for one <student>.md each")
    elif cmd == "release":
        p.add_argument("--out", type=Path, required=True,
                       help="a new or empty folder, or an earlier release (replaced)")
    elif cmd == "bench":
        p.add_argument("--out", type=Path, default=None, help="write the section here")
    return p


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    cmd = argv[0] if argv and argv[0] in ("merge", "feedback", "release", "bench") else "grade"
    args = _parser(cmd).parse_args(argv[1:] if cmd != "grade" else argv)
    try:
        if cmd == "grade":
            if args.jobs < 1 or (args.timeout is not None and args.timeout <= 0) \
                    or args.memory_mb < 0:
                raise GradeError("--jobs must be >= 1, --timeout > 0, --memory-mb >= 0")
            opts = Options(timeout=args.timeout, memory_mb=args.memory_mb or None,
                           deny=(str(args.out),),
                           warm=not (args.cold or cold_by_default()))
            students = args.student
            if args.shard:
                students = shard_students(args.submissions, *args.shard, students)
                if not students:
                    print(f"shard {args.shard[0]}/{args.shard[1]}: no students")
                    write_reports({}, args.out)
                    return 0
            book = grade(args.submissions, args.solutions, opts, args.jobs, students)
        elif cmd == "merge":
            book = merge(args.reports)
        elif cmd == "feedback":
            from .feedback import load_book, write_feedback

            try:
                paths = write_feedback(load_book(args.gradebook), args.out)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise GradeError(f"cannot read gradebook {args.gradebook}: "
                                 f"{type(exc).__name__}: {exc}") from None
            print(f"wrote {len(paths)} feedback file(s) to {args.out}")
            return 0
        elif cmd == "release":
            from .release import release

            problems = release(args.out)
            for p in problems:
                _err(f"leak: {p}")
            print(f"{'FAILED' if problems else 'released'}: {args.out}")
            return 1 if problems else 0
        else:
            text = bench_section()
            if args.out:
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text(text)
            print(text)
            return 0
        out = write_reports(book, args.out)
        print(table(book))
        print(f"\nwrote {out / 'grades.json'}, {out / 'grades.csv'}, {out / 'junit.xml'}")
        return 0
    except (GradeError, CourseError) as exc:
        _err(f"error: {exc}")
        return 2
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except Exception as exc:  # a bug of the grader: one line (GRADE_DEBUG=1: the traceback)
        if os.environ.get("GRADE_DEBUG"):
            raise
        _err(f"error: the grader failed: {type(exc).__name__}: {exc} "
             "(rerun with GRADE_DEBUG=1 for the traceback, and please report it)")
        return 3


if __name__ == "__main__":
    sys.exit(main())
