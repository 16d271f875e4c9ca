"""The Gradescope autograder (coursekit/gradescope.py, coursekit/autograder.py), tested
without Gradescope: the zip is unpacked into a scratch folder that stands for
``/autograder`` (GRADESCOPE_ROOT), and every results.json is validated against
Gradescope's documented schema, written as a JSON Schema (gradescope_results.schema.json).

Fast part: the zip's layout, shellcheck of its scripts, the submission's checks and the
results that need no kernel (empty, not a notebook, wrong seminar, several seminars).
Slow part: ``run_autograder`` itself on a solution (full marks), a blank seminar (0), a
known-wrong answer (that task lost, with the grader's own message) and a notebook that is
not JSON; and setup.sh's Python part in a fresh virtual environment (by hand, see there).
"""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import jsonschema
import pytest

from coursekit import autograder, gradescope, grading, notebook
from coursekit.grading import GradeRecord, TaskVerdict
from coursekit.notebook import REPO, CourseError

SCHEMA = json.loads((REPO / "tests" / "gradescope_results.schema.json").read_text())
STEM = "01_linear_regression"  # graded by probes: the fastest seminar to grade
OTHER = "02_logistic_regression"


def valid(result: dict) -> dict:
    """``result`` checked against the schema, and its score the sum of its tests'."""
    jsonschema.validate(result, SCHEMA)
    assert result["score"] == pytest.approx(sum(t["score"] for t in result["tests"]))
    assert all(0 <= t["score"] <= t["max_score"] for t in result["tests"])
    return result


def solution_tasks(stem=STEM) -> list:
    return grading.load_solutions(REPO / "solutions")[stem].tasks


@pytest.fixture(scope="module")
def zipped(tmp_path_factory):
    return gradescope.build(tmp_path_factory.mktemp("zip"), seminars=[STEM])


@pytest.fixture
def base(zipped, tmp_path):
    """A fresh /autograder: the zip unpacked as Gradescope does."""
    return gradescope.unpack(zipped, tmp_path / "autograder")


def submit(base: Path, name: str, data) -> Path:
    path = base / "submission" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


def nb_bytes(folder: str, stem: str) -> bytes:
    return (REPO / folder / f"{stem}.ipynb").read_bytes()


# ------------------------------------------------------------------------------ the zip
def test_the_zip_has_gradescopes_layout_and_only_the_assignments_solution(zipped):
    with zipfile.ZipFile(zipped) as z:
        names = set(z.namelist())
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in z.infolist()}
        cfg = json.loads(z.read("gradescope.json"))
    assert {"setup.sh", "run_autograder", "gradescope.json", "course/pyproject.toml",
            "course/README.md", "course/utils/__init__.py", "course/coursekit/autograder.py",
            f"course/solutions/{STEM}.ipynb", f"course/solutions/probes/{STEM}.py"} <= names
    assert modes["setup.sh"] == modes["run_autograder"] == 0o755
    solutions = sorted(n for n in names if n.startswith("course/solutions/"))
    assert solutions == [f"course/solutions/{STEM}.ipynb", f"course/solutions/probes/{STEM}.py"]
    assert not [n for n in names if n.startswith(("course/tests", "course/seminars",
                                                  "course/notebooks")) or "__pycache__" in n]
    assert cfg["seminars"] == [STEM] and cfg["hidden_visibility"] == "after_published"
    assert set(cfg["marks"]) == {p.stem for p in (REPO / "solutions").glob("*.ipynb")}
    assert "answer-ridge-grad" in cfg["marks"][STEM] and "setup" not in cfg["marks"][STEM]


def test_the_same_course_gives_the_same_zip(zipped, tmp_path):
    again = gradescope.build(tmp_path, seminars=[STEM])
    assert again.read_bytes() == zipped.read_bytes()


def test_the_scripts_take_every_path_from_one_root(zipped):
    with zipfile.ZipFile(zipped) as z:
        for name in ("setup.sh", "run_autograder"):
            text = z.read(name).decode()
            assert 'ROOT="${GRADESCOPE_ROOT:-/autograder}"' in text
            code = "\n".join(ln for ln in text.splitlines() if not ln.startswith("#"))
            assert code.count("/autograder") == 1, name  # only the default
            assert "index-url" not in text and "http" not in text  # pip picks its builds


