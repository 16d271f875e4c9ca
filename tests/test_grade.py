"""Tests of the instructor grader (coursekit/grading, coursekit/sandbox.py).

Fast part: tiny fixture seminars built with nbformat at test time (no torch, except one
memory test); the whole bad-submission matrix is graded in ONE run with --jobs 2, then
each case is its own test. Slow part (at the end): every real solution scores full marks
and every generated seminar scores 0, in one parallel run.
"""
import json
from dataclasses import replace
import subprocess
import sys

import pytest
from fakes import answer, code
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from coursekit import bwrap, cli, generate, grading, leaks, notebook, release, rules
from coursekit.grading import Options
from coursekit.sandbox import memory_limit_supported

REPO = notebook.REPO
# Fixture cells take milliseconds, but a loaded 2-core CI runner can stall a process for
# seconds: only the submissions that must time out get a short per-cell limit, every
# other one a generous one (a 5 s limit on all of them made the records flaky).
QUICK = Options(timeout=5, grace=10)  # for TIMING_OUT; grace: time to answer SIGINT
PATIENT = Options(timeout=120, grace=10)
TIMING_OUT = ("loop", "deaf")  # an endless loop, and one that ignores the interrupt
needs_rlimit = pytest.mark.skipif(not memory_limit_supported(),
                                  reason="RLIMIT_DATA is enforced on Linux only")


as_json = grading.gradebook_to_json  # the gradebook as grades.json holds it: what tests read


def grade_fixture(folder, solutions, jobs, students=None, **changes):
    """grading.grade with QUICK for the TIMING_OUT students and PATIENT for the others;
    ``changes`` apply to both (e.g. warm=False); the gradebook as grades.json holds it."""
    names = students or sorted(p.name for p in folder.iterdir() if p.is_dir())
    book = {}
    for opts, group in ((PATIENT, [s for s in names if s not in TIMING_OUT]),
                        (QUICK, [s for s in names if s in TIMING_OUT])):
        if group:
            book.update(grading.grade(folder, solutions, replace(opts, **changes), jobs=jobs,
                                    students=group, echo=lambda *_: None))
    return as_json(dict(sorted(book.items())))


