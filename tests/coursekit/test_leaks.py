"""The leak rule (coursekit/leaks.py): the secret and public lines, a notebook's text as
written; as `make check` applies it to a freshly generated seminar: a solution or hidden-test line quoted outside its region (as written, not as
escaped JSON), one line threshold for every leak check.
(issue 15: each test fails when its guard is switched off; the seminars here are freshly
generated, so only the guard under test can speak)"""
import json

from fakes import ANSWER_LINE, COMMON_LINE, HIDDEN_LINE, answer, code, f_solution_nb, fresh_pair, solution
from nbformat.v4 import new_notebook

from coursekit import leaks, notebook, release, site


def test_guard_solution_or_hidden_line_quoted_outside_its_region(tmp_path):
    nb = f_solution_nb()
    nb.cells[2].source = ("assert f(2) == 4\n### BEGIN HIDDEN TESTS\n"
                          "assert f(-7) == -14, 'negative inputs'\n### END HIDDEN TESTS\n")
    nb.cells[0].source = "# T\nHint: `doubled_value = 2 * x`; also `assert f(-7) == -14, 'negative inputs'`"
    problems = " | ".join(fresh_pair(tmp_path, nb))
    assert "leaks solution text: 'doubled_value = 2 * x'" in problems
    assert "leaks solution text: \"assert f(-7) == -14, 'negative inputs'\"" in problems


def test_guard_a_quoted_line_is_found_as_written_not_as_escaped_json(tmp_path):
    """A region line with double quotes or a backslash is stored escaped in the notebook's
    JSON (``\\"``): the check reads the decoded strings, so it still finds it."""
    nb = f_solution_nb()
    nb.cells[2].source = ('assert f(2) == 4\n### BEGIN HIDDEN TESTS\n'
                          'assert f(-7) == -14, "negative inputs"\n### END HIDDEN TESTS\n')
    nb.cells[0].source = '# T\nHint: `assert f(-7) == -14, "negative inputs"`'
    assert fresh_pair(tmp_path, nb) == [
        f"{tmp_path / 'seminars' / '01_t.ipynb'} leaks solution text: "
        "'assert f(-7) == -14, \"negative inputs\"'"]
    # the line inside a longer one of the visible test: shown by the author, no leak (as
    # 03_backprop's hint="..." lines, which the escaped JSON used to hide)
    nb.cells[0].source = "# T"
    nb.cells[2].source = 'x = 1; assert f(-7) == -14, "negative inputs"\n' + nb.cells[2].source
    assert fresh_pair(tmp_path, nb) == []


def test_one_threshold_for_every_leak_check(tmp_path, monkeypatch):
    """``leaks.SECRET_LINE_CHARS`` alone decides which region lines are secrets, for make
    check, the release and the site: the 21-character line ``doubled_value = 2 * x`` is
    one at 20 (the default) and at 21, none at 22."""
    from coursekit import leaks

    nb = f_solution_nb()
    nb.cells[0].source = "# T\nHint: `doubled_value = 2 * x`"
    assert len("doubled_value = 2 * x") == 21 and leaks.SECRET_LINE_CHARS == 20
    line = "'doubled_value = 2 * x'"
    repo = tmp_path / "repo"
    notebook.write(f_solution_nb(), repo / "solutions" / "01_t.ipynb")
    (repo / "notebooks").mkdir()
    (repo / "utils").mkdir()
    out = tmp_path / "out" / "seminars"
    out.mkdir(parents=True)
    (out / "01_t.md").write_text("doubled_value = 2 * x")
    found = (lambda: [p for p in fresh_pair(tmp_path, nb) if "leaks" in p],
             lambda: release.leaks(out.parent, [repo / "solutions" / "01_t.ipynb"], repo),
             lambda: site.leaks(out.parent, repo))
    for chars in (20, 21):
        monkeypatch.setattr(leaks, "SECRET_LINE_CHARS", chars)
        assert [len(f()) for f in found] == [1, 1, 1] and all(line in f()[0] for f in found)
    monkeypatch.setattr(leaks, "SECRET_LINE_CHARS", 22)
    assert [f() for f in found] == [[], [], []]


def test_secret_and_public_lines(repo):
    sols = [repo / "solutions" / "01_words.ipynb"]
    answer, hidden = leaks.secret_lines(sols, repo)
    assert answer == {ANSWER_LINE: "01_words.ipynb"}  # the common line is in the lecture
    assert hidden == {HIDDEN_LINE: "01_words.ipynb"}
    (repo / "utils" / "edge.py").write_text("x" * 20 + "\n" + "y" * 19 + "\n  " + "z" * 20 + "  \n")
    public = leaks.public_lines(sols, repo)
    assert {"x" * 20, "z" * 20} <= public and "y" * 19 not in public
    assert COMMON_LINE in public and "assert shortest(['a', 'bb']) == 'a'" in public
    assert ANSWER_LINE not in public and "# helpers" not in public  # < 20 characters
    # a hint in the markdown, wrapped over two lines, makes a region line public
    nb = solution()
    nb.cells[0].source += "\nHint: `return sorted(items,\nkey=len)[0]  # shortest`"
    notebook.write(nb, sols[0])
    assert leaks.secret_lines(sols, repo)[0] == {}


def test_notebook_text_decodes_json_strings():
    raw = json.dumps({"cells": [{"source": ["a = \"x\"\n", "b\\n"], "n": 3},
                                {"outputs": [{"text": "t"}, 5]}], "m": {"k": "v"}})
    assert leaks.notebook_text(raw) == 'a = "x"\nb\\n\nt\nv'
    assert leaks.notebook_text("{oops") == "{oops"
    assert leaks.notebook_text('["a", ["b", "c"]]') == "a\nbc"


def test_secret_lines_of_every_region_from_20_characters(tmp_path):
    line20 = "return x + y  # 20ch"
    assert len(line20) == 20
    sol = new_notebook(cells=[
        answer("answer-a", line20, "def a(x, y):"),
        answer("answer-b", "return sorted(xs)[::-1]  # b", "def b(xs):"),
        code("test-b", "assert b([1]) == [1]\n### BEGIN HIDDEN TESTS\n"
                       "assert b([2, 1]) == [2, 1], 'h'\nassert b([]) == [], 'h2'\n"
                       "### END HIDDEN TESTS", task="b")])
    notebook.write(sol, tmp_path / "solutions" / "01_x.ipynb")
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "utils").mkdir()
    answer_lines, hidden = leaks.secret_lines([tmp_path / "solutions" / "01_x.ipynb"],
                                                tmp_path)
    assert answer_lines == {line20: "01_x.ipynb",
                            "return sorted(xs)[::-1]  # b": "01_x.ipynb"}
    assert hidden == {"assert b([2, 1]) == [2, 1], 'h'": "01_x.ipynb",
                      "assert b([]) == [], 'h2'": "01_x.ipynb"}
    assert leaks.region_lines(sol) == [
        line20, "return sorted(xs)[::-1]  # b", "assert b([2, 1]) == [2, 1], 'h'",
        "assert b([]) == [], 'h2'"]
