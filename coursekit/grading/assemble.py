"""The grader's first half: a solution notebook read and checked (``Solution``: its steps,
tasks and rules), and the assembly of a submission: its answer cells put in place
(``assemble``: by cell id, else by position)."""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from .. import probe, rules
from ..notebook import (
    HIDDEN_BEGIN,
    HIDDEN_END,
    CourseError,
    _regions,
    forbid_problems,
    is_answer_cell,
    read,
    strip_source,
    task_metadata,
)
from .common import DEFAULT_TIMEOUT, TIMEOUT_FLOOR, TIMEOUT_MARGIN, GradeError


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
class Solution:
    """A solution notebook, ready to grade against."""
    stem: str
    nb: object
    steps: list  # the solution's code cells up to the last graded one, as Steps
    tasks: list  # [(task id, points)] in notebook order
    default_timeout: float
    marks: set = field(default_factory=set)  # distinctive cell ids/sources (identification)
    forbid: dict = field(default_factory=dict)  # task id -> names its answers may not use
    probes: object = None  # coursekit.probe.Probes: graded out of the student's process

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
    spans = _regions(lines, HIDDEN_BEGIN, HIDDEN_END, "cell")
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


def load_solution(path: Path) -> Solution:
    """Read and check one solution; CourseError names the file and the cell on problems."""
    nb = read(path)
    steps, tasks, problems, ids, forbid = [], [], [], set(), {}
    pending = []  # cells since the last graded cell: their task is the next graded cell
    for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        identifier, meta = cell_id(cell), task_metadata(cell)
        where = f"{path.name}: code cell {i + 1} ({identifier})"
        if not identifier:
            problems.append(f"{where} has no id (save with nbformat >= 4.5)")
        elif identifier in ids:
            problems.append(f"{where}: duplicate id")
        ids.add(identifier)
        if meta is not None and is_answer_cell(cell):
            problems.append(f"{where} is both an answer cell and a graded test cell")
        kind = "test" if meta else "answer" if is_answer_cell(cell) else "other"
        step = Step(str(identifier), cell.source, kind, task="",
                    binds=frozenset(rules.bound_names(cell.source)))
        try:
            step.seminar = strip_source(cell.source, where)
            step.hidden = _hidden_lines(cell.source) if kind == "test" else frozenset()
        except CourseError as exc:
            problems.append(str(exc))
        pending.append(step)
        if meta is not None:
            points = meta.get("points", 1)
            if not isinstance(points, (int, float)) or isinstance(points, bool) or points < 0:
                problems.append(f"{where}: points must be a number >= 0, got {points!r}")
                points = 0
            task_id = str(meta["task"])
            if task_id in {t for t, _ in tasks}:
                problems.append(f"{where}: task id {task_id!r} is used twice")
            if "forbid" in meta:
                found = forbid_problems(meta["forbid"], where)
                problems += found
                forbid[task_id] = () if found else tuple(meta["forbid"])
            tasks.append((task_id, points))
            for s in pending:
                s.task = task_id
            steps += pending
            pending = []
    if not tasks:
        problems.append(f"{path.name} has no graded test cell "
                        "(metadata {'course': {'task': ..., 'points': ...}})")
    if problems:
        raise CourseError("; ".join(problems))
    solution = Solution(path.stem, nb, steps, tasks, default_timeout(nb), forbid=forbid)
    solution.probes = probe.load_probes(path, tasks, steps)
    theirs = solution.answer_names
    for step in steps:
        if step.kind != "answer":
            step.capture = tuple(sorted(n for n in step.binds if n not in theirs))
    return solution


def _norm(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().split("\n"))


