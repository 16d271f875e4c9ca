"""What the grading modules share (coursekit/grading/common.py): the denied paths."""


import json
from typing import get_args

import pytest

from coursekit import notebook
from coursekit.grading import common, report, run
from coursekit.grading.common import GradeError, GradeRecord, Options, Status, STATUSES, TaskVerdict, gradebook_json, read_gradebook


def test_denied_paths_of_a_worktree_whose_path_has_a_colon(tmp_path):
    from coursekit.grading import common

    checkout = tmp_path / "repo"
    checkout.mkdir()
    want = sorted(str(checkout / n) for n in ("solutions", "tests", ".git", "build", "grades"))
    gitdir = tmp_path / "main:2026" / ".git" / "worktrees" / "wt"
    gitdir.mkdir(parents=True)
    (checkout / ".git").write_text(f"gitdir: {gitdir}\n")
    assert common.denied_paths(Options(), checkout) == sorted(want + [str(gitdir)])
    # a pointer that is not text: ignored, the checkout's own folders still denied
    (checkout / ".git").write_bytes(b"gitdir: \xff\xfe\n")
    assert set(want) <= set(common.denied_paths(Options(), checkout))


def test_grades_json_keeps_its_format_byte_for_byte(tmp_path):
    """GradeRecord.to_json writes what the grader wrote when a record was a dict: keys in
    the order points, max_points, tasks, file, notes (only when some), sandbox (only when
    code ran); whole points as ints; any text as UTF-8. Reading it back and writing it
    again gives the same bytes."""
    book = {"zoë": {
        "01_x": GradeRecord(2, 3.5, [TaskVerdict("t1", 2, 2, "passed"),
                                     TaskVerdict("t2", 0, 1.5, "failed", "résumé ≠ 1")],
                            "01_x (1).ipynb", ["graded as 01_x"], "bubblewrap"),
        "02_y": GradeRecord(0.25, 0.5, [TaskVerdict("u", 0.25, 0.5, "timeout", "slow")],
                            "02_y.ipynb", sandbox="none"),
        "notes": run.failed_record(None, "notes.ipynb", "not a seminar")}, "amy": {}}
    want = {"zoë": {
        "01_x": {"points": 2, "max_points": 3.5, "tasks": [
            {"id": "t1", "points": 2, "max_points": 2, "status": "passed", "message": ""},
            {"id": "t2", "points": 0, "max_points": 1.5, "status": "failed",
             "message": "résumé ≠ 1"}],
            "file": "01_x (1).ipynb", "notes": ["graded as 01_x"], "sandbox": "bubblewrap"},
        "02_y": {"points": 0.25, "max_points": 0.5, "tasks": [
            {"id": "u", "points": 0.25, "max_points": 0.5, "status": "timeout",
             "message": "slow"}], "file": "02_y.ipynb", "sandbox": "none"},
        "notes": {"points": 0, "max_points": 0, "tasks": [
            {"id": "file", "points": 0, "max_points": 0, "status": "error",
             "message": "not a seminar"}], "file": "notes.ipynb"}}, "amy": {}}
    text = json.dumps(want, indent=2, ensure_ascii=False) + "\n"
    assert gradebook_json(book) == text
    report.write_reports(book, tmp_path)
    assert (tmp_path / "grades.json").read_bytes() == text.encode("utf-8")
    again = read_gradebook(tmp_path / "grades.json")
    assert again == book
    assert gradebook_json(again) == text
    assert '"max_points": 3.5' in text and '"points": 2,' in text  # an int stays an int


