"""Colab badges (`make badges`, coursekit/colab.py): derived from [project.urls], put in the
title cell only, byte for byte elsewhere, idempotent; the README and every notebook of
the course carry them (the seminars through `make seminars`)."""
import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from coursekit import cli, colab, generate, notebook
from coursekit.notebook import CourseError

URL = "https://colab.research.google.com/github/o/course/blob/main/notebooks/01_words.ipynb"
BADGE = f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({URL})"


@pytest.mark.parametrize("source, expected", [
    ("# 01. Words", f"# 01. Words\n\n{BADGE}"),
    ("# 01. Words\n\nWhat you learn.", f"# 01. Words\n\n{BADGE}\n\nWhat you learn."),
    ("# 01. Words\nWhat you learn.", f"# 01. Words\n\n{BADGE}\n\nWhat you learn."),
    (f"# 01. Words\n\n{BADGE.replace('main', 'old')}\n\nText", f"# 01. Words\n\n{BADGE}\n\nText"),
])
def test_with_badge_puts_one_badge_after_the_heading(source, expected):
    assert colab.with_badge(source, URL) == expected
    assert colab.with_badge(expected, URL) == expected  # idempotent
    assert colab.badge_url(expected) == URL and colab.badge_url(source) != URL


@pytest.mark.parametrize("source", ["# 01. Words", "# 01. Words\n\nWhat you learn.",
                                    "# 01. Words\n\n## More\n\nText"])
def test_without_badge_gives_back_the_title_as_it_was(source):
    assert colab.without_badge(colab.with_badge(source, URL)) == source
    assert colab.without_badge(source) == source


def test_the_site_shows_no_badge_image(tmp_path):
    from coursekit import site

    (tmp_path / "pyproject.toml").write_text('[project]\nname = "c"\n[project.urls]\n'
                                             'Repository = "https://github.com/o/course"\n')
    (tmp_path / "README.md").write_text("# C\n\nIntro.\n")
    nb = new_notebook(cells=[new_markdown_cell(f"# 01. Words\n\n{BADGE}\n\nText.")])
    notebook.write(nb, tmp_path / "notebooks" / "01_words.ipynb")
    (tmp_path / "seminars").mkdir()
    site.assemble(tmp_path / "src", tmp_path)
    cells = notebook.read(tmp_path / "src" / "lectures" / "01_words.ipynb").cells
    assert cells[0].source == "# 01. Words\n\nText." and "Open in Colab" in cells[1].source


def test_retarget_points_the_badge_at_another_folder_only():
    text = f"# T\n\n{BADGE.replace('/notebooks/', '/solutions/')}\n\nsee solutions/01_words.ipynb"
    assert colab.retarget(text, "seminars") == \
        f"# T\n\n{BADGE.replace('/notebooks/', '/seminars/')}\n\nsee solutions/01_words.ipynb"
    assert colab.retarget("# T\n\nno badge", "seminars") == "# T\n\nno badge"


@pytest.fixture()
def course(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "c"\n[project.urls]\n'
                                             'Repository = "https://github.com/o/course"\n')
    for folder in ("notebooks", "solutions"):
        nb = new_notebook(cells=[new_markdown_cell("# 01. Words\n\nText."),
                                 new_code_cell("x = 1  # ünïcode")])
        nb.cells[0].id, nb.cells[1].id = "title", "setup"
        nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="1\n")]
        nb.cells[1].execution_count = 1
        notebook.write(nb, tmp_path / folder / "01_words.ipynb")
    return tmp_path


