"""The reports of a class (coursekit/grading/report.py): JUnit elements, files written in UTF-8
whatever the locale."""
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from fakes import rec, task_

from coursekit import grading, notebook
from coursekit.grading import report
from coursekit.grading.common import GradeError, gradebook_json, read_gradebook


def test_junit_elements():
    import xml.etree.ElementTree as ET

    book = grading.gradebook_from_json({"ann": {"01_a": {
        "points": 1, "max_points": 2, "file": "01_a.ipynb", "tasks": [
            {"id": "t", "points": 1, "max_points": 1, "status": "passed", "message": ""},
            {"id": "u", "points": 0, "max_points": 1, "status": "failed", "message": "no"}]}}})
    root = ET.fromstring(grading.to_junit(book).split("\n", 1)[1])
    assert root.tag == "testsuites"
    assert [(s.tag, s.get("name"), s.get("tests"), s.get("failures")) for s in root] == [
        ("testsuite", "ann/01_a", "2", "1")]
    assert [[c.tag for c in case] for case in root[0]] == [["system-out"],
                                                          ["failure", "system-out"]]


def test_reports_are_utf8_whatever_the_locale(tmp_path):
    """grades.json, grades.csv and junit.xml (which says encoding="utf-8") of a class whose
    messages hold non-ASCII text ('…' cuts every long message), written and merged on a
    machine with an ASCII locale."""
    book = {"zoe": {"01_a": {"points": 0, "max_points": 1, "file": "01_a.ipynb", "tasks": [
        {"id": "t", "points": 0, "max_points": 1, "status": "failed",
         "message": "AssertionError: résumé ≠ 1 …"}]}}}
    (tmp_path / "in.json").write_text(json.dumps(book, ensure_ascii=False), encoding="utf-8")
    code_ = ("import json, sys\nfrom coursekit import grading\n"
             "book = grading.read_gradebook(sys.argv[1])\n"
             "grading.write_reports(book, sys.argv[2])\n"
             "assert grading.merge([sys.argv[2] + '/grades.json']) == book\n")
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0",
           "PYTHONCOERCECLOCALE": "0"}
    done = subprocess.run([sys.executable, "-c", code_, str(tmp_path / "in.json"),
                           str(tmp_path / "out")], capture_output=True, text=True, env=env,
                          cwd=str(notebook.REPO))
    assert done.returncode == 0, done.stderr[-1000:]
    out = tmp_path / "out"
    assert json.loads((out / "grades.json").read_text(encoding="utf-8")) == book
    typed = grading.gradebook_from_json(book)
    assert (out / "grades.csv").read_text(encoding="utf-8") == grading.to_csv(typed)
    assert (out / "junit.xml").read_text(encoding="utf-8") == grading.to_junit(typed)


BOOK = {
    "alice": {"01_x": rec(2, 3, [task_("t1", 2, 2, "passed"),
                                 task_("t2", 0, 1, "failed", "wrong sign")], "01_x.ipynb"),
              "02_y": rec(0.5, 0.5, [task_("u", 0.5, 0.5, "passed")], "02_y.ipynb")},
    "bob": {"01_x": rec(0, 3, [task_("t1", 0, 2, "timeout", "too slow"),
                               task_("t2", 0, 1, "error", "kernel died")], "01_x.ipynb"),
            "notes": rec(0, 0, [task_("file", 0, 0, "error", "not a seminar")], "notes.ipynb")},
    "carol": {},
}


def test_columns_csv_and_table():
    assert report.columns(BOOK) == {"01_x": 3, "02_y": 0.5}
    assert report.to_csv(BOOK) == ("student,01_x,02_y,total\nalice,2,0.5,2.5\nbob,0,,0\n"
                                   "carol,,,0\n")
    assert report.table(BOOK).split("\n") == [
        "student  01_x     02_y    total",
        "alice     2/3  0.5/0.5  2.5/3.5",
        "bob       0/3        -    0/3.5",
        "carol       -        -    0/3.5",
        "",
        "errors and timeouts:",
        "  bob/01_x.ipynb [t1] timeout: too slow",
        "  bob/01_x.ipynb [t2] error: kernel died",
        "  bob/notes.ipynb [file] error: not a seminar"]
    clean = {"alice": BOOK["alice"]}
    assert report.table(clean).split("\n") == [
        "student  01_x     02_y    total", "alice     2/3  0.5/0.5  2.5/3.5"]


def test_columns_take_the_largest_maximum():
    book = {"a": {"01": rec(1, 2, [])}, "b": {"01": rec(1, 5, [])}, "c": {"01": rec(1, 4, [])}}
    assert report.columns(book) == {"01": 5}