def test_an_instructors_pip_configuration_goes_in_the_zip(tmp_path):
    conf = tmp_path / "my-pip.conf"
    conf.write_text("[global]\nprefer-binary = true\n")
    with zipfile.ZipFile(gradescope.build(tmp_path / "out", seminars=[STEM], pip_conf=conf)) as z:
        assert z.read("pip.conf") == conf.read_bytes()
        assert 'export PIP_CONFIG_FILE="$ROOT/source/pip.conf"' in z.read("setup.sh").decode()
    with pytest.raises(CourseError, match="--pip-conf .*: no such file"):
        gradescope.build(tmp_path / "out2", seminars=[STEM], pip_conf=tmp_path / "none")


@pytest.mark.parametrize("kw, message", [
    ({"seminars": ["99_nothing"]}, "no seminar 99_nothing in solutions/"),
    ({"hidden_visibility": "later"}, "--hidden-visibility must be one of"),
    ({"sandbox": "maybe"}, "--sandbox must be auto, required or off"),
])
def test_bad_options_say_what_is_wrong(tmp_path, kw, message):
    with pytest.raises(CourseError, match=message):
        gradescope.build(tmp_path, **kw)
    assert not (tmp_path / "autograder.zip").exists()


@pytest.mark.parametrize("script", ["setup.sh", "run_autograder"])
def test_shellcheck(zipped, tmp_path, script):
    if shutil.which("shellcheck") is None:
        if os.environ.get("CI") == "true" and sys.platform.startswith("linux"):
            pytest.fail("shellcheck is missing under CI=true on Linux (.ci/run and the test "
                        "workflow install it)")
        pytest.skip("shellcheck is not installed (Debian/Ubuntu: apt-get install shellcheck)")
    with zipfile.ZipFile(zipped) as z:
        (tmp_path / script).write_bytes(z.read(script))
    done = subprocess.run(["shellcheck", "--shell=bash", str(tmp_path / script)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_shellcheck_finds_a_mistake(tmp_path):
    """The check above can fail: an unquoted variable is reported."""
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (Debian/Ubuntu: apt-get install shellcheck)")
    (tmp_path / "bad.sh").write_text(gradescope.SETUP_SH.replace('"$ROOT/venv"', "$ROOT/venv"))
    done = subprocess.run(["shellcheck", str(tmp_path / "bad.sh")], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode != 0 and "SC2086" in done.stdout


# ---------------------------------------------------------------- the submission's checks
def test_collect_unpacks_zips_and_skips_hidden_folders(tmp_path):
    sub = tmp_path / "submission"
    (sub / "work" / ".ipynb_checkpoints").mkdir(parents=True)
    (sub / "work" / ".ipynb_checkpoints" / f"{STEM}-checkpoint.ipynb").write_text("{}")
    (sub / "work" / f"{STEM}.ipynb").write_text("{}")
    with zipfile.ZipFile(sub / "all.zip", "w") as z:
        z.writestr(f"hw/{STEM}.ipynb", "{}")
        z.writestr(f"__MACOSX/hw/._{STEM}.ipynb", "junk")
        z.writestr("../../escape.ipynb", "{}")
        z.writestr("notes.txt", "hi")
    (sub / "broken.zip").write_text("not a zip")
    names, others = autograder.collect(sub, tmp_path / "flat")
    assert sorted(names) == sorted([f"{STEM}.ipynb", f"{STEM} (2).ipynb", "escape.ipynb"])
    assert sorted(p.name for p in (tmp_path / "flat").iterdir()) == sorted(names)
    assert others[0] == "all.zip/notes.txt" and others[1].startswith("broken.zip (not a readable")
    assert not (tmp_path / "escape.ipynb").exists()


def test_which_seminar_by_name_and_by_content(tmp_path, zipped):
    with zipfile.ZipFile(zipped) as z:
        marks = json.loads(z.read("gradescope.json"))["marks"]
    (tmp_path / f"{STEM}.ipynb").write_bytes(nb_bytes("seminars", OTHER))
    (tmp_path / "mine.ipynb").write_bytes(nb_bytes("seminars", STEM))
    (tmp_path / "x.ipynb").write_text("not json")
    assert autograder.which_seminar(tmp_path / f"{STEM}.ipynb", marks) == (STEM, OTHER)
    assert autograder.which_seminar(tmp_path / "mine.ipynb", marks) == (None, STEM)
    assert autograder.which_seminar(tmp_path / "x.ipynb", marks) == (None, None)


def run_here(base: Path) -> dict:
    """run() in this process (the checks that start no kernel)."""
    result = valid(autograder.run(base))
    assert json.loads((base / "results" / "results.json").read_text()) == result
    return result


def assert_zero(result: dict, *phrases):
    assert result["score"] == 0
    names = [t["name"] for t in result["tests"]]
    assert names == [f"{STEM}: {t}" for t, _ in solution_tasks()]  # what the student missed
    assert sum(t["max_score"] for t in result["tests"]) == 10
    for phrase in phrases:
        assert phrase in result["output"], result["output"]


def test_an_empty_submission(base):
    assert_zero(run_here(base), f"your submission is empty: upload {STEM}.ipynb")


def test_no_notebook(base):
    submit(base, "answers.py", "print(1)\n")
    submit(base, "report.pdf", b"%PDF-1.4")
    assert_zero(run_here(base), "your submission holds no notebook (.ipynb): answers.py, "
                                f"report.pdf: upload {STEM}.ipynb")


def test_the_wrong_seminar(base):
    submit(base, f"{OTHER}.ipynb", nb_bytes("solutions", OTHER))
    assert_zero(run_here(base), f"'{OTHER}.ipynb' is seminar {OTHER}, which this assignment "
                                f"does not grade", f"this assignment grades {STEM}.ipynb")


def test_another_seminar_under_this_name(base):
    submit(base, f"{STEM}.ipynb", nb_bytes("solutions", OTHER))
    assert_zero(run_here(base), f"'{STEM}.ipynb' holds seminar {OTHER}, not {STEM}")


def test_a_zip_of_several_seminars(base):
    with zipfile.ZipFile(base / "submission" / "all.zip", "w") as z:
        z.writestr(f"{STEM}.ipynb", nb_bytes("solutions", STEM))
        z.writestr(f"{OTHER}.ipynb", nb_bytes("solutions", OTHER))
    assert_zero(run_here(base), f"'{OTHER}.ipynb' is seminar {OTHER}",
                f"this assignment grades {STEM}.ipynb: submit it alone")


def test_a_notebook_that_is_no_seminar(base):
    submit(base, "homework.ipynb", json.dumps({"cells": [], "metadata": {}, "nbformat": 4,
                                               "nbformat_minor": 5}))
    assert_zero(run_here(base), "'homework.ipynb' is not a seminar of this course: neither "
                                "its name nor its cells are a seminar's")


def test_two_copies(base):
    submit(base, f"{STEM}.ipynb", nb_bytes("solutions", STEM))
    submit(base, "copy.ipynb", nb_bytes("seminars", STEM))
    assert_zero(run_here(base), f"are both seminar {STEM}")


def test_a_broken_autograder_still_answers(base):
    (base / "source" / "gradescope.json").write_text("{")
    result = valid(autograder.run(base))
    assert result["score"] == 0 and "this is not your fault: tell your instructor" \
        in result["output"]


# ------------------------------------------------------------------------ results.json
def record(points: list, statuses: list) -> GradeRecord:
    tasks = solution_tasks()
    return GradeRecord(sum(points), 10, [
        TaskVerdict(t, p, m, s, "" if s == "passed" else f"{t} went wrong")
        for (t, m), p, s in zip(tasks, points, statuses, strict=True)], f"{STEM}.ipynb")


def test_an_autograder_of_every_seminar_reports_the_ones_submitted(tmp_path):
    """Built without --seminar (one zip for every assignment): a seminar not submitted
    is not listed; with --seminar, it is, at 0."""
    every = gradescope.config()
    assert every["only_found"] and every["seminars"] == sorted(every["marks"])
    tasks = {s: [("t", 1)] for s in every["seminars"]}
    rec = GradeRecord(1, 1, [TaskVerdict("t", 1, 1, "passed")], f"{STEM}.ipynb")
    out = valid(autograder.results({STEM: rec}, every, tasks, {}, [], 1))
    assert [t["name"] for t in out["tests"]] == [f"{STEM}: t"] and out["score"] == 1
    two = gradescope.config([STEM, OTHER])
    assert not two["only_found"]
    out = valid(autograder.results({STEM: rec}, two, tasks, {}, [], 1))
    assert [t["name"] for t in out["tests"]] == [f"{STEM}: t", f"{OTHER}: t"]
    assert out["output"].splitlines() == [f"{STEM}: 1/1 points", f"{OTHER}: not submitted, 0/1"]


def test_results_from_a_record(zipped):
    cfg = {"seminars": [STEM], "hidden_visibility": "after_due_date"}
    rec = record([2, 0, 2, 2, 2], ["passed", "failed", "passed", "passed", "passed"])
    hidden = {STEM: {"ridge-fit", "sgd"}}
    out = valid(autograder.results({STEM: rec}, cfg, {STEM: solution_tasks()}, hidden,
                                   ["graded WITHOUT the OS sandbox (why): the grader's guard "
                                    "only"], 12.6))
    assert out["score"] == 8 and out["execution_time"] == 13
    assert out["output"].splitlines() == [
        "graded WITHOUT the OS sandbox (why): the grader's guard only",
        f"{STEM}: 8/10 points"]
    fit = out["tests"][1]
    assert fit == {"name": f"{STEM}: ridge-fit", "score": 0, "max_score": 2,
                   "status": "failed", "output": "failed: ridge-fit went wrong",
                   "output_format": "text", "visibility": "after_due_date"}
    assert [t["visibility"] for t in out["tests"]] == [
        "visible", "after_due_date", "after_due_date", "visible", "visible"]


# ------------------------------------------------------------- run_autograder (slow)
@pytest.fixture(scope="module")
def graded(zipped, tmp_path_factory):
    """run_autograder, as Gradescope runs it, on five submissions: {kind: (results, s)}.
    Its Python is this environment's (a link where setup.sh makes the venv); the course
    it imports is the zip's (run_autograder puts it first on PYTHONPATH)."""
    nb = notebook.read(REPO / "solutions" / f"{STEM}.ipynb")
    task, _, cells = WRONG
    for cell in nb.cells:
        if cell.get("id") in cells:
            cell.source = cells[cell["id"]]
    wrong = tmp_path_factory.mktemp("wrong") / f"{STEM}.ipynb"
    notebook.write(nb, wrong)
    kinds = {"solution": nb_bytes("solutions", STEM), "blank": nb_bytes("seminars", STEM),
             "wrong": wrong.read_bytes(), "not-json": b'{"cells": [oops',
             "renamed": nb_bytes("solutions", STEM)}
    out = {}
    for kind, data in kinds.items():
        base = gradescope.unpack(zipped, tmp_path_factory.mktemp(kind) / "autograder")
        (base / "venv").symlink_to(sys.prefix, target_is_directory=True)
        submit(base, f"{STEM} (1).ipynb" if kind == "renamed" else f"{STEM}.ipynb", data)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        env.update(GRADESCOPE_ROOT=str(base), COURSE_PROBE_SEED="1")
        env.pop("PYTHONPATH", None)
        t0 = time.perf_counter()
        done = subprocess.run([str(base / "run_autograder")], env=env, capture_output=True,
                              text=True, timeout=900, cwd="/")
        secs = time.perf_counter() - t0
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert f"wrote {base}/results/results.json" in done.stdout
        out[kind] = (json.loads((base / "results" / "results.json").read_text()), secs)
        print(f"run_autograder on the {kind} submission: {secs:.1f} s")
    return out


def _wrong_entry():
    path = REPO / "tests" / "wrong_answers" / f"{STEM}.py"
    spec = importlib.util.spec_from_file_location("wrong_gs", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.WRONG[0]


WRONG = _wrong_entry()


@pytest.mark.slow
def test_the_solution_gets_full_marks(graded):
    result = valid(graded["solution"][0])
    assert result["score"] == 10 and all(t["status"] == "passed" for t in result["tests"])
    assert f"{STEM}: 10/10 points" in result["output"]


@pytest.mark.slow
def test_a_renamed_file_is_graded_as_the_seminar_it_is(graded):
    result = valid(graded["renamed"][0])
    assert result["score"] == 10
    assert f"note: graded as {STEM}: the file was submitted as '{STEM} (1).ipynb'" \
        in result["output"]


@pytest.mark.slow
def test_the_blank_seminar_gets_zero(graded):
    result = valid(graded["blank"][0])
    assert result["score"] == 0 and len(result["tests"]) == 5
    assert all("not answered yet" in t["output"] for t in result["tests"]), result["tests"]


@pytest.mark.slow
def test_a_known_wrong_answer_loses_its_task_with_the_graders_message(graded, tmp_path):
    result = valid(graded["wrong"][0])
    task = WRONG[0]
    lost = [t for t in result["tests"] if t["score"] < t["max_score"]]
    assert [t["name"] for t in lost] == [f"{STEM}: {task}"]
    # the message `make grade` gives the same file, with the same probe seed
    folder = tmp_path / "class" / "someone"
    folder.mkdir(parents=True)
    nb = notebook.read(REPO / "solutions" / f"{STEM}.ipynb")
    for cell in nb.cells:
        if cell.get("id") in WRONG[2]:
            cell.source = WRONG[2][cell["id"]]
    notebook.write(nb, folder / f"{STEM}.ipynb")
    book = grading.gradebook_to_json(grading.grade(
        folder.parent, REPO / "solutions", grading.Options(probe_seed=1), echo=lambda *_: None))
    message = next(t["message"] for t in book["someone"][STEM]["tasks"] if t["id"] == task)
    assert message and lost[0]["output"] == f"failed: {message}"
    assert lost[0]["visibility"] == "after_published"  # a probe's inputs are hidden checks


@pytest.mark.slow
def test_a_notebook_that_is_not_json(graded):
    result = valid(graded["not-json"][0])
    assert result["score"] == 0
    assert all(t["output"].startswith("error: your notebook could not be read")
               for t in result["tests"]), result["tests"]


@pytest.mark.slow
def test_no_hidden_check_reaches_the_student(graded):
    """No line of a hidden test or of the probes is in any results.json."""
    secret = set()
    for cell in notebook.read(REPO / "solutions" / f"{STEM}.ipynb").cells:
        lines = cell.source.split("\n")
        inside = False
        for line in lines:
            inside = (inside or "BEGIN HIDDEN TESTS" in line) and "END HIDDEN TESTS" not in line
            if inside and len(line.strip()) >= 20:
                secret.add(line.strip())
    probes = (REPO / "solutions" / "probes" / f"{STEM}.py").read_text().splitlines()
    secret |= {ln.strip() for ln in probes if len(ln.strip()) >= 25
               and not ln.strip().startswith(("#", '"""', "def ", "import ", "from "))}
    assert secret
    for kind, (result, _) in graded.items():
        text = json.dumps(result)
        leaked = [s for s in secret if s in text]
        assert not leaked, (kind, leaked)


@pytest.mark.slow
def test_the_sandbox_is_reported(graded, tmp_path):
    """Each output says when the kernels ran without bubblewrap; an autograder built
    with --sandbox off says so (why it is off where it is the container: the same line)."""
    from coursekit import bwrap

    why = bwrap.available()
    for result, _ in graded.values():
        assert ("graded WITHOUT the OS sandbox" in result["output"]) == bool(why)
    base = gradescope.unpack(gradescope.build(tmp_path, seminars=[STEM], sandbox="off"),
                             tmp_path / "autograder")
    submit(base, f"{STEM}.ipynb", b"not json")
    result = valid(autograder.run(base))
    assert result["score"] == 0 and result["output"].startswith(
        "graded WITHOUT the OS sandbox (turned off in this autograder): the grader's guard "
        "only\n"), result["output"]


@pytest.mark.slow
def test_the_check_at_the_end_of_setup(base):
    from coursekit import bwrap

    assert gradescope.check(base) == ("autograder ready: 01_linear_regression; the OS "
                                      "sandbox is " + (f"OFF here ({bwrap.available()})"
                                                       if bwrap.available() else "on (bubblewrap)"))
    (base / "source" / "course" / "solutions" / f"{STEM}.ipynb").unlink()
    with pytest.raises(grading.GradeError, match="no solution notebooks in"):
        gradescope.check(base)


# ------------------------------------------------------------------ setup.sh (by hand)
@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("COURSE_TEST_SETUP_SH") != "1",
                    reason="installs torch, Jupyter and the course into a fresh virtual "
                           "environment from the package index (minutes, about 1 GB): "
                           "COURSE_TEST_SETUP_SH=1 runs it")
def test_setup_sh_in_a_fresh_venv(zipped, tmp_path):
    """setup.sh's Python part (the apt part left out: COURSE_SKIP_APT=1) in a scratch
    root, then run_autograder with the venv it made grades the solution in full."""
    base = gradescope.unpack(zipped, tmp_path / "autograder")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "VIRTUAL_ENV"))}
    env.update(GRADESCOPE_ROOT=str(base), COURSE_SKIP_APT="1", COURSE_PYTHON=sys.executable)
    env.pop("PYTHONPATH", None)
    t0 = time.perf_counter()
    done = subprocess.run(["bash", str(base / "source" / "setup.sh")], env=env, cwd=base /
                          "source", capture_output=True, text=True, timeout=1800)
    print(f"setup.sh: {time.perf_counter() - t0:.0f} s")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "autograder ready: " + STEM in done.stdout
    submit(base, f"{STEM}.ipynb", nb_bytes("solutions", STEM))
    done = subprocess.run([str(base / "run_autograder")], env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert valid(json.loads((base / "results" / "results.json").read_text()))["score"] == 10

