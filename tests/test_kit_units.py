"""Unit tests of the grading kernel's parts that need no kernel (coursekit/sandbox.py,
warm.py, guard.py) and of the small modules around the grader (feedback,
nbgrader_export, notebook, build): exact values, messages and files.

The guard (coursekit/guard.py) is exercised in this process with ``sys.addaudithook``
replaced (the hook is called directly, never installed: it would refuse every later
subprocess of the test run) and a throwaway ``utils`` package in place of the course's.
"""
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import nbformat
import pytest
from fakes import FakeClient, FakeKM, solution_to_generate
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from coursekit import (
    feedback,
    generate,
    grading,
    guard,
    leaks,
    nbgrader_export,
    notebook,
    plain,
    sandbox,
    warm,
)
from coursekit.notebook import CourseError
from coursekit.sandbox import BoundedKernel, Outcome


# ========================================================================== sandbox
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


# ========================================================================== warm
def test_framing_round_trip_and_fds():
    a, b = socket.socketpair()
    with a, b:
        warm._send(a, {"op": "fork", "cwd": "/x"})
        header = b.recv(4, socket.MSG_PEEK)
        (size,) = struct.unpack("!I", header)
        assert size == len(__import__("pickle").dumps({"op": "fork", "cwd": "/x"}))
        assert warm._recv(b) == {"op": "fork", "cwd": "/x"}
        big = list(range(100000))  # more than a socket buffer: read in several chunks
        sender = threading.Thread(target=warm._send, args=(a, big))
        sender.start()
        assert warm._recv(b) == big
        sender.join()
        r, w = os.pipe()
        try:
            warm._send(a, {"pid": 5}, fds=[r])
            fds = []
            assert warm._recv(b, fds) == {"pid": 5}
            assert len(fds) == 1
            os.write(w, b"hi")
            assert os.read(fds[0], 2) == b"hi"
            os.close(fds[0])
        finally:
            os.close(r)
            os.close(w)
        a.sendall(struct.pack("!I", 10) + b"abc")
        a.shutdown(socket.SHUT_WR)
        with pytest.raises(EOFError, match="the other end closed the connection"):
            warm._recv(b)


def test_warm_supported_and_constants(monkeypatch):
    assert warm.supported() is (hasattr(os, "fork") and hasattr(socket, "send_fds"))
    monkeypatch.delattr(socket, "send_fds", raising=False)
    assert warm.supported() is False  # fork alone is not enough: the child's socket travels
    assert warm.ZYGOTE_STARTUP == 300
    assert {"torch", "numpy", "utils", "utils.checks", "IPython"} <= set(warm.PRELOAD)


class FakeZygote:
    def __init__(self, pid=None, sock=None, codes=()):
        self.pid, self.sock, self.codes, self.calls = pid, sock, list(codes), []

    def fork(self, cwd, memory_mb):
        self.calls.append(("fork", cwd, memory_mb))
        return self.pid, self.sock

    def signal(self, pid, signum):  # as the zygote does for its children
        self.calls.append(("signal", pid, signum))
        os.kill(pid, signum)
        return True

    def wait(self, pid, timeout=0.0):
        self.calls.append(("wait", pid, timeout))
        return self.codes.pop(0) if self.codes else None


@pytest.fixture()
def sleeper(tmp_path):
    """A child process that says when it is ready and writes 'SIGINT' when it gets one (its
    handler is its own: a parent that ignores SIGINT passes that on to its children)."""
    code = ("import signal, sys, time, pathlib\n"
            "p = pathlib.Path(sys.argv[1])\n"
            "def on_int(*a):\n    p.write_text('SIGINT')\n    sys.exit(0)\n"
            "signal.signal(signal.SIGINT, on_int)\n"
            "p.write_text('ready')\n"
            "time.sleep(60)\n")
    mark = tmp_path / "mark"
    proc = subprocess.Popen([sys.executable, "-c", code, str(mark)])
    for _ in range(600):
        if mark.exists() and mark.read_text() == "ready":
            break
        time.sleep(0.05)
    proc.mark = mark
    yield proc
    proc.kill()
    proc.wait()