def test_a_grade_record_is_typed_when_read(tmp_path):
    assert STATUSES == get_args(Status) == ("passed", "failed", "error", "timeout", "missing")
    with pytest.raises(ValueError, match="status 'pass' is not one of passed, failed"):
        TaskVerdict("t", 1, 1, "pass")
    good = {"points": 1, "max_points": 1, "file": "f.ipynb", "tasks": [
        {"id": "t", "points": 1, "max_points": 1, "status": "passed", "message": ""}]}
    assert GradeRecord.from_json(good).to_json() == good
    for change, why in (({"points": True}, "points must be a number"),
                        ({"tasks": [{"id": "t", "points": 1, "max_points": 1,
                                     "status": "Passed", "message": ""}]}, "status 'Passed'"),
                        ({"sandbox": "docker"}, "sandbox 'docker'"),
                        ({"file": None}, "expected text, not None"),
                        ({"tasks": [{"id": "t"}]}, "KeyError: 'points'")):
        path = tmp_path / "g.json"
        path.write_text(json.dumps({"bob": {"01": {**good, **change}}}), encoding="utf-8")
        with pytest.raises(GradeError) as info:
            read_gradebook(path)
        assert str(info.value).startswith(f"cannot read gradebook {path}: bob/01: ")
        assert why in str(info.value)
    bare = {k: v for k, v in good.items() if k != "file"}
    with pytest.raises(ValueError, match="not a grade record .KeyError: 'file'"):
        GradeRecord.from_json(bare)


