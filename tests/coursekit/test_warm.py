"""Warm kernels (coursekit.warm): forked from one zygote, bounded like sandbox.Kernel, and
isolated - nothing one notebook does reaches the next one."""
import pytest

from coursekit import warm
from coursekit.sandbox import Kernel

pytestmark = [pytest.mark.skipif(not warm.supported(), reason="needs os.fork"), pytest.mark.slow]


@pytest.fixture
def kernel(tmp_path):
    with warm.WarmKernel(tmp_path, memory_mb=3072, grace=5) as k:
        yield k


def test_cells_share_state_and_errors_read_like_a_jupyter_kernel(kernel):
    assert kernel.run("def f(x):\n    return 1 / x", timeout=60).status == "ok"
    out = kernel.run("y = 2\nf(0)", timeout=60)
    assert (out.status, out.ename, out.evalue) == ("error", "ZeroDivisionError",
                                                    "division by zero")
    assert out.execution_count == 2
    text = "\n".join(out.traceback)
    assert "Cell In[2], line 2" in text and "Cell In[1], line 2, in f(x)" in text
    assert kernel.run("assert y == 2", timeout=60).status == "ok"
    assert kernel.run("z = 1", timeout=60, history=False).execution_count is None


def test_same_traceback_as_a_cold_kernel(kernel, tmp_path):
    cells = ["import numpy as np\ndef g(a):\n    return a[5]", "g(np.zeros(3))"]
    warm_out = [kernel.run(c, timeout=60) for c in cells][-1]
    with Kernel(tmp_path, memory_mb=3072) as cold:
        cold_out = [cold.run(c, timeout=120) for c in cells][-1]
    assert (warm_out.ename, warm_out.evalue) == (cold_out.ename, cold_out.evalue)
    assert warm_out.traceback[1:] == cold_out.traceback[1:]  # [0] is the header rule


def test_an_endless_loop_is_interrupted_and_the_kernel_goes_on(kernel):
    out = kernel.run("while True:\n    pass", timeout=2)
    assert out.status == "timeout"
    assert kernel.run("1 + 1", timeout=60).status == "ok"


def test_a_cell_that_ignores_the_interrupt_is_killed(kernel):
    out = kernel.run("import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                     "time.sleep(60)", timeout=1)
    assert out.status == "killed"


@pytest.mark.parametrize("code, why", [
    ("import os; os._exit(3)", "exited with code 3"),
    ("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)", "SIGSEGV"),
])
def test_a_dead_kernel_says_why_and_a_restart_is_fresh(kernel, code, why):
    kernel.run("x = 1", timeout=60)
    out = kernel.run(code, timeout=60)
    assert out.status == "dead" and why in out.detail
    kernel.restart()
    assert kernel.run("x", timeout=60).ename == "NameError"


def test_memory_limit_applies_in_the_child(tmp_path):
    if not warm.memory_limit_supported():
        pytest.skip("RLIMIT_DATA is enforced on Linux only")
    with warm.WarmKernel(tmp_path, memory_mb=1024) as k:
        out = k.run("import numpy as np\na = np.ones((400, 1024, 1024))", timeout=60)
    assert out.ename == "MemoryError"


def test_nothing_passes_from_one_notebook_to_the_next(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    with warm.WarmKernel(first) as k:
        assert k.run("import numpy as np, torch, utils.checks, builtins\n"
                     "LEAK = 1\nnp.pi = 3\ntorch.manual_seed(123)\n"
                     "utils.checks.check_close = lambda *a, **k: None\n"
                     "builtins.sorted = None\nopen('leak.txt', 'w').write('x')",
                     timeout=60).status == "ok"
    with warm.WarmKernel(second) as k:
        out = k.run("import numpy as np, torch, utils.checks, os, math\n"
                    "assert 'LEAK' not in globals()\nassert np.pi == math.pi\n"
                    "assert sorted([2, 1]) == [1, 2]\n"
                    "assert utils.checks.check_close.__module__ == 'utils.checks'\n"
                    "assert not os.path.exists('leak.txt') and os.listdir('.') == []\n"
                    "torch.manual_seed(0); a = torch.rand(1).item()\n", timeout=60)
        assert out.status == "ok", out.evalue