def test_warm_kernel_talks_to_its_child(monkeypatch, sleeper):
    mine, theirs = socket.socketpair()
    z = FakeZygote(sleeper.pid, mine, codes=[None, -9])
    seen = []
    monkeypatch.setattr(warm.Zygote, "get", classmethod(
        lambda cls, threads=1, sandbox=None: seen.append((threads, sandbox)) or z))
    k = warm.WarmKernel("/srv/w", memory_mb=64, threads=2, grace=1)
    assert (k.pid, k.sock, k.zygote) == (None, None, None)
    assert k.start() is k and seen == [(2, None)] and z.calls == [("fork", "/srv/w", 64)]
    assert k.alive() is True  # the zygote has no exit code for it yet
    assert k._submit("x = 1", True) is None
    assert warm._recv(theirs) == {"code": "x = 1", "history": True}
    plain.send_outcome(theirs, Outcome("ok", execution_count=1))
    assert k._wait(None, time.monotonic() + 5) == Outcome("ok", execution_count=1)
    import pickle  # a child's pickle is never loaded: it would run code in the grader
    blob = pickle.dumps(Outcome("ok", execution_count=2))
    theirs.sendall(len(blob).to_bytes(4, "big") + blob)
    assert k._wait(None, time.monotonic() + 5).ename == "GraderProtocolError"
    assert k._wait(None, time.monotonic() + 0.05) is None  # nothing sent: deadline
    k._interrupt()
    for _ in range(600):
        if sleeper.mark.read_text() == "SIGINT":
            break
        time.sleep(0.05)
    assert sleeper.mark.read_text() == "SIGINT"
    assert z.calls[-1] == ("signal", sleeper.pid, signal.SIGINT)  # through the zygote
    k.shutdown()
    assert (k.sock, k.pid) == (None, None)
    assert z.calls[-2:] == [("signal", sleeper.pid, signal.SIGKILL), ("wait", sleeper.pid, 5)]
    k.shutdown()  # twice: nothing left to stop
    theirs.close()


def test_warm_kernel_a_dead_child(monkeypatch):
    mine, theirs = socket.socketpair()
    z = FakeZygote(123456789, mine, codes=[-11, 3])
    k = warm.WarmKernel("/w")
    k.zygote, k.pid, k.sock = z, 123456789, mine
    theirs.close()
    before = time.monotonic()
    out = k._wait(None, time.monotonic() + 5)
    assert (out.status, out.detail) == ("dead", "the kernel was killed by SIGSEGV (a crash in "
                                                "native code)")
    assert 0 <= out.seconds <= time.monotonic() - before
    assert z.calls == [("wait", 123456789, 5)]
    mine.close()
    out = k._submit("x", True)
    assert (out.status, out.detail) == ("dead", "the kernel exited with code 3 (os._exit, "
                                                "exit()/quit() or a fatal error)")
    k.sock = None
    k.pid = None
    assert k.alive() is False


def test_zygote_get_reuses_a_live_zygote_of_the_same_threads(monkeypatch):
    made = []

    class Z(warm.Zygote):
        def __init__(self, threads=1, sandbox=None):
            made.append(threads)
            self.threads, self.sandbox, self.closed = threads, sandbox, False
            self.proc = types.SimpleNamespace(poll=lambda: None)

        def close(self):
            self.closed = True
    monkeypatch.setattr(Z, "_current", None)
    a = Z.get()
    assert Z.get(1) is a and made == [1]
    b = Z.get(2)
    assert b is not a and a.closed and made == [1, 2]
    b.proc = types.SimpleNamespace(poll=lambda: 0)  # it died
    c = Z.get(2)
    assert c is not b and b.closed and made == [1, 2, 2]
    from coursekit.bwrap import Sandbox
    d = Z.get(2, Sandbox(disk_mb=5))  # in the OS sandbox: another zygote
    assert d is not c and c.closed and d.sandbox == Sandbox(disk_mb=5)
    assert Z.get(2, Sandbox(disk_mb=5)) is d and made == [1, 2, 2, 2]


# ========================================================================== guard
def test_audit_hook_refuses_denied_paths_and_processes(tmp_path):
    denied = tmp_path / "solutions"
    denied.mkdir()
    (tmp_path / "link").symlink_to(denied)
    hook = guard._audit_hook([str(denied), str(tmp_path / "grades")])
    for event, args in (("open", (str(denied / "01.ipynb"), "r")),
                        ("open", (str(denied),)),
                        ("open", (bytes(denied / "x"),)),
                        ("open", (denied / "x",)),
                        ("os.listdir", (str(tmp_path / "link"),)),
                        ("glob.glob/2", ("*", None, str(denied))),
                        ("shutil.copyfile", ("/etc/hostname", str(denied / "x"))),
                        ("os.rename", (str(tmp_path / "a"), str(tmp_path / "grades" / "b")))):
        with pytest.raises(PermissionError) as info:
            hook(event, args)
        assert str(info.value) in (f"the grader does not allow access to solutions/ ({event})",
                                   f"the grader does not allow access to grades/ ({event})")
    for event, args in (("open", (str(tmp_path / "solutions-other"),)),
                        ("open", (str(tmp_path / "solutionsx" / "y"),)),
                        ("open", (3,)), ("open", (None,)), ("open", (object(),)),
                        ("os.listdir", ()), ("glob.glob/2", ("*", None)),
                        ("import", (str(denied),)), ("os.rename", (str(tmp_path / "a"),))):
        assert hook(event, args) is None
    # a position the hook cannot read does not hide the next one
    for first in (None, 3, object()):
        with pytest.raises(PermissionError):
            hook("shutil.copyfile", (first, str(denied / "x")))
    for event in ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
                  "pty.spawn", "os.forkpty", "os.startfile"):
        with pytest.raises(PermissionError) as info:
            hook(event, ("ls",))
        assert str(info.value) == f"the grader does not allow starting processes ({event})"


