"""A simulated class, to see what grading costs and that it gives the grades it should.

    python -m coursekit simulate --students 20 --jobs 2 --out build/class

writes a class, ``build/class/submissions/<student>/NN_topic.ipynb``, from ``solutions/``
(the generated seminar with answers filled in), grades it with the real grader (warm kernels
unless ``--cold``), writes ``build/class/grades/`` (gradebook, CSV, JUnit, a feedback
file per student) and prints wall time per notebook and per seminar. Each (student,
seminar) is drawn, seeded, from:

- ``right``: the solution's answers (expect full marks);
- ``wrong``: the solution with one known-wrong answer of ``tests/wrong_answers/`` (expect
  that task to fail with 0 points);
- ``blank``: the seminar as handed out (expect 0 points);
- ``broken``: an answer cell that raises, kills its kernel, or a file that is not JSON
  (expect that task, or the file, to score 0);
- ``missing``: not submitted.

The last line says how many of these expectations held; the exit code is 1 if any did
not. Instructor tooling: not part of the student release.
"""
from __future__ import annotations

import importlib.util
import random
import shutil
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path

from . import feedback, grading, notebook
from .generate import make_seminar

KINDS = {"right": 0.5, "wrong": 0.2, "blank": 0.1, "broken": 0.1, "missing": 0.1}
BROKEN = {  # how a broken answer cell reads
    "raises": 'raise RuntimeError("not finished")\n',
    "kernel exit": "import os\nos._exit(1)\n",
}


