"""Fixtures shared by test modules (the repository's conftest.py configures nbval)."""
import subprocess
import sys

import pytest

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