def test_path_events_cover_every_way_to_read_or_copy():
    assert guard.PATH_EVENTS["glob.glob/2"] == (0, 2)
    assert guard.PATH_EVENTS["shutil.copytree"] == (0, 1)
    assert guard.PATH_EVENTS["shutil.make_archive"] == (0, 2)
    assert {"open", "os.listdir", "os.scandir", "os.chdir", "glob.glob", "os.link",
            "os.symlink", "os.rename", "shutil.copyfile", "shutil.move"} <= set(guard.PATH_EVENTS)
    assert all(positions and all(i in (0, 1, 2) for i in positions)
               for positions in guard.PATH_EVENTS.values())


def test_guarded_attributes():
    g = guard._State._guarded_attr
    assert g("builtins", "len") and g("builtins", "__import__") and g("builtins", "__build_class__")
    assert not g("builtins", "__name__") and not g("builtins", "_x")
    assert g("utils", "_helper") and g("utils.checks", "check") and not g("utils", "__file__")
    assert g("numpy", "mean") and not g("numpy", "_cache") and not g("torch", "__version__")


def test_state_restores_modules_functions_names_and_builtins(monkeypatch, fake_utils):
    import math

    import utils
    import utils.light as light

    ns = {"print": print, "keep": 1}
    st = guard._State(["len"], ns)
    assert st.initial == {"print": print}
    st.snapshot_modules()
    assert {"math", "builtins", "utils", "utils.light"} <= set(st.modules)
    assert "VALUE" in st.modules["utils"][1] and "f" in st.modules["utils.light"][1]
    seen = st.seen
    assert seen == len(sys.modules)
    # an instructor cell bound `data` and `check`
    def check(x):
        return x > 0
    ns.update(data=[1, 2], check=check)
    st.capture(["data", "check", "gone"], ns)
    assert st.names == {"data": [1, 2], "check": check}
    # a student cell tampers with everything
    original_f, original_code = light.f, light.f.__code__
    monkeypatch.setattr(math, "sqrt", lambda x: 0)
    utils.VALUE = 99
    light.f.__code__ = (lambda: "patched").__code__
    check.__defaults__ = (5,)
    ns["data"] = []
    ns["check"] = lambda x: True
    ns["type"] = lambda x: float
    ns["len"] = "the solution's own len"
    ns["print"] = "mine"
    ns["__builtins__"] = {}
    st.restore(ns)
    assert math.sqrt(4) == 2.0 and utils.VALUE == 1
    assert light.f is original_f and light.f.__code__ is original_code and light.f() == "light"
    assert check.__defaults__ is None and ns["check"] is check and ns["data"] == [1, 2]
    assert "type" not in ns and ns["len"] == "the solution's own len"
    assert ns["print"] is print and ns["__builtins__"] is __import__("builtins")
    assert ns["keep"] == 1
    st.capture(["data"], {})  # the cell deleted it: not brought back
    assert "data" not in st.names
    st.snapshot_modules()
    assert st.seen == seen  # nothing imported since: no new look


def test_state_restores_class_methods(monkeypatch):
    fake_torch = types.ModuleType("torch")

    class Tensor:
        def add(self):
            return "add"
    fake_torch.Tensor = Tensor
    monkeypatch.setitem(sys.modules, "torch", fake_torch)
    st = guard._State([], {})
    st.snapshot_modules()
    assert "torch.Tensor" in st.classes and "torch" in st.modules
    Tensor.add = lambda self: "patched"
    Tensor.extra = lambda self: "new"
    st.restore({})
    assert Tensor().add() == "add" and not hasattr(Tensor, "extra")


def test_install_snapshots_light_utils_and_answers_sync(monkeypatch, fake_utils):
    hooks = []
    monkeypatch.setattr(sys, "addaudithook", hooks.append)
    monkeypatch.delitem(sys.modules, "_grader_t0", raising=False)
    guard.install(["/nowhere/solutions"], "t0", ["x"])
    handle = sys.modules.pop("_grader_t0")
    assert handle.__name__ == "_grader_t0" and len(hooks) == 1
    assert "utils.light" in sys.modules and "utils._private" not in sys.modules
    assert "utils.broken" not in sys.modules
    # what imports the heavy package (torch) waits for the notebook to import it
    assert not {"fakeheavy", "utils.heavy", "utils.onheavy"} & set(sys.modules)
    with pytest.raises(PermissionError):
        hooks[0]("open", ("/nowhere/solutions/a",))
    import utils.light as light
    light.X = 5
    handle.sync([], False)
    assert light.X == 5  # remembered only
    handle.sync()
    assert light.X == 5  # restore is off unless asked for
    handle.sync([], True)
    assert light.X == 2  # restored
    handle.sync([], True)
    assert "utils.heavy" not in sys.modules  # still no fakeheavy: still waiting
    import fakeheavy  # noqa: F401 - the setup cell imports torch
    handle.sync([], False)  # the sync after it imports and snapshots the rest
    import utils.heavy as heavy
    import utils.onheavy as onheavy
    heavy.X, onheavy.Y = "patched", "patched"
    handle.sync([], True)
    assert (heavy.X, onheavy.Y) == ("heavy", "heavy")