def _status_strings(source: str) -> list:
    """(line, string) of every string the code gives or compares as a task's status: the
    status argument of Verdict, TaskVerdict and failed_record; in a function documented as
    returning "(status, ...)", the first item of each tuple it returns or assigns to
    ``status, ...``; a string compared with ``status`` or with the ``.status`` of a verdict
    (``v``, ``t``, ``verdict``, ``task``, ``verdicts[...]``, ``tasks[...]``; not a cell's
    or a probe's outcome, whose statuses are others); the keys of a dict looked up by a
    status."""
    import ast

    def strings(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return [node]
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            return [e for e in node.elts if isinstance(e, ast.Constant)
                    and isinstance(e.value, str)]
        if isinstance(node, ast.IfExp):
            return strings(node.body) + strings(node.orelse)
        return []

    def first(node):  # the status of a (status, message...) tuple
        if isinstance(node, ast.Tuple) and node.elts:
            return strings(node.elts[0])
        if isinstance(node, ast.IfExp):
            return first(node.body) + first(node.orelse)
        return []

    def own_nodes(fn):  # a function's nodes, not those of the functions inside it
        todo = list(fn.body)
        while todo:
            node = todo.pop()
            yield node
            if not isinstance(node, (ast.FunctionDef, ast.Lambda)):
                todo += list(ast.iter_child_nodes(node))

    def is_status(node):
        if isinstance(node, ast.Name):
            return node.id == "status"
        if isinstance(node, ast.Attribute) and node.attr == "status":
            owner = node.value
            if isinstance(owner, ast.Subscript):
                owner = owner.value
            return isinstance(owner, ast.Name) and owner.id in (
                "v", "t", "verdict", "task", "verdicts", "tasks")
        return False

    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            at = {"Verdict": 0, "TaskVerdict": 3, "failed_record": 3}.get(name)
            if at is not None:
                if len(node.args) > at:
                    found += strings(node.args[at])
                found += [s for k in node.keywords if k.arg == "status"
                          for s in strings(k.value)]
            if name == "get" and node.args and is_status(node.args[0]) and \
                    isinstance(node.func.value, ast.Dict):
                found += [k for k in node.func.value.keys if k is not None]
        elif isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(is_status(s) for s in sides):
                found += [c for s in sides for c in strings(s)]
        elif isinstance(node, ast.FunctionDef) and \
                (ast.get_docstring(node) or "").startswith("(status,"):
            for inner in own_nodes(node):
                if isinstance(inner, ast.Return) and inner.value is not None:
                    found += first(inner.value)
                elif isinstance(inner, ast.Assign) and isinstance(inner.targets[0], ast.Tuple) \
                        and is_status(inner.targets[0].elts[0]):
                    found += first(inner.value)
    return [(s.lineno, s.value) for s in found]


def test_every_status_string_in_coursekit_is_one_of_the_statuses():
    """A typo in a status ("pass", "timed out") fails here, not in a student's grades."""
    from coursekit.feedback import ICON

    files = sorted((notebook.REPO / "coursekit").rglob("*.py"))
    used = {(f.relative_to(notebook.REPO).as_posix(), line, s) for f in files
            for line, s in _status_strings(f.read_text(encoding="utf-8"))}
    wrong = sorted(u for u in used if u[2] not in STATUSES)
    assert wrong == []
    assert {s for _, _, s in used} == set(STATUSES)  # every status is used somewhere
    assert len(used) >= 30  # the places: run, verdict, measure, report, autograder...
    assert {f for f, _, _ in used} >= {"coursekit/grading/run.py", "coursekit/grading/report.py",
                                      "coursekit/grading/verdict.py", "coursekit/autograder.py",
                                      "coursekit/grading/measure.py", "coursekit/simulate.py"}
    assert set(ICON) == set(STATUSES)
    # the collector finds a wrong status in each kind of place it looks at
    planted = ('Verdict("pass")\nTaskVerdict("t", 0, 1, "timed out")\n'
               'failed_record(None, "f", "m", status="eror")\nif v.status == "fail": pass\n'
               'def f():\n    "(status, message) of x"\n    status, m = "skipped", ""\n'
               '    return ("ok", "") if m else ("passd", m)\n'
               'def g():\n    return "a note", ""\n'
               '{"failure": 1}.get(t.status)\nif out.status == "killed": pass\n')
    assert sorted(s for _, s in _status_strings(planted)) == sorted([
        "pass", "timed out", "eror", "fail", "skipped", "ok", "passd", "failure"])


def test_options_defaults_and_cold(monkeypatch):
    monkeypatch.delenv("COURSE_GRADE_COLD", raising=False)
    o = Options()
    assert (o.timeout, o.memory_mb, o.grace, o.warm, o.max_restarts, o.deny) == \
        (None, 3072, 10, True, 3, ())
    for value, cold in (("", False), ("0", False), (" 0 ", False), ("  ", False), ("1", True),
                        ("true", True)):
        monkeypatch.setenv("COURSE_GRADE_COLD", value)
        assert common.cold_by_default() is cold, value
    assert (common.TIMEOUT_MARGIN, common.TIMEOUT_FLOOR, common.DEFAULT_TIMEOUT) == (10, 30, 120)
    assert (common.THREADS, common.MAX_RESTARTS, common.MESSAGE_CHARS) == (1, 3, 600)


def test_denied_paths_of_a_checkout_and_a_worktree(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    want = sorted(str(repo / n) for n in ("solutions", "tests", ".git", "build", "grades"))
    assert common.denied_paths(Options(), repo) == want
    assert common.denied_paths(Options(deny=(str(tmp_path / "class"),)), repo) == \
        sorted(want + [str(tmp_path / "class")])
    gitdir = tmp_path / "main" / ".git" / "worktrees" / "wt"
    gitdir.mkdir(parents=True)
    (repo / ".git").write_text(f"gitdir: {gitdir}\n")
    assert common.denied_paths(Options(), repo) == sorted(want + [str(gitdir)])
    (gitdir / "commondir").write_text("../..\n")
    assert common.denied_paths(Options(), repo) == \
        sorted(want + [str(gitdir), str(tmp_path / "main" / ".git")])
    (repo / ".git").write_text("not a pointer")
    assert common.denied_paths(Options(), repo) == want


def test_with_denied_is_where_the_deny_list_grows(tmp_path):
    """cli, simulate, batch and the autograder add their folders through with_denied only;
    it keeps what was denied before, never changes the rest, and denied_paths lists it."""
    start = Options(timeout=5, deny=("/first",))
    opts = common.with_denied(start, tmp_path / "class", "/reports")
    assert opts.deny == ("/first", str(tmp_path / "class"), "/reports")
    assert start.deny == ("/first",) and opts.timeout == 5
    assert str(tmp_path / "class") in common.denied_paths(opts, tmp_path)
    assert common.with_denied(start) == start