def test_add_badges_changes_the_title_cell_only_and_twice_is_once(course):
    before = {p: p.read_text() for p in course.rglob("*.ipynb")}
    assert colab.badge_problems(course) == [
        f"{f}/01_words.ipynb: the title cell's Colab badge is missing; expected "
        f"{URL.replace('notebooks', f)} (run `make badges`, then `make seminars`)"
        for f in ("notebooks", "solutions")]
    changed = colab.add_badges(course)
    assert changed == [course / "notebooks" / "01_words.ipynb", course / "solutions" / "01_words.ipynb"]
    for path, text in before.items():
        old, new = json.loads(text), json.loads(path.read_text())
        want = URL.replace("notebooks", path.parent.name)
        assert new["cells"][0]["source"] == ["# 01. Words\n", "\n", colab.badge(want) + "\n",
                                             "\n", "Text."]
        new["cells"][0]["source"] = old["cells"][0]["source"]
        assert new == old
        now = path.read_text()  # byte for byte before and after the title's source
        assert now.split('"source": [', 1)[0] == text.split('"source": [', 1)[0]
        assert now.split('"Text."', 1)[1] == text.split('"Text."', 1)[1]
    again = {p: p.read_bytes() for p in course.rglob("*.ipynb")}
    assert colab.add_badges(course) == []
    assert {p: p.read_bytes() for p in course.rglob("*.ipynb")} == again
    (course / "seminars").mkdir()  # a seminar copied from its solution: the wrong address
    (course / "seminars" / "01_words.ipynb").write_bytes(
        (course / "solutions" / "01_words.ipynb").read_bytes())
    sem = URL.replace("notebooks", "seminars")
    assert colab.badge_problems(course) == [
        f"seminars/01_words.ipynb: the title cell's Colab badge links to "
        f"{URL.replace('notebooks', 'solutions')}; expected {sem} (run `make badges`, then "
        "`make seminars`)"]
    notebook.write(generate.make_seminar(notebook.read(course / "solutions" / "01_words.ipynb")),
                   course / "seminars" / "01_words.ipynb")
    assert colab.badge_problems(course) == []


def test_a_notebook_nbformat_would_rewrite_is_left_alone(course):
    path = course / "notebooks" / "01_words.ipynb"
    raw = json.dumps(json.loads(path.read_text()), indent=2)  # not as nbformat writes it
    path.write_text(raw)
    with pytest.raises(CourseError, match="nbformat would rewrite more than the title cell"):
        colab.add_badges(course)
    assert path.read_text() == raw
    nb = new_notebook(cells=[new_code_cell("x = 1")])
    notebook.write(nb, path)
    with pytest.raises(CourseError, match="the first cell is not a markdown title cell"):
        colab.add_badges(course)


def test_readme_syllabus_links_get_their_badges(course):
    row = "| 01 | words | [notebook](notebooks/01_words.ipynb) | [seminar](seminars/01_words.ipynb) | [solution](solutions/01_words.ipynb) |"
    text = f"# C\n\nSee [notebook](notebooks/01_words.ipynb).\n\n{row}\n"
    (course / "README.md").write_text(text)
    done = colab.readme_with_badges(text, course)
    seminar = colab.badge(URL.replace("notebooks", "seminars"))
    assert done == ("# C\n\nSee [notebook](notebooks/01_words.ipynb).\n\n"
                    f"| 01 | words | [notebook](notebooks/01_words.ipynb) {BADGE} | "
                    f"[seminar](seminars/01_words.ipynb) {seminar} | "
                    "[solution](solutions/01_words.ipynb) |\n")  # syllabus rows only
    assert colab.readme_with_badges(done, course) == done
    assert colab.readme_badge_problems(course) == [
        "README.md: the syllabus row of 01_words.ipynb lacks the Colab badges of its lecture "
        "and seminar (run `make badges`)"]
    assert colab.add_badges(course)[-1] == course / "README.md"
    assert (course / "README.md").read_text() == done and colab.readme_badge_problems(course) == []


def test_the_badges_command(monkeypatch, capsys):
    monkeypatch.setattr(colab, "badge_problems", lambda: ["a: wrong"])
    assert cli.main(["badges", "--check"]) == 1
    assert capsys.readouterr().err == "error: a: wrong\n"
    calls = []
    monkeypatch.setattr(colab, "add_badges", lambda: calls.append("badges") or ["x", "y"])
    monkeypatch.setattr(generate, "generate", lambda: calls.append("seminars") or [])
    assert cli.main(["badges"]) == 0 and calls == ["badges", "seminars"]
    assert capsys.readouterr().out == "badges: 2 notebook(s) changed; seminars generated\n"
