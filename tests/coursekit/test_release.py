"""The student release (coursekit/release.py). Fast: what `release` ships and the leaks it
finds in a folder, on the small course of conftest.py's ``repo``. Slow: the release as its
users meet it: `make release` into a scratch folder, made a
git repository and cloned; in the clone, a fresh virtual environment and the commands of
the release's own README (tests/docblocks.py), "check my seminar" on a blank and on a
solved seminar, and no relative link to a file the release lacks.

The environment: a virtual environment created in the clone (``python -m venv
--without-pip``) whose ``zz_packages.pth`` makes the packages of the environment running
the tests visible (their folder only: no ``.pth`` of theirs runs, so neither this
checkout's ``utils`` nor ``coursekit`` is importable there). The release's own ``make env``
then installs the course into it with ``pip install -e .``, with ``PIP_NO_INDEX=1`` and
no build isolation: nothing is downloaded, so the test runs offline and in seconds, and
the dependencies are the versions `make env` would resolve here anyway. What it does not
prove: that pip can download torch on a student's machine.
"""
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest
from docblocks import blocks, environment, relative_links, run_shell_blocks
from fakes import ANSWER_LINE, HIDDEN_LINE, files, solution
from nbformat.v4 import new_code_cell, new_notebook

from coursekit import colab, generate, notebook, release, student, student as front_door
from coursekit.notebook import CourseError, REPO

SEMINAR = "01_linear_regression.ipynb"


def sh(cmd, cwd, **kw):
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900, **kw)


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    root = tmp_path_factory.mktemp("release")
    assert release.release(root / "release") == []
    git = ["git", "-c", "user.name=course", "-c", "user.email=course@example.org",
           "-c", "init.defaultBranch=main"]
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "release"]):
        done = sh(git + cmd, root / "release")
        assert done.returncode == 0, done.stderr
    done = sh(["git", "clone", "-q", str(root / "release"), str(root / "clone")], root)
    assert done.returncode == 0, done.stderr
    here = root / "clone"
    done = sh([sys.executable, "-m", "venv", "--without-pip", str(here / ".venv")], here)
    assert done.returncode == 0, done.stderr
    purelib = sh([str(here / ".venv" / "bin" / "python"), "-c",
                  "import sysconfig; print(sysconfig.get_paths()['purelib'])"], here)
    (Path(purelib.stdout.strip()) / "zz_packages.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n")
    env = environment({"PIP_NO_INDEX": "1", "PIP_NO_BUILD_ISOLATION": "0"})
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep)  # not the tests'
                                  if not p.startswith(sys.prefix))
    return here, env


@pytest.fixture(scope="module")
def ran(clone):
    here, env = clone
    return run_shell_blocks(here / "README.md", here, env)


@pytest.mark.slow
def test_the_clone_has_the_student_course_only(clone):
    here, _ = clone
    tracked = sh(["git", "ls-files"], here).stdout.split()
    assert {name.split("/")[0] for name in tracked} == {
        ".course-release", ".gitignore", "Makefile", "README.md", "conftest.py", "data",
        "environment.yml", "nbval_sanitize.cfg", "notebooks", "pyproject.toml", "seminars",
        "utils"}
    assert (here / "Makefile").read_text() == student.makefile()
    assert "optional-dependencies" not in (here / "pyproject.toml").read_text()