def wrong_answers(stem: str, folder: Path = notebook.REPO / "tests" / "wrong_answers") -> list:
    """The known-wrong answers of seminar ``stem`` (``[]`` without the file)."""
    path = folder / f"{stem}.py"
    if not path.is_file():
        return []
    spec = importlib.util.spec_from_file_location(f"_wrong_{stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.WRONG)


def student_notebook(solution, answers: dict):
    """The seminar of ``solution`` with answer cells filled: the solution's own, with
    ``answers`` (cell id -> source) replacing some."""
    nb = make_seminar(solution)
    filled = {c.id: c.source for c in solution.cells if notebook.is_answer_cell(c)}
    filled.update(answers)
    for cell in nb.cells:
        if cell.get("id") in filled:
            cell.source = filled[cell.id]
    return nb


def write_class(out: Path, students: int, solutions_dir: Path, seed: int = 0) -> dict:
    """Write a class (a folder of submissions) under ``out``; {(student, stem): (kind, task or None)}: what each
    submission is and which task it should lose (None: the whole notebook)."""
    rng = random.Random(seed)
    sols = notebook.selected_units(sorted(solutions_dir.glob("*.ipynb")))
    seminars = grading.load_solutions(solutions_dir)
    plan = {}
    for i in range(students):
        student = f"student{i:03d}"
        (out / student).mkdir(parents=True, exist_ok=True)
        for path in sols:
            stem, solution = path.stem, notebook.read(path)
            kind = rng.choices(list(KINDS), weights=list(KINDS.values()))[0]
            wrong = wrong_answers(stem)
            if kind == "wrong" and not wrong:
                kind = "right"
            target = out / student / path.name
            task = None
            if kind == "missing":
                plan[student, stem] = (kind, None)
                continue
            if kind == "right":
                nb = student_notebook(solution, {})
            elif kind == "wrong":
                task, _, answers = rng.choice(wrong)
                nb = student_notebook(solution, answers)
            elif kind == "blank":
                nb = make_seminar(solution)
            else:
                how = rng.choice([*BROKEN, "not JSON"])
                kind = f"broken ({how})"
                if how == "not JSON":
                    target.write_text('{"cells": [ this is not a notebook')
                    plan[student, stem] = (kind, None)
                    continue
                sem = seminars[stem]
                step = rng.choice(sem.answers)
                task = step.task
                nb = student_notebook(solution, {step.id: BROKEN[how]})
            notebook.write(nb, target)
            plan[student, stem] = (kind, task)
    return plan


def expected(kind: str, task, record: grading.GradeRecord | None) -> bool:
    """Did the record come out as a submission of this kind should?"""
    if kind == "missing":
        return record is None
    if record is None:
        return False
    tasks = {t.id: t for t in record.tasks}
    if kind == "right":
        return record.points == record.max_points > 0
    if kind == "blank":
        return record.points == 0
    if task is None:  # not JSON: one error record
        return record.points == 0 and all(t.status == "error" for t in record.tasks)
    return task in tasks and tasks[task].points == 0 and tasks[task].status != "passed"


def simulate(out: Path, students: int, jobs: int = 2, warm: bool = True, seed: int = 0,
             solutions_dir: Path | None = None, echo=print, sandbox: str = "auto") -> dict:
    solutions_dir = Path(solutions_dir or notebook.REPO / "solutions").resolve()
    submissions = out / "submissions"
    if submissions.exists():
        shutil.rmtree(submissions)
    plan = write_class(submissions, students, solutions_dir, seed)
    opts = grading.Options(warm=warm, sandbox=sandbox)
    opts = grading.with_denied(opts, solutions_dir, submissions)
    opts, warning = grading.settle_sandbox(opts)
    if warning:
        echo(warning)
    seminars = grading.load_solutions(solutions_dir)
    todo, names, _ = grading.plan(submissions, seminars)
    t0 = time.perf_counter()
    grading.preflight(opts, jobs)
    book = {name: {} for name in names}
    per_stem = defaultdict(list)
    for student, key, rec, secs in grading.grade_files(todo, str(solutions_dir), opts, jobs):
        book[student][key] = rec
        per_stem[key].append(secs)
    wall = time.perf_counter() - t0
    book = {s: dict(sorted(book[s].items())) for s in sorted(book)}
    grading.write_reports(book, out / "grades")
    feedback.write_feedback(book, out / "grades" / "feedback")
    held = Counter()
    misses = []
    for (student, stem), (kind, task) in sorted(plan.items()):
        rec = book.get(student, {}).get(stem)
        ok = expected(kind, task, rec)
        held[ok] += 1
        if not ok:
            misses.append(f"{student}/{stem}: {kind} {task or ''} gave "
                          f"{rec and rec.points}/{rec and rec.max_points}")
    n = len(todo)
    kinds = Counter(k.split(" ")[0] for k, _ in plan.values())
    echo(f"{students} students x {len(seminars)} seminars: {n} notebooks graded "
         f"({', '.join(f'{c} {k}' for k, c in kinds.most_common())}), "
         f"{'warm' if warm else 'cold'} kernels, --jobs {jobs}, sandbox "
         f"{'bubblewrap' if opts.sandbox == 'required' else 'off'}")
    echo(f"wall time {wall:.0f} s (kernel start included): {wall / max(n, 1):.2f} s per notebook")
    echo("| seminar | notebooks | mean s per notebook (one worker) | slowest s |")
    echo("|---|---:|---:|---:|")
    for stem in sorted(per_stem):
        s = per_stem[stem]
        echo(f"| {stem} | {len(s)} | {sum(s) / len(s):.2f} | {max(s):.2f} |")
    for m in misses:
        echo(f"UNEXPECTED {m}")
    echo(f"expected grades: {held[True]} of {held[True] + held[False]} submissions")
    return {"wall": wall, "notebooks": n, "misses": misses, "book": book, "plan": plan}


# ============================================================================ benchmark
def bench_section(solutions_dir=None, n: int = 10, jobs: int = 2) -> str:
    """A markdown section for BENCHMARKS.md: seconds to grade one full submission (every
    solution, copied as a student's files) serially, and ``n`` of them with ``jobs``, on
    warm kernels and, side by side in the same run, on cold ones (a Jupyter kernel per
    notebook), each in the OS sandbox (where bubblewrap works) and without it; whether
    every record is full marks and identical to the first serial one but for its
    "sandbox" field (determinism: serial = parallel = warm = cold = sandboxed or not)."""
    solutions_dir = Path(solutions_dir or notebook.REPO / "solutions")
    sols = sorted(solutions_dir.glob("*.ipynb"))
    probed = {k for k, sem in grading.load_solutions(solutions_dir).items()
              if sem.probes is not None}
    rows, first = [], None
    strip = lambda recs: {k: replace(r, sandbox=None)  # noqa: E731
                          for k, r in recs.items()}
    runs = ((True, 1, 1, "auto"), (True, n, jobs, "auto"), (True, n, jobs, "off"),
            (False, n, jobs, "auto"), (False, n, jobs, "off"))
    with tempfile.TemporaryDirectory(prefix="grade-bench-") as tmp:
        for warm, students, j, sandbox in runs:
            sub = Path(tmp) / f"class-{students}"
            for i in range(students):
                if not (sub / f"student{i:02d}").is_dir():
                    (sub / f"student{i:02d}").mkdir(parents=True)
                    for sol in sols:
                        shutil.copy2(sol, sub / f"student{i:02d}" / sol.name)
            t0, lines = time.perf_counter(), []
            book = grading.grade(sub, solutions_dir, grading.Options(warm=warm, sandbox=sandbox),
                                 jobs=j, echo=lines.append)
            secs = time.perf_counter() - t0
            by = _seconds_by_verdict(lines, probed, j)
            first = first or strip(book["student00"])
            full = all(r.points == r.max_points for recs in book.values()
                       for r in recs.values())
            same = all(strip(recs) == first for recs in book.values())
            used = {r.sandbox or "none" for recs in book.values() for r in recs.values()}
            count = students * len(sols)
            rows.append(f"| {'warm' if warm else 'cold'} | {'/'.join(sorted(used))} | "
                        f"{students} | {count} | {j} | {secs:.0f} | {secs / count:.2f} | "
                        f"{by['probes']} | {by['test cells']} | "
                        f"{'yes' if full else 'NO'} | {'yes' if same else 'NO'} |")
    return "\n".join([
        "## Grading", "",
        "`python -m coursekit grade` on copies of the solutions (each student submits every "
        f"seminar, {len(sols)} notebooks): wall time including kernel starts, "
        f"{grading.THREADS} thread per kernel, memory limit {grading.DEFAULT_MEMORY_MB} MB. *warm*: each "
        "notebook in a process forked from a zygote that imported torch once per grading "
        "process (the default); *cold*: a fresh Jupyter kernel per notebook (`--cold`). "
        "*bubblewrap*: in the OS sandbox (the default where it works); *none*: "
        "`--sandbox off`. *probes* and *test cells*: the mean seconds one notebook took in its "
        f"worker (the grader's progress line), for the seminars graded by probes ({len(probed)}: "
        "their verdicts out of the student's process) and for those graded by their test "
        "cells in the kernel, each worker's first notebook (which starts its zygote) left "
        "out.", "",
        "| kernels | sandbox | submissions | notebooks | --jobs | seconds | seconds per "
        "notebook | probes | test cells | all full marks | records identical to the first "
        "serial run |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|", *rows, ""])


def _seconds_by_verdict(lines, probed: set, jobs: int) -> dict:
    """{"probes" | "test cells": mean seconds per notebook ('-' when none)} from the
    grader's progress lines ("graded student/NN_topic.ipynb: 10/10 (1.3 s)"), the ``jobs``
    slowest (each worker's first notebook: the zygote's start) left out."""
    import re

    times = [(m[1] in probed, float(m[2])) for line in lines
             if (m := re.match(r"graded [^/]+/(.+?)\.ipynb: .* \(([\d.]+) s\)$", line))]
    kept = sorted(times, key=lambda t: t[1])[:max(0, len(times) - jobs)]
    out = {}
    for name, flag in (("probes", True), ("test cells", False)):
        group = [t for f, t in kept if f == flag]
        out[name] = f"{sum(group) / len(group):.2f}" if group else "-"
    return out
