"""`python -m utils.check`: a student's check of a seminar, without the instructor tooling.

The fast tests cover what needs no kernel (bad input, the task split, the wording, the
table); the slow ones run real seminars: the blank one gets the grader's own messages,
a solution passes every visible test, a cell that loops is interrupted and the tasks
after it are still checked."""
import json
import subprocess
import sys
import types

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from coursekit import generate, grading, notebook
from coursekit.notebook import REPO
from utils import check

SEMINAR = REPO / "seminars" / "01_linear_regression.ipynb"


def seminar(*cells):
    """A small seminar: (id, source, task metadata or None) per code cell."""
    nb = new_notebook(cells=[new_markdown_cell("# 01. Doubling")])
    nb.cells[0].id = "title"
    for cid, src, meta in cells:
        cell = new_code_cell(src)
        cell.id = cid
        if meta:
            cell.metadata["course"] = meta
        nb.cells.append(cell)
    return nb


DOUBLE = seminar(
    ("setup", "factor = 2", None),
    ("answer-double", "def double(v):\n    # YOUR CODE HERE\n    raise NotImplementedError", None),
    ("test-double", "assert double(2) == 4, 'double(2) should be 4'",
     {"task": "double", "points": 2, "hidden_tests": True}),
    ("answer-half", "half = lambda v: v / factor", None),
    ("test-half", "assert half(4) == 2, 'half(4) should be 2'", {"task": "half", "points": 1}),
    ("check-seminar", "import utils.check\nutils.check.check()", None),
)


def run_main(capsys, *args):
    code = check.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------------------- no kernel
def test_the_statuses_are_the_graders():
    assert check.STATUSES == grading.STATUSES


def test_a_missing_file_a_folder_and_a_non_notebook_get_a_clear_message(tmp_path, capsys):
    assert run_main(capsys, tmp_path / "nope.ipynb") == (
        2, "", f"error: {tmp_path / 'nope.ipynb'}: no such file\n")
    assert run_main(capsys, tmp_path) == (2, "", f"error: {tmp_path}: no such file (a folder)\n")
    (tmp_path / "x.ipynb").write_text("{not json")
    code, out, err = run_main(capsys, tmp_path / "x.ipynb")
    assert code == 2 and out == "" and err.startswith(
        f"error: {tmp_path / 'x.ipynb'} is not a readable notebook (") and "Traceback" not in err
    notebook.write(new_notebook(cells=[new_code_cell("x = 1")]), tmp_path / "lecture.ipynb")
    assert run_main(capsys, tmp_path / "lecture.ipynb") == (
        2, "", f"error: {tmp_path / 'lecture.ipynb'} has no graded test cell: is it a seminar "
        "(seminars/NN_topic.ipynb)?\n")


def test_bad_arguments_are_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as info:
        check.main([str(SEMINAR), "--timeout", "0"])
    assert info.value.code == 2 and "--timeout must be > 0" in capsys.readouterr().err


def test_tasks_are_the_cells_since_the_previous_test_and_the_check_cell_is_not_run():
    got = [(meta["task"], [c.id for c in cells]) for meta, cells in check.tasks(DOUBLE)]
    assert got == [("double", ["setup", "answer-double", "test-double"]),
                   ("half", ["answer-half", "test-half"])]
    gen = generate.make_seminar(notebook.read(REPO / "solutions" / SEMINAR.name))
    assert gen.cells[-1].id == "check-seminar"  # the generator's last cell calls check()
    assert all(c.id != "check-seminar" for _, cells in check.tasks(gen) for c in cells)
    uses = [c for _, cells in check.tasks(gen) for c in cells if "utils.checks" in c.source]
    assert uses, "a cell importing utils.checks (plural) is run, not taken for the check"