@pytest.mark.slow
def test_its_readme_commands_pass(clone, ran):
    here, env = clone
    readme = blocks(here / "README.md")
    shell = [b for b in readme if b.lang in ("bash", "sh")]
    assert [b.line for b in shell if b.runs] == sorted(ran) and len(ran) >= 2
    failures = [r.failure() for r in ran.values() if r.failure()]
    assert not failures, "\n\n".join(failures)
    assert [b.skip for b in shell if not b.runs] == [
        "opens JupyterLab and waits for you (tests/coursekit/test_release.py runs the other commands)"]
    # the course was installed into the clone's environment, from the clone
    where = sh([str(here / ".venv" / "bin" / "python"), "-c", "import utils; print(utils.__file__)"],
               "/")
    assert where.stdout.strip() == str(here / "utils" / "__init__.py"), where.stderr
    nb = notebook.read(here / "build" / "notebooks" / "01_linear_regression.ipynb")  # make lectures
    assert all(c.execution_count for c in nb.cells if c.cell_type == "code" and c.source.strip())
    assert sh(["make", "help"], here, env=env).stdout.split("\n")[:3] == [
        "help\tthis list", "lab\tJupyterLab on the course folder (the first run also creates .venv)",
        "lectures\trun every lecture headless into build/notebooks/ "
        "(NB=notebooks/03_backprop.ipynb for one); the notebooks you read are not touched"]


@pytest.mark.slow
def test_check_my_seminar_blank_and_solved(clone, ran):
    here, env = clone
    check = [str(here / ".venv" / "bin" / "python"), "-m", "utils.check", f"seminars/{SEMINAR}"]
    blank = sh(check, here, env=env)
    assert blank.returncode == 1, blank.stdout + blank.stderr
    rows = blank.stdout.splitlines()[2:7]
    assert len(rows) == 5 and all(r.split()[2] == "failed" for r in rows)
    assert rows[0].endswith("not answered yet (NotImplementedError) in your cell "
                            "'answer-ridge-grad'")
    (here / "seminars" / SEMINAR).write_bytes((REPO / "solutions" / SEMINAR).read_bytes())
    solved = sh(check, here, env=env)
    assert solved.returncode == 0, solved.stdout + solved.stderr
    assert [r.split()[2] for r in solved.stdout.splitlines()[2:7]] == ["passed"] * 5
    assert solved.stdout.splitlines()[-1].startswith("visible tests passed in 5 of 5 tasks")
    assert sh(["git", "checkout", "--", f"seminars/{SEMINAR}"], here).returncode == 0


@pytest.mark.slow
def test_no_relative_link_points_at_a_file_the_release_lacks(clone):
    here, _ = clone
    texts = {"README.md": (here / "README.md").read_text(),
             "data/README.md": (here / "data" / "README.md").read_text()}
    for path in sorted(here.glob("*/*.ipynb")):
        nb = notebook.read(path)
        texts[str(path.relative_to(here))] = "\n".join(
            c.source for c in nb.cells if c.cell_type == "markdown")
    missing = [(name, link) for name, text in texts.items() for link in relative_links(text)
               if not ((here / name).parent / link).exists()]
    assert not missing, missing
    assert len(relative_links(texts["README.md"])) >= 24  # a lecture and a seminar per unit
    # a Colab badge in every notebook's title cell and by each link of the README's syllabus
    assert colab.badge_problems(here) == [] and colab.readme_badge_problems(here) == []
    assert "solutions/" not in texts["README.md"] and "make test" not in texts["README.md"]


def test_release_ships_the_student_course_only(repo, tmp_path):
    out = tmp_path / "rel"
    assert release.release(out, repo) == []
    assert files(out) == [".course-release", "Makefile", "README.md", "data/README.md",
                          "notebooks/01_words.ipynb", "pyproject.toml",
                          "seminars/01_words.ipynb", "utils/__init__.py", "utils/words.py"]
    assert (out / ".course-release").read_text() == \
        "made by `python -m coursekit release`; replaced by the next\n"
    assert (out / "notebooks" / "01_words.ipynb").read_bytes() == \
        (repo / "notebooks" / "01_words.ipynb").read_bytes()
    assert nbformat.writes(notebook.read(out / "seminars" / "01_words.ipynb")) == \
        nbformat.writes(generate.make_seminar(solution()))
    (out / "stale.txt").write_text("from the last release")
    assert release.release(out, repo) == []  # an earlier release: replaced
    assert not (out / "stale.txt").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert release.release(empty, repo) == []
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("x")
    with pytest.raises(CourseError) as info:
        release.release(mine, repo)
    assert str(info.value) == (f"{mine} exists, is not empty and is not an earlier release: "
                               "release into a new folder")
    assert files(mine) == ["thesis.tex"]
    assert release.RELEASE_FILES == ("LICENSE", "conftest.py", "nbval_sanitize.cfg",
                                     ".gitignore", "data/README.md")
    # the front door is generated, not copied: the instructor's files stay behind
    assert (out / "Makefile").read_text() == front_door.makefile() != (repo / "Makefile").read_text()
    assert (out / "README.md").read_text() == front_door.readme(repo)
    assert (out / "pyproject.toml").read_text() == front_door.pyproject(repo)


