"""What runs inside Gradescope: one student's submission -> ``results/results.json``.

    python -m coursekit gradescope-run          (the zip's ``run_autograder`` calls it)

Every path comes from one root, ``GRADESCOPE_ROOT`` (default ``/autograder``, Gradescope's
own layout): ``source/`` is the unpacked zip (``gradescope.json``, the course in
``source/course/``: ``utils``, ``coursekit``, the assignment's solutions with their hidden
tests), ``submission/`` is the student's upload, ``results/results.json`` is what
Gradescope reads. The submission is graded by the course's own grader
(``coursekit.grading``), warm or cold, ``--sandbox auto``: where bubblewrap cannot run
(Gradescope's containers, usually) the output says so.

A submission gets a results.json whatever it holds, never a crash: an empty upload, no
notebook, a notebook that is not JSON, a notebook of another seminar, several seminars
where the assignment grades one, two copies of a seminar: each a clear ``output`` and 0.
The schema is Gradescope's ("Autograder Specifications": tests with name, score,
max_score, status, output, visibility; the total score, an output, execution_time); the
tests check every results.json against it (tests/gradescope_results.schema.json).
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT_ENV, DEFAULT_ROOT = "GRADESCOPE_ROOT", "/autograder"
CONFIG = "gradescope.json"  # in source/: the assignment (written by coursekit.gradescope)
STUDENT = "submission"  # the one student folder the class grader sees
VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")
ZIP_LIMIT = 200 * 2 ** 20  # bytes a student's zip may unpack to
SKIP = ("__MACOSX", ".ipynb_checkpoints")


def root() -> Path:
    return Path(os.environ.get(ROOT_ENV) or DEFAULT_ROOT)


def _hidden(parts) -> bool:
    """A hidden file or folder, or one of the archivers' and Jupyter's own (not . or ..)."""
    return any(p in SKIP or (p.startswith(".") and p not in (".", "..")) for p in parts)


def _say(msg: str) -> None:  # Gradescope keeps stdout for the instructor (results/stdout)
    print(msg, flush=True)


# ============================================================================ the upload
def collect(submission: Path, into: Path) -> tuple[list, list]:
    """Copy the notebooks of ``submission`` (any depth, zips unpacked) flat into ``into``:
    (names of the notebooks, names of the other files)."""
    into.mkdir(parents=True, exist_ok=True)
    notebooks, others = [], []

    def add(name: str, data: bytes):
        base = Path(name).name
        if base.lower().endswith(".ipynb"):
            target, n = into / base, 1
            while target.exists():  # the same name twice (two folders): keep both
                n += 1
                target = into / f"{Path(base).stem} ({n}).ipynb"
            target.write_bytes(data)
            notebooks.append(target.name)
        else:
            others.append(name)

    if not submission.is_dir():
        return notebooks, others
    for path in sorted(submission.rglob("*")):
        rel = path.relative_to(submission)
        if not path.is_file() or _hidden(rel.parts):
            continue
        if path.suffix.lower() == ".zip":
            try:
                with zipfile.ZipFile(path) as z:
                    members = [m for m in z.infolist() if not m.is_dir()
                               and not _hidden(Path(m.filename).parts)]
                    if sum(m.file_size for m in members) > ZIP_LIMIT:
                        others.append(f"{rel} (a zip over {ZIP_LIMIT >> 20} MB unpacked)")
                        continue
                    for m in members:
                        add(f"{rel}/{m.filename}", z.read(m))
            except (zipfile.BadZipFile, OSError, RuntimeError) as exc:
                others.append(f"{rel} (not a readable zip: {exc})")
            continue
        add(str(rel), path.read_bytes())
    return notebooks, others


def which_seminar(path: Path, marks: dict) -> tuple[str | None, str | None]:
    """(the seminar its name says, the seminar its content looks like) among the course's
    seminars (``marks``: stem -> the public cell ids only that seminar has)."""
    lower = {s.lower(): s for s in marks}
    by_name = lower.get(path.stem.lower())
    try:
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells")
        ids = {c.get("id") or c.get("metadata", {}).get("id") for c in cells
               if isinstance(c, dict)}
    except (ValueError, OSError, AttributeError, TypeError):
        return by_name, None
    counts = {s: len(ids & set(m)) for s, m in marks.items()}
    best = max(counts, key=lambda s: (counts[s], s == by_name), default=None)
    return by_name, (best if best is not None and counts[best] >= 2 else None)


def problems(folder: Path, names: list, cfg: dict) -> list:
    """Why the notebooks in ``folder`` cannot be graded as this assignment (empty: they
    can; the grader then deals with renamed files and unreadable notebooks itself, as
    ``make grade`` does)."""
    wanted, marks = cfg["seminars"], cfg["marks"]
    hint = ", ".join(f"{s}.ipynb" for s in wanted)
    found, out = {}, []
    for name in names:
        by_name, by_content = which_seminar(folder / name, marks)
        stem = by_name or by_content
        if by_name and by_content and by_name != by_content:
            out.append(f"'{name}' holds seminar {by_content}, not {by_name}")
            continue
        if stem is None:
            out.append(f"'{name}' is not a seminar of this course: neither its name nor its "
                       "cells are a seminar's")
        elif stem not in wanted:
            out.append(f"'{name}' is seminar {stem}, which this assignment does not grade")
        elif stem in found:
            out.append(f"'{name}' and '{found[stem]}' are both seminar {stem}")
        else:
            found[stem] = name
    if out:
        out.append(f"this assignment grades {hint}: submit {'it' if len(wanted) == 1 else 'them'}"
                   " alone, one file per seminar, and resubmit")
    return out


# ============================================================================ results.json
def _test(stem: str, task, hidden: set, visibility: str) -> dict:
    """A Gradescope test of a task's verdict (a grading.TaskVerdict)."""
    status = task.status
    text = "passed" if status == "passed" else f"{status}: {task.message}".rstrip(": ")
    return {"name": f"{stem}: {task.id}", "score": task.points,
            "max_score": task.max_points, "status": "passed" if status == "passed"
            else "failed", "output": text, "output_format": "text",
            "visibility": visibility if task.id in hidden else "visible"}


