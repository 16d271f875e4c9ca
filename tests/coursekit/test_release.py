"""The student release as its users meet it: `make release` into a scratch folder, made a
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

import pytest
from docblocks import blocks, environment, relative_links, run_shell_blocks

from coursekit import colab, notebook, release, student
from coursekit.notebook import REPO

pytestmark = pytest.mark.slow

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


def test_the_clone_has_the_student_course_only(clone):
    here, _ = clone
    tracked = sh(["git", "ls-files"], here).stdout.split()
    assert {name.split("/")[0] for name in tracked} == {
        ".course-release", ".gitignore", "Makefile", "README.md", "conftest.py", "data",
        "environment.yml", "nbval_sanitize.cfg", "notebooks", "pyproject.toml", "seminars",
        "utils"}
    assert (here / "Makefile").read_text() == student.makefile()
    assert "optional-dependencies" not in (here / "pyproject.toml").read_text()


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
