"""The one command line of the course's tooling (the Makefile's targets call it).

    python -m coursekit generate              # solutions/NN_*.ipynb -> seminars/ (make seminars)
    python -m coursekit check                 # seminars up to date, clean, no solution text
    python -m coursekit run [NB ...]          # execute into build/, print time/memory/metric
    python -m coursekit bench [--out FILE]    # the same and a graded class: BENCHMARKS.md
    python -m coursekit refresh NB ...        # re-execute and store outputs (review the diff!)
    python -m coursekit grade SUBMISSIONS --out grades/ [--jobs N] [--shard I/N] ...
    python -m coursekit merge reports/*/grades.json --out grades/
    python -m coursekit feedback grades/grades.json --out grades/feedback
    python -m coursekit grade-bench [--out FILE]   # the grading section of BENCHMARKS.md
    python -m coursekit sandbox               # is the OS sandbox of grading on here? (exit 1: no)
    python -m coursekit simulate --students 20 --jobs 2 --out build/class
    python -m coursekit release --out DIR     # the student-facing course, no solutions
    python -m coursekit site build|check [--out build/site]
    python -m coursekit nbgrader [--out build/nbgrader]
    python -m coursekit badges [--check]     # Colab badges in the title cells, then seminars
    python -m coursekit gradescope [--seminar S ...] [--out build/gradescope]  # autograder.zip
    python -m coursekit gradebook grades/grades.json --roster roster.csv  # Canvas, Moodle CSVs

Exit status: 0 when the command did its work (grading: whatever the students scored);
1 when it found problems (a stale or leaking seminar, a failed notebook, a leak in the
release or the site, an unexpected grade in a simulated class); 2 when it cannot run (bad
arguments, a broken notebook or solution, no kernel), with a one-line reason; 3 on a bug
of the tooling itself (one line; GRADE_DEBUG=1 shows the traceback); 130 when interrupted.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .notebook import REPO, CourseError


def _err(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected I/N such as 2/4, got {text!r}") from None
    if not 1 <= i <= n:
        raise argparse.ArgumentTypeError(f"shard {text}: need 1 <= I <= N")
    return i, n


def parser() -> argparse.ArgumentParser:
    from .grading.common import DEFAULT_DISK_MB, DEFAULT_MEMORY_MB, SANDBOX_MODES, TIMEOUT_FLOOR

    p = argparse.ArgumentParser(prog="python -m coursekit", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    sub.add_parser("generate", help="regenerate seminars/ from solutions/")
    sub.add_parser("check", help="fail if a seminar is stale, carries outputs or leaks")
    r = sub.add_parser("run", help="execute notebooks into build/ and print a table")
    r.add_argument("paths", nargs="*", type=Path)
    b = sub.add_parser("bench", help="run every notebook and grade a class: BENCHMARKS.md")
    b.add_argument("--out", type=Path, default=REPO / "BENCHMARKS.md")
    f = sub.add_parser("refresh", help="re-execute notebooks and store their outputs")
    f.add_argument("paths", nargs="+", type=Path)

    g = sub.add_parser("grade", help="points for a class of submitted seminars")
    g.add_argument("submissions", type=Path, help="folder of <student>/NN_topic.ipynb")
    g.add_argument("--out", type=Path, default=Path("grades"))
    g.add_argument("--jobs", type=int, default=1, help="notebooks graded in parallel")
    g.add_argument("--timeout", type=float, default=None,
                   help="seconds per cell (default: 10x the solution's slowest cell, "
                        f">= {TIMEOUT_FLOOR})")
    g.add_argument("--memory-mb", type=int, default=DEFAULT_MEMORY_MB,
                   help="data-segment limit per kernel (0: none)")
    g.add_argument("--solutions", type=Path, default=REPO / "solutions")
    g.add_argument("--student", action="append", help="grade only this student (repeat)")
    g.add_argument("--shard", type=_shard, default=None, metavar="I/N",
                   help="grade only every N-th student, starting with the I-th (1-based, "
                        "in sorted order): one job of a CI matrix; merge the reports")
    g.add_argument("--cold", action="store_true",
                   help="a fresh Jupyter kernel per notebook instead of warm forks")
    g.add_argument("--sandbox", choices=SANDBOX_MODES, default="auto",
                   help="the OS sandbox (bubblewrap) of the kernels: auto (on where it "
                        "works, a loud warning where not), required (refuse to grade "
                        "without it), off")
    g.add_argument("--disk-mb", type=int, default=DEFAULT_DISK_MB,
                   help="MB a notebook may write in the sandbox (its scratch folder)")
    g.add_argument("--probe-seed", type=int, default=None, metavar="N",
                   help="the seed of the probes' inputs (default: drawn at grading time; "
                        "printed on stderr, so that a regrade can repeat it)")
    m = sub.add_parser("merge", help="one gradebook from several grades.json")
    m.add_argument("reports", nargs="+", type=Path, help="grades.json files")
    m.add_argument("--out", type=Path, default=Path("grades"))
    fb = sub.add_parser("feedback", help="a markdown file per student from a gradebook")
    fb.add_argument("gradebook", type=Path, help="a grades.json")
    fb.add_argument("--out", type=Path, default=Path("grades/feedback"),
                    help="folder for one <student>.md each")
    gb = sub.add_parser("grade-bench", help="the grading-time section of BENCHMARKS.md")
    gb.add_argument("--out", type=Path, default=None, help="write the section here")
    s = sub.add_parser("simulate", help="write and grade a simulated class")
    s.add_argument("--students", type=int, default=20)
    s.add_argument("--jobs", type=int, default=2)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--cold", action="store_true", help="a Jupyter kernel per notebook")
    s.add_argument("--sandbox", choices=SANDBOX_MODES, default="auto")
    s.add_argument("--out", type=Path, default=Path("build/class"))
    s.add_argument("--solutions", type=Path, default=None)

    rel = sub.add_parser("release", help="the student-facing course into a folder")
    rel.add_argument("--out", type=Path, required=True,
                     help="a new or empty folder, or an earlier release (replaced)")
    site = sub.add_parser("site", help="the course website from the stored notebooks")
    site.add_argument("action", choices=["build", "check"])
    site.add_argument("--out", type=Path, default=REPO / "build" / "site")
    sub.add_parser("sandbox", help="is the OS sandbox of grading on here, and what a "
                                   "grading kernel sees")
    bad = sub.add_parser("badges", help="Colab badges in every notebook's title cell")
    bad.add_argument("--check", action="store_true", help="only report missing or wrong badges")
    nbg = sub.add_parser("nbgrader", help="the solutions as an nbgrader course folder")
    nbg.add_argument("--out", type=Path, default=REPO / "build" / "nbgrader")
    gs = sub.add_parser("gradescope", help="the Gradescope autograder zip")
    gs.add_argument("--out", type=Path, default=REPO / "build" / "gradescope")
    gs.add_argument("--seminar", action="append", help="a seminar the assignment grades "
                    "(repeat; default: every seminar)")
    gs.add_argument("--hidden-visibility", default="after_published",
                    help="Gradescope visibility of the tasks with hidden checks: hidden, "
                         "after_due_date, after_published (default) or visible")
    gs.add_argument("--sandbox", choices=SANDBOX_MODES, default="auto")
    gs.add_argument("--cold", action="store_true", help="a Jupyter kernel per notebook")
    gs.add_argument("--pip-conf", type=Path, default=None,
                    help="a pip configuration file setup.sh installs with (an index of CPU "
                         "builds of torch, a mirror)")
    sub.add_parser("gradescope-run", help="in Gradescope: grade (run_autograder calls it)")
    sub.add_parser("gradescope-check", help="in Gradescope: can it grade (setup.sh calls it)")
    lms = sub.add_parser("gradebook", help="Canvas and Moodle import CSVs from a gradebook")
    lms.add_argument("gradebook", type=Path, help="a grades.json")
    lms.add_argument("--roster", type=Path, required=True,
                     help="CSV: folder,name,canvas_id,sis_user_id,sis_login_id,section,"
                          "email,idnumber (folder required)")
    lms.add_argument("--out", type=Path, default=Path("grades"))
    return p


def main(argv=None) -> int:
    p = parser()
    args = p.parse_args(argv)
    try:
        return COMMANDS[args.cmd](args, p)
    except CourseError as exc:
        _err(f"error: {exc}")
        return 2
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except Exception as exc:  # a bug of the tooling: one line (GRADE_DEBUG=1: the traceback)
        from .grading.common import GradeError

        if isinstance(exc, GradeError):
            _err(f"error: {exc}")
            return 2
        if os.environ.get("GRADE_DEBUG"):
            raise
        _err(f"error: {args.cmd} failed: {type(exc).__name__}: {exc} "
             "(rerun with GRADE_DEBUG=1 for the traceback, and please report it)")
        return 3


# ------------------------------------------------------------------ notebooks and seminars
def _generate(args, p) -> int:
    from .generate import generate

    problems = generate(check_only=args.cmd == "check")
    for msg in problems:
        _err(f"error: {msg}")
    if args.cmd == "generate":
        print(f"generated {len(list((REPO / 'solutions').glob('*.ipynb')))} seminars")
    return 1 if problems else 0


def _run(args, p) -> int:
    from .execute import TABLE_HEAD, run
    from .notebook import course_notebooks, selected_units

    print(TABLE_HEAD)  # no paths: every notebook of the units in COURSE_UNITS (default all)
    rows = run(args.paths or selected_units(course_notebooks()), out_dir=REPO / "build")
    return 0 if all(r["ok"] for r in rows) else 1


def _bench(args, p) -> int:
    from .execute import bench
    from .simulate import bench_section

    rows, notebooks = bench()
    args.out.write_text(notebooks + "\n" + bench_section())  # the grading section last
    print(f"wrote {args.out.name}")
    return 0 if all(r["ok"] for r in rows) else 1


def _refresh(args, p) -> int:
    from nbclient.exceptions import CellExecutionError

    from .execute import refresh

    for path in args.paths:
        try:
            secs = refresh(path)
        except CellExecutionError as exc:  # the stored notebook is left untouched
            _err(f"error: {path} failed, nothing written:\n{exc}")
            return 1
        print(f"refreshed {path} in {secs:.1f} s")
    return 0


# ------------------------------------------------------------------------------- grading
def _grade(args, p) -> int:
    from . import grading

    if args.jobs < 1 or (args.timeout is not None and args.timeout <= 0) or args.memory_mb < 0 \
            or args.disk_mb < 1:
        raise grading.GradeError("--jobs must be >= 1, --timeout > 0, --memory-mb >= 0, "
                                 "--disk-mb >= 1")
    opts = grading.with_denied(grading.Options(
        timeout=args.timeout, memory_mb=args.memory_mb or None, sandbox=args.sandbox,
        disk_mb=args.disk_mb, warm=not (args.cold or grading.cold_by_default())), args.out)
    if args.probe_seed is not None:
        opts.probe_seed = args.probe_seed
    students = args.student
    if args.shard:
        students = grading.shard_students(args.submissions, *args.shard, students)
        if not students:
            print(f"shard {args.shard[0]}/{args.shard[1]}: no students")
            grading.write_reports({}, args.out)
            return 0
    return _reports(grading.grade(args.submissions, args.solutions, opts, args.jobs, students),
                    args.out)


def _merge(args, p) -> int:
    from .grading import merge

    return _reports(merge(args.reports), args.out)


def _reports(book: dict, out: Path) -> int:
    from .grading import table, write_reports

    out = write_reports(book, out)
    print(table(book))
    print(f"\nwrote {out / 'grades.json'}, {out / 'grades.csv'}, {out / 'junit.xml'}")
    return 0


def _feedback(args, p) -> int:
    from .feedback import write_feedback
    from .grading import GradeError, read_gradebook

    try:
        paths = write_feedback(read_gradebook(args.gradebook), args.out)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GradeError(f"cannot read gradebook {args.gradebook}: "
                         f"{type(exc).__name__}: {exc}") from None
    print(f"wrote {len(paths)} feedback file(s) to {args.out}")
    return 0


def _grade_bench(args, p) -> int:
    from .simulate import bench_section

    text = bench_section()
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    print(text)
    return 0


def _simulate(args, p) -> int:
    from .simulate import simulate

    if args.students < 1 or args.jobs < 1:
        p.error("--students and --jobs must be >= 1")
    result = simulate(args.out, args.students, args.jobs, warm=not args.cold, seed=args.seed,
                      solutions_dir=args.solutions, sandbox=args.sandbox)
    return 1 if result["misses"] else 0


def _sandbox(args, p) -> int:
    from . import bwrap

    why = bwrap.available()
    if why:
        print(f"the OS sandbox is OFF here: {why}\ngrading runs with the guard only and "
              "says so in its output and in every record (\"sandbox\": \"none\")")
        return 1
    view = bwrap.Sandbox().view("<scratch>")
    print("the OS sandbox is ON: every grading kernel runs under bubblewrap"
          f"{'' if bwrap.size_supported() else ' (too old to size a tmpfs: no disk limit)'}\n"
          "no network, its own PID namespace, no new processes, no secret of the grader's "
          "environment\nread-only: /usr, the dynamic linker's /etc files, the CPU's /sys, and")
    for path in view.ro:
        print(f"  {path}")
    print(f"writable: its working folder and HOME on a {bwrap.DEFAULT_DISK_MB} MB tmpfs "
          "(--disk-mb)")
    return 0


# ---------------------------------------------------------------------------- publishing
def _release(args, p) -> int:
    from .release import release

    problems = release(args.out)
    for msg in problems:
        _err(f"leak: {msg}")
    print(f"{'FAILED' if problems else 'released'}: {args.out}")
    return 1 if problems else 0


def _site(args, p) -> int:
    from . import site

    problems = site.build(args.out) if args.action == "build" else site.leaks(args.out)
    for msg in problems:
        _err(f"LEAK: {msg}")
    return 1 if problems else 0


def _nbgrader(args, p) -> int:
    from .nbgrader_export import export

    names = export(args.out)
    print(f"{len(names)} assignments in {args.out}/source; then, from that folder: "
          "nbgrader generate_assignment <name>, nbgrader autograde <name>")
    return 0


def _badges(args, p) -> int:
    from . import colab
    from .generate import generate

    if args.check:
        problems = colab.badge_problems()
        for msg in problems:
            _err(f"error: {msg}")
        return 1 if problems else 0
    changed = colab.add_badges()
    problems = generate()  # the seminars take their badge from their solution
    for msg in problems:
        _err(f"error: {msg}")
    print(f"badges: {len(changed)} notebook(s) changed; seminars generated")
    return 1 if problems else 0


def _gradescope(args, p) -> int:
    from .gradescope import timed_build

    path, secs, size = timed_build(args.out, seminars=args.seminar,
                                   hidden_visibility=args.hidden_visibility,
                                   sandbox=args.sandbox, warm=not args.cold,
                                   pip_conf=args.pip_conf)
    _err(f"{size / 2 ** 20:.1f} MB in {secs:.1f} s")
    print(f"wrote {path}: upload it as the assignment's autograder (it holds the solutions: "
          "never share it)")
    return 0


def _gradescope_run(args, p) -> int:
    from .autograder import main

    return main()  # 0: a results.json was written, whatever the submission held


def _gradescope_check(args, p) -> int:
    from .gradescope import check

    return print(check()) or 0


def _gradebook(args, p) -> int:
    from . import gradebook
    from .grading import GradeError, read_gradebook

    try:
        book = read_gradebook(args.gradebook)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GradeError(f"cannot read gradebook {args.gradebook}: "
                         f"{type(exc).__name__}: {exc}") from None
    paths, found = gradebook.write(book, gradebook.read_roster(args.roster), args.out)
    for msg in found:
        _err(f"roster: {msg}")
    print(f"wrote {', '.join(str(x) for x in paths)}"
          + (f" ({len(found)} roster problem(s))" if found else ""))
    return 0


COMMANDS = {
    "generate": _generate, "check": _generate, "run": _run, "bench": _bench, "refresh": _refresh,
    "grade": _grade, "merge": _merge, "feedback": _feedback, "grade-bench": _grade_bench,
    "simulate": _simulate, "release": _release, "site": _site, "nbgrader": _nbgrader,
    "sandbox": _sandbox,
    "badges": _badges, "gradescope": _gradescope, "gradescope-run": _gradescope_run,
    "gradescope-check": _gradescope_check, "gradebook": _gradebook,
}
