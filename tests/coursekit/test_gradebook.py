"""LMS gradebook files (coursekit/gradebook.py): Canvas's and Moodle's import layouts from
a grades.json and a roster; nobody dropped silently."""
import csv
import io
import json
import subprocess
import sys

import pytest

from coursekit import gradebook
from coursekit.grading import GradeError, gradebook_from_json
from coursekit.notebook import REPO

# Canvas's gradebook import: the identifier columns of its guide ("How do I import grades
# in the Gradebook?"; its export starts the same way), in this order, then the
# assignments, then a "Points Possible" row
CANVAS_IDS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]


def rec(points, max_points=10):
    return {"points": points, "max_points": max_points, "file": "x.ipynb", "tasks": []}


DATA = {"alice": {"01_a": rec(10), "02_b": rec(7.5, 8)},
        "bob": {"01_a": rec(0)},
        "carol": {"02_b": rec(8, 8)},
        "erin": {},  # an empty folder: listed, no grades
        "frank": {"notes": {"points": 0, "max_points": 0, "file": "notes.ipynb", "tasks": []}}}
BOOK = gradebook_from_json(DATA)  # as the command reads it from grades.json
ROSTER = """folder,name,canvas_id,sis_user_id,sis_login_id,section,email,idnumber
alice,"Liddell, Alice",1001,S1001,alice,Section 1,alice@example.edu,S1001
bob,Bob,1002,,,Section 1,,B-2
dave,Dave,,,,,dave@example.edu,
erin,Erin,1005,,,,erin@example.edu,
frank,Frank,1006,,,,frank@example.edu,
"""


def rows(text):
    return list(csv.reader(io.StringIO(text)))


@pytest.fixture
def roster(tmp_path):
    (tmp_path / "roster.csv").write_text("\ufeff" + ROSTER, encoding="utf-8")  # Excel's BOM
    return gradebook.read_roster(tmp_path / "roster.csv")


def test_canvas_layout(roster):
    got = rows(gradebook.canvas_csv(BOOK, roster))
    assert got[0] == CANVAS_IDS + ["01_a", "02_b"]
    assert got[1][0].strip() == "Points Possible" and got[1][1:] == ["", "", "", "", "10", "8"]
    assert got[2:] == [["Liddell, Alice", "1001", "S1001", "alice", "Section 1", "10", "7.5"],
                       ["Bob", "1002", "", "", "Section 1", "0", ""],
                       ["Erin", "1005", "", "", "", "", ""],
                       ["Frank", "1006", "", "", "", "", ""]]  # dave: no Canvas id


def test_moodle_layout(roster):
    got = rows(gradebook.moodle_csv(BOOK, roster))
    assert got == [["ID number", "Email address", "01_a", "02_b"],
                   ["S1001", "alice@example.edu", "10", "7.5"],
                   ["B-2", "", "0", ""],
                   ["", "dave@example.edu", "", ""],
                   ["", "erin@example.edu", "", ""],
                   ["", "frank@example.edu", "", ""]]


def test_nobody_is_dropped_silently(roster):
    assert gradebook.problems(BOOK, roster) == [
        "graded but not in the roster (in neither CSV): carol",
        "in the roster but no submission folder (empty cells): dave",
        "no Canvas id (canvas_id, sis_user_id or sis_login_id; not in canvas.csv): dave"]
    every = set(BOOK) | set(roster)
    placed = {r[0] for r in rows(gradebook.canvas_csv(BOOK, roster))[2:]}
    listed = " ".join(gradebook.problems(BOOK, roster))
    names = {"alice": "Liddell, Alice", "bob": "Bob", "erin": "Erin", "frank": "Frank"}
    for s in every:  # each student is in the Canvas file or named in the problems
        assert names.get(s) in placed or s in listed, s


@pytest.mark.parametrize("text, message", [
    ("name,email\nA,a@x\n", "no 'folder' column"),
    ("folder,mail\na,a@x\n", r"unknown column\(s\) mail"),
    ("folder,email\na,a@x\na,b@x\n", "line 3: folder 'a' twice"),
    ("folder,email\n,a@x\n", "line 2: empty 'folder'"),
])
def test_a_bad_roster_says_what_is_wrong(tmp_path, text, message):
    (tmp_path / "r.csv").write_text(text)
    with pytest.raises(GradeError, match=message):
        gradebook.read_roster(tmp_path / "r.csv")


def test_the_command_writes_the_files_and_lists_the_problems(tmp_path):
    (tmp_path / "grades.json").write_text(json.dumps(DATA))
    (tmp_path / "roster.csv").write_text(ROSTER)
    done = subprocess.run([sys.executable, "-m", "coursekit", "gradebook",
                           str(tmp_path / "grades.json"), "--roster", str(tmp_path / "roster.csv"),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "roster: graded but not in the roster (in neither CSV): carol" in done.stderr
    assert "(3 roster problem(s))" in done.stdout
    assert (tmp_path / "out" / "roster-problems.txt").read_text().count("\n") == 3
    assert rows((tmp_path / "out" / "canvas.csv").read_text())[0][:5] == CANVAS_IDS
    missing = subprocess.run([sys.executable, "-m", "coursekit", "gradebook",
                              str(tmp_path / "nothing.json"), "--roster",
                              str(tmp_path / "roster.csv")], capture_output=True, text=True,
                             cwd=REPO, timeout=120)
    assert missing.returncode == 2 and missing.stderr.startswith("error: cannot read gradebook")
