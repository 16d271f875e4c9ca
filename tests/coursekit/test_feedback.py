"""Feedback files: every task of every seminar with its points, status and message."""
import json
import os
import subprocess
import sys

import pytest

from coursekit import feedback, grading, notebook
from coursekit.grading import gradebook_from_json

BOOK = gradebook_from_json({
    "carol": {
        "01_linear_regression": {
            "points": 6, "max_points": 10, "file": "01_linear_regression.ipynb",
            "notes": ["graded as 01_linear_regression"],
            "tasks": [
                {"id": "mse", "points": 0, "max_points": 1, "status": "failed",
                 "message": "mse: got 5 | expected 1.67\nsecond line"},
                {"id": "grad", "points": 2, "max_points": 2, "status": "passed",
                 "message": ""},
                {"id": "gd", "points": 0, "max_points": 3, "status": "timeout",
                 "message": "did not finish within 30 s"}]}},
    "../evil": {},
})


def test_feedback_lists_every_task_with_points_status_and_message():
    text = feedback.student_feedback("carol", BOOK["carol"])
    assert "Total: **6 / 10** points" in text
    assert "## 01_linear_regression: 6 / 10" in text
    assert "| mse | 0/1 | FAILED | mse: got 5 \\| expected 1.67 second line |" in text
    assert "| grad | 2/2 | passed |" in text and "| gd | 0/3 | TIMEOUT |" in text
    assert "> note: graded as 01_linear_regression" in text


def test_one_file_per_student_with_safe_names(tmp_path):
    paths = feedback.write_feedback(BOOK, tmp_path / "fb")
    assert sorted(p.name for p in paths) == ["_evil.md", "carol.md"]
    assert all(p.parent == tmp_path / "fb" for p in paths)
    assert "Total: **0 / 0**" in (tmp_path / "fb" / "_evil.md").read_text()


FB_DATA = {"dora": {
    "01_a": {"points": 1.5, "max_points": 3, "file": "01_a (1).ipynb",
             "notes": ["graded as 01_a", "second note"],
             "tasks": [{"id": "t|1", "points": 1.5, "max_points": 2, "status": "passed",
                        "message": ""},
                       {"id": "t2", "points": 0, "max_points": 1, "status": "missing",
                        "message": "a\n  b|c"}]},
    "02_b": {"points": 0, "max_points": 0, "file": "02_b.ipynb", "tasks": []}}}


FB_BOOK = grading.gradebook_from_json(FB_DATA)


def test_feedback_exact_markdown():
    assert feedback.student_feedback("dora", FB_BOOK["dora"]).split("\n") == [
        "# Feedback for dora", "",
        "Total: **1.5 / 3** points over 2 notebook(s).", "",
        "## 01_a: 1.5 / 3", "", "Graded file: `01_a (1).ipynb`", "",
        "> note: graded as 01_a", "> note: second note", "",
        "| task | points | status | what the grader says |", "|---|---:|---|---|",
        "| t\\|1 | 1.5/2 | passed |   |",
        "| t2 | 0/1 | MISSING | a b\\|c |", "",
        "## 02_b: 0 / 0", "", "Graded file: `02_b.ipynb`", "",
        "| task | points | status | what the grader says |", "|---|---:|---|---|", ""]
    assert feedback.ICON == {"passed": "passed", "failed": "FAILED", "error": "ERROR",
                             "timeout": "TIMEOUT", "missing": "MISSING"}


@pytest.mark.parametrize("name, safe", [("alice", "alice"), ("../x", "_x"), (".hidden", "hidden"),
                                        ("a b/c", "a_b_c"), ("", "_"), ("...", "_"),
                                        ("j.doe+1@uni-x", "j.doe+1@uni-x"), ("zoë", "zoë"),
                                        ("Xavier", "Xavier"), ("X.Y", "X.Y")])
def test_safe_name(name, safe):
    assert feedback.safe_name(name) == safe


def test_write_and_load_feedback(tmp_path):
    (tmp_path / "g.json").write_text(json.dumps(FB_DATA), encoding="utf-8")
    book = grading.read_gradebook(tmp_path / "g.json")
    assert book == FB_BOOK
    paths = feedback.write_feedback(book, tmp_path / "new" / "fb")
    assert paths == [tmp_path / "new" / "fb" / "dora.md"]
    assert paths[0].read_text() == feedback.student_feedback("dora", book["dora"]) + "\n"


def test_feedback_files_are_utf8_whatever_the_locale(tmp_path):
    """An instructor's machine with an ASCII (or cp1252) locale: messages with
    accents are still written and read."""
    book = {"zoe": {"01_a": {"points": 0, "max_points": 1, "file": "01_a.ipynb", "tasks": [
        {"id": "t", "points": 0, "max_points": 1, "status": "failed",
         "message": "AssertionError: résumé ≠ 1"}]}}}
    (tmp_path / "grades.json").write_text(json.dumps(book, ensure_ascii=False), encoding="utf-8")
    code_ = ("import sys\nfrom coursekit import feedback, grading\n"
             "book = grading.read_gradebook(sys.argv[1])\n"
             "print(len(feedback.write_feedback(book, sys.argv[2])))\n")
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0",
           "PYTHONCOERCECLOCALE": "0"}
    done = subprocess.run([sys.executable, "-c", code_, str(tmp_path / "grades.json"),
                           str(tmp_path / "fb")], capture_output=True, text=True, env=env,
                          cwd=str(notebook.REPO))
    assert (done.returncode, done.stdout) == (0, "1\n"), done.stderr[-1000:]
    text = next((tmp_path / "fb").iterdir()).read_text(encoding="utf-8")
    assert "résumé ≠ 1" in text
