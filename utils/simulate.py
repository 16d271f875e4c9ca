"""A simulated class, to see what grading costs and that it gives the grades it should.

    python -m utils.simulate --students 20 --jobs 2 --out build/class

builds ``build/class/submissions/<student>/NN_topic.ipynb`` from ``solutions/`` (the
generated seminar with answers filled in), grades it with the real grader (warm kernels
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

import argparse
import importlib.util
import random
import shutil
import sys
import time
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path

from . import course, feedback, grade

KINDS = {"right": 0.5, "wrong": 0.2, "blank": 0.1, "broken": 0.1, "missing": 0.1}
BROKEN = {  # how a broken answer cell reads
    "raises": 'raise RuntimeError("not finished")\n',
    "kernel exit": "import os\nos._exit(1)\n",
}


def wrong_answers(stem: str, folder: Path = course.REPO / "tests" / "wrong_answers") -> list:
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
    nb = course.make_seminar(solution)
    filled = {c.id: c.source for c in solution.cells if course.is_answer_cell(c)}
    filled.update(answers)
    for cell in nb.cells:
        if cell.get("id") in filled:
            cell.source = filled[cell.id]
    return nb


def build(out: Path, students: int, solutions_dir: Path, seed: int = 0) -> dict:
    """Write the class under ``out``; {(student, stem): (kind, task or None)}: what each
    submission is and which task it should lose (None: the whole notebook)."""
    rng = random.Random(seed)
    sols = course.selected_units(sorted(solutions_dir.glob("*.ipynb")))
    seminars = grade.load_solutions(solutions_dir)
    plan = {}
    for i in range(students):
        student = f"student{i:03d}"
        (out / student).mkdir(parents=True, exist_ok=True)
        for path in sols:
            stem, solution = path.stem, course.read(path)
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
                nb = course.make_seminar(solution)
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
            course.write(nb, target)
            plan[student, stem] = (kind, task)
    return plan


def expected(kind: str, task, rec: dict | None) -> bool:
    """Did the record come out as a submission of this kind should?"""
    if kind == "missing":
        return rec is None
    if rec is None:
        return False
    tasks = {t["id"]: t for t in rec["tasks"]}
    if kind == "right":
        return rec["points"] == rec["max_points"] > 0
    if kind == "blank":
        return rec["points"] == 0
    if task is None:  # not JSON: one error record
        return rec["points"] == 0 and all(t["status"] == "error" for t in rec["tasks"])
    return task in tasks and tasks[task]["points"] == 0 and tasks[task]["status"] != "passed"


def simulate(out: Path, students: int, jobs: int = 2, warm: bool = True, seed: int = 0,
             solutions_dir: Path | None = None, echo=print) -> dict:
    solutions_dir = Path(solutions_dir or course.REPO / "solutions").resolve()
    submissions = out / "submissions"
    if submissions.exists():
        shutil.rmtree(submissions)
    plan = build(submissions, students, solutions_dir, seed)
    opts = grade.Options(warm=warm)
    opts = replace(opts, deny=(str(solutions_dir), str(submissions)))
    seminars = grade.load_solutions(solutions_dir)
    todo, names, _ = grade.plan(submissions, seminars)
    t0 = time.perf_counter()
    grade.preflight(opts, jobs)
    book = {name: {} for name in names}
    per_stem = defaultdict(list)
    for student, key, rec, secs in grade.grade_jobs(todo, str(solutions_dir), opts, jobs):
        book[student][key] = rec
        per_stem[key].append(secs)
    wall = time.perf_counter() - t0
    book = {s: dict(sorted(book[s].items())) for s in sorted(book)}
    grade.write_reports(book, out / "grades")
    feedback.write_feedback(book, out / "grades" / "feedback")
    held = Counter()
    misses = []
    for (student, stem), (kind, task) in sorted(plan.items()):
        rec = book.get(student, {}).get(stem)
        ok = expected(kind, task, rec)
        held[ok] += 1
        if not ok:
            misses.append(f"{student}/{stem}: {kind} {task or ''} gave "
                          f"{rec and rec['points']}/{rec and rec['max_points']}")
    n = len(todo)
    kinds = Counter(k.split(" ")[0] for k, _ in plan.values())
    echo(f"{students} students x {len(seminars)} seminars: {n} notebooks graded "
         f"({', '.join(f'{c} {k}' for k, c in kinds.most_common())}), "
         f"{'warm' if warm else 'cold'} kernels, --jobs {jobs}")
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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m utils.simulate", description=__doc__.split("\n")[0])
    p.add_argument("--students", type=int, default=20)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cold", action="store_true", help="a Jupyter kernel per notebook")
    p.add_argument("--out", type=Path, default=Path("build/class"))
    p.add_argument("--solutions", type=Path, default=None)
    args = p.parse_args(argv)
    if args.students < 1 or args.jobs < 1:
        p.error("--students and --jobs must be >= 1")
    result = simulate(args.out, args.students, args.jobs, warm=not args.cold, seed=args.seed,
                      solutions_dir=args.solutions)
    return 1 if result["misses"] else 0


if __name__ == "__main__":
    sys.exit(main())