def test_the_generator_says_which_tasks_have_hidden_tests():
    for sol in sorted((REPO / "solutions").glob("*.ipynb")):
        gen = generate.make_seminar(notebook.read(sol))
        for meta, cells in check.tasks(gen):
            source = notebook.read(sol)
            ids = {c.id for c in cells}
            hidden = any(notebook.HIDDEN_BEGIN in c.source for c in source.cells if c.id in ids)
            assert meta.get("hidden_tests", False) == hidden, (sol.name, meta["task"])


@pytest.mark.parametrize("cell_id, content, own, message", [
    ("answer-x", {"ename": "NotImplementedError", "evalue": ""}, True,
     "not answered yet: cell 'answer-x' raises NotImplementedError"),
    ("test-x", {"ename": "NotImplementedError", "evalue": "", "traceback": [
        "\x1b[0;32mCell In[3], line 1\x1b[0m", "Cell In[2], line 3, in f"]}, True,
     "not answered yet (NotImplementedError) in your cell 'answer-x'"),
    ("test-x", {"ename": "ValueError", "evalue": "boom\n  twice", "traceback": [
        "Cell In[3], line 1", "Cell In[2], line 4, in f"]}, True,
     "ValueError: boom twice (in your cell 'answer-x', line 4)"),
    ("test-x", {"ename": "CheckFailed", "evalue": "w: 1 of 2 entries differ",
                "traceback": ["Cell In[3], line 2"]}, False, "CheckFailed: w: 1 of 2 entries differ"),
    ("test-x", {"ename": "ValueError", "evalue": "old", "traceback": ["Cell In[1], line 4"]},
     False, "ValueError: old (in your cell 'answer-y', line 4)"),
])
def test_messages_say_what_and_where_as_the_grader_does(cell_id, content, own, message):
    cells = {cid: new_code_cell("") for cid in ("answer-y", "answer-x", "test-x")}
    for cid, cell in cells.items():
        cell.id = cid
    counts = {1: cells["answer-y"], 2: cells["answer-x"], 3: cells["test-x"]}
    assert check._message(content, cells[cell_id], counts,
                          [cells["answer-x"], cells["test-x"]]) == (message, own)


def test_the_table_claims_no_point_a_hidden_test_decides():
    rows = [{"task": "double", "points": 2, "hidden": True, "status": "passed", "message": ""},
            {"task": "half", "points": 1, "hidden": False, "status": "passed", "message": ""},
            {"task": "third", "points": 1.5, "hidden": False, "status": "failed",
             "message": "not answered yet: cell 'answer-third' raises NotImplementedError"}]
    assert check.table(rows).split("\n") == [
        "task    points  status  message",
        "double  2       passed  visible tests passed; its hidden tests run at grading",
        "half    1       passed",
        "third   1.5     failed  not answered yet: cell 'answer-third' raises NotImplementedError",
        "",
        "visible tests passed in 2 of 3 tasks; points no hidden test decides: 1; hidden "
        "tests at grading decide the points of double"]
    assert check.table(rows[:1]).split("\n")[-1] == (
        "visible tests passed in 1 of 1 tasks; hidden tests at grading decide the points of double")


