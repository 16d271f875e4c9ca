"""The bounded grading kernel (coursekit/sandbox.py) without a kernel: its constants and the
code it sends, a scripted BoundedKernel's time limit, interrupt and kill, and sandbox.Kernel
over a fake jupyter_client (tests/fakes.py): its start, its messages, its death."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakes import FakeClient, FakeKM

from coursekit import sandbox
from coursekit.sandbox import BoundedKernel, Outcome


def test_strip_ansi():
    assert sandbox.strip_ansi("\x1b[0;31mValueError\x1b[0m: bad\x1b[1A") == "ValueError: bad"


def test_kernel_env(monkeypatch):
    monkeypatch.setenv("JPY_PARENT_PID", "123")
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp-secret")
    monkeypatch.setenv("COURSE_X", "not a variable a kernel reads")
    monkeypatch.setenv("MPLCONFIGDIR", "/somewhere")
    env = sandbox.kernel_env(3)
    assert {k: env[k] for k in ("PYTHONHASHSEED", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                "OPENBLAS_NUM_THREADS", "CUDA_VISIBLE_DEVICES", "TQDM_DISABLE",
                                "PYDEVD_DISABLE_FILE_VALIDATION", "COURSE_DEVICE", "LC_ALL",
                                "PATH", "MPLCONFIGDIR")} == {
        "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "3", "MKL_NUM_THREADS": "3",
        "OPENBLAS_NUM_THREADS": "3", "CUDA_VISIBLE_DEVICES": "", "TQDM_DISABLE": "1",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1", "COURSE_DEVICE": "cpu", "LC_ALL": "C.UTF-8",
        "PATH": os.environ["PATH"], "MPLCONFIGDIR": "/somewhere"}
    # only the variables a kernel needs: no token, nothing unknown, not the launcher's
    assert set(env) - set(sandbox.ENV_KEEP) <= {
        "PYTHONHASHSEED", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
        "CUDA_VISIBLE_DEVICES", "TQDM_DISABLE", "PYDEVD_DISABLE_FILE_VALIDATION", "LC_ALL"}
    assert "GITHUB_TOKEN" not in env and "COURSE_X" not in env
    assert "JPY_PARENT_PID" not in env and os.environ["JPY_PARENT_PID"] == "123"
    assert sandbox.kernel_env()["OMP_NUM_THREADS"] == "1"
    boxed = sandbox.kernel_env(1, home="/scratch/nb/home")  # in the OS sandbox
    assert (boxed["HOME"], boxed["TMPDIR"], boxed["USER"]) == ("/scratch/nb/home",) * 2 + (
        "student",)
    assert boxed["PATH"].split(os.pathsep)[0] == os.path.dirname(sys.executable)
    assert "MPLCONFIGDIR" not in boxed and boxed["COURSE_DEVICE"] == "cpu"


def test_confine_code_installs_confine_py_in_its_own_namespace():
    source = (Path(sandbox.__file__).with_name("confine.py")).read_text()
    code = sandbox.confine_code(64)
    assert repr(source) in code and code.endswith("['install'](64)))({'__name__': "
                                                  "'_grader_confine'})\n")
    fake = "import sys\ndef install(disk_mb=None):\n    sys._confine_test = disk_mb\n"
    user_ns = {}
    try:
        exec(code.replace(repr(source), repr(fake)), user_ns)
        assert sys._confine_test == 64
        assert set(user_ns) == {"__builtins__"}  # nothing bound where the notebook lives
    finally:
        sys.__dict__.pop("_confine_test", None)


def test_limit_code():
    assert sandbox.limit_code(None) == "" and sandbox.limit_code(0) == ""
    assert sandbox.limit_code(3) == ("import resource as _r\n"
                                     "_r.setrlimit(_r.RLIMIT_DATA, (3145728, 3145728))\n"
                                     "del _r\n")


def test_constants():
    assert (sandbox.STARTUP_TIMEOUT, sandbox.GRACE) == (60, 10)
    assert sandbox.memory_limit_supported() is sys.platform.startswith("linux")


@pytest.mark.parametrize("code, reason", [
    (None, "the kernel process exited"),
    (-9, "the kernel was killed by SIGKILL (often: out of memory)"),
    (-11, "the kernel was killed by SIGSEGV (a crash in native code)"),
    (-6, "the kernel was killed by SIGABRT (a native library aborted)"),
    (-15, "the kernel was killed by SIGTERM"),
    (-200, "the kernel was killed by signal 200"),
    (3, "the kernel exited with code 3 (os._exit, exit()/quit() or a fatal error)"),
    (0, "the kernel exited with code 0 (os._exit, exit()/quit() or a fatal error)"),
])
def test_exit_reason(code, reason):
    assert sandbox.exit_reason(code) == reason


class Scripted(BoundedKernel):
    """A BoundedKernel whose process is a list of answers to ``_wait``."""

    def __init__(self, waits, submit=None, **kw):
        super().__init__("/nowhere", **kw)
        self.waits, self.submitted, self.deadlines, self.events = list(waits), submit, [], []

    def start(self):
        self.events.append("start")
        return self

    def shutdown(self):
        self.events.append("shutdown")

    def _submit(self, code, history):
        self.events.append(("submit", code, history))
        return self.submitted if self.submitted is not None else "handle"

    def _wait(self, handle, deadline):
        assert handle == "handle"
        self.deadlines.append(deadline)
        return self.waits.pop(0)

    def _interrupt(self):
        self.events.append("interrupt")


def test_bounded_kernel_defaults_and_abstract_methods():
    k = BoundedKernel("/x")
    assert (k.cwd, k.memory_mb, k.threads, k.grace) == ("/x", 3072, 1, 10)
    for call in (k.start, k.shutdown, k.alive, lambda: k._submit("x", True),
                 lambda: k._wait(None, 0), k._interrupt):
        with pytest.raises(NotImplementedError):
            call()
    assert BoundedKernel(__import__("pathlib").Path("/y"), 5, 2, 1.5).cwd == "/y"


def test_bounded_kernel_run_in_time():
    k = Scripted([Outcome("error", "E", "v", ["tb"], 4)], grace=2)
    before = time.monotonic()
    out = k.run("x = 1", timeout=30, history=False)
    after = time.monotonic()
    assert (out.status, out.ename, out.evalue, out.traceback, out.execution_count) == \
        ("error", "E", "v", ["tb"], 4)
    assert 0 <= out.seconds <= after - before
    assert k.events == [("submit", "x = 1", False)]
    assert before + 30 <= k.deadlines[0] <= after + 30
    k = Scripted([])
    k.submitted = Outcome("dead", detail="gone")
    out = k.run("y", timeout=3)
    assert (out.status, out.detail) == ("dead", "gone") and k.events == [("submit", "y", True)]


def test_bounded_kernel_timeout_interrupts_then_kills():
    k = Scripted([None, Outcome("error", "KeyboardInterrupt", execution_count=7)], grace=2.5)
    before = time.monotonic()
    out = k.run("loop", timeout=0.2)
    after = time.monotonic()
    assert (out.status, out.execution_count, out.ename, out.detail) == ("timeout", 7, "", "")
    assert k.events == [("submit", "loop", True), "interrupt"]
    assert before + 0.2 <= k.deadlines[0] <= after + 0.2  # from the start of the run
    assert before + 2.5 <= k.deadlines[1] <= after + 2.5  # from the interrupt
    for second in (None, Outcome("dead", detail="x")):
        k = Scripted([None, second], grace=2.5)
        out = k.run("deaf", timeout=0.1)
        assert (out.status, out.detail) == ("killed", "it ignored the interrupt for 2.5 s and "
                                                      "was killed")
        assert k.events == [("submit", "deaf", True), "interrupt", "shutdown"]


def test_bounded_kernel_lifecycle():
    k = Scripted([])
    assert k.restart() is k and k.events == ["shutdown", "start"]
    with Scripted([]) as k2:
        assert k2.events == ["start"]
    assert k2.events == ["start", "shutdown"]


class Recorder:
    def __init__(self, out=None):
        self.runs, self.out = [], out or Outcome("ok")

    def run(self, code, timeout, history=True):
        self.runs.append((code, timeout, history))
        return self.out


def test_guard_install_and_sync_send_the_right_code():
    g = sandbox.Guard([__import__("pathlib").Path("/b"), "/a"], ["y", "x"])
    assert (g.deny, g.solution_names, g.token, g.pending) == (["/b", "/a"], ("y", "x"), "", ())
    g.pending = ("stale",)
    k = Recorder()
    g.install(k)
    assert len(g.token) == 16 and int(g.token, 16) >= 0 and g.pending == ()
    assert k.runs == [(sandbox.guard_code(["/b", "/a"], g.token, ("y", "x")), 60, False)]
    first = g.token
    g.install(k, timeout=5)
    assert g.token != first and k.runs[-1][1] == 5
    out = g.sync(k, ["b", "a"], restore=1)
    assert out is k.out
    assert k.runs[-1] == (f"__import__('sys').modules['_grader_{g.token}'].sync(['a', 'b'], True)",
                          60, False)
    g.sync(k, timeout=9)
    assert k.runs[-1] == (f"__import__('sys').modules['_grader_{g.token}'].sync([], False)",
                          9, False)
    for bad, text in ((Outcome("error", "ImportError", "no"), "ImportError: no"),
                      (Outcome("dead", detail="died"), "dead: died")):
        with pytest.raises(RuntimeError) as info:
            g.install(Recorder(bad))
        assert str(info.value) == f"could not install the grader's guard in the kernel: {text}"


def test_guard_code_runs_the_guard_in_its_own_namespace(monkeypatch, fake_utils):
    hooks = []
    monkeypatch.setattr(sys, "addaudithook", hooks.append)
    code = sandbox.guard_code(["/z/deny", "/a/deny"], "tok123", ["b", "a"])
    assert code.startswith("(lambda ns: (exec(compile(") and code.endswith(
        "ns['install'](*(['/a/deny', '/z/deny'], 'tok123', ['a', 'b']))))"
        "({'__name__': '_grader_guard'})\n")
    user = {}
    monkeypatch.delitem(sys.modules, "_grader_tok123", raising=False)
    exec(code, user)
    assert set(user) == {"__builtins__"}  # nothing bound in the notebook's namespace
    handle = sys.modules.pop("_grader_tok123")
    assert callable(handle.sync) and len(hooks) == 1
    with pytest.raises(PermissionError):
        hooks[0]("open", ("/a/deny/x",))


def test_kernel_start_sets_the_environment_and_the_memory_limit(fake_jupyter, monkeypatch):
    from nbval.kernel import CURRENT_ENV_KERNEL_NAME

    monkeypatch.setattr(sandbox, "memory_limit_supported", lambda: True)
    k = sandbox.Kernel("/srv/here", memory_mb=64, threads=2)
    assert (k.km, k.kc) == (None, None)
    assert k.start() is k
    km = fake_jupyter[0]
    assert km.kernel_name == CURRENT_ENV_KERNEL_NAME and type(km.spec).__name__ == \
        "NbvalKernelspecManager"
    assert km.events == [("start_kernel", {"cwd": "/srv/here", "env": sandbox.kernel_env(2),
                                           "stdout": subprocess.DEVNULL,
                                           "stderr": subprocess.DEVNULL})]
    assert km.kc.events == ["start_channels", ("wait_for_ready", 60)]
    assert km.kc.executed == [(sandbox.limit_code(64), False, False, False)]
    assert k.alive() is True
    k.shutdown()
    assert (k.km, k.kc) == (None, None) and km.kc.events[-1] == "stop_channels"
    assert km.events[-1] == ("shutdown", True)
    assert k.alive() is False
    k.shutdown()  # nothing left to stop


def test_kernel_start_without_a_memory_limit_or_where_unsupported(fake_jupyter, monkeypatch):
    monkeypatch.setattr(sandbox, "memory_limit_supported", lambda: True)
    sandbox.Kernel("/w", memory_mb=None).start()
    assert fake_jupyter[-1].kc.executed == []
    monkeypatch.setattr(sandbox, "memory_limit_supported", lambda: False)
    sandbox.Kernel("/w", memory_mb=64).start()
    assert fake_jupyter[-1].kc.executed == []


def test_kernel_start_failures_shut_it_down(fake_jupyter, monkeypatch):
    monkeypatch.setattr(sandbox, "memory_limit_supported", lambda: True)
    real_init = FakeKM.__init__

    def failing_init(self, *a, **kw):
        real_init(self, *a, **kw)
        self.script = [[("error", {"ename": "ValueError", "evalue": "not allowed"}),
                        ("idle", {})]]
    monkeypatch.setattr(FakeKM, "__init__", failing_init)
    k = sandbox.Kernel("/w", memory_mb=64)
    with pytest.raises(RuntimeError) as info:
        k.start()
    assert str(info.value) == "could not set the memory limit in the kernel: ValueError: not allowed"
    assert k.km is None and fake_jupyter[0].events[-1] == ("shutdown", True)


def test_kernel_wait_collects_its_own_messages(fake_jupyter):
    k = sandbox.Kernel("/w", memory_mb=None).start()
    km = fake_jupyter[0]
    km.script = [[("execute_input", {"execution_count": 5}), ("other", {"ename": "X"}),
                  ("stream", {"text": "hi"}), ("empty", None), ("idle", {})],
                 [("execute_input", {"execution_count": 6}),
                  ("error", {"ename": "ValueError", "evalue": "\x1b[31mbad\x1b[0m",
                             "traceback": ["\x1b[0;31mline 1\x1b[0m", "line 2"]}),
                  ("idle", {})],
                 [("error", {})]]
    out = k.run("print('hi')", timeout=30)
    assert (out.status, out.execution_count, out.ename) == ("ok", 5, "")
    out = k.run("raise ValueError('bad')", timeout=30, history=False)
    assert (out.status, out.ename, out.evalue, out.traceback, out.execution_count) == \
        ("error", "ValueError", "bad", ["line 1", "line 2"], 6)
    assert km.kc.executed[1] == ("raise ValueError('bad')", False, False, False)
    assert k._wait("m3", time.monotonic() - 1) is None  # the deadline passed
    k._interrupt()
    assert km.events[-1] == "interrupt"


def test_kernel_death_is_reported_with_its_reason(fake_jupyter):
    k = sandbox.Kernel("/w", memory_mb=None).start()
    km = fake_jupyter[0]
    km.script = [[("execute_input", {"execution_count": 2}), ("empty", None)]]
    msg = k._submit("import os; os._exit(1)", True)
    km.living = False
    km.kc.messages.insert(1, "empty")
    out = k._wait(msg, time.monotonic() + 30)
    assert (out.status, out.execution_count, out.detail) == (
        "dead", 2, "the kernel was killed by SIGKILL (often: out of memory)")
    km.provisioner = None
    assert k._death() == "the kernel process exited"
    k.shutdown()  # shutdown_kernel raises on a dead kernel: ignored
    assert k.km is None


def test_kernel_not_ready_is_shut_down(fake_jupyter, monkeypatch):
    real = FakeClient.wait_for_ready

    def not_ready(self, timeout):
        real(self, timeout)
        raise RuntimeError("kernel died before replying")
    monkeypatch.setattr(FakeClient, "wait_for_ready", not_ready)
    k = sandbox.Kernel("/w")
    with pytest.raises(RuntimeError, match="kernel died before replying"):
        k.start()
    assert k.km is None and fake_jupyter[0].events[-1] == ("shutdown", True)


class FrozenTime:
    """``time`` for sandbox.py: monotonic() stands still at 100."""

    @staticmethod
    def monotonic():
        return 100.0


def iopub(msg_id, msg_type, content):
    return {"parent_header": {"msg_id": msg_id}, "msg_type": msg_type, "content": content}


def test_kernel_wait_honours_its_deadline_and_polls_each_second(fake_jupyter, monkeypatch):
    k = sandbox.Kernel("/w", memory_mb=None).start()
    kc = fake_jupyter[0].kc
    asked = []
    real_get = kc.get_iopub_msg

    def get_iopub_msg(timeout):
        asked.append(timeout)
        return real_get(timeout)
    kc.get_iopub_msg = get_iopub_msg
    monkeypatch.setattr(sandbox, "time", FrozenTime)
    kc.messages = [iopub("m1", "status", {"execution_state": "idle"})]
    assert k._wait("m1", 100.0) is None and asked == []  # no time left: not even a look
    assert k._wait("m1", 100.25).status == "ok" and asked == [0.25]  # never past it
    kc.messages = ["empty", iopub("m1", "status", {"execution_state": "idle"})]
    assert k._wait("m1", 130.0).status == "ok"
    assert asked[1:] == [1.0, 1.0]  # a silent kernel is checked for death every second


def test_kernel_wait_busy_status_and_an_error_without_name_or_value(fake_jupyter):
    k = sandbox.Kernel("/w", memory_mb=None).start()
    kc = fake_jupyter[0].kc
    kc.messages = [iopub("m1", "status", {"execution_state": "busy"}),
                   iopub("m1", "execute_input", {"execution_count": 4}),
                   iopub("m1", "error", {}),
                   iopub("m1", "status", {"execution_state": "idle"})]
    out = k._wait("m1", time.monotonic() + 30)
    assert (out.status, out.ename, out.evalue, out.traceback, out.execution_count) == \
        ("error", "", "", [], 4)


def test_kernel_death_without_a_provisioner(fake_jupyter):
    k = sandbox.Kernel("/w", memory_mb=None).start()
    del fake_jupyter[0].provisioner
    assert k._death() == "the kernel process exited"