def test_install_leaves_torch_to_the_setup_cell():
    """The course's own utils: the guard, installed in a fresh process, snapshots the light
    modules and imports no torch (whose import, seconds in a cold kernel, would count
    against the guard's install limit); the modules built on torch wait for it."""
    code = ("import json, sys\n"
            f"exec(compile(open({str(Path(guard.__file__))!r}).read(), 'guard', 'exec'))\n"
            "install([], 'tok')\n"
            "import utils\n"
            "print(json.dumps({'torch': 'torch' in sys.modules, 'split': light_modules(utils),"
            "'loaded': sorted(m for m in sys.modules if m.startswith('utils.'))}))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=notebook.REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    light, heavy = got["split"]
    assert {"charlm", "rnn", "stacked", "transformer"} <= set(heavy)
    assert {"checks", "data", "seed", "training", "text", "check"} <= set(light)
    assert not set(light) & set(heavy) and not got["torch"]
    assert got["loaded"] == sorted(f"utils.{m}" for m in light)


def test_install_works_on_the_ipython_namespace(monkeypatch, fake_utils):
    ns = {"len": len}
    shell = types.SimpleNamespace(user_ns=ns)
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))
    monkeypatch.setattr(sys, "addaudithook", lambda hook: None)
    monkeypatch.delitem(sys.modules, "_grader_t1", raising=False)
    guard.install([], "t1", ["data"])
    handle = sys.modules.pop("_grader_t1")
    ns["data"] = [1]
    handle.sync(["data"], False)  # an instructor cell bound it
    ns["data"] = []  # a student cell rebinds it
    ns["abs"] = "mine"  # and shadows a builtin
    handle.sync([], True)
    assert ns == {"len": len, "data": [1], "__builtins__": __import__("builtins")}


def test_install_without_a_utils_package(monkeypatch, tmp_path):
    for k in [k for k in sys.modules if k == "utils" or k.startswith("utils.")]:
        monkeypatch.delitem(sys.modules, k)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if not (
        __import__("pathlib").Path(p or ".") / "utils").is_dir()])
    monkeypatch.setattr(sys, "meta_path", [f for f in sys.meta_path
                                           if "editable" not in type(f).__module__
                                           and "editable" not in getattr(f, "__module__", "")])
    monkeypatch.setattr(sys, "addaudithook", lambda hook: None)
    monkeypatch.delitem(sys.modules, "_grader_t2", raising=False)
    guard.install([], "t2")
    assert "utils" not in sys.modules
    assert callable(sys.modules.pop("_grader_t2").sync)


# ========================================================================== feedback
FB_DATA = {"dora": {
    "01_a": {"points": 1.5, "max_points": 3, "file": "01_a (1).ipynb",
             "notes": ["graded as 01_a", "second note"],
             "tasks": [{"id": "t|1", "points": 1.5, "max_points": 2, "status": "passed",
                        "message": ""},
                       {"id": "t2", "points": 0, "max_points": 1, "status": "missing",
                        "message": "a\n  b|c"}]},
    "02_b": {"points": 0, "max_points": 0, "file": "02_b.ipynb", "tasks": []}}}
FB_BOOK = grading.gradebook_from_json(FB_DATA)


def test_feedback_exact_markdown():
    assert feedback.student_feedback("dora", FB_BOOK["dora"]).split("\n") == [
        "# Feedback for dora", "",
        "Total: **1.5 / 3** points over 2 notebook(s).", "",
        "## 01_a: 1.5 / 3", "", "Graded file: `01_a (1).ipynb`", "",
        "> note: graded as 01_a", "> note: second note", "",
        "| task | points | status | what the grader says |", "|---|---:|---|---|",
        "| t\\|1 | 1.5/2 | passed |   |",
        "| t2 | 0/1 | MISSING | a b\\|c |", "",
        "## 02_b: 0 / 0", "", "Graded file: `02_b.ipynb`", "",
        "| task | points | status | what the grader says |", "|---|---:|---|---|", ""]
    assert feedback.ICON == {"passed": "passed", "failed": "FAILED", "error": "ERROR",
                             "timeout": "TIMEOUT", "missing": "MISSING"}


