"""The leak rule (coursekit/leaks.py) as `make check` applies it to a freshly generated
seminar: a solution or hidden-test line quoted outside its region (as written, not as
escaped JSON), one line threshold for every leak check.
(issue 15: each test fails when its guard is switched off; the seminars here are freshly
generated, so only the guard under test can speak)"""
from fakes import f_solution_nb, fresh_pair
from coursekit import notebook


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
    from coursekit import leaks, release, site

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