def test_junit():
    root = ET.fromstring(report.to_junit(BOOK).split("\n", 1)[1])
    assert report.to_junit(BOOK).startswith('<?xml version="1.0" encoding="utf-8"?>\n<testsuites')
    suites = {s.get("name"): s for s in root}
    assert root.tag == "testsuites" and root.get("name") == "grades"
    assert list(suites) == ["alice/01_x", "alice/02_y", "bob/01_x", "bob/notes"]
    assert {k: (s.get("tests"), s.get("failures"), s.get("errors")) for k, s in suites.items()} == {
        "alice/01_x": ("2", "1", "0"), "alice/02_y": ("1", "0", "0"),
        "bob/01_x": ("2", "0", "2"), "bob/notes": ("1", "0", "1")}
    cases = list(suites["alice/01_x"]) + list(suites["bob/01_x"])
    assert {c.tag for c in cases} == {"testcase"}
    assert [(c.get("classname"), c.get("name")) for c in cases] == [
        ("alice.01_x", "t1"), ("alice.01_x", "t2"), ("bob.01_x", "t1"), ("bob.01_x", "t2")]
    assert [[(e.tag, e.get("type"), e.get("message"), e.text) for e in c] for c in cases] == [
        [("system-out", None, None, "2/2 points")],
        [("failure", "failed", "wrong sign", None), ("system-out", None, None, "0/1 points")],
        [("error", "timeout", "too slow", None), ("system-out", None, None, "0/2 points")],
        [("error", "error", "kernel died", None), ("system-out", None, None, "0/1 points")]]
    missing = {"s": {"k": rec(0, 1, [task_("t", 0, 1, "missing", "no cell")])}}
    suite = ET.fromstring(report.to_junit(missing).split("\n", 1)[1])[0]
    assert suite.get("failures") == "1" and suite[0][0].tag == "failure"


def test_write_reports(tmp_path):
    out = report.write_reports(BOOK, tmp_path / "new" / "grades")
    assert out == tmp_path / "new" / "grades"
    assert sorted(p.name for p in out.iterdir()) == ["grades.csv", "grades.json", "junit.xml"]
    assert read_gradebook(out / "grades.json") == BOOK
    assert json.loads((out / "grades.json").read_text()) == {
        s: {k: r.to_json() for k, r in records.items()} for s, records in BOOK.items()}
    assert (out / "grades.json").read_text().endswith("}\n")
    assert (out / "grades.json").read_text().startswith('{\n  "alice": {\n    "01_x"')
    assert (out / "grades.csv").read_text() == report.to_csv(BOOK)
    assert (out / "junit.xml").read_text() == report.to_junit(BOOK)
    book = {"zoë": {"01": rec(1, 1, [task_("t", 1, 1, "passed", "ok — fine")])}}
    report.write_reports(book, tmp_path / "u")
    assert "zoë" in (tmp_path / "u" / "grades.json").read_text()


def test_merge_sorts_agrees_and_refuses(tmp_path):
    (tmp_path / "1.json").write_text(gradebook_json({"bob": {"02": rec(1, 1, [])}}))
    (tmp_path / "2.json").write_text(gradebook_json({"alice": {"01": rec(0, 1, [])},
                                                     "bob": {"01": rec(1, 1, [])}}))
    (tmp_path / "3.json").write_text(gradebook_json({"bob": {"01": rec(1, 1, [])}}))
    merged = report.merge([tmp_path / "1.json", tmp_path / "2.json", tmp_path / "3.json"])
    assert merged == {"alice": {"01": rec(0, 1, [])},
                      "bob": {"01": rec(1, 1, []), "02": rec(1, 1, [])}}
    assert list(merged) == ["alice", "bob"] and list(merged["bob"]) == ["01", "02"]
    (tmp_path / "4.json").write_text(gradebook_json({"bob": {"01": rec(0, 1, [])}}))
    with pytest.raises(GradeError) as info:
        report.merge([tmp_path / "2.json", tmp_path / "4.json"])
    assert str(info.value) == f"{tmp_path / '4.json'}: bob/01 differs from an earlier report"
    for bad in ("[1, 2]", '{"bob": 3}'):
        (tmp_path / "5.json").write_text(bad)
        with pytest.raises(GradeError) as info:
            report.merge([tmp_path / "5.json"])
        assert str(info.value) == \
            f"{tmp_path / '5.json'} is not a grades.json (student -> seminar -> record)"
    (tmp_path / "6.json").write_text("{oops")
    with pytest.raises(GradeError, match=r"^cannot read gradebook .*6\.json: JSONDecodeError: "
                                         "Expecting"):
        report.merge([tmp_path / "6.json"])
