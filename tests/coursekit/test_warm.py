"""Warm kernels (coursekit/warm.py): forked from one zygote, bounded like sandbox.Kernel, and
isolated - nothing one notebook does reaches the next one.

The fast tests run the zygote's own code in this process without a kernel.

In real grading ``serve`` (the zygote) and ``_child`` (one notebook) run in processes of
their own and leave through ``os._exit``; the slow tests of tests/test_grade.py grade real
notebooks with them. Here they run in the test process, fast: ``os._exit`` raises
``Exited`` instead, ``os.fork`` hands out the pid of a sleeping subprocess (the zygote's
side of a fork) or 0 (the child's side), and whatever they change process-wide (the
current folder, file descriptors 1 and 2, the SIGINT handler, torch's thread count,
the IPython shell) is put back afterwards.
"""
import atexit
import builtins
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import types

import pytest

from coursekit import plain, warm
from coursekit.sandbox import Kernel, Outcome, kernel_env

# The conftest guard replaces Zygote.__init__ under -m "not slow" (it starts a process);
# the tests below run the real one with subprocess.Popen replaced.
ZYGOTE_INIT = warm.Zygote.__init__


class Exited(BaseException):
    """What ``os._exit(code)`` raises here."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


@pytest.fixture()
def in_process(monkeypatch, tmp_path):
    """Run warm's process-level code in this process and put everything back."""
    import torch
    from IPython.core.interactiveshell import InteractiveShell

    def _exit(code):
        raise Exited(code)
    monkeypatch.setattr(os, "_exit", _exit)
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.chdir(tmp_path)
    saved_fds = os.dup(1), os.dup(2)
    sigint = signal.getsignal(signal.SIGINT)
    threads = torch.get_num_threads()
    # IPython's shell puts its namespace in sys.modules["__main__"] (multiprocessing's
    # spawn, which the grader's parallel jobs use, then fails) and sets the hooks
    main, hooks = sys.modules["__main__"], (sys.displayhook, sys.excepthook)
    builtin_names = set(vars(builtins))
    yield tmp_path
    sys.modules["__main__"] = main
    sys.displayhook, sys.excepthook = hooks
    for name in set(vars(builtins)) - builtin_names:
        delattr(builtins, name)
    os.dup2(saved_fds[0], 1)
    os.dup2(saved_fds[1], 2)
    os.close(saved_fds[0])
    os.close(saved_fds[1])
    signal.signal(signal.SIGINT, sigint)
    torch.set_num_threads(threads)
    if InteractiveShell.initialized():
        shell = InteractiveShell.instance()
        shell.atexit_operations()
        atexit.unregister(shell.atexit_operations)
        InteractiveShell.clear_instance()


def run_child(cells, cwd, memory_mb=None, threads=1, sandbox=None):
    """``_child`` on cells sent in advance: (exit code, the outcomes it sent)."""
    grader, child = socket.socketpair()
    with grader, child:
        for code, history in cells:
            warm._send(grader, {"code": code, "history": history})
        grader.shutdown(socket.SHUT_WR)  # after the last cell: the grader is done
        with pytest.raises(Exited) as info:
            warm._child(child, str(cwd), memory_mb, threads, sandbox)
        child.close()  # as the process's exit would
        grader.settimeout(5)
        outcomes = []
        while True:
            try:
                outcomes.append(plain.recv_outcome(grader, warm._recv_exact))
            except (EOFError, ConnectionResetError):  # the child left (unread cells: reset)
                break
            if len(outcomes) > len(cells):
                break
        return info.value.code, outcomes


