"""The reports of a class (coursekit/grading/report.py): JUnit elements, files written in UTF-8
whatever the locale."""
import json
import os
import subprocess
import sys


from coursekit import grading, notebook


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