def results(book: dict, cfg: dict, tasks: dict, hidden: dict, lines: list,
            seconds: float) -> dict:
    """Gradescope's results.json from the grader's records of one student. ``tasks``:
    stem -> [(task id, points)] of every seminar of the assignment (a seminar not
    submitted gets its tasks at 0, unless ``cfg["only_found"]``: an autograder built for
    every seminar, the same zip for each assignment); ``hidden``: stem -> the task ids whose checks are
    hidden; ``lines``: what the output says first."""
    from .grading.common import GradeRecord, TaskVerdict

    vis = cfg.get("hidden_visibility", "after_published")
    tests, summary = [], list(lines)
    for stem in cfg["seminars"]:
        record = book.get(stem)
        if record is None and cfg.get("only_found"):
            continue  # an autograder of every seminar: the ones submitted
        if record is None:
            record = GradeRecord(0, sum(p for _, p in tasks[stem]), [
                TaskVerdict(t, 0, p, "missing", f"{stem}.ipynb was not submitted")
                for t, p in tasks[stem]], "")
            summary.append(f"{stem}: not submitted, 0/{record.max_points:g}")
        else:
            summary.append(f"{stem}: {record.points:g}/{record.max_points:g} points"
                           + (f" ({record.file})" if record.file != f"{stem}.ipynb" else ""))
            summary += [f"  note: {n}" for n in record.notes]
        tests += [_test(stem, t, hidden.get(stem, set()), vis) for t in record.tasks]
    score = sum(t["score"] for t in tests)
    return {"score": score, "execution_time": max(0, round(seconds)),
            "output": "\n".join(summary), "output_format": "text",
            "stdout_visibility": "hidden", "tests": tests}