# ========================================================================== the child
def test_child_runs_cells_like_a_kernel(in_process):
    work = in_process / "student"
    work.mkdir()
    cells = [
        ("x = 6 * 7", True),
        (f"import os\nassert os.getcwd() == {str(work)!r}, os.getcwd()", True),
        ("import torch\nassert torch.get_num_threads() == 3", True),
        ("1 / 0", False),
        ("raise ValueError('\\x1b[31mred\\x1b[0m')", True),
        ("import matplotlib.pyplot as plt\nplt.figure()\nplt.plot([1, 2])", True),
        ("assert plt.get_fignums() == [], plt.get_fignums()", False),  # closed after each cell
        ("assert x == 42", True),  # state stays from cell to cell
    ]
    code, outcomes = run_child(cells, work, threads=3)
    assert code == 0  # the grader closed the socket: a clean exit
    assert [(o.status, o.ename, o.evalue, o.execution_count) for o in outcomes] == [
        ("ok", "", "", 1), ("ok", "", "", 2), ("ok", "", "", 3),
        ("error", "ZeroDivisionError", "division by zero", None),
        ("error", "ValueError", "red", 4),
        ("ok", "", "", 5), ("ok", "", "", None), ("ok", "", "", 6)]
    assert all(o.traceback == [] for o in outcomes if o.status == "ok")
    tb = outcomes[3].traceback
    assert tb and "ZeroDivisionError" in tb[-1] and not any("\x1b" in line for line in tb)
    assert any("1 / 0" in line for line in tb)
    assert outcomes[4].traceback and not any("\x1b" in line for line in outcomes[4].traceback)
    assert os.getcwd() == str(work)


def test_child_interrupts_a_running_cell_only(in_process):
    """SIGINT stops the cell that runs (KeyboardInterrupt, the child lives on); between
    cells, while the child waits for the next one, it is ignored."""
    grader, child = socket.socketpair()
    got, errors = [], []

    def drive():
        try:
            grader.settimeout(20)
            warm._send(grader, {"code": "import os, signal, time\n"
                                        "os.kill(os.getpid(), signal.SIGINT)\n"
                                        "time.sleep(10)", "history": True})
            got.append(plain.recv_outcome(grader, warm._recv_exact))
            time.sleep(0.2)  # the child is back in its recv: a signal now is ignored
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
            time.sleep(0.2)
            warm._send(grader, {"code": "y = 1", "history": True})
            got.append(plain.recv_outcome(grader, warm._recv_exact))
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            grader.shutdown(socket.SHUT_WR)

    t = threading.Thread(target=drive)
    with grader, child:
        t.start()
        t0 = time.monotonic()
        with pytest.raises(Exited) as info:
            warm._child(child, str(in_process), None, 1)
        t.join(10)
    assert not errors, errors
    assert info.value.code == 0
    assert [(o.status, o.ename, o.execution_count) for o in got] == [
        ("error", "KeyboardInterrupt", 1), ("ok", "", 2)]
    assert time.monotonic() - t0 < 8  # the sleep was interrupted


def test_child_memory_limit(in_process, monkeypatch):
    calls = []

    def limit_code(mb):
        calls.append(mb)
        return f"import sys\nsys._warm_test_limit = {mb}\n"
    monkeypatch.setattr(warm, "limit_code", limit_code)
    monkeypatch.setattr(warm, "memory_limit_supported", lambda: True)
    try:
        code, out = run_child([("import sys\nassert sys._warm_test_limit == 64", True)],
                              in_process, memory_mb=64)
        assert (code, [o.status for o in out], calls) == (0, ["ok"], [64])
        code, out = run_child([], in_process, memory_mb=None)
        assert (code, out, calls) == (0, [], [64])  # no limit asked: none set
        monkeypatch.setattr(warm, "memory_limit_supported", lambda: False)
        code, out = run_child([], in_process, memory_mb=64)
        assert (code, out, calls) == (0, [], [64])  # no RLIMIT_DATA here (macOS): none set
    finally:
        sys.__dict__.pop("_warm_test_limit", None)


def test_child_that_cannot_start_exits_70(in_process):
    """A failure before the first cell (here a missing folder) is "the kernel died"."""
    code, outcomes = run_child([("x = 1", True)], in_process / "missing")
    assert (code, outcomes) == (70, [])


def test_child_output_goes_nowhere(in_process, capfd):
    """Whatever a notebook prints, even to the file descriptors, never reaches the
    grader's terminal."""
    code, out = run_child([("import os\nprint('to stdout')\nos.write(1, b'fd1')\n"
                            "os.write(2, b'fd2')", True)], in_process)
    assert (code, [o.status for o in out]) == (0, ["ok"])
    captured = capfd.readouterr()
    assert "fd1" not in captured.out and "fd2" not in captured.err