def test_leaks_in_a_folder(repo, tmp_path):
    sols = [repo / "solutions" / "01_words.ipynb"]
    out = tmp_path / "out"
    (out / "seminars").mkdir(parents=True)
    (out / "notebooks").mkdir()
    (out / "solutions").mkdir()
    (out / "tests").mkdir()
    (out / "seminars" / "a.md").write_text(ANSWER_LINE)
    (out / "notebooks" / "b.md").write_text(ANSWER_LINE)  # a lecture may show the answer
    (out / "notebooks" / "c.txt").write_text(HIDDEN_LINE)
    (out / "solutions" / "x.txt").write_text("nothing")
    (out / "tests" / "y.txt").write_text("nothing")
    (out / "blob.bin").write_bytes(b"\xff\xfe" + HIDDEN_LINE.encode("utf-16"))
    nb = new_notebook(cells=[new_code_cell("x = 1\n# " + notebook.HIDDEN_END)])
    notebook.write(nb, out / "notebooks" / "d.ipynb")
    quoted = generate.make_seminar(solution())
    quoted.cells[0].source += "\n" + HIDDEN_LINE  # quotes: escaped in the JSON
    notebook.write(quoted, out / "seminars" / "e.ipynb")
    (out / "notebooks" / "f.md").write_text("### BEGIN SOLUTION in a markdown file is fine")
    assert release.leaks(out, sols, repo) == [
        f"notebooks/c.txt contains text of 01_words.ipynb: {HIDDEN_LINE!r}",
        "notebooks/d.ipynb contains the marker '### END HIDDEN TESTS'",
        f"seminars/a.md contains text of 01_words.ipynb: {ANSWER_LINE!r}",
        f"seminars/e.ipynb contains text of 01_words.ipynb: {HIDDEN_LINE!r}",
        "solutions/x.txt is in the release",
        "tests/y.txt is in the release"]


def test_release_into_a_new_nested_folder(repo, tmp_path):
    out = tmp_path / "a" / "b" / "course"
    assert release.release(out, repo) == []
    assert (out / "data" / "README.md").read_text() == "data\n"
    assert (out / "seminars" / "01_words.ipynb").is_file()


def test_release_leak_rules_read_the_course_released(repo, tmp_path):
    """A hidden-test line that the course's own lecture shows is public, not a leak; one in
    a file it ships that no lecture shows is reported. No __pycache__ ships."""
    lecture = notebook.read(repo / "notebooks" / "01_words.ipynb")
    lecture.cells.append(new_code_cell(HIDDEN_LINE))
    notebook.write(lecture, repo / "notebooks" / "01_words.ipynb")
    out = tmp_path / "rel"
    assert release.release(out, repo) == []
    assert not (out / "utils" / "__pycache__").exists()
    lecture.cells.pop()
    notebook.write(lecture, repo / "notebooks" / "01_words.ipynb")
    (repo / "data" / "README.md").write_text("data\n" + HIDDEN_LINE + "\n")
    assert release.release(out, repo) == [
        f"data/README.md contains text of 01_words.ipynb: {HIDDEN_LINE!r}"]
