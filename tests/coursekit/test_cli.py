"""The command line (coursekit/cli.py): every command's exit code, messages and what it
passes on, with the work itself replaced (no kernel, no Sphinx, no notebook run).

Exit status: 0 done, 1 problems found, 2 cannot run (one line), 3 a tooling bug (one
line), 130 interrupted.
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from fakes import cli_run, cli_run as run

from coursekit import bwrap, cli, execute, feedback, generate, grading, nbgrader_export, release, simulate, site
from coursekit.grading import Options
from coursekit.notebook import CourseError, REPO


# ------------------------------------------------------------------------- main
@pytest.mark.parametrize("exc, code, err", [
    (CourseError("01_x.ipynb: cell 3 is broken"), 2, "error: 01_x.ipynb: cell 3 is broken\n"),
    (grading.GradeError("no solution notebooks"), 2, "error: no solution notebooks\n"),
    (KeyboardInterrupt(), 130, "interrupted\n"),
    (ZeroDivisionError("division by zero"), 3,
     "error: check failed: ZeroDivisionError: division by zero (rerun with GRADE_DEBUG=1 for "
     "the traceback, and please report it)\n"),
])
def test_main_turns_exceptions_into_exit_codes(monkeypatch, capsys, exc, code, err):
    monkeypatch.delenv("GRADE_DEBUG", raising=False)

    def boom(check_only=False):
        raise exc
    monkeypatch.setattr(generate, "generate", boom)
    assert run(capsys, "check") == (code, "", err)


def test_grade_debug_shows_the_traceback(monkeypatch, capsys):
    monkeypatch.setenv("GRADE_DEBUG", "1")
    monkeypatch.setattr(generate, "generate", lambda check_only=False: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        cli.main(["check"])
    # a GradeError is still a clear "cannot run", whatever GRADE_DEBUG says
    monkeypatch.setattr(generate, "generate", lambda check_only=False: (_ for _ in ()).throw(
        grading.GradeError("bad")))
    assert run(capsys, "check") == (2, "", "error: bad\n")


@pytest.mark.parametrize("argv, message", [
    ([], "the following arguments are required: COMMAND"),
    (["nope"], "invalid choice: 'nope'"),
    (["grade", "x", "--shard", "0/2"], "shard 0/2: need 1 <= I <= N"),
    (["grade", "x", "--shard", "3/2"], "shard 3/2: need 1 <= I <= N"),
    (["grade", "x", "--shard", "2"], "expected I/N such as 2/4, got '2'"),
    (["grade", "x", "--shard", "a/b"], "expected I/N such as 2/4, got 'a/b'"),
    (["refresh"], "the following arguments are required: paths"),
    (["release"], "the following arguments are required: --out"),
    (["site", "serve"], "invalid choice: 'serve'"),
])
def test_bad_arguments_exit_2(capsys, argv, message):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_shard_parses_i_of_n():
    assert cli._shard("2/4") == (2, 4) and cli._shard("1/1") == (1, 1)
    assert cli._shard("4/4") == (4, 4)


def test_defaults_of_the_parser():
    p = cli.parser()
    g = p.parse_args(["grade", "subs"])
    assert (g.submissions, g.out, g.jobs, g.timeout, g.memory_mb, g.solutions, g.student,
            g.shard, g.cold, g.sandbox, g.disk_mb) == (Path("subs"), Path("grades"), 1, None,
                                                       3072, REPO / "solutions", None, None,
                                                       False, "auto", 512)
    s = p.parse_args(["simulate"])
    assert (s.students, s.jobs, s.seed, s.cold, s.out, s.solutions, s.sandbox) == \
        (20, 2, 0, False, Path("build/class"), None, "auto")
    assert p.parse_args(["site", "build"]).out == REPO / "build" / "site"
    assert p.parse_args(["nbgrader"]).out == REPO / "build" / "nbgrader"
    assert p.parse_args(["merge", "a.json"]).out == Path("grades")
    assert p.parse_args(["feedback", "g.json"]).out == Path("grades/feedback")
    assert p.parse_args(["grade-bench"]).out is None
    assert p.parse_args(["run"]).paths == []
    assert set(cli.COMMANDS) == {"generate", "check", "run", "bench", "refresh", "grade",
                                 "merge", "feedback", "grade-bench", "simulate", "release",
                                 "site", "nbgrader", "sandbox", "badges", "gradescope",
                                 "gradescope-run", "gradescope-check", "gradebook"}
    gs = p.parse_args(["gradescope"])
    assert (gs.out, gs.seminar, gs.hidden_visibility, gs.sandbox, gs.cold, gs.pip_conf) == (
        REPO / "build" / "gradescope", None, "after_published", "auto", False, None)
    assert p.parse_args(["gradebook", "g.json", "--roster", "r.csv"]).out == Path("grades")


# ---------------------------------------------------------------------- generate / check
def test_generate_and_check(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(generate, "generate",
                        lambda check_only=False: calls.append(check_only) or [])
    n = len(list((REPO / "solutions").glob("*.ipynb")))
    assert n > 0
    assert run(capsys, "generate") == (0, f"generated {n} seminars\n", "")
    assert run(capsys, "check") == (0, "", "")
    monkeypatch.setattr(generate, "generate", lambda check_only=False: calls.append(check_only)
                        or ["a is stale", "b leaks"])
    assert run(capsys, "check") == (1, "", "error: a is stale\nerror: b leaks\n")
    assert run(capsys, "generate") == (1, f"generated {n} seminars\n",
                                    "error: a is stale\nerror: b leaks\n")
    assert calls == [False, True, True, False]


# ------------------------------------------------------------------------- run / bench / refresh
def test_run_executes_the_course_or_the_paths_given(monkeypatch, capsys):
    seen = []
    monkeypatch.delenv("COURSE_UNITS", raising=False)

    def fake_run(paths, out_dir=None, echo=print):
        seen.append((list(paths), out_dir))
        return [{"ok": True}, {"ok": "x.ipynb" not in map(str, paths)}]
    monkeypatch.setattr(execute, "run", fake_run)
    assert run(capsys, "run") == (0, execute.TABLE_HEAD + "\n", "")
    assert seen[0] == (execute.course_notebooks(), REPO / "build") and seen[0][0]
    assert run(capsys, "run", "x.ipynb")[0] == 1
    assert seen[1] == ([Path("x.ipynb")], REPO / "build")
    monkeypatch.setenv("COURSE_UNITS", "3")  # make course for one unit (the README's doc test)
    assert run(capsys, "run")[0] == 0
    assert [f"{p.parent.name}/{p.name}" for p in seen[2][0]] == [
        "notebooks/03_backprop.ipynb", "solutions/03_backprop.ipynb"]


def test_bench_writes_the_notebook_section_then_the_grading_one(monkeypatch, capsys,
                                                                 tmp_path):
    """execute gives the notebooks' section, simulate the grading one (execute never
    imports the grader): the command line writes both, in that order."""
    monkeypatch.setattr(execute, "bench", lambda: ([{"ok": True}], "# Benchmarks\n\n| nb |\n"))
    monkeypatch.setattr(simulate, "bench_section", lambda: "## Grading\n\n| x |\n")
    out = tmp_path / "B.md"
    assert run(capsys, "bench", "--out", str(out)) == (0, "wrote B.md\n", "")
    assert out.read_text() == "# Benchmarks\n\n| nb |\n\n## Grading\n\n| x |\n"
    assert cli.parser().parse_args(["bench"]).out == REPO / "BENCHMARKS.md"
    monkeypatch.setattr(execute, "bench", lambda: ([{"ok": True}, {"ok": False}], ""))
    assert run(capsys, "bench", "--out", str(out))[0] == 1


def test_refresh_stops_at_the_first_failure(monkeypatch, capsys):
    from nbclient.exceptions import CellExecutionError

    done = []

    def fake_refresh(path):
        if path.name == "bad.ipynb":
            raise CellExecutionError("cell 3 raised", "ValueError", "boom")
        done.append(path)
        return 1.25
    monkeypatch.setattr(execute, "refresh", fake_refresh)
    assert run(capsys, "refresh", "a.ipynb", "b.ipynb") == \
        (0, "refreshed a.ipynb in 1.2 s\nrefreshed b.ipynb in 1.2 s\n", "")
    code, out, err = run(capsys, "refresh", "c.ipynb", "bad.ipynb", "d.ipynb")
    assert (code, out) == (1, "refreshed c.ipynb in 1.2 s\n")
    assert err == "error: bad.ipynb failed, nothing written:\ncell 3 raised\n"
    assert done == [Path("a.ipynb"), Path("b.ipynb"), Path("c.ipynb")]


# ------------------------------------------------------------------------- grading
def test_grade_passes_its_options_and_writes_the_reports(graded, capsys, tmp_path):
    calls, book = graded
    out = tmp_path / "g"
    code, stdout, err = run(capsys, "grade", "subs", "--out", str(out), "--jobs", "3",
                            "--timeout", "7.5", "--memory-mb", "100", "--solutions", "sols",
                            "--student", "a", "--student", "b")
    assert (code, err) == (0, "")
    assert calls == [{"submissions": Path("subs"), "solutions": Path("sols"),
                      "opts": Options(timeout=7.5, memory_mb=100, deny=(str(out),), warm=True),
                      "jobs": 3, "students": ["a", "b"]}]
    assert stdout == grading.table(book) + f"\n\nwrote {out / 'grades.json'}, " \
                                           f"{out / 'grades.csv'}, {out / 'junit.xml'}\n"
    assert grading.read_gradebook(out / "grades.json") == book
    assert (out / "grades.csv").read_text() == grading.to_csv(book)
    assert (out / "junit.xml").read_text() == grading.to_junit(book)


def test_grade_memory_zero_is_no_limit_and_cold(graded, capsys, tmp_path, monkeypatch):
    calls, _ = graded
    assert run(capsys, "grade", "s", "--out", str(tmp_path), "--memory-mb", "0", "--cold")[0] == 0
    assert calls[-1]["opts"] == Options(timeout=None, memory_mb=None, deny=(str(tmp_path),),
                                        warm=False)
    monkeypatch.setenv("COURSE_GRADE_COLD", "1")
    assert run(capsys, "grade", "s", "--out", str(tmp_path))[0] == 0
    assert calls[-1]["opts"].warm is False
    assert calls[-1]["solutions"] == REPO / "solutions" and calls[-1]["jobs"] == 1


@pytest.mark.parametrize("args", [["--jobs", "0"], ["--timeout", "0"], ["--timeout", "-1"],
                                  ["--memory-mb", "-1"], ["--disk-mb", "0"]])
def test_grade_refuses_bad_numbers(graded, capsys, tmp_path, args):
    assert run(capsys, "grade", "s", "--out", str(tmp_path / "o"), *args) == (
        2, "", "error: --jobs must be >= 1, --timeout > 0, --memory-mb >= 0, --disk-mb >= 1\n")
    assert graded[0] == [] and not (tmp_path / "o").exists()


def test_grade_a_shard(graded, capsys, tmp_path, monkeypatch):
    calls, _ = graded
    seen = []
    monkeypatch.setattr(grading, "shard_students",
                        lambda subs, i, n, students=None: seen.append((subs, i, n, students))
                        or ["bob"])
    assert run(capsys, "grade", "subs", "--shard", "2/3", "--student", "x", "--out",
               str(tmp_path))[0] == 0
    assert seen == [(Path("subs"), 2, 3, ["x"])]
    assert calls[-1]["students"] == ["bob"]
    monkeypatch.setattr(grading, "shard_students", lambda subs, i, n, students=None: [])
    out = tmp_path / "empty"
    assert run(capsys, "grade", "subs", "--shard", "3/3", "--out", str(out)) == \
        (0, "shard 3/3: no students\n", "")
    assert len(calls) == 1
    assert json.loads((out / "grades.json").read_text()) == {}
    assert (out / "grades.csv").read_text() == "student,total\n"


def test_merge(capsys, tmp_path):
    a = {"alice": {"01": {"points": 1, "max_points": 1, "tasks": [], "file": "01.ipynb"}}}
    (tmp_path / "a.json").write_text(json.dumps(a))
    code, out, err = run(capsys, "merge", str(tmp_path / "a.json"), "--out", str(tmp_path / "m"))
    assert (code, err) == (0, "")
    m = tmp_path / "m"
    assert out == (f"student   01  total\nalice    1/1    1/1\n\nwrote {m / 'grades.json'}, "
                   f"{m / 'grades.csv'}, {m / 'junit.xml'}\n")
    assert json.loads((tmp_path / "m" / "grades.json").read_text()) == a
    assert run(capsys, "merge", str(tmp_path / "none.json"), "--out", str(tmp_path / "n"))[:2] \
        == (2, "")
    assert not (tmp_path / "n").exists()


def test_feedback(capsys, tmp_path):
    book = {"bob": {"01": {"points": 0, "max_points": 1, "file": "01.ipynb",
                           "tasks": [{"id": "t", "points": 0, "max_points": 1,
                                      "status": "failed", "message": "no"}]}}, "amy": {}}
    (tmp_path / "g.json").write_text(json.dumps(book))
    out = tmp_path / "fb"
    assert run(capsys, "feedback", str(tmp_path / "g.json"), "--out", str(out)) == \
        (0, f"wrote 2 feedback file(s) to {out}\n", "")
    typed = grading.gradebook_from_json(book)
    assert (out / "bob.md").read_text() == feedback.student_feedback("bob", typed["bob"]) + "\n"
    bad = tmp_path / "bad.json"
    for text, says in (("{bad", f"cannot read gradebook {bad}: JSONDecodeError: "),
                       ('{"bob": {"01": {}}}', f"cannot read gradebook {bad}: bob/01: "
                                               "not a grade record (KeyError: 'tasks')"),
                       ('{"bob": 3}', f"{bad} is not a grades.json (student -> seminar")):
        bad.write_text(text)
        code, stdout, err = run(capsys, "feedback", str(bad), "--out", str(tmp_path / "x"))
        assert (code, stdout) == (2, "")  # bad input: a message, never a traceback
        assert err.startswith(f"error: {says}")
    assert run(capsys, "feedback", str(tmp_path / "none.json"), "--out",
               str(tmp_path / "y"))[2].startswith("error: cannot read gradebook "
                                                  f"{tmp_path / 'none.json'}: FileNotFoundError")


def test_grade_bench(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(simulate, "bench_section", lambda: "## Grading\n\n| x |")
    assert run(capsys, "grade-bench") == (0, "## Grading\n\n| x |\n", "")
    out = tmp_path / "deep" / "er" / "g.md"
    assert run(capsys, "grade-bench", "--out", str(out)) == (0, "## Grading\n\n| x |\n", "")
    assert out.read_text() == "## Grading\n\n| x |"
    assert run(capsys, "grade-bench", "--out", str(out))[0] == 0  # its folder exists now


def test_simulate(monkeypatch, capsys, tmp_path):
    seen = []

    def fake(out, students, jobs, warm=True, seed=0, solutions_dir=None, sandbox="auto"):
        seen.append((out, students, jobs, warm, seed, solutions_dir, sandbox))
        return {"misses": ["x"] if students == 3 else []}
    monkeypatch.setattr(simulate, "simulate", fake)
    assert run(capsys, "simulate", "--students", "2", "--jobs", "1", "--seed", "5", "--cold",
               "--out", str(tmp_path), "--solutions", "s", "--sandbox", "off")[0] == 0
    assert seen == [(tmp_path, 2, 1, False, 5, Path("s"), "off")]
    assert run(capsys, "simulate", "--students", "3")[0] == 1
    assert seen[-1] == (Path("build/class"), 3, 2, True, 0, None, "auto")
    for bad in (["--students", "0"], ["--jobs", "0"]):
        with pytest.raises(SystemExit) as info:
            cli.main(["simulate", *bad])
        assert info.value.code == 2
        assert "--students and --jobs must be >= 1" in capsys.readouterr().err
    assert len(seen) == 2


def test_sandbox_says_whether_it_is_on(monkeypatch, capsys):

    monkeypatch.setattr(bwrap, "available", lambda: "")
    monkeypatch.setattr(bwrap, "size_supported", lambda: True)
    code, out, err = run(capsys, "sandbox")
    assert (code, err) == (0, "") and out.startswith("the OS sandbox is ON")
    assert f"  {REPO / 'utils'}\n" in out and f"  {REPO}\n" not in out
    assert "512 MB tmpfs" in out
    monkeypatch.setattr(bwrap, "available", lambda: "bubblewrap is not installed (...)")
    code, out, err = run(capsys, "sandbox")
    assert code == 1 and out.startswith("the OS sandbox is OFF here: bubblewrap is not "
                                        "installed (...)")


# ------------------------------------------------------------------------- publishing
def test_release(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(release, "release", lambda out: [])
    assert run(capsys, "release", "--out", str(tmp_path)) == (0, f"released: {tmp_path}\n", "")
    monkeypatch.setattr(release, "release", lambda out: ["seminars/x leaks", "tests/ shipped"])
    assert run(capsys, "release", "--out", str(tmp_path)) == (
        1, f"FAILED: {tmp_path}\n", "leak: seminars/x leaks\nleak: tests/ shipped\n")


def test_release_into_a_folder_with_other_files_cannot_run(capsys, tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    code, out, err = run(capsys, "release", "--out", str(tmp_path))
    assert (code, out) == (2, "")
    assert err == (f"error: {tmp_path} exists, is not empty and is not an earlier release: "
                   "release into a new folder\n")
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_site(monkeypatch, capsys, tmp_path):
    seen = []
    monkeypatch.setattr(site, "build", lambda out: seen.append(("build", out)) or [])
    monkeypatch.setattr(site, "leaks", lambda out: seen.append(("check", out)) or ["p leaks"])
    assert run(capsys, "site", "build", "--out", str(tmp_path)) == (0, "", "")
    assert run(capsys, "site", "check", "--out", str(tmp_path)) == (1, "", "LEAK: p leaks\n")
    assert seen == [("build", tmp_path), ("check", tmp_path)]


def test_nbgrader(monkeypatch, capsys, tmp_path):
    seen = []
    monkeypatch.setattr(nbgrader_export, "export", lambda out: seen.append(out) or ["01_a", "02_b"])
    assert run(capsys, "nbgrader", "--out", str(tmp_path)) == (
        0, f"2 assignments in {tmp_path}/source; then, from that folder: nbgrader "
           "generate_assignment <name>, nbgrader autograde <name>\n", "")
    assert seen == [tmp_path]


def test_help_texts(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")

    def help_of(*argv):
        with pytest.raises(SystemExit) as info:
            cli.main([*argv, "--help"])
        assert info.value.code == 0
        return " ".join(capsys.readouterr().out.split())
    top = help_of()
    for cmd, text in (("generate", "regenerate seminars/ from solutions/"),
                      ("check", "fail if a seminar is stale, carries outputs or leaks"),
                      ("run", "execute notebooks into build/ and print a table"),
                      ("bench", "run every notebook and grade a class: BENCHMARKS.md"),
                      ("refresh", "re-execute notebooks and store their outputs"),
                      ("grade", "points for a class of submitted seminars"),
                      ("merge", "one gradebook from several grades.json"),
                      ("feedback", "a markdown file per student from a gradebook"),
                      ("grade-bench", "the grading-time section of BENCHMARKS.md"),
                      ("simulate", "write and grade a simulated class"),
                      ("release", "the student-facing course into a folder"),
                      ("site", "the course website from the stored notebooks"),
                      ("nbgrader", "the solutions as an nbgrader course folder"),
                      ("badges", "Colab badges in every notebook's title cell")):
        assert f" {cmd} {text} " in top + " ", cmd
    grade = help_of("grade")
    for text in ("submissions folder of <student>/NN_topic.ipynb",
                 "--jobs JOBS notebooks graded in parallel",
                 "--timeout TIMEOUT seconds per cell (default: 10x the solution's slowest cell, "
                 ">= 30)", "--memory-mb MEMORY_MB data-segment limit per kernel (0: none)",
                 "--student STUDENT grade only this student (repeat)",
                 "--shard I/N grade only every N-th student, starting with the I-th (1-based, in "
                 "sorted order): one job of a CI matrix; merge the reports",
                 "--cold a fresh Jupyter kernel per notebook instead of warm forks"):
        assert text in grade, text
    assert "reports grades.json files" in help_of("merge")
    fb = help_of("feedback")
    assert "gradebook a grades.json" in fb and "--out OUT folder for one <student>.md each" in fb
    assert "--out OUT write the section here" in help_of("grade-bench")
    assert "--cold a Jupyter kernel per notebook" in help_of("simulate")
    assert "--out OUT a new or empty folder, or an earlier release (replaced)" in help_of("release")


@pytest.mark.parametrize("cmd", ["check", "generate"])
def test_make_check_and_make_seminars_exit_1_on_a_problem(monkeypatch, capsys, cmd):
    calls = []
    monkeypatch.setattr(generate, "generate", lambda check_only=False: calls.append(check_only)
                        or ["seminars/01_t.ipynb leaks solution text: 'x'"])
    assert cli.main([cmd]) == 1
    assert "error: seminars/01_t.ipynb leaks solution text" in capsys.readouterr().err
    monkeypatch.setattr(generate, "generate",
                        lambda check_only=False: calls.append(check_only) or [])
    assert cli.main([cmd]) == 0
    assert calls == [cmd == "check"] * 2


def test_make_check_exit_code_through_the_command_line(tmp_path):
    """`python -m coursekit check` is what `make check` runs: a problem gives exit
    status 1 through the interpreter, not only from main()."""

    res = subprocess.run([sys.executable, "-c", (
        "import sys, coursekit.generate as g, coursekit.cli as c\n"
        "g.generate = lambda check_only=False: ['x']\n"
        "sys.exit(c.main(['check']))")], capture_output=True, text=True, timeout=120)
    assert res.returncode == 1 and "error: x" in res.stderr


def test_grade_accepts_a_timeout_of_a_second_or_less(graded, capsys, tmp_path):
    for timeout in ("1", "0.5"):
        assert cli_run(capsys, "grade", "s", "--out", str(tmp_path / timeout),
                       "--timeout", timeout)[0] == 0
    assert [c["opts"].timeout for c in graded[0]] == [1.0, 0.5]


def test_an_empty_shard_names_itself(graded, capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(grading, "shard_students", lambda subs, i, n, students=None: [])
    assert cli_run(capsys, "grade", "subs", "--shard", "2/3", "--out", str(tmp_path)) == \
        (0, "shard 2/3: no students\n", "")


def test_simulate_a_class_of_one_and_the_exact_refusal(monkeypatch, capsys, tmp_path):
    seen = []
    monkeypatch.setattr(simulate, "simulate",
                        lambda out, students, jobs, **kw: seen.append(students) or {"misses": []})
    assert cli_run(capsys, "simulate", "--students", "1", "--out", str(tmp_path))[0] == 0
    assert seen == [1]
    with pytest.raises(SystemExit):
        cli.main(["simulate", "--students", "0"])
    assert capsys.readouterr().err.splitlines()[-1] == \
        "python -m coursekit: error: --students and --jobs must be >= 1"


def test_top_level_help_is_the_usage_as_written(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert info.value.code == 0 and out.startswith("usage: python -m coursekit ")
    assert cli.__doc__.strip() in out  # its line breaks kept: one command per line