def zero(cfg: dict, tasks: dict, lines: list, seconds: float) -> dict:
    """0 points on every task of the assignment, the reasons in the output."""
    out = results({}, cfg, tasks, {}, lines, seconds)
    for t in out["tests"]:
        t["output"] = "not graded: see the submission's output"
    out["output"] = "\n".join(lines + [f"score 0 of {sum(t['max_score'] for t in out['tests']):g}"])
    return out


# ============================================================================ one run
def run(base: Path | None = None) -> dict:
    """Grade ``base/submission`` (``base``: GRADESCOPE_ROOT) and write
    ``base/results/results.json``; returns what it wrote. Never raises for a submission."""
    t0 = time.perf_counter()
    base = Path(base or root())
    out_file = base / "results" / "results.json"
    out_file.parent.mkdir(parents=True, exist_ok=True)
    try:
        cfg = json.loads((base / "source" / CONFIG).read_text(encoding="utf-8"))
        result = _grade(base, cfg, t0)
    except Exception as exc:  # noqa: BLE001 - a broken autograder still answers
        result = {"score": 0, "execution_time": round(time.perf_counter() - t0),
                  "output": "the autograder could not grade this submission "
                            f"({type(exc).__name__}: {exc}); this is not your fault: "
                            "tell your instructor", "stdout_visibility": "hidden", "tests": []}
        _say(f"error: {type(exc).__name__}: {exc}")
    tmp = out_file.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(out_file)
    _say(f"wrote {out_file}: score {result['score']:g}")
    return result


def _grade(base: Path, cfg: dict, t0: float) -> dict:
    from . import bwrap, grading

    solutions_dir = base / "source" / "course" / "solutions"
    solutions = {s: v for s, v in grading.load_solutions(solutions_dir).items()
                 if s in cfg["seminars"]}
    tasks = {s: solution.tasks for s, solution in solutions.items()}
    hidden = {s: {t for t, _ in solution.tasks} if solution.probes is not None else
              {st.task for st in solution.steps if st.kind == "test" and st.hidden}
              for s, solution in solutions.items()}
    with tempfile.TemporaryDirectory(prefix="gradescope-") as tmp:
        folder = Path(tmp) / "class" / STUDENT
        names, others = collect(base / "submission", folder)
        ignored = [f"ignored {o}: not a notebook (.ipynb)" for o in others]
        elapsed = lambda: time.perf_counter() - t0
        if not names:
            what = "your submission is empty" if not others else \
                f"your submission holds no notebook (.ipynb): {', '.join(sorted(others))}"
            return zero(cfg, tasks, [f"{what}: upload "
                                     f"{', '.join(s + '.ipynb' for s in cfg['seminars'])}"],
                        elapsed())
        wrong = problems(folder, names, cfg)
        if wrong:
            return zero(cfg, tasks, wrong + ignored, elapsed())
        opts = grading.with_denied(
            grading.Options(sandbox=cfg.get("sandbox", "auto"), warm=cfg.get("warm", True)),
            base / "submission", base / "results", base / "source" / CONFIG)
        opts, warning = grading.settle_sandbox(opts)
        lines = []
        if warning:
            why = "turned off in this autograder" if cfg.get("sandbox") == "off" \
                else bwrap.available()
            lines.append(f"graded WITHOUT the OS sandbox ({why}): the grader's guard only")
        book = grading.grade(folder.parent, solutions_dir=solutions_dir, opts=opts, jobs=1,
                             echo=_say).get(STUDENT, {})
    unknown = [k for k in book if k not in solutions]
    if unknown:  # e.g. one unreadable file whose name is no seminar's
        return zero(cfg, tasks, [t.message for k in unknown for t in book[k].tasks]
                    + ignored + lines, elapsed())
    return results(book, cfg, tasks, hidden, ignored + lines, elapsed())


def main() -> int:
    run()
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["collect", "problems", "results", "run", "which_seminar", "zero"]