# ========================================================================== the zygote
@pytest.fixture()
def sleepers():
    """Subprocesses standing for forked children (waitpid works on them: ours)."""
    procs = []

    def make():
        p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        procs.append(p)
        return p
    yield make
    for p in procs:
        try:
            p.kill()
            p.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            pass


def serve_with(conversation, forks, monkeypatch, scratch=None):
    """Run ``serve`` in this (main) thread while ``conversation(sock)`` talks to it from
    another; ``os.fork`` returns the pids in ``forks``. Returns serve's exit code and
    what setpgrp saw."""
    import matplotlib
    pgrp = []
    monkeypatch.setattr(os, "setpgrp", lambda: pgrp.append(True))
    pids = iter(forks)
    monkeypatch.setattr(os, "fork", lambda: next(pids))
    monkeypatch.setattr(matplotlib, "use", lambda name: pgrp.append(name))
    real_kill = os.kill

    def kill(pid, sig):  # a zygote that took 0 for a child's pid would stop the test run
        if pid <= 0:
            raise AssertionError(f"os.kill({pid}, {sig}): a process group, not a child")
        real_kill(pid, sig)
    monkeypatch.setattr(os, "kill", kill)
    grader, zygote = socket.socketpair()
    errors = []

    def talk():
        try:
            grader.settimeout(60)
            conversation(grader)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            grader.close()

    t = threading.Thread(target=talk)
    t.start()
    with pytest.raises(Exited) as info:
        warm.serve(zygote.detach(), scratch)
    t.join(30)
    assert not t.is_alive()
    if errors:
        raise errors[0]
    return info.value.code, pgrp


def test_zygote_forks_waits_and_reaps(in_process, monkeypatch, sleepers):
    import torch
    flags = (torch.are_deterministic_algorithms_enabled(),
             torch.is_deterministic_algorithms_warn_only_enabled())
    first, second = sleepers(), sleepers()
    seen = {}

    def conversation(g):
        seen["ready"] = warm._recv(g)
        seen["sigint"] = signal.getsignal(signal.SIGINT)
        warm._send(g, {"op": "fork", "cwd": "/nowhere", "memory_mb": 5, "threads": 1})
        fds = []
        seen["fork"] = warm._recv(g, fds)
        child = socket.socket(fileno=fds[0])
        child.settimeout(5)
        seen["child end"] = child.recv(10)  # the zygote kept no copy of the child's end
        child.close()
        warm._send(g, {"op": "wait", "pid": first.pid})  # running, no timeout: at once
        seen["running"] = warm._recv(g)
        t0 = time.monotonic()
        warm._send(g, {"op": "wait", "pid": first.pid, "timeout": 0.3})
        seen["running, waited"] = warm._recv(g), time.monotonic() - t0
        first.kill()
        warm._send(g, {"op": "wait", "pid": first.pid, "timeout": 10})
        seen["killed"] = warm._recv(g)
        warm._send(g, {"op": "wait", "pid": first.pid})  # asked again: remembered
        seen["again"] = warm._recv(g)
        warm._send(g, {"op": "wait", "pid": 2**22 + 12345})  # never forked
        seen["unknown"] = warm._recv(g)
        warm._send(g, {"op": "fork", "cwd": "/nowhere", "memory_mb": None, "threads": 1})
        seen["second"] = warm._recv(g, [])
        # then the grader goes away, with the second notebook still running

    code, pgrp = serve_with(conversation, [first.pid, second.pid], monkeypatch)
    assert code == 0
    assert pgrp == [True, "Agg"]  # its own process group; matplotlib without a display
    assert seen["ready"] == {"ready": os.getpid()}
    assert seen["sigint"] is signal.SIG_IGN  # Ctrl-C is for the grader
    assert seen["fork"] == {"pid": first.pid}
    assert seen["child end"] == b""
    assert seen["running"] == {"status": None}
    assert seen["running, waited"][0] == {"status": None}
    assert 0.3 <= seen["running, waited"][1] < 3
    assert seen["killed"] == seen["again"] == {"status": -signal.SIGKILL}
    assert seen["unknown"] == {"status": None}
    assert seen["second"] == {"pid": second.pid}
    with pytest.raises(ProcessLookupError):  # killed and reaped when the grader left
        os.kill(second.pid, 0)
    assert (torch.are_deterministic_algorithms_enabled(),
            torch.is_deterministic_algorithms_warn_only_enabled()) == flags
    for name in warm.PRELOAD:
        assert name in sys.modules