@pytest.mark.parametrize("name, safe", [("alice", "alice"), ("../x", "_x"), (".hidden", "hidden"),
                                        ("a b/c", "a_b_c"), ("", "_"), ("...", "_"),
                                        ("j.doe+1@uni-x", "j.doe+1@uni-x"), ("zoë", "zoë"),
                                        ("Xavier", "Xavier"), ("X.Y", "X.Y")])
def test_safe_name(name, safe):
    assert feedback.safe_name(name) == safe


def test_write_and_load_feedback(tmp_path):
    (tmp_path / "g.json").write_text(json.dumps(FB_DATA), encoding="utf-8")
    book = grading.read_gradebook(tmp_path / "g.json")
    assert book == FB_BOOK
    paths = feedback.write_feedback(book, tmp_path / "new" / "fb")
    assert paths == [tmp_path / "new" / "fb" / "dora.md"]
    assert paths[0].read_text() == feedback.student_feedback("dora", book["dora"]) + "\n"


# ========================================================================== nbgrader
def nb_for_nbgrader():
    cells = [new_markdown_cell("# T"), new_code_cell("import math"),
             new_code_cell("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION"),
             new_code_cell("assert f() == 1"),
             new_code_cell("ref = 2\n### BEGIN HIDDEN TESTS\nref = 3\n### END HIDDEN TESTS")]
    for cell, cid in zip(cells, ["md", "setup", "answer-f", "test-f", "ref"], strict=True):
        cell.id = cid
    cells[3].metadata["course"] = {"task": "f", "points": 2.5}
    nb = new_notebook(cells=cells)
    return nb


def test_nbgrader_metadata_exact():
    nb = nb_for_nbgrader()
    out = nbgrader_export.nbgrader_metadata(nb)
    base = {"schema_version": 3, "task": False, "solution": False, "grade": False,
            "locked": True}
    assert [c.metadata["nbgrader"] for c in out.cells] == [
        {**base, "grade_id": "md"}, {**base, "grade_id": "setup"},
        {**base, "grade_id": "answer-f", "solution": True, "locked": False},
        {**base, "grade_id": "test-f", "grade": True, "points": 2.5},
        {**base, "grade_id": "ref", "grade": True, "points": 0}]
    assert "nbgrader" not in nb.cells[0].metadata  # a copy
    old = nb_for_nbgrader()
    for cell in old.cells:
        del cell["id"]
    assert [c.metadata["nbgrader"]["grade_id"] for c in
            nbgrader_export.nbgrader_metadata(old).cells] == [f"cell-{i}" for i in range(5)]
    old.cells[1].source = "x = 1\n### BEGIN SOLUTION"
    old.cells[1].cell_type = "markdown"
    with pytest.raises(CourseError) as info:
        nbgrader_export.nbgrader_metadata(old, "01_t.ipynb")
    assert str(info.value) == ("01_t.ipynb: cell cell-1 has a solution region but is not an "
                               "answer cell")


def test_nbgrader_export(tmp_path):
    sols = tmp_path / "solutions"
    notebook.write(nb_for_nbgrader(), sols / "01_t.ipynb")
    notebook.write(nb_for_nbgrader(), sols / "02_u.ipynb")
    notebook.write(nb_for_nbgrader(), sols / "notes.ipynb")  # not NN_*: not exported
    out = tmp_path / "nbg"
    (out / "stale").mkdir(parents=True)
    assert nbgrader_export.export(out, sols, timeout=77) == ["01_t", "02_u"]
    assert not (out / "stale").exists()
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "nbgrader_config.py", "source/01_t/01_t.ipynb", "source/02_u/02_u.ipynb"]
    config = (out / "nbgrader_config.py").read_text()
    assert config == nbgrader_export.CONFIG.format(
        stub="# YOUR CODE HERE\nraise NotImplementedError", timeout=77)
    assert "c.ClearSolutions.code_stub = {\"python\": '# YOUR CODE HERE\\nraise " \
           "NotImplementedError'}" in config and "c.ExecutePreprocessor.timeout = 77" in config
    written = notebook.read(out / "source" / "01_t" / "01_t.ipynb")
    assert written.cells[3].metadata["nbgrader"]["points"] == 2.5
    with pytest.raises(CourseError) as info:
        nbgrader_export.export(tmp_path / "o2", tmp_path / "none")
    assert str(info.value) == f"no solution notebooks in {tmp_path / 'none'}"
    assert nbgrader_export.export(tmp_path / "o3", sols) == ["01_t", "02_u"]
    assert "timeout = 300" in (tmp_path / "o3" / "nbgrader_config.py").read_text()