# ----------------------------------------------------------------------------- fixtures
def seminar_one():
    """01_fixture: three tasks (2, 1 and 1.5 points), a hidden test, a trailing cell."""
    nb = new_notebook(cells=[
        new_markdown_cell("# 01. Fixture"),
        code("setup", "import random\nrandom.seed(0)\nSCALE = 2"),
        answer("answer-double", "return SCALE * x", "def double(x):"),
        code("test-double", 'assert double(3) == 6, f"double(3) gave {double(3)}, expected 6"\n'
             "### BEGIN HIDDEN TESTS\n"
             'assert double(-1) == -2, "double(-1) is wrong: negative numbers"\n'
             "### END HIDDEN TESTS\n"
             'print("double: OK")', task="double", points=2),
        code("data", "values = [random.random() for _ in range(5)]"),
        answer("answer-mean", "return sum(xs) / len(xs)", "def mean(xs):"),
        code("test-mean", "assert abs(mean(values) - sum(values) / 5) < 1e-12\n"
             "assert mean([1, 2, 3]) == 2\n"
             'print("mean: OK")', task="mean", points=1),
        answer("answer-square", "return x * x", "def square(x):"),
        code("test-square", "assert square(4) == 16\n"
             'print("square: OK")', task="square", points=1.5),
        code("summary", 'raise RuntimeError("cells after the last test are not run")'),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


def seminar_two():
    """02_other: one task, for 'a notebook of another seminar under this name'."""
    return new_notebook(cells=[
        code("setup", "import random\nrandom.seed(0)\nSCALE = 2"),
        code("words", "WORDS = ['alpha', 'beta', 'gamma', 'delta', 'epsilon']"),
        answer("answer-longest", "return max(words, key=len)", "def longest(words):"),
        code("test-longest", "assert longest(WORDS) == 'epsilon'", task="longest", points=3),
    ])


def with_answers(solution, **sources):
    """A student's notebook: the seminar of ``solution`` with answers filled in:
    ``sources`` maps answer cell ids (with _ for -) to source; the rest keep the solution."""
    nb = generate.make_seminar(solution)
    answers = {c.id: c.source for c in solution.cells if notebook.is_answer_cell(c)}
    answers.update({k.replace("_", "-"): v for k, v in sources.items()})
    for cell in nb.cells:
        if cell.get("id") in answers:
            cell.source = answers[cell.id]
    return nb


@pytest.fixture(scope="module")
def solutions(tmp_path_factory):
    folder = tmp_path_factory.mktemp("solutions")
    notebook.write(seminar_one(), folder / "01_fixture.ipynb")
    notebook.write(seminar_two(), folder / "02_other.ipynb")
    return folder


def write(folder, student, name, nb_or_text):
    path = folder / student / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(nb_or_text, str):
        path.write_text(nb_or_text)
    else:
        notebook.write(nb_or_text, path)
    return path


def tasks(record):
    return {t["id"]: t for t in record["tasks"]}


# ----------------------------------------------------------------------------- the matrix
def build_matrix(folder, solutions):
    one, two = notebook.read(solutions / "01_fixture.ipynb"), notebook.read(solutions / "02_other.ipynb")
    perfect = with_answers(one)
    write(folder, "good", "01_fixture.ipynb", perfect)
    write(folder, "good", "02_other.ipynb", with_answers(two))
    write(folder, "nothing", "01_fixture.ipynb", generate.make_seminar(one))
    write(folder, "malformed", "01_fixture.ipynb", '{"cells": [ this is not json')
    write(folder, "other_seminar", "01_fixture.ipynb", with_answers(two))
    no_tests = with_answers(one)
    no_tests.cells = [c for c in no_tests.cells if not notebook.task_metadata(c)]
    write(folder, "deleted_tests", "01_fixture.ipynb", no_tests)
    tampered = with_answers(one, answer_double="def double(x):\n    return 0\n")
    for cell in tampered.cells:
        if notebook.task_metadata(cell):
            cell.source = 'print("all good")'
    write(folder, "tampered_tests", "01_fixture.ipynb", tampered)
    write(folder, "loop", "01_fixture.ipynb", with_answers(
        one, answer_double="def double(x):\n    while True:\n        pass\n"))
    write(folder, "raises", "01_fixture.ipynb", with_answers(
        one, answer_square='def square(x):\n    return x * x\n\nraise ValueError("boom")\n'))
    write(folder, "memory", "01_fixture.ipynb", with_answers(
        one, answer_mean="def mean(xs):\n    big = bytearray(50 * 2**30)  # 50 GB\n"
                         "    return sum(xs) / len(xs)\n"))
    extra = with_answers(one)
    extra.cells.insert(3, code("scratch-1", "raise RuntimeError('my scratch cell')"))
    extra.cells.append(code("scratch-2", "import os\nos._exit(1)"))
    write(folder, "extra_cells", "01_fixture.ipynb", extra)
    helper = with_answers(one, answer_square="def square(x):\n    return times(x, x)\n")
    helper.cells.insert(1, code("my-helper", "def times(a, b):\n    return a * b\n"))
    write(folder, "helper_cell", "01_fixture.ipynb", helper)
    write(folder, "renamed", "my seminar (1).ipynb", perfect)
    write(folder, "renamed", "notes.ipynb", new_notebook(cells=[new_markdown_cell("hi")]))
    (folder / "empty").mkdir()
    for name in ("01_fixture.ipynb", "01_FIXTURE.ipynb", "01_fixture copy.ipynb"):
        write(folder, "three_copies", name, perfect)
    write(folder, "crash", "01_fixture.ipynb", with_answers(
        one, answer_double="import os\nos._exit(3)\n"))
    write(folder, "deaf", "01_fixture.ipynb", with_answers(
        one, answer_mean="import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                         "while True:\n    pass\n"))
    missing = with_answers(one)
    missing.cells = [c for c in missing.cells if c.get("id") != "answer-square"]
    write(folder, "missing_answer", "01_fixture.ipynb", missing)
    colab = with_answers(one)
    colab.cells.insert(4, code("x", "print('a cell of mine')"))
    for cell in colab.cells:
        del cell["id"]
    colab.nbformat_minor = 4
    write(folder, "no_ids", "01_fixture.ipynb", colab)
    wrong_hidden = with_answers(one, answer_double="def double(x):\n    return abs(2 * x)\n")
    write(folder, "wrong_hidden", "01_fixture.ipynb", wrong_hidden)


@pytest.fixture(scope="module")
def matrix(tmp_path_factory, solutions):
    folder = tmp_path_factory.mktemp("class")
    build_matrix(folder, solutions)
    (folder / "stray.ipynb").write_text("{}")
    book = grade_fixture(folder, solutions, jobs=2)
    return folder, book


def test_every_student_and_file_has_a_record(matrix):
    folder, book = matrix
    students = sorted(p.name for p in folder.iterdir() if p.is_dir())
    assert sorted(book) == students
    for student in students:
        for nb in (folder / student).glob("*.ipynb"):
            assert any(r["file"] == nb.name for r in book[student].values()), nb
    for recs in book.values():
        for rec in recs.values():
            assert {"points", "max_points", "tasks"} <= set(rec)
            assert rec["points"] == sum(t["points"] for t in rec["tasks"])
            for t in rec["tasks"]:
                assert t["status"] in grading.STATUSES
                assert "\x1b[" not in t["message"] and "Traceback" not in t["message"]


def test_good_submission_full_marks(matrix):
    book = matrix[1]
    assert book["good"]["01_fixture"]["points"] == book["good"]["01_fixture"]["max_points"] == 4.5
    assert book["good"]["02_other"]["points"] == 3
    assert all(t["status"] == "passed" for t in book["good"]["01_fixture"]["tasks"])


def test_seminar_scores_zero(matrix):
    rec = matrix[1]["nothing"]["01_fixture"]
    assert rec["points"] == 0
    assert {t["status"] for t in rec["tasks"]} == {"failed"}
    assert "not answered yet" in tasks(rec)["double"]["message"]


def test_malformed_json_is_an_error_record(matrix):
    rec = matrix[1]["malformed"]["01_fixture"]
    assert rec["points"] == 0 and rec["max_points"] == 4.5
    assert all(t["status"] == "error" and "could not be read" in t["message"]
               for t in rec["tasks"])


def test_notebook_of_another_seminar(matrix):
    rec = matrix[1]["other_seminar"]["01_fixture"]
    assert rec["points"] == 0
    assert all(t["status"] == "error" and "looks like seminar 02_other" in t["message"]
               for t in rec["tasks"])


def test_deleted_test_cells_change_nothing(matrix):
    assert matrix[1]["deleted_tests"]["01_fixture"]["tasks"] == \
        matrix[1]["good"]["01_fixture"]["tasks"]


def test_tampered_test_cells_change_nothing(matrix):
    t = tasks(matrix[1]["tampered_tests"]["01_fixture"])
    assert t["double"]["status"] == "failed" and t["double"]["points"] == 0
    assert "double(3) gave 0, expected 6" in t["double"]["message"]
    assert t["mean"]["status"] == t["square"]["status"] == "passed"


def test_endless_loop_times_out_and_later_tasks_are_graded(matrix):
    t = tasks(matrix[1]["loop"]["01_fixture"])
    assert t["double"]["status"] == "timeout" and t["double"]["points"] == 0
    assert "did not finish within 5 s" in t["double"]["message"]
    assert t["mean"]["status"] == t["square"]["status"] == "passed"


def test_answer_that_raises(matrix):
    t = tasks(matrix[1]["raises"]["01_fixture"])
    assert t["square"]["status"] == "failed"
    assert t["square"]["message"] == "ValueError: boom (in your cell 'answer-square', line 4)"
    assert t["double"]["status"] == t["mean"]["status"] == "passed"


@needs_rlimit
def test_far_too_much_memory_fails_that_task_only(matrix):
    t = tasks(matrix[1]["memory"]["01_fixture"])
    assert t["mean"]["status"] == "failed"
    assert t["mean"]["message"].startswith("MemoryError")
    assert "in your cell 'answer-mean', line 2" in t["mean"]["message"]
    assert f"{grading.DEFAULT_MEMORY_MB} MB per notebook" in t["mean"]["message"]
    assert t["double"]["status"] == t["square"]["status"] == "passed"


def test_extra_cells_are_not_run(matrix):
    assert matrix[1]["extra_cells"]["01_fixture"]["points"] == 4.5


def test_helper_in_an_added_cell_gets_a_hint(matrix):
    msg = tasks(matrix[1]["helper_cell"]["01_fixture"])["square"]["message"]
    assert msg.startswith("NameError: name 'times' is not defined")
    assert "defined in a cell you added" in msg


def test_renamed_file_is_identified_and_an_unknown_one_recorded(matrix):
    recs = matrix[1]["renamed"]
    assert recs["01_fixture"]["points"] == 4.5
    assert recs["01_fixture"]["file"] == "my seminar (1).ipynb"
    assert "graded as 01_fixture" in recs["01_fixture"]["notes"][0]
    unknown = recs["notes"]
    assert unknown["max_points"] == 0 and unknown["tasks"][0]["status"] == "error"
    assert "not a seminar of this course" in unknown["tasks"][0]["message"]


def test_copies_of_one_seminar_are_graded_once(matrix):
    recs = matrix[1]["three_copies"]
    assert recs["01_fixture"]["points"] == 4.5 and recs["01_fixture"]["file"] == "01_fixture.ipynb"
    for key, name in (("01_FIXTURE", "01_FIXTURE.ipynb"), ("01_fixture copy", "01_fixture copy.ipynb")):
        assert recs[key]["file"] == name and recs[key]["max_points"] == 0
        assert "only 01_fixture.ipynb is graded" in recs[key]["tasks"][0]["message"]


def test_empty_folder(matrix, tmp_path):
    book = matrix[1]
    assert book["empty"] == {}
    rows = grading.to_csv(grading.gradebook_from_json(book)).splitlines()
    assert rows[0] == "student,01_fixture,02_other,total"
    assert "empty,,,0" in rows


def test_kernel_death_costs_that_task_only(matrix):
    t = tasks(matrix[1]["crash"]["01_fixture"])
    assert t["double"]["status"] == "error"
    assert "exited with code 3" in t["double"]["message"]
    assert t["mean"]["status"] == t["square"]["status"] == "passed"


def test_cell_ignoring_the_interrupt_is_killed(matrix):
    t = tasks(matrix[1]["deaf"]["01_fixture"])
    assert t["mean"]["status"] == "timeout" and "was killed" in t["mean"]["message"]
    assert t["double"]["status"] == t["square"]["status"] == "passed"


def test_missing_answer_cell(matrix):
    t = tasks(matrix[1]["missing_answer"]["01_fixture"])
    assert t["square"]["status"] == "missing" and t["square"]["points"] == 0
    assert "no answer cell 'answer-square'" in t["square"]["message"]
    assert t["double"]["status"] == "passed"


def test_answers_matched_by_position_without_ids(matrix):
    rec = matrix[1]["no_ids"]["01_fixture"]
    assert rec["points"] == 4.5
    assert any("matched by position" in n for n in rec["notes"])


def test_hidden_tests_run_and_do_not_show_their_code(matrix):
    msg = tasks(matrix[1]["wrong_hidden"]["01_fixture"])["double"]["message"]
    assert msg == "a hidden test failed: AssertionError: double(-1) is wrong: negative numbers"


def test_stray_file_and_exit_code(matrix, solutions, tmp_path):
    folder = matrix[0]
    proc = run_cli("grade", str(folder), "--out", str(tmp_path), "--solutions", str(solutions),
                   "--timeout", "120", "--student", "good", "--student", "raises")
    assert proc.returncode == 0, proc.stderr
    assert "warning: ignored stray.ipynb: not inside a student folder" in proc.stderr
    book = json.loads((tmp_path / "grades.json").read_text())
    assert book == {k: matrix[1][k] for k in ("good", "raises")}
    assert (tmp_path / "grades.csv").read_text().splitlines()[1] == "good,4.5,3,7.5"
    assert proc.stdout.splitlines()[:3] == [
        "student  01_fixture  02_other    total",
        "good        4.5/4.5       3/3  7.5/7.5",
        "raises        3/4.5         -    3/7.5"]
    junit = (tmp_path / "junit.xml").read_text()
    assert '<testsuite name="raises/01_fixture" tests="3" failures="1" errors="0">' in junit


def test_same_scores_serial_and_parallel(matrix, solutions, tmp_path):
    """Other submissions are untouched by bad ones, and --jobs changes nothing."""
    folder = matrix[0]
    some = ["good", "loop", "crash", "memory", "no_ids"]
    serial = grade_fixture(folder, solutions, jobs=1, students=some)
    assert serial == {k: matrix[1][k] for k in some}


# ----------------------------------------------------------------------------- units
def test_assemble_by_id_by_position_and_missing(solutions):
    sem = grading.load_solutions(solutions)["01_fixture"]
    nb = with_answers(notebook.read(solutions / "01_fixture.ipynb"), answer_mean="def mean(xs):\n    return 0.0  # MEAN\n")
    asm = grading.assemble(sem, nb)
    assert asm.answers["answer-mean"].endswith("# MEAN\n") and not asm.notes
    for cell in nb.cells:  # ids lost (Colab / old nbformat), a scratch cell added
        cell.pop("id", None)
    nb.cells.insert(6, new_code_cell("print('scratch')"))
    asm = grading.assemble(sem, nb)
    assert asm.answers["answer-mean"].endswith("# MEAN\n")
    assert asm.answers["answer-square"].startswith("def square")
    nb.cells = [c for c in nb.cells if "# MEAN" not in c.source and "scratch" not in c.source]
    asm = grading.assemble(sem, nb)
    assert asm.answers["answer-mean"] is None and "no answer cell" in asm.notes["answer-mean"]


def test_colab_metadata_id_and_markdown_answer(solutions):
    sem = grading.load_solutions(solutions)["01_fixture"]
    nb = with_answers(notebook.read(solutions / "01_fixture.ipynb"), answer_square="SQ")
    for cell in nb.cells:
        cell.metadata["id"] = cell.pop("id")
    assert grading.assemble(sem, nb).answers["answer-square"] == "SQ"
    nb.cells[7].cell_type = "markdown"
    asm = grading.assemble(sem, nb)
    assert asm.answers[nb.cells[7].metadata["id"]] is None
    assert "is a markdown cell" in asm.notes["answer-square"]


def test_default_timeout_from_stored_timings():
    nb = seminar_one()
    assert grading.default_timeout(nb) == grading.DEFAULT_TIMEOUT
    nb.cells[1].metadata["execution"] = {"iopub.execute_input": "2026-01-01T00:00:00.000Z",
                                         "shell.execute_reply": "2026-01-01T00:00:04.500Z"}
    assert grading.default_timeout(nb) == 45
    nb.cells[1].metadata["execution"]["shell.execute_reply"] = "2026-01-01T00:00:00.100Z"
    assert grading.default_timeout(nb) == grading.TIMEOUT_FLOOR


def test_broken_solutions_are_refused(tmp_path):
    nb = seminar_one()
    nb.cells[3].metadata["course"]["task"] = "mean"  # two tasks named "mean"
    notebook.write(nb, tmp_path / "01_bad.ipynb")
    with pytest.raises(grading.GradeError, match="task id 'mean' is used twice"):
        grading.load_solutions(tmp_path)
    with pytest.raises(grading.GradeError, match="no solution notebooks"):
        grading.load_solutions(tmp_path / "nowhere")


def test_merge_reports(tmp_path):
    a = {"alice": {"01_x": {"points": 1, "max_points": 2, "tasks": [], "file": "01_x.ipynb"}}}
    b = {"bob": {"01_x": {"points": 2, "max_points": 2, "tasks": [], "file": "01_x.ipynb"}}}
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text(json.dumps(b))
    proc = run_cli("merge", str(tmp_path / "a.json"), str(tmp_path / "b.json"),
                   "--out", str(tmp_path / "all"))
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "all" / "grades.json").read_text()) == {**a, **b}
    assert (tmp_path / "all" / "grades.csv").read_text() == \
        "student,01_x,total\nalice,1,1\nbob,2,2\n"
    b["alice"] = {"01_x": {**a["alice"]["01_x"], "points": 2}}
    (tmp_path / "b.json").write_text(json.dumps(b))
    proc = run_cli("merge", str(tmp_path / "a.json"), str(tmp_path / "b.json"))
    assert proc.returncode == 2 and "alice/01_x differs" in proc.stderr


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "coursekit", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("args, message", [
    (["grade", "/no/such/folder"], "is not a folder"),
    (["grade", "."], "no solution notebooks"),  # with --solutions pointing at an empty folder
    (["grade", "--jobs", "0", "."], "--jobs must be >= 1"),
    (["merge", "/no/such.json"], "cannot read gradebook /no/such.json: FileNotFoundError"),
])
def test_cli_errors_are_one_clear_line(args, message, tmp_path):
    if message == "no solution notebooks":
        args = ["grade", str(tmp_path), "--solutions", str(tmp_path / "none")]
    proc = run_cli(*args)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_empty_submissions_folder_is_an_error(solutions, tmp_path):
    proc = run_cli("grade", str(tmp_path), "--solutions", str(solutions))
    assert proc.returncode == 2 and "no student folders" in proc.stderr


# ----------------------------------------------------------------------------- torch + memory
@needs_rlimit
@pytest.mark.slow
def test_torch_trains_under_the_limit_and_50_gb_fails_that_task(tmp_path):
    """The default limit leaves room for torch (its CUDA build maps ~3 GB of address space
    on import) and a training loop; a 50 GB tensor fails its own task only."""
    sol = new_notebook(cells=[
        code("setup", "import utils\nseed = utils.seed_everything(0)\nimport torch"),
        answer("answer-fit", "net = torch.nn.Linear(8, 1)\n    opt = torch.optim.SGD("
               "net.parameters(), lr=0.1)\n    for _ in range(100):\n        opt.zero_grad()\n"
               "        loss = ((net(X) - y) ** 2).mean()\n        loss.backward()\n"
               "        opt.step()\n    return loss.item()", "def fit(X, y):"),
        code("test-fit", "X = torch.randn(512, 8)\ny = X.sum(1, keepdim=True)\n"
             "assert fit(X, y) < 0.01", task="fit", points=2),
        answer("answer-big", "return torch.zeros(size)", "def buffer(size):"),
        code("test-big", "assert buffer(10).shape == (10,)\nbuffer(10)", task="big"),
        answer("answer-after", "return torch.ones(3).sum().item()", "def three():"),
        code("test-after", "assert three() == 3", task="after"),
    ])
    notebook.write(sol, tmp_path / "solutions" / "03_torch.ipynb")
    sem = grading.load_solutions(tmp_path / "solutions")["03_torch"]
    student = with_answers(sol, answer_big="def buffer(size):\n"
                                           "    return torch.zeros(50 * 2**30 // 4)  # 50 GB\n")
    rec = grading.grade_notebook(sem, student, Options(timeout=60)).to_json()
    t = tasks(rec)
    assert t["fit"]["status"] == "passed" and t["after"]["status"] == "passed"
    assert t["big"]["status"] == "failed"
    assert "can't allocate memory" in t["big"]["message"]
    assert "in your cell 'answer-big', line 2" in t["big"]["message"]


@pytest.mark.slow
@pytest.mark.parametrize("boxed", [False, True], ids=["plain", "bwrap"])
def test_sandbox_working_directory_and_environment(tmp_path, boxed):
    from coursekit.sandbox import Kernel

    if boxed and bwrap.available():
        pytest.skip(f"the OS sandbox is not available here: {bwrap.available()}")
    box = bwrap.Sandbox(disk_mb=16) if boxed else None
    (tmp_path / "work").mkdir()
    with Kernel(tmp_path / "work", memory_mb=grading.DEFAULT_MEMORY_MB, sandbox=box) as k:
        out = k.run("import os, resource\nassert os.getcwd() == %r\n"
                    "assert os.environ['PYTHONHASHSEED'] == '0'\n"
                    "assert os.environ['OMP_NUM_THREADS'] == '1'\n"
                    % str((tmp_path / "work").resolve()), timeout=60)
        assert out.status == "ok", out
        if memory_limit_supported():
            out = k.run("import resource\n"
                        "assert resource.getrlimit(resource.RLIMIT_DATA)[1] == %d * 2**20"
                        % grading.DEFAULT_MEMORY_MB, timeout=60)
        assert out.status == "ok", out
        if boxed:  # its HOME beside its folder, on the tmpfs; the disk limit per file too
            out = k.run("import os, resource\nassert os.environ['HOME'] == %r\n"
                        "assert resource.getrlimit(resource.RLIMIT_FSIZE)[1] == 16 * 2**20\n"
                        "assert os.listdir('.') == []" % str(tmp_path / "home"), timeout=60)
            assert out.status == "ok", out
        segv = k.run("import ctypes\nctypes.string_at(0)", timeout=60)
        assert segv.status == "dead" and "SIGSEGV" in segv.detail, segv  # bwrap's 139 too


# ----------------------------------------------------------------------------- the real course
REAL = notebook.selected_units(sorted((REPO / "solutions").glob("*.ipynb")))


@pytest.fixture(scope="module")
def course_class(tmp_path_factory):
    """Every solution as one student's work, every generated seminar as another's."""
    folder = tmp_path_factory.mktemp("course-class")
    for sol in REAL:
        nb = notebook.read(sol)
        write(folder, "solution", sol.name, nb)
        write(folder, "seminar", sol.name, generate.make_seminar(nb))
    return folder


@pytest.fixture(scope="module")
def course_book(course_class):
    """The course class graded as by default (in the OS sandbox where bubblewrap works)."""
    return as_json(grading.grade(course_class, jobs=2, echo=lambda *_: None))


@pytest.mark.parametrize("stem", [p.stem for p in REAL])
def test_solution_full_marks_and_seminar_zero(course_book, stem):
    sol, sem = course_book["solution"][stem], course_book["seminar"][stem]
    bad = [f"{t['id']}: {t['status']}: {t['message']}" for t in sol["tasks"]
           if t["status"] != "passed"]
    assert not bad and sol["points"] == sol["max_points"] > 0, bad
    bad = [f"{t['id']}: {t['status']}: {t['message']}" for t in sem["tasks"]
           if t["points"] != 0 or t["status"] != "failed"]
    assert not bad and sem["points"] == 0, bad


def without_sandbox_field(book):
    return {s: {k: {f: v for f, v in rec.items() if f != "sandbox"} for k, rec in recs.items()}
            for s, recs in book.items()}


def test_same_records_with_and_without_the_sandbox(course_class, course_book):
    """The OS sandbox changes no grade: every solution and every blank seminar gets the
    same record graded with it (the default here) and with --sandbox off."""
    used = {rec["sandbox"] for recs in course_book.values() for rec in recs.values()}
    if used != {"bubblewrap"}:
        pytest.skip(f"the OS sandbox is not available here: {bwrap.available()}")
    bare = as_json(grading.grade(course_class, opts=Options(sandbox="off"), jobs=2,
                                 echo=lambda *_: None))
    assert {rec["sandbox"] for recs in bare.values() for rec in recs.values()} == {"none"}
    differ = [f"{s}/{k}: {t} (sandbox) != {u} (none)" for s, recs in course_book.items()
              for k, rec in recs.items() for t, u in zip(rec["tasks"], bare[s][k]["tasks"],
                                                         strict=True) if t != u]
    assert not differ, "\n".join(differ)
    assert without_sandbox_field(bare) == without_sandbox_field(course_book)


def test_release_has_no_solution_text(tmp_path):
    out = tmp_path / "release"
    assert release.release(out) == []
    assert not (out / "solutions").exists() and not (out / "tests").exists()
    shipped = {p.relative_to(out).parts[0] for p in out.rglob("*")}
    assert not shipped & {"solutions", "tests", "grades", "build", ".git", "ci"}, shipped
    assert not (out / "coursekit").exists()  # the instructor tooling never ships
    theirs = {p.relative_to(REPO / "utils"): p.read_bytes() for p in (REPO / "utils").rglob("*")
              if p.is_file() and "__pycache__" not in p.parts}
    assert {"checks.py", "seed.py", "corpus/python_docs.txt.gz"} <= {str(p) for p in theirs}
    shipped_utils = {p.relative_to(out / "utils"): p.read_bytes()
                     for p in (out / "utils").rglob("*") if p.is_file()}
    assert shipped_utils == theirs  # utils whole, byte for byte: nothing stripped
    assert release.release(out) == [], "an earlier release is replaced"
    with pytest.raises(notebook.CourseError, match="not an earlier release"):
        release.release(tmp_path)  # a folder with other files in it is never wiped
    every = sorted(p.name for p in (REPO / "solutions").glob("*.ipynb"))  # not COURSE_UNITS
    assert sorted(p.name for p in (out / "seminars").glob("*.ipynb")) == every
    released = "\n".join(p.read_text(errors="ignore") for p in out.rglob("*") if p.is_file())
    _, hidden = leaks.secret_lines(REAL)
    assert len(hidden) > 20  # most hidden-test lines are secret, not common code
    for line, name in hidden.items():
        assert line not in released, (name, line)
    for sem in (out / "seminars").glob("*.ipynb"):
        text = sem.read_text()
        assert notebook.BEGIN not in text and notebook.HIDDEN_BEGIN not in text
        for line in leaks.region_lines(notebook.read(REPO / "solutions" / sem.name)):
            assert line not in text, (sem.name, line)


def test_leak_check_can_fail(tmp_path, solutions):
    """The release check is not vacuous: planted solution and hidden-test text is found."""
    (tmp_path / "seminars").mkdir()
    (tmp_path / "notebooks").mkdir()
    sol = notebook.read(solutions / "01_fixture.ipynb")
    notebook.write(sol, tmp_path / "seminars" / "01_fixture.ipynb")
    (tmp_path / "notebooks" / "x.md").write_text(
        'assert double(-1) == -2, "double(-1) is wrong: negative numbers"')
    problems = release.leaks(tmp_path, [solutions / "01_fixture.ipynb"])
    assert any("seminars/01_fixture.ipynb contains the marker" in p for p in problems)
    assert any(p.startswith("notebooks/x.md contains text of 01_fixture") for p in problems)


def test_common_code_in_a_region_is_not_a_secret(tmp_path):
    """A region line that the lectures, utils or another seminar show anyway
    (optimizer.zero_grad()) is not a leak; a line only the region holds is."""
    sol = new_notebook(cells=[
        code("answer-x", "def f():\n    ### BEGIN SOLUTION\n    optimizer.zero_grad()\n"
                         "    return 'a distinctive answer line 42'\n    ### END SOLUTION\n"),
        code("other", "# shown in the seminar anyway\noptimizer.zero_grad()")])
    notebook.write(sol, tmp_path / "s" / "01_x.ipynb")
    answer, _ = leaks.secret_lines([tmp_path / "s" / "01_x.ipynb"], repo=tmp_path)
    assert list(answer) == ["return 'a distinctive answer line 42'"]


# ----------------------------------------------------------------------------- guards
def guarded_seminar():
    """03_guarded: rules (forbid), checks and bars a student cell could tamper with, an
    instructor cell that calls the student's function, and data that stays readable."""
    def md(text):
        return new_markdown_cell(text)

    test_solve = code("test-solve", "A = np.array([[2.0, 1.0], [1.0, 3.0]])\n"
                      "check_close(solve(A, np.array([1.0, 2.0])), [0.2, 0.6], 'solve')\n"
                      "print('solve: OK')", task="solve", points=2)
    test_solve.metadata["course"]["forbid"] = ["numpy.linalg.inv", ".pinv"]
    return new_notebook(cells=[
        md("# 03. Guarded"),
        code("setup", "import math\nimport numpy as np\nimport utils\n"
             "from utils.checks import check_close\nfrom pathlib import Path\n"
             "ACC_BAR = 0.9\n"
             "README = (Path(utils.__file__).parent.parent / 'data' / 'README.md').read_text()"),
        md("## Task 1 (1 point): matrix times vector"),
        answer("answer-matvec", "return A @ x", "def matvec(A, x):"),
        code("test-matvec", "check_close(matvec(np.eye(2), np.ones(2)), [1.0, 1.0], 'matvec')",
             task="matvec"),
        md("## Task 2 (2 points): solve a linear system\n\n**Not allowed:** `np.linalg.inv`, "
           "`.pinv` (solve, never invert)."),
        answer("answer-solve", "return np.linalg.solve(A, b)", "def solve(A, b):"),
        test_solve,
        md("## Task 3 (1 point): accuracy"),
        answer("answer-acc", "return float(np.mean(pred == y))", "def accuracy(pred, y):"),
        code("test-acc", "acc = accuracy(np.array([1, 2, 3, 4]), np.array([1, 2, 3, 0]))\n"
             "assert type(acc) is float, f'accuracy must return a float, got {type(acc)}'\n"
             "utils.checks.check_close(acc, 0.75, 'accuracy')", task="acc"),
        md("## Task 4 (1 point): a score above the bar"),
        answer("answer-score", "return 0.95", "def score():"),
        code("test-score", "assert round(score(), 2) >= ACC_BAR, f'score {score()} < {ACC_BAR}'\n"
             "assert len(README) > 0\n"
             "assert not any('_grader' in cell for cell in In[:-1]), 'grader code in the history'",
             task="score"),
        md("## Task 5 (1 point): train"),
        answer("answer-train", "return [2 * x for x in xs]", "def train(xs):"),
        code("run-train", "history = train([1.0, 2.0, 3.0])"),
        code("test-train", "assert history == [2.0, 4.0, 6.0], history", task="train"),
    ])


PEEK = "import utils\nfrom pathlib import Path\nroot = Path(utils.__file__).parent.parent\n"
CHEATS = {  # student -> {answer cell id: source}
    "uses_inv": {"answer-solve": "def solve(A, b):\n    # by the inverse\n"
                                 "    Ainv = np.linalg.inv(A)\n    return Ainv @ b\n"},
    "inv_in_helper": {
        "answer-matvec": "from numpy.linalg import inv as _inv\n\ndef matvec(A, x):\n"
                         "    return A @ x\n\ndef inverse(A):\n    return _inv(A)\n",
        "answer-solve": "def solve(A, b):\n    return matvec(inverse(A), b)\n"},
    "pinv_method": {"answer-solve": "import numpy.linalg as la\n\ndef solve(A, b):\n"
                                    "    return getattr(la, 'pinv')(A) @ b\n"},
    "rebinds_check": {"answer-solve": "def solve(A, b):\n    return b\n\n"
                                      "check_close = lambda *a, **k: None\n"},
    "patches_module": {"answer-acc": "import utils.checks\n"
                                     "utils.checks.check_close = lambda *a, **k: None\n"
                                     "def accuracy(pred, y):\n    return 1.0\n"},
    "shadows_type": {"answer-acc": "def accuracy(pred, y):\n    return np.mean(pred == y)\n\n"
                                   "type = lambda x: float\n"},
    "lowers_bar": {"answer-score": "def score():\n    return 0.1\n\nACC_BAR = 0\n"},
    "patches_builtin": {"answer-score": "import builtins\nbuiltins.round = lambda *a: 1.0\n"
                                        "def score():\n    return 0.1\n"},
    "train_raises": {"answer-train": "def train(xs):\n    total = 0\n"
                                     "    raise ValueError('boom in train')\n"},
    "reads_solutions": {"answer-score": PEEK + "text = (root / 'solutions' / "
                                               "'01_linear_regression.ipynb').read_text()\n"
                                               "def score():\n    return 0.95\n"},
    "lists_tests": {"answer-score": PEEK + "import os\nprint(os.listdir(root / 'tests'))\n"
                                           "def score():\n    return 0.95\n"},
    "cats_solutions": {"answer-score": PEEK + "import subprocess\nsubprocess.run(['cat', "
                                              "str(root / 'solutions' / "
                                              "'01_linear_regression.ipynb')])\n"
                                              "def score():\n    return 0.95\n"},
}


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    """Every cheat of CHEATS and a good submission, graded in one parallel run, and the
    cheats that read the solutions or the class folder given as the test runs."""
    sols = tmp_path_factory.mktemp("guarded-solutions")
    folder = tmp_path_factory.mktemp("guarded-class")
    sol = guarded_seminar()
    notebook.write(sol, sols / "03_guarded.ipynb")
    cheats = dict(CHEATS)
    cheats["reads_fixture_solutions"] = {"answer-score": (
        f"text = open({str(sols / '03_guarded.ipynb')!r}).read()\n"
        "def score():\n    return 0.95\n")}
    cheats["reads_class"] = {"answer-score": (
        f"text = open({str(folder / 'good' / '03_guarded.ipynb')!r}).read()\n"
        "def score():\n    return 0.95\n")}
    write(folder, "good", "03_guarded.ipynb", with_answers(sol))
    for student, sources in cheats.items():
        write(folder, student, "03_guarded.ipynb",
              with_answers(sol, **{k.replace("-", "_"): v for k, v in sources.items()}))
    book = as_json(grading.grade(folder, sols, Options(timeout=60, grace=5), jobs=2,
                                 echo=lambda *_: None))
    return {s: tasks(recs["03_guarded"]) for s, recs in book.items()}


def test_guarded_solution_passes_with_the_guards_on(guarded):
    assert {t: v["status"] for t, v in guarded["good"].items()} == dict.fromkeys(
        ["matvec", "solve", "acc", "score", "train"], "passed")


@pytest.mark.parametrize("student, task, message", [
    ("uses_inv", "solve", "rule broken: this task must not use numpy.linalg.inv; your cell "
                          "'answer-solve', line 3 uses np.linalg.inv"),
    ("inv_in_helper", "solve", "rule broken: this task must not use numpy.linalg.inv; your "
                               "cell 'answer-matvec', line 7 uses _inv"),
    ("pinv_method", "solve", "rule broken: this task must not use .pinv (on any object); "
                             "your cell 'answer-solve', line 4 uses getattr(la, 'pinv')"),
])
def test_forbidden_name_fails_the_task(guarded, student, task, message):
    t = guarded[student]
    assert t[task]["status"] == "failed" and t[task]["points"] == 0
    assert t[task]["message"] == message
    assert t["matvec"]["status"] == "passed"  # a rule of task 2 costs task 2 only


@pytest.mark.parametrize("student, task, message", [
    ("rebinds_check", "solve", "CheckFailed: solve: 2 of 2 entries differ"),
    ("patches_module", "acc", "CheckFailed: accuracy: 1 of 1 entries differ"),
    ("shadows_type", "acc", "AssertionError: accuracy must return a float, got <class "
                            "'numpy.float64'>"),
    ("lowers_bar", "score", "AssertionError: score 0.1 < 0.9"),
    ("patches_builtin", "score", "AssertionError: score 0.1 < 0.9"),
])
def test_tampering_with_checks_and_bars_changes_nothing(guarded, student, task, message):
    t = guarded[student][task]
    assert t["status"] == "failed" and t["points"] == 0
    assert t["message"].startswith(message), t["message"]
    later = [v["status"] for k, v in guarded[student].items() if k not in (task, "solve")]
    assert set(later) == {"passed"}, guarded[student]


@pytest.mark.parametrize("student", ["reads_solutions", "lists_tests", "cats_solutions",
                                     "reads_fixture_solutions", "reads_class"])
def test_solutions_tests_and_the_class_are_out_of_reach(guarded, student):
    t = guarded[student]["score"]
    assert t["status"] == "failed" and t["points"] == 0
    assert t["message"].startswith("PermissionError: the grader does not allow "), t["message"]
    assert "in your cell 'answer-score'" in t["message"]
    assert "BEGIN SOLUTION" not in t["message"] and "cells" not in t["message"]


def test_exception_in_an_instructor_cell_is_the_students(guarded):
    t = guarded["train_raises"]["train"]
    assert t["status"] == "failed"
    assert t["message"] == "ValueError: boom in train (in your cell 'answer-train', line 3)"


# ----------------------------------------------------------------------------- rules, units
SETUP = ("import numpy as np\nimport torch\nimport torch.nn.functional as F\n"
         "from scipy.special import expit\n")


@pytest.mark.parametrize("rule, source, found", [
    ("torch.nn.functional.cross_entropy",
     "def ce(Z, y):\n    # the loss\n    Z = Z - Z.max()\n    return F.cross_entropy(Z, y)\n",
     "line 4 uses F.cross_entropy"),
    ("torch.nn.functional", "import torch.nn.functional as nnf\nrelu = nnf.relu\n",
     "line 1 imports torch.nn.functional"),
    ("torch.nn.functional.cross_entropy", "nnf = torch.nn.functional\nloss = nnf.cross_entropy\n",
     "line 2 uses nnf.cross_entropy"),
    ("torch.nn.functional.cross_entropy", "from torch.nn.functional import *\nce = cross_entropy\n",
     "line 2 uses cross_entropy"),
    ("scipy.special.expit", "def sigmoid(z):\n    return expit(z)\n", "line 2 uses expit"),
    ("sklearn", "def fit(X, y):\n    from sklearn.linear_model import LogisticRegression\n",
     "line 2 imports LogisticRegression from sklearn.linear_model"),
    ("torch.autograd", "g = __import__('torch').autograd.grad\n",
     "line 1 uses __import__('torch').autograd.grad"),
    ("torch.autograd", "import importlib\nag = importlib.import_module('torch.autograd')\n",
     "line 2 uses importlib.import_module('torch.autograd')"),
    (".backward", "def grads(loss):\n    loss.sum().backward()\n", "line 2 uses loss.sum().backward"),
    ("numpy.linalg.inv", "def solve(A, b):\n    return np.linalg.solve(A, b)\n", None),
    (".backward", "def backward(dout, cache):\n    return dout * cache\n", None),
    ("torch.nn.functional.cross_entropy", "def ce(Z, y):\n    return F.log_softmax(Z, 1)\n", None),
    ("torch.nn.functional", "def features(F):\n    G = F.sum(1)\n    return G\n", None),
    ("torch.nn.functional", "def f(x):\n    nnf = torch.nn.functional\n    return nnf.relu(x)\n",
     "line 2 uses torch.nn.functional"),
])
def test_forbid_rules_read_the_syntax_tree(rule, source, found):
    broken = rules.broken_rule([rule], [("answer-x", source)], [], [SETUP])
    if found is None:
        assert broken is None, broken
    else:
        assert broken is not None and broken.message() == (
            f"rule broken: this task must not use {rule}"
            f"{' (on any object)' if rule.startswith('.') else ''}; your cell 'answer-x', "
            f"{found}")


def test_forbid_rules_follow_the_answer_functions_a_task_uses():
    earlier = [("answer-helper", "def helper(z):\n    out = F.cross_entropy(z, z)\n    return out\n"),
               ("answer-unused", "def unused(z):\n    return F.cross_entropy(z, z)\n")]
    own = [("answer-ce", "def ce(z):\n    return helper(z)\n")]
    broken = rules.broken_rule(["torch.nn.functional.cross_entropy"], own, earlier, [SETUP])
    assert broken.message().endswith("your cell 'answer-helper', line 2 uses F.cross_entropy")
    own = [("answer-ce", "def ce(z):\n    return -z\n")]
    assert rules.broken_rule(["torch.nn.functional.cross_entropy"], own, earlier, [SETUP]) is None


def test_bound_names_of_a_cell():
    src = ("%matplotlib inline\nimport torch.nn as nn\nfrom math import pi as PI\n"
           "for i in range(3):\n    y = i\nif True:\n    Z, (a, b) = 1, (2, 3)\n"
           "def f():\n    global G\n    local = 1\nclass C:\n    attr = 1\n"
           "[q for q in range(2)]\nwith open('x') as fh:\n    pass\n")
    assert rules.bound_names(src) == {"nn", "PI", "i", "y", "Z", "a", "b", "f", "G", "C", "fh"}


@pytest.mark.parametrize("forbid, message", [
    ("numpy.linalg.inv", "must be a list of dotted names"),
    ([1], "must be a list of dotted names"),
    (["torch nn"], "'forbid' entry 'torch nn' is not a dotted name"),
])
def test_malformed_forbid_metadata_is_refused(tmp_path, forbid, message):
    nb = seminar_one()
    nb.cells[3].metadata["course"]["forbid"] = forbid
    notebook.write(nb, tmp_path / "01_bad.ipynb")
    with pytest.raises(grading.GradeError, match=message):
        grading.load_solutions(tmp_path)


@pytest.mark.parametrize("text, short", [
    ("got 3840000.000000000123456789, expected 1.5", "got 3.84e+06, expected 1.5"),
    ("got " + "1" * 300 + ".5 at index (2, 3)", "got 1.11111e+299 at index (2, 3)"),
    ("got 0.1234567891 in cell 'answer-x', line 12", "got 0.123457 in cell 'answer-x', line 12"),
    ("max abs error 9.36; got 9.94941, expected 0.585259, 1e-05, 12345678", None),
    ("torch 2.3.1, float64, x1.5, N = 1000000", None),
])
def test_long_numbers_in_messages_are_rounded(text, short):
    assert grading.short_numbers(text) == (short or text)


# ----------------------------------------------------------------------------- warm kernels
def test_same_records_warm_and_cold(matrix, solutions):
    """A fresh Jupyter kernel per notebook (--cold) and warm forks give identical records,
    deaths, timeouts and memory errors included."""
    folder = matrix[0]
    some = ["good", "loop", "crash", "memory", "raises"]
    cold = grade_fixture(folder, solutions, jobs=1, students=some, warm=False)
    assert cold == {k: matrix[1][k] for k in some}


def test_shards_split_the_class_and_merge_back(matrix, solutions, tmp_path):
    folder = matrix[0]
    names = sorted(p.name for p in folder.iterdir() if p.is_dir())
    parts = [grading.shard_students(folder, i, 3) for i in (1, 2, 3)]
    assert sorted(sum(parts, [])) == names and parts[0] == names[0::3]
    assert grading.shard_students(folder, 2, 3, students=names[:2]) == [names[1]]
    some = ["good", "raises"]
    for i in (1, 2):
        code = cli.main(["grade", str(folder), "--shard", f"{i}/2", "--student", some[0],
                           "--student", some[1], "--out", str(tmp_path / f"r{i}"),
                           "--timeout", "120", "--solutions", str(solutions)])
        assert code == 0
    merged = as_json(grading.merge([tmp_path / "r1" / "grades.json",
                                    tmp_path / "r2" / "grades.json"]))
    assert merged == {k: matrix[1][k] for k in some}
    assert cli.main(["feedback", str(tmp_path / "r1" / "grades.json"),
                       "--out", str(tmp_path / "fb")]) == 0
    assert (tmp_path / "fb" / "good.md").read_text().startswith("# Feedback for good")


@pytest.mark.parametrize("shard", ["0/2", "3/2", "x"])
def test_bad_shard_is_a_clear_error(shard, tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["grade", str(tmp_path), "--shard", shard])
    assert "shard" in capsys.readouterr().err


@pytest.mark.parametrize("value, warm", [("", True), ("0", True), ("1", False), ("yes", False)])
def test_course_grade_cold_switches_the_default_kernel(monkeypatch, tmp_path, value, warm):
    """COURSE_GRADE_COLD=1 makes every default Options (make test's wrong answers and
    seminar/solution proof, the CLI without --cold) use a Jupyter kernel per notebook."""
    from coursekit import warm as _warm
    from coursekit.sandbox import Kernel

    monkeypatch.setenv("COURSE_GRADE_COLD", value)
    assert Options().warm is warm and Options(timeout=5).warm is warm
    kernel = grading.new_kernel(tmp_path, Options())  # not started: only its kind
    expected = _warm.WarmKernel if warm and _warm.supported() else Kernel
    assert type(kernel) is expected