def test_sandboxed_zygote_signals_only_its_children_and_wipes_after_each(
        in_process, monkeypatch, sleepers):
    """In the OS sandbox the zygote is not dumpable, signals for the grader only children
    of its own, and after each child is reaped removes whatever in its tmpfs is not a
    running child's folder (so nothing reaches the next student)."""
    from coursekit import confine

    dumpable = []
    monkeypatch.setattr(confine, "set_dumpable", dumpable.append)
    scratch = in_process / "scratch"
    (scratch / "nb1" / "work").mkdir(parents=True)
    (scratch / "nb2" / "work").mkdir(parents=True)
    (scratch / "planted.txt").write_text("for the next student")
    (scratch / "nb1" / "work" / "notes.txt").write_text("mine")
    first, second = sleepers(), sleepers()
    seen = {}

    def conversation(g):
        warm._recv(g)
        for nb in ("nb1", "nb2"):
            warm._send(g, {"op": "fork", "cwd": str(scratch / nb / "work"), "memory_mb": None,
                           "threads": 1})
            warm._recv(g, [])
        warm._send(g, {"op": "signal", "pid": 1, "signum": 0})  # not a child: refused
        seen["stranger"] = warm._recv(g)
        warm._send(g, {"op": "signal", "pid": first.pid, "signum": signal.SIGKILL})
        seen["child"] = warm._recv(g)
        warm._send(g, {"op": "wait", "pid": first.pid, "timeout": 10})
        seen["reaped"] = warm._recv(g)
        seen["left"] = sorted(p.name for p in scratch.iterdir())

    code, _ = serve_with(conversation, [first.pid, second.pid], monkeypatch, str(scratch))
    assert code == 0 and dumpable == [False]
    assert seen["stranger"] == {"sent": False} and seen["child"] == {"sent": True}
    assert seen["reaped"] == {"status": -signal.SIGKILL}
    assert seen["left"] == ["nb2"]  # the running child's folder only