def test_which_notebook_calls_check(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    assert check.check() == []
    assert capsys.readouterr().out == ("cannot check: cannot tell which notebook this is: call "
                                       "check('NN_topic.ipynb') with its file name (save it first)\n")
    notebook.write(DOUBLE, tmp_path / "01_doubling.ipynb")
    for name in (str(tmp_path / "01_doubling.ipynb"), "seminars/01_doubling.ipynb"):
        monkeypatch.setenv("JPY_SESSION_NAME", name)  # absolute, or relative to Jupyter's root
        nb, cwd, what = check._this_notebook()
        assert (nb, cwd, what) == (DOUBLE, tmp_path, "01_doubling.ipynb as last saved")
    # Colab: the frontend hands out the notebook as it is in the browser
    calls = []
    colab = types.ModuleType("google.colab")
    colab._message = types.SimpleNamespace(blocking_request=lambda *a, **k: calls.append((a, k))
                                           or {"ipynb": json.loads(nbformat.writes(DOUBLE))})
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    nb, cwd, what = check._this_notebook()
    assert (nb, cwd, what) == (DOUBLE, tmp_path, "this notebook")
    assert calls == [(("get_ipynb",), {"request": "", "timeout_sec": 60})]
    monkeypatch.setenv("COURSE_CHECKING", "1")  # inside a check, the check cell does nothing
    assert check.check() == [] and capsys.readouterr().out == ""


# ----------------------------------------------------------------------- a real kernel
@pytest.mark.slow
def test_blank_seminar_gets_the_graders_messages(tmp_path):
    """The check and the grader agree, word for word, on the blank seminar."""
    rows = check.run(notebook.read(SEMINAR), SEMINAR.parent)
    (tmp_path / "class" / "bob").mkdir(parents=True)
    (tmp_path / "class" / "bob" / SEMINAR.name).write_bytes(SEMINAR.read_bytes())
    book = grading.gradebook_to_json(
        grading.grade(tmp_path / "class", REPO / "solutions", grading.Options(), 1))
    theirs = book["bob"][SEMINAR.stem]["tasks"]
    assert [(r["task"], r["status"], r["message"]) for r in rows] == \
        [(t["id"], t["status"], t["message"]) for t in theirs]
    assert rows[0]["message"].startswith("not answered yet")
    assert all(r["status"] == "failed" and r["hidden"] for r in rows)


@pytest.mark.slow
def test_a_solution_passes_every_visible_test_from_the_command_line(tmp_path):
    solved = tmp_path / "seminars" / SEMINAR.name  # where a student's copy would be
    solved.parent.mkdir()
    solved.write_bytes((REPO / "solutions" / SEMINAR.name).read_bytes())
    done = subprocess.run([sys.executable, "-m", "utils.check", str(solved)], cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"checking {solved} in a fresh kernel (visible tests only) ..."
    tasks = [notebook.task_metadata(c)["task"]
             for c in notebook.graded_cells(notebook.read(solved))]
    assert [line.split()[:3] for line in lines[2:2 + len(tasks)]] == \
        [[t, "2", "passed"] for t in tasks]
    assert lines[-1] == f"visible tests passed in {len(tasks)} of {len(tasks)} tasks; points " \
        "no hidden test decides: 10"
    assert done.stderr == ""


@pytest.mark.slow
def test_a_loop_is_interrupted_and_a_dead_kernel_stops_the_check(tmp_path):
    nb = seminar(
        ("answer-loop", "while True:\n    pass", None),
        ("test-loop", "assert True", {"task": "loop", "points": 1}),
        ("answer-ok", "ok = 3", None),
        ("test-ok", "assert ok == 3", {"task": "ok", "points": 1}),
        ("answer-exit", "import os\nos._exit(3)", None),
        ("test-exit", "assert True", {"task": "exit", "points": 1}),
        ("test-after", "assert True", {"task": "after", "points": 1}))
    rows = check.run(nb, tmp_path, timeout=3)
    assert [(r["task"], r["status"], r["message"]) for r in rows] == [
        ("loop", "timeout", "cell 'answer-loop' ran over the 3 s limit and was interrupted"),
        ("ok", "passed", ""),
        ("exit", "error", "the kernel stopped in cell 'answer-exit' (out of memory, or a crash)"),
        ("after", "error", "not checked: the kernel stopped responding in task 'exit' "
                           "(cell 'answer-exit')")]


@pytest.mark.slow
def test_the_fixture_seminar_end_to_end(tmp_path, capsys):
    notebook.write(DOUBLE, tmp_path / "01_doubling.ipynb")
    code, out, err = run_main(capsys, tmp_path / "01_doubling.ipynb")
    assert (code, err) == (1, "")
    assert out.split("\n")[1:] == [
        "task    points  status  message",
        "double  2       failed  not answered yet (NotImplementedError) in your cell "
        "'answer-double'",
        "half    1       passed",
        "",
        "visible tests passed in 1 of 2 tasks; points no hidden test decides: 1", ""]
