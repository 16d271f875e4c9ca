"""Fixtures shared by test modules (the repository's conftest.py configures nbval); the
stand-ins they are built on are in fakes.py."""
import subprocess
import sys

import pytest
from fakes import asm_mod, COMMON_LINE, HIDDEN_LINE, FakeKernel, FakeKM, answer, code, solution, solution_nb
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from coursekit import generate, grading, guard, notebook
from coursekit.grading import run
from coursekit.notebook import REPO


@pytest.fixture(scope="session")
def course_wheel(tmp_path_factory):
    """A wheel of this checkout, built offline (no build isolation); skipped with the
    reason where the installed setuptools cannot build one."""
    setuptools = pytest.importorskip("setuptools", reason="building the wheel offline "
                                                          "needs setuptools")
    if tuple(map(int, setuptools.__version__.split(".")[:2])) < (70, 1):
        pytest.importorskip("wheel", reason="setuptools < 70.1 builds wheels only with "
                                            "the `wheel` package")
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                           "--no-build-isolation", "-q", "-w", str(out), str(REPO)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return next(out.glob("*.whl"))


# ------------------------------------------------------------------------- slow tests
# `make test-fast` runs `pytest -m "not slow"`: the tests that neither start a kernel
# (notebooks, grading, warm zygotes) nor build the site, a wheel or an nbgrader course.
# A test is slow when its module says so (`pytestmark = pytest.mark.slow`), when it is
# marked, or when it uses one of these fixtures (they grade classes, start kernels, build
# the site, a wheel or an nbgrader course).
SLOW_FIXTURES = {"matrix", "course_book", "guarded", "course_wheel", "verdicts", "built",
                 "browser", "exported", "colab", "kernel", "attacked"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _no_kernel_in_fast_tests(request, monkeypatch):
    """Under `-m "not slow"` a test that starts a kernel fails and says to mark it: so
    the fast run stays fast and the `slow` marks stay true."""
    if "not slow" not in (request.config.option.markexpr or ""):
        return

    def refuse(*args, **kwargs):
        raise RuntimeError(f"{request.node.nodeid} starts a kernel: mark it "
                           "@pytest.mark.slow (make test-fast runs the others)")
    monkeypatch.setattr("jupyter_client.KernelManager.start_kernel", refuse)
    monkeypatch.setattr("coursekit.warm.Zygote.__init__", refuse)


# ------------------------------------------------------------------ coursekit stand-ins
# a solution of three tasks (sem: loaded; seminars: a folder of two), the grader's kernel
# scripted, grading.grade recorded, a throwaway utils, jupyter_client faked, a small course

@pytest.fixture()
def sem(tmp_path):
    path = tmp_path / "01_units.ipynb"
    notebook.write(solution_nb(), path)
    return asm_mod.load_solution(path)


@pytest.fixture()
def scripted(monkeypatch):
    """The kernel run_tasks gets (instead of a Jupyter kernel or a warm fork)."""
    k = FakeKernel()
    monkeypatch.setattr(run, "new_kernel", lambda cwd, opts: k)
    return k


@pytest.fixture()
def seminars(tmp_path):
    folder = tmp_path / "solutions"
    notebook.write(solution_nb(), folder / "01_units.ipynb")
    other = new_notebook(cells=[answer("answer-z", "return 0", "def zero():"),
                                code("test-z", "assert zero() == 0  # a long enough line",
                                     task="z")])
    notebook.write(other, folder / "02_other.ipynb")
    return folder


@pytest.fixture()
def graded(monkeypatch):
    """grading.grade replaced: records what the command asked for, returns a gradebook."""
    calls = []
    data = {"alice": {"01_x": {"points": 1, "max_points": 2, "file": "01_x.ipynb",
                               "tasks": [{"id": "t", "points": 1, "max_points": 2,
                                          "status": "passed", "message": ""}]}}}
    book = grading.gradebook_from_json(data)

    def fake_grade(submissions, solutions_dir=None, opts=None, jobs=1, students=None, echo=None):
        calls.append({"submissions": submissions, "solutions": solutions_dir, "opts": opts,
                      "jobs": jobs, "students": students})
        return book
    monkeypatch.setattr(grading, "grade", fake_grade)
    monkeypatch.delenv("COURSE_GRADE_COLD", raising=False)
    return calls, book


@pytest.fixture()
def fake_utils(tmp_path, monkeypatch):
    """A throwaway ``utils`` package in place of the course's, removed afterwards with
    whatever the guard imported of it: a light module, two built on ``fakeheavy`` (a
    stand-in for torch: ``guard.HEAVY`` names it), directly and through the first, a
    private one and a broken one."""
    pkg = tmp_path / "fakeutils" / "utils"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("VALUE = 1\n")
    (pkg / "light.py").write_text("import os\ndef f():\n    return 'light'\n"
                                  "def later():\n    import fakeheavy\nX = 2\n")
    (pkg.parent / "fakeheavy.py").write_text("LOADED = True\n")
    (pkg / "heavy.py").write_text("try:\n    import fakeheavy.sub as fh\nexcept ImportError:\n"
                                  "    fh = None\nX = 'heavy'\n")
    (pkg / "onheavy.py").write_text("from .heavy import X as Y\n")
    (pkg / "_private.py").write_text("X = 'private: not imported by the guard'\n")
    (pkg / "broken.py").write_text("raise RuntimeError('a broken helper')\n")
    before = {k: v for k, v in sys.modules.items() if k == "utils" or k.startswith("utils.")}
    for k in before:
        monkeypatch.delitem(sys.modules, k)
    monkeypatch.syspath_prepend(str(pkg.parent))
    monkeypatch.setattr(guard, "HEAVY", ("fakeheavy",))
    yield pkg
    for k in [k for k in sys.modules if k == "utils" or k.startswith("utils.")]:
        del sys.modules[k]
    sys.modules.pop("fakeheavy", None)
    sys.modules.update(before)


@pytest.fixture()
def fake_jupyter(monkeypatch):
    import jupyter_client
    FakeKM.made = []
    monkeypatch.setattr(jupyter_client, "KernelManager", FakeKM)
    return FakeKM.made


@pytest.fixture()
def repo(tmp_path):
    """A small course: README with a syllabus, pyproject with the repository address, a
    lecture, a solution, utils (with a cache), tests and the tooling."""
    r = tmp_path / "repo"
    (r / "data").mkdir(parents=True)
    (r / "README.md").write_text("# Course\n\nLearn things.\n\n## Syllabus\n\n| unit | topic |\n"
                                 "|---|---|\n| 01 | Words: lists; sorting |\n"
                                 "| 02 | Planned unit |\n")
    (r / "pyproject.toml").write_text('[project]\nname = "c"\n[project.urls]\n'
                                      'Repository = "https://github.com/o/course/"\n')
    (r / "Makefile").write_text("all:\n")
    (r / "data" / "README.md").write_text("data\n")
    (r / "data" / "big.bin").write_bytes(b"\0" * 10)
    lecture = new_notebook(cells=[new_markdown_cell("# 01. Words (lecture)"),
                                  new_code_cell(COMMON_LINE)])
    lecture.metadata["widgets"] = {"state": {}}
    notebook.write(lecture, r / "notebooks" / "01_words.ipynb")
    notebook.write(solution(), r / "solutions" / "01_words.ipynb")
    notebook.write(generate.make_seminar(solution()), r / "seminars" / "01_words.ipynb")
    (r / "utils" / "__pycache__").mkdir(parents=True)
    (r / "utils" / "__init__.py").write_text("")
    (r / "utils" / "words.py").write_text("# helpers\n")
    (r / "utils" / "__pycache__" / "words.cpython-311.pyc").write_bytes(b"x")
    (r / "utils" / "old.pyc").write_bytes(b"x")
    (r / "tests").mkdir()
    (r / "tests" / "test_x.py").write_text(HIDDEN_LINE)
    (r / "coursekit").mkdir()
    (r / "coursekit" / "cli.py").write_text("")
    return r