def test_child_in_the_sandbox_makes_its_folders_and_confines_itself_after_the_shell(
        in_process, monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell

    from coursekit import confine

    calls = []
    monkeypatch.setattr(confine, "set_dumpable", lambda flag: calls.append(("dumpable", flag)))
    monkeypatch.setattr(confine, "install", lambda disk_mb: calls.append(
        ("install", disk_mb, InteractiveShell.initialized())))
    monkeypatch.setenv("HOME", "/the/graders/home")
    nb = in_process / "scratch" / "nb"
    cells = [("import os\nassert os.environ['HOME'] == os.environ['TMPDIR'] == "
              f"{str(nb / 'home')!r}\nassert os.path.isdir(os.environ['HOME'])", True)]
    code, out = run_child(cells, nb / "work", sandbox={"disk_mb": 7})
    assert (code, [(o.status, o.evalue) for o in out]) == (0, [("ok", "")])
    assert os.getcwd() == str(nb / "work")  # made by the child (the zygote's tmpfs)
    # the IPython shell chmods its profile folder: it is made before chmod is refused
    assert calls == [("dumpable", True), ("install", 7, True)]


def test_zygote_fork_child_side(in_process, monkeypatch):
    """On the child's side of the fork the zygote's socket is closed and the notebook
    runs in ``msg["cwd"]`` with its bounds; here the grader's end of the child socket is
    gone at once, so the child finds no cell and exits 0."""
    calls = []
    monkeypatch.setattr(warm, "memory_limit_supported", lambda: True)
    monkeypatch.setattr(warm, "limit_code", lambda mb: calls.append(mb) or "")
    work = in_process / "w"
    work.mkdir()
    seen = {}

    def conversation(g):
        seen["ready"] = warm._recv(g)
        warm._send(g, {"op": "fork", "cwd": str(work), "memory_mb": 9, "threads": 2})
        seen["after fork"] = g.recv(10)  # the child closed its copy of the zygote's socket

    import torch
    code, _ = serve_with(conversation, [0], monkeypatch)
    assert code == 0 and seen["after fork"] == b"" and calls == [9]
    assert os.getcwd() == str(work) and torch.get_num_threads() == 2


# ========================================================================== Zygote
class FakePopen:
    """subprocess.Popen for the zygote: says ready (or not) on the socket it is given."""

    def __init__(self, argv, ready=True, **kwargs):
        self.argv, self.kwargs, self.calls = argv, kwargs, []
        fd = int(argv[-1])
        self.end = socket.socket(fileno=os.dup(fd))
        if ready:
            warm._send(self.end, {"ready": 4321})
        if ready is not None:
            self.end.close()

    def poll(self):
        return None

    def wait(self, timeout=None):
        self.calls.append(("wait", timeout))
        return 0

    def kill(self):
        self.calls.append(("kill",))


def test_zygote_starts_its_process(monkeypatch):
    monkeypatch.setattr(warm.Zygote, "__init__", ZYGOTE_INIT)
    made = []
    monkeypatch.setattr(warm.subprocess, "Popen",
                        lambda argv, **kw: made.append(FakePopen(argv, **kw)) or made[-1])
    monkeypatch.delenv("MPLBACKEND", raising=False)
    z = warm.Zygote(threads=3)
    (p,) = made
    fd = int(p.argv[-1])
    assert p.argv == [sys.executable, "-m", "coursekit.warm", str(fd)]
    assert p.kwargs == {"pass_fds": [fd], "env": {**kernel_env(3), "MPLBACKEND": "Agg"},
                        "stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL,
                        "stderr": subprocess.DEVNULL}
    assert z.proc is p and z.threads == 3
    assert z.sock.gettimeout() is None  # the start-up timeout is for the start only
    z.close()
    assert z.sock.fileno() == -1 and p.calls == [("wait", 10)]
    monkeypatch.setenv("MPLBACKEND", "pdf")  # a backend the user chose is kept
    warm.Zygote().close()
    assert made[-1].kwargs["env"] == {**kernel_env(1), "MPLBACKEND": "pdf"}


@pytest.mark.parametrize("ready, startup, why", [
    (False, 300, "the other end closed the connection"),  # it died while importing
    (None, 0.2, "timed out"),                              # it never said ready
])
def test_zygote_that_does_not_start(monkeypatch, ready, startup, why):
    monkeypatch.setattr(warm.Zygote, "__init__", ZYGOTE_INIT)
    monkeypatch.setattr(warm, "ZYGOTE_STARTUP", startup)
    made = []
    monkeypatch.setattr(warm.subprocess, "Popen",
                        lambda argv, **kw: made.append(FakePopen(argv, ready=ready)) or made[-1])
    with pytest.raises(RuntimeError) as info:
        warm.Zygote()
    assert str(info.value) == f"the warm-kernel zygote did not start: {why}"
    assert made[0].calls == [("wait", 10)]  # and it was stopped
    made[0].end.close()


def test_zygote_close_kills_a_zygote_that_does_not_stop():
    z = warm.Zygote.__new__(warm.Zygote)
    z.sock, _ = socket.socketpair()

    class Stuck(FakePopen):
        def __init__(self):
            self.calls = []

        def wait(self, timeout=None):
            self.calls.append(("wait", timeout))
            raise subprocess.TimeoutExpired("zygote", timeout)
    z.proc = Stuck()
    z.close()
    assert z.proc.calls == [("wait", 10), ("kill",)]
    _.close()


# ========================================================================== framing, kernel
def test_recv_reads_a_message_that_arrives_in_pieces():
    """A message cut in two, the next one right behind it: each is read whole, nothing
    of the next one is swallowed."""
    a, b = socket.socketpair()
    first, second = pickle.dumps({"n": 1, "pad": "x" * 50}), pickle.dumps({"n": 2})
    with a, b:
        b.settimeout(5)

        def send():
            a.sendall(struct.pack("!I", len(first)) + first[:10])
            time.sleep(0.2)
            a.sendall(first[10:] + struct.pack("!I", len(second)) + second)
        t = threading.Thread(target=send)
        t.start()
        assert warm._recv(b) == {"n": 1, "pad": "x" * 50}
        assert warm._recv(b) == {"n": 2}
        t.join()
        a.shutdown(socket.SHUT_WR)
        with pytest.raises(EOFError) as info:
            warm._recv(b)
        assert str(info.value) == "the other end closed the connection"


class RecordingZygote:
    def __init__(self, codes=(), delay=0.0):
        self.codes, self.delay, self.calls = list(codes), delay, []

    def wait(self, pid, timeout=0.0):
        self.calls.append((pid, timeout))
        time.sleep(self.delay)
        return self.codes.pop(0) if self.codes else None


def test_warm_kernel_alive_wait_and_dead():
    k = warm.WarmKernel("/w")
    k.zygote, k.pid = RecordingZygote(codes=[None, 0]), 4242
    assert k.alive() is True and k.alive() is False
    assert k.zygote.calls == [(4242, 0.0), (4242, 0.0)]  # asked about its own child
    mine, theirs = socket.socketpair()
    with mine, theirs:
        k.sock = mine
        t0 = time.monotonic()
        assert k._wait(None, time.monotonic() - 5) is None  # a deadline already passed
        assert time.monotonic() - t0 < 0.5
    k.zygote = RecordingZygote(codes=[-9], delay=0.05)
    out = k._dead(time.monotonic())
    assert out == Outcome("dead", detail="the kernel was killed by SIGKILL (often: out of "
                                         "memory)", seconds=out.seconds)
    assert 0.05 <= out.seconds < 2
    assert k.zygote.calls == [(4242, 5)]


# ========================================================================== warm kernels, a fake zygote
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


# ========================================================================== real warm kernels
# (slow: each test forks a zygote and runs cells in it)
NEEDS_FORK = pytest.mark.skipif(not warm.supported(), reason="needs os.fork")


@pytest.fixture
def kernel(tmp_path):
    with warm.WarmKernel(tmp_path, memory_mb=3072, grace=5) as k:
        yield k


@NEEDS_FORK
@pytest.mark.slow
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


@NEEDS_FORK
@pytest.mark.slow
def test_same_traceback_as_a_cold_kernel(kernel, tmp_path):
    cells = ["import numpy as np\ndef g(a):\n    return a[5]", "g(np.zeros(3))"]
    warm_out = [kernel.run(c, timeout=60) for c in cells][-1]
    with Kernel(tmp_path, memory_mb=3072) as cold:
        cold_out = [cold.run(c, timeout=120) for c in cells][-1]
    assert (warm_out.ename, warm_out.evalue) == (cold_out.ename, cold_out.evalue)
    assert warm_out.traceback[1:] == cold_out.traceback[1:]  # [0] is the header rule


@NEEDS_FORK
@pytest.mark.slow
def test_an_endless_loop_is_interrupted_and_the_kernel_goes_on(kernel):
    out = kernel.run("while True:\n    pass", timeout=2)
    assert out.status == "timeout"
    assert kernel.run("1 + 1", timeout=60).status == "ok"


@NEEDS_FORK
@pytest.mark.slow
def test_a_cell_that_ignores_the_interrupt_is_killed(kernel):
    out = kernel.run("import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                     "time.sleep(60)", timeout=1)
    assert out.status == "killed"


@pytest.mark.parametrize("code, why", [
    ("import os; os._exit(3)", "exited with code 3"),
    ("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)", "SIGSEGV"),
])
@NEEDS_FORK
@pytest.mark.slow
def test_a_dead_kernel_says_why_and_a_restart_is_fresh(kernel, code, why):
    kernel.run("x = 1", timeout=60)
    out = kernel.run(code, timeout=60)
    assert out.status == "dead" and why in out.detail
    kernel.restart()
    assert kernel.run("x", timeout=60).ename == "NameError"


@NEEDS_FORK
@pytest.mark.slow
def test_memory_limit_applies_in_the_child(tmp_path):
    if not warm.memory_limit_supported():
        pytest.skip("RLIMIT_DATA is enforced on Linux only")
    with warm.WarmKernel(tmp_path, memory_mb=1024) as k:
        out = k.run("import numpy as np\na = np.ones((400, 1024, 1024))", timeout=60)
    assert out.ename == "MemoryError"


@NEEDS_FORK
@pytest.mark.slow
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
