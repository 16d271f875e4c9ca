"""Fixtures shared by test modules (the repository's conftest.py configures nbval)."""
import subprocess
import sys

import pytest

from utils.course import REPO


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