def _marks_of(solution: Solution) -> set:
    """Cell ids and (long enough) non-answer sources: what identifies this seminar."""
    marks = {("id", s.id) for s in solution.steps}
    marks |= {("src", _norm(s.seminar)) for s in solution.steps
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
    solutions, problems = {}, []
    for path in paths:
        try:
            solutions[path.stem] = load_solution(path)
        except CourseError as exc:
            problems.append(str(exc))
    if problems:
        raise GradeError("cannot grade with broken solutions: " + " | ".join(problems))
    all_marks = {stem: _marks_of(s) for stem, s in solutions.items()}
    for stem, solution in solutions.items():  # what no other seminar has (drops "setup", ...)
        others = set().union(*(m for k, m in all_marks.items() if k != stem))
        solution.marks = all_marks[stem] - others
    return solutions


def identify(solutions: dict, nb) -> dict:
    """How many of each seminar's distinctive ids/sources the notebook carries."""
    have = set()
    for cell in nb.cells:
        have.add(("id", cell_id(cell)))
        if cell.get("cell_type") == "code":
            have.add(("src", _norm(cell.get("source", ""))))
    return {stem: len(solution.marks & have) for stem, solution in solutions.items()}


# ============================================================================ assembling
@dataclass
class Assembly:
    answers: dict  # answer cell id -> the student's source, or None (missing)
    notes: dict  # answer cell id -> why it is missing / how it was matched
    extra: list  # sources of the student's cells that are not run (for hints)


def _code_cells(nb) -> list:
    return [c for c in nb.cells if c.get("cell_type") == "code"]


def assemble(solution: Solution, nb) -> Assembly:
    """Take the student's answer cells: by id, else by position among unplaced cells."""
    answers, notes = {}, {}
    by_id = {}
    for cell in nb.cells:
        by_id.setdefault(cell_id(cell), []).append(cell)
    for step in solution.answers:
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
    unmatched = [s for s in solution.answers if s.id not in answers]
    known = {s.id for s in solution.steps}
    used = set()
    if unmatched:
        for step, cell in _match_by_position(solution, nb, unmatched, known):
            answers[step.id] = cell.source
            used.add(id(cell))
            notes[step.id] = f"answer cell '{step.id}' was matched by position (its cell id " \
                             "differs from the seminar's)"
    for step in solution.answers:
        if step.id not in answers:
            answers[step.id] = None
            notes.setdefault(step.id, f"your notebook has no answer cell '{step.id}' "
                                      "(deleted, or its id changed); graded as unanswered")
    extra = [c.source for c in _code_cells(nb) if cell_id(c) not in known and id(c) not in used]
    return Assembly(answers, notes, extra)


def _match_by_position(solution, nb, unmatched, known) -> list:
    """Align the seminar's code cells with the student's (difflib on their sources): an
    unmatched answer takes a student cell in the gap where the alignment puts it, the
    most similar to the stub when the gap holds several."""
    todo = {s.id for s in unmatched}
    theirs, ours = _code_cells(nb), solution.steps
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


# ================================================================ tasks and their rules
def task_segments(solution: Solution, until: str | None = None) -> list:
    """[(task id, [steps])] in order, stopping after task ``until`` when given."""
    out = []
    for task_id, _ in solution.tasks:
        out.append((task_id, [s for s in solution.steps if s.task == task_id]))
        if task_id == until:
            break
    return out


def broken_rules(solution: Solution, assembly: Assembly) -> dict:
    """task id -> the message of the first ``forbid`` rule its answers break (by their
    syntax tree: coursekit/rules.py), for the tasks that have rules."""
    out, done = {}, []
    for task_id, steps in task_segments(solution):
        own = [(s.id, assembly.answers[s.id]) for s in steps
               if s.kind == "answer" and assembly.answers.get(s.id) is not None]
        if solution.forbid.get(task_id) and own:
            earlier = [(s.id, assembly.answers[s.id]) for s in done
                       if s.kind == "answer" and assembly.answers.get(s.id) is not None]
            context = [s.source for s in done + steps if s.kind != "answer"]
            found = rules.broken_rule(list(solution.forbid[task_id]), own, earlier, context)
            if found is not None:
                out[task_id] = found.message()
        done += steps
    return out
