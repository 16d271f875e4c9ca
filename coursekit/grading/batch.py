"""A class of submissions: which file is which seminar, graded in parallel processes,
into the gradebook {student: {seminar: record}}."""
from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from .. import bwrap
from ..notebook import REPO, CourseError, read
from ..sandbox import Guard
from .assemble import Solution, identify, load_solutions
from .common import (
    GradeError,
    GradeRecord,
    Options,
    denied_paths,
    sandbox_for,
    settle_sandbox,
    with_denied,
)
from .run import failed_record, grade_notebook, new_kernel


def _err(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ============================================================================ a class
@dataclass
class SubmittedFile:
    """One file of a class, planned: a worker grades it into one record."""
    student: str
    path: str
    stem: str | None  # the seminar to grade it as; None: not a seminar (error record)
    key: str  # where the record goes: the seminar stem, or the file stem
    note: str = ""
    until: str | None = None  # stop after this task (tests of known-wrong answers)


def plan(submissions: Path, solutions: dict, students=None) -> tuple[list, list, list]:
    """(the submitted files, all student names, warnings) for a submissions folder."""
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
    planned = []
    lower = {s.lower(): s for s in solutions}
    for folder in folders:
        files = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
        notebooks = [p for p in files if p.is_file() and p.suffix == ".ipynb"]
        warnings += [f"ignored {folder.name}/{p.name}: not a notebook" for p in files
                     if p not in notebooks]
        if not notebooks:
            warnings.append(f"{folder.name}: no notebooks submitted")
        # exact names first, then other capitalisations, then the files named otherwise
        order = sorted(notebooks, key=lambda p: (p.stem not in solutions,
                                                 p.stem.lower() not in lower, p.name))
        named = {}  # seminar stem -> the file graded as it
        for p in order:
            stem = lower.get(p.stem.lower())
            if stem is None:
                planned.append(_renamed(folder.name, p, solutions, named))
            elif stem in named:
                planned.append(_second_copy(folder.name, p, stem, named))
            else:
                named[stem] = p.name
                planned.append(SubmittedFile(folder.name, str(p), stem, stem))
    return planned, [p.name for p in folders], warnings


def _second_copy(student: str, path: Path, stem: str, named: dict) -> SubmittedFile:
    return SubmittedFile(student, str(path), None, path.stem, f"'{path.name}' is a second copy of "
               f"seminar {stem}: only {named[stem]} is graded")


def _renamed(student: str, path: Path, solutions: dict, named: dict) -> SubmittedFile:
    """A file whose name is not a seminar's: grade it as the seminar it is, if unambiguous
    and not also submitted under the right name."""
    expected = ", ".join(f"{s}.ipynb" for s in solutions)
    try:
        scores = identify(solutions, read(path))
    except CourseError:
        return SubmittedFile(student, str(path), None, path.stem,
                   f"'{path.name}' is not a readable notebook, and its name is not a "
                   f"seminar's (expected one of: {expected})")
    best = max(scores.values())
    winners = [s for s, v in scores.items() if v == best]
    if best >= 2 and len(winners) == 1:
        stem = winners[0]
        if stem in named:
            return _second_copy(student, path, stem, named)
        named[stem] = path.name
        return SubmittedFile(student, str(path), stem, stem,
                   f"graded as {stem}: the file was submitted as '{path.name}'")
    return SubmittedFile(student, str(path), None, path.stem,
               f"'{path.name}' is not a seminar of this course (expected one of: {expected}) "
               "and its content matches none of them")


def grade_file(submitted: SubmittedFile, solutions_dir: str, opts: Options) -> tuple:
    """(student, key, record, seconds) for one submitted file; never raises."""
    t0 = time.perf_counter()
    name = Path(submitted.path).name
    solutions = load_solutions(solutions_dir)
    solution = solutions.get(submitted.stem) if submitted.stem else None
    try:
        if submitted.stem is None:
            record = failed_record(None, name, submitted.note)
        else:
            record = _grade_path(solution, solutions, Path(submitted.path), opts,
                                 submitted.note, submitted.until)
    except Exception as exc:  # noqa: BLE001 - a grader bug must not lose the others
        record = failed_record(solution, name,
                               f"internal grader error: {type(exc).__name__}: {exc}")
    return submitted.student, submitted.key, record, time.perf_counter() - t0


def _grade_path(solution: Solution, solutions: dict, path: Path, opts: Options, note: str,
                until: str | None = None) -> GradeRecord:
    notes = [note] if note else []
    try:
        nb = read(path)
        if not isinstance(nb.get("cells"), list):
            raise CourseError(f"{path.name}: no list of cells")
    except CourseError as exc:
        msg = str(exc).replace(str(path.parent) + "/", "").strip().splitlines()[0]
        return failed_record(solution, path.name, f"your notebook could not be read: {msg}")
    scores = identify(solutions, nb)
    best = max(scores, key=lambda s: (scores[s], s == solution.stem))
    if best != solution.stem and scores[best] > scores[solution.stem]:
        return failed_record(solution, path.name,
                             f"this notebook looks like seminar {best}, not {solution.stem} "
                             f"({scores[best]} of its cells match {best}, {scores[solution.stem]} "
                             f"match {solution.stem}): submit each seminar under its own name")
    return grade_notebook(solution, nb, opts, file=path.name, notes=notes, until=until)


def grade(submissions, solutions_dir=None, opts: Options | None = None, jobs: int = 1,
          students=None, echo=None) -> dict:
    """Grade a class: the gradebook {student: {seminar: GradeRecord}}, sorted. Says once, on
    stderr, when the kernels run without the OS sandbox."""
    opts = opts or Options()
    solutions_dir = str(Path(solutions_dir or REPO / "solutions").resolve())
    opts = with_denied(opts, solutions_dir, Path(submissions))
    opts, warning = settle_sandbox(opts)
    if warning:
        (echo or _err)(warning)
    solutions = load_solutions(solutions_dir)
    todo, names, warnings = plan(Path(submissions), solutions, students)
    for w in warnings:
        (echo or _err)(f"warning: {w}")
    preflight(opts, jobs)
    if opts.probe_seed is None and any(s.probes is not None for s in solutions.values()):
        from .verdict import new_seed

        opts = replace(opts, probe_seed=new_seed())
        (echo or _err)(f"probe seed {opts.probe_seed} (--probe-seed {opts.probe_seed} "
                       "grades with the same inputs again)")
    book = {name: {} for name in names}
    for student, key, record, secs in grade_files(todo, solutions_dir, opts, jobs):
        book[student][key] = record
        (echo or _err)(f"graded {student}/{record.file}: "
                       f"{record.points:g}/{record.max_points:g}"
                       f" ({secs:.1f} s)")
    return {s: dict(sorted(book[s].items())) for s in sorted(book)}


def grade_files(todo, solutions_dir, opts: Options, jobs: int = 1):
    """Yield grade_file(...) for each submitted file of ``todo``, ``jobs`` at a time
    (worker processes), in the order they finish. The probes' seed is drawn here once for
    the run (unless set, or no seminar has probes)."""
    if opts.probe_seed is None and any(s.probes is not None for s in
                                       load_solutions(solutions_dir).values()):
        from .verdict import new_seed

        opts = replace(opts, probe_seed=new_seed())
    if jobs <= 1 or len(todo) <= 1:
        for submitted in todo:
            yield grade_file(submitted, solutions_dir, opts)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    ctx = multiprocessing.get_context("spawn")  # no fork of a process holding zmq sockets
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        futures = {pool.submit(grade_file, submitted, solutions_dir, opts): submitted
                   for submitted in todo}
        for fut in as_completed(futures):
            try:
                yield fut.result()
            except Exception as exc:  # noqa: BLE001 - a worker process died
                submitted = futures[fut]
                solution = load_solutions(solutions_dir).get(submitted.stem) \
                    if submitted.stem else None
                yield submitted.student, submitted.key, failed_record(
                    solution, Path(submitted.path).name,
                    f"internal grader error: {type(exc).__name__}: {exc}"), 0.0


def preflight(opts: Options, jobs: int = 1) -> None:
    """Start one kernel the way grading does and import the course: fail early and clearly.
    (With --jobs > 1 each worker starts its own warm zygote: a cold kernel here.)"""
    root = bwrap.scratch_root() if sandbox_for(opts) is not None else None
    with tempfile.TemporaryDirectory(prefix="grade-", dir=root) as tmp:
        cwd = Path(tmp) / "work"
        cwd.mkdir()
        try:
            with new_kernel(cwd, opts, warm=opts.warm and jobs <= 1) as k:
                Guard(denied_paths(opts)).install(k, timeout=120)
                out = k.run("import utils", timeout=120)
        except Exception as exc:  # noqa: BLE001
            raise GradeError(f"cannot start a Jupyter kernel: {type(exc).__name__}: {exc}") \
                from None
    if out.status != "ok":
        raise GradeError(f"the grading kernel cannot import the course package ({out.ename}: "
                         f"{out.evalue}): install it with `make env` (pip install -e .)")


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