# ========================================================================== notebook format
def test_read_and_write(tmp_path):
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{not json")
    with pytest.raises(CourseError) as info:
        notebook.read(bad)
    assert str(info.value) == (f"{bad}: not a readable notebook (NotJSONError: Notebook does "
                               "not appear to be JSON: '{not json')")
    nb = new_notebook(cells=[new_code_cell("x = 1")])
    notebook.write(nb, tmp_path / "deep" / "er" / "n.ipynb")
    assert notebook.read(tmp_path / "deep" / "er" / "n.ipynb").cells[0].source == "x = 1"


def test_task_forbid_and_answer_cells():
    cell = new_code_cell("x")
    assert notebook.task_metadata(cell) is None
    cell.metadata["course"] = {"points": 1}
    assert notebook.task_metadata(cell) is None
    cell.metadata["course"] = {"task": "t", "points": 1}
    assert notebook.task_metadata(cell) == {"task": "t", "points": 1}
    assert notebook.forbid_problems(["a.b", ".m", "_x9.y_"]) == []
    assert notebook.forbid_problems("a.b", "w") == [
        "w: 'forbid' must be a list of dotted names (strings), got 'a.b'"]
    assert notebook.forbid_problems(["a", 3]) == [
        "cell: 'forbid' must be a list of dotted names (strings), got ['a', 3]"]
    assert notebook.forbid_problems(["a..b", "9a", "a.", "..m", "a b", "ok"], "w") == [
        f"w: 'forbid' entry {r!r} is not a dotted name ('a.b.c', or '.method')"
        for r in ("a..b", "9a", "a.", "..m", "a b")]
    md = new_markdown_cell("### BEGIN SOLUTION")
    assert notebook.is_answer_cell(md) is False
    assert notebook.is_answer_cell(new_code_cell("  ### BEGIN SOLUTION\n")) is True
    assert notebook.is_answer_cell(new_code_cell("### END SOLUTION")) is False
    nb = new_notebook(cells=[md, cell, new_code_cell("y")])
    assert notebook.graded_cells(nb) == [cell]


def test_rule_problems_exact():
    def nb_with(*cells):
        return new_notebook(cells=list(cells))

    def test_cell(forbid, task="t"):
        c = new_code_cell("assert True")
        c.metadata["course"] = {"task": task, "points": 1, "forbid": forbid}
        return c
    ok = nb_with(new_markdown_cell("* **Not allowed:** `np.linalg.inv`"), test_cell(["numpy.linalg.inv"]))
    assert notebook.rule_problems(ok) == []
    quoted = nb_with(new_markdown_cell("> **Not allowed:** inv"), test_cell(["numpy.linalg.inv"]))
    assert notebook.rule_problems(quoted) == []
    assert notebook.rule_problems(nb_with(new_markdown_cell("**Not allowed:** `.backward`"),
                                          test_cell([".backward"]))) == []
    assert notebook.rule_problems(nb_with(test_cell([]))) == []  # nothing forbidden
    assert notebook.rule_problems(nb_with(new_markdown_cell("text **Not allowed:** inv"),
                                          test_cell(["numpy.linalg.inv"])), "n.ipynb") == [
        "n.ipynb: task 't' forbids ['numpy.linalg.inv'] but its markdown has no line starting "
        "'**Not allowed:**' that tells the student"]
    assert notebook.rule_problems(nb_with(new_markdown_cell("**Not allowed:** `inverse`, pinv"),
                                          test_cell(["numpy.linalg.inv", "la.pinv", "x.det"]))) == [
        "notebook: task 't': its '**Not allowed:**' line does not name numpy.linalg.inv, x.det"]
    assert notebook.rule_problems(nb_with(new_markdown_cell("**Not allowed:** x"),
                                          test_cell("x"))) == [
        "notebook: task 't': 'forbid' must be a list of dotted names (strings), got 'x'"]
    # the markdown of an earlier task does not count; several lines are joined
    two = nb_with(new_markdown_cell("**Not allowed:** inv"), test_cell(["numpy.linalg.inv"], "a"),
                  new_markdown_cell("**Not allowed:** det\n- **Not allowed:** `solve`"),
                  new_code_cell("x = 1"), test_cell(["numpy.linalg.inv", "np.solve", "det"], "b"))
    assert notebook.rule_problems(two) == [
        "notebook: task 'b': its '**Not allowed:**' line does not name numpy.linalg.inv"]


def test_regions_and_region_lines():
    with pytest.raises(CourseError) as info:
        list(notebook._regions(["a", "### END SOLUTION"], notebook.BEGIN, notebook.END, "c 2"))
    assert str(info.value) == "c 2: '### END SOLUTION' without '### BEGIN SOLUTION' (line 2)"
    with pytest.raises(CourseError) as info:
        list(notebook._regions(["### BEGIN SOLUTION", "x", "  ### BEGIN SOLUTION"],
                               notebook.BEGIN, notebook.END, "c"))
    assert str(info.value) == "c: '### BEGIN SOLUTION' opened twice (line 3)"
    with pytest.raises(CourseError) as info:
        notebook.strip_source("### BEGIN SOLUTION")
    assert str(info.value) == "cell: '### BEGIN SOLUTION' is never closed"
    assert list(notebook._regions(["### BEGIN SOLUTION", "a", " ### END SOLUTION ", "b",
                                   "### BEGIN SOLUTION", "### END SOLUTION"],
                                  notebook.BEGIN, notebook.END, "c")) == [(0, 2), (4, 5)]
    nb = new_notebook(cells=[
        new_markdown_cell("### BEGIN SOLUTION\n    a line of twenty chars\nshort\n### END SOLUTION"),
        new_code_cell("x\n### BEGIN HIDDEN TESTS\nassert f(2) == 4, 'twenty+'\n"
                      "### END HIDDEN TESTS\nnot in a region, long enough")])
    assert leaks.region_lines(nb) == ["a line of twenty chars", "assert f(2) == 4, 'twenty+'"]
    assert notebook.strip_source("a\n    ### BEGIN SOLUTION\n    x\n    ### END SOLUTION\nb\n"
                                 "### BEGIN HIDDEN TESTS\nh\n### END HIDDEN TESTS\nc") == \
        "a\n    # YOUR CODE HERE\n    raise NotImplementedError\nb\nc"
    with pytest.raises(CourseError) as info:
        notebook.strip_source("### BEGIN HIDDEN TESTS\n### BEGIN SOLUTION\n### END SOLUTION\n"
                              "### END HIDDEN TESTS", "cell 4")
    assert str(info.value) == "cell 4: solution and hidden-test regions overlap"


def test_selected_units_and_course_notebooks(monkeypatch):
    monkeypatch.setenv("COURSE_UNITS", " , ")
    paths = ["a/01_x.ipynb", "a/02_y.ipynb", "a/2_z.ipynb"]
    assert notebook.selected_units(paths) == paths
    assert notebook.selected_units(paths, "2") == ["a/02_y.ipynb"]
    assert notebook.selected_units(paths, "2_z") == ["a/2_z.ipynb"]
    assert notebook.selected_units(paths, "") == paths
    every = notebook.course_notebooks()
    assert every == sorted((notebook.REPO / "notebooks").glob("*.ipynb")) + \
        sorted((notebook.REPO / "solutions").glob("*.ipynb"))
    assert notebook.FOLDERS == ("notebooks", "solutions", "seminars")
    assert (notebook.BUDGET_SECONDS, notebook.BUDGET_MB) == (60, 1536)


# ========================================================================== build
def test_make_seminar_exact():
    sol = solution_to_generate()
    sem = generate.make_seminar(sol)
    assert [c.source for c in sem.cells] == [
        "# T", "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError\n",
        "assert f(1) == 2", generate.CHECK_MARKDOWN, generate.CHECK_CODE]
    assert sem.cells[2].metadata == {"course": {"task": "f", "points": 1, "hidden_tests": True}}
    assert sem.cells[2].outputs == [] and sem.cells[2].execution_count is None
    assert "widgets" not in sem.metadata and sem.metadata["course"] == sol.metadata["course"]
    assert "widgets" in sol.metadata and sol.cells[2].outputs  # the solution is untouched
    md = solution_to_generate()
    md.cells[0].source = "### BEGIN SOLUTION"
    with pytest.raises(CourseError) as info:
        generate.make_seminar(md)
    assert str(info.value) == "cell 0 (md): '### BEGIN SOLUTION' is never closed"


def test_build_writes_every_seminar_and_reports_orphans_and_broken_ones(tmp_path):
    notebook.write(solution_to_generate(), tmp_path / "solutions" / "01_a.ipynb")
    broken = solution_to_generate()
    broken.cells[1].source = "### BEGIN SOLUTION\nx = 1"
    notebook.write(broken, tmp_path / "solutions" / "02_b.ipynb")
    notebook.write(solution_to_generate(), tmp_path / "seminars" / "03_orphan.ipynb")
    problems = generate.generate(root=tmp_path)
    assert problems == [
        "cell 1 (answer-f): '### BEGIN SOLUTION' is never closed",
        f"{tmp_path / 'seminars' / '03_orphan.ipynb'} has no solution in solutions/: delete it "
        "or add one"]
    assert nbformat.writes(notebook.read(tmp_path / "seminars" / "01_a.ipynb")) == \
        nbformat.writes(generate.make_seminar(solution_to_generate()))
    assert not (tmp_path / "seminars" / "02_b.ipynb").exists()
    (tmp_path / "seminars" / "03_orphan.ipynb").unlink()
    (tmp_path / "solutions" / "02_b.ipynb").unlink()
    assert generate.generate(root=tmp_path) == []
    assert generate.generate(check_only=True, root=tmp_path) == []
    before = (tmp_path / "seminars" / "01_a.ipynb").read_bytes()
    notebook.write(new_notebook(cells=[new_code_cell("x")]), tmp_path / "solutions" / "01_a.ipynb")
    problems = generate.generate(check_only=True, root=tmp_path)
    assert (tmp_path / "seminars" / "01_a.ipynb").read_bytes() == before  # check writes nothing
    assert problems == [
        f"{tmp_path / 'seminars' / '01_a.ipynb'} is out of date with "
        f"{tmp_path / 'solutions' / '01_a.ipynb'}: run `make seminars` (never edit seminars "
        "by hand)",
        f"{tmp_path / 'solutions' / '01_a.ipynb'} has no graded test cell"]
    notebook.write(solution_to_generate(), tmp_path / "solutions" / "04_new.ipynb")
    assert generate.generate(check_only=True, root=tmp_path)[-1] == \
        f"{tmp_path / 'seminars' / '04_new.ipynb'} is missing: run `make seminars`"


def test_seminar_problems_each_marker_and_a_leak(tmp_path):
    sol_path, sem_path = tmp_path / "s.ipynb", tmp_path / "m.ipynb"
    notebook.write(solution_to_generate(), sol_path)
    for marker in (notebook.BEGIN, notebook.END, notebook.HIDDEN_BEGIN, notebook.HIDDEN_END):
        sem = generate.make_seminar(solution_to_generate())
        sem.cells[0].source = f"# T {marker}"
        notebook.write(sem, sem_path)
        assert f"{sem_path} contains the marker '{marker}'" in \
            generate.seminar_problems(sol_path, sem_path)
    sem = generate.make_seminar(solution_to_generate())
    sem.cells[0].source = "# T\nreturn x * 2  # the answer"
    notebook.write(sem, sem_path)
    assert generate.seminar_problems(sol_path, sem_path)[1:] == [
        f"{sem_path} leaks solution text: 'return x * 2  # the answer'"]
    sem.cells[1].outputs = [nbformat.v4.new_output("stream", text="x")]
    sem.cells[2].execution_count = 9
    sem.cells[0].source = "# T"
    notebook.write(sem, sem_path)
    assert generate.seminar_problems(sol_path, sem_path)[1:] == [
        f"{sem_path} carries outputs (cell answer-f)"]


# ========================================================================== sandbox.Kernel
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


def test_zygote_fork_wait_and_close_over_its_socket():
    """The grader's side of the zygote protocol, against a stand-in zygote on a socket."""
    mine, theirs = socket.socketpair()
    mine.settimeout(10)  # a wrong message fails the test instead of hanging it
    theirs.settimeout(10)
    z = warm.Zygote.__new__(warm.Zygote)
    z.sock, z.threads, z.sandbox = mine, 2, None
    z.proc = types.SimpleNamespace(wait=lambda timeout: None, kill=lambda: None)
    child_end, other = socket.socketpair()  # what the zygote hands over: the child's socket
    r = child_end.fileno()
    try:
        def zygote():
            assert warm._recv(theirs) == {"op": "fork", "cwd": "/w", "memory_mb": 64,
                                          "threads": 2}
            warm._send(theirs, {"pid": 42}, fds=[r])
            assert warm._recv(theirs) == {"op": "wait", "pid": 42, "timeout": 1.5}
            warm._send(theirs, {"status": -9})
            assert warm._recv(theirs) == {"op": "wait", "pid": 42, "timeout": 0.0}
            warm._send(theirs, {"status": None})
            assert warm._recv(theirs) == {"op": "signal", "pid": 42, "signum": 2}
            warm._send(theirs, {"sent": True})
            assert warm._recv(theirs) == {"op": "fork", "cwd": "/s/nb/work", "memory_mb": None,
                                          "threads": 2, "sandbox": {"disk_mb": 9}}
            warm._send(theirs, {"pid": 43}, fds=[r])
        helper = threading.Thread(target=zygote)
        helper.start()
        pid, sock = z.fork(__import__("pathlib").Path("/w"), 64)
        assert pid == 42 and isinstance(sock, socket.socket)
        sock.sendall(b"ping")
        assert other.recv(4) == b"ping"
        assert z.wait(42, timeout=1.5) == -9
        assert z.wait(42) is None
        assert z.signal(42, signal.SIGINT) is True
        from coursekit.bwrap import Sandbox
        z.sandbox = Sandbox(disk_mb=9)  # a sandboxed zygote: its child confines itself
        pid, second = z.fork("/s/nb/work", None)
        assert pid == 43
        second.close()
        helper.join()
        sock.close()
    finally:
        child_end.close()
        other.close()
    killed = []
    z.proc = types.SimpleNamespace(
        wait=lambda timeout: (_ for _ in ()).throw(subprocess.TimeoutExpired("z", timeout)),
        kill=lambda: killed.append(True))
    z.close()
    assert killed == [True] and mine.fileno() == -1
    theirs.close()
