"""Warm kernels: pay for importing torch once, not once per graded notebook.

Starting a Jupyter kernel and importing torch, NumPy, matplotlib and the course takes
about 4 s; running a seminar's cells takes well under one. A *zygote* process imports the
heavy modules once and then forks a fresh child per notebook: the child runs the cells in
an IPython shell (the same traceback format as a Jupyter kernel: ``Cell In[3], line 2``),
bounded like ``coursekit.sandbox.Kernel`` (time, memory, one thread), and exits when the
notebook is done. No state passes from one student to the next: each notebook gets a
new process forked from the same untouched zygote, which never runs student code.

    with WarmKernel(cwd=tmp, memory_mb=3072) as k:   # same interface as sandbox.Kernel
        outcome = k.run("x = 1 / 0", timeout=30)

The zygote is started on first use, one per grading process, and stops when that process
exits (it sees its socket close). Linux and macOS (``os.fork``); elsewhere use Kernel.

**In the OS sandbox** (``WarmKernel(..., sandbox=bwrap.Sandbox(...))``) the zygote runs
under bubblewrap (``coursekit/bwrap.py``) as the init of its PID namespace, which its
children cannot signal, and not dumpable, so they cannot trace it or read its memory; the
grader talks to it over the inherited socket pair, and it signals its children for the
grader (their pids are those of its namespace). Its writable tmpfs holds the children's
folders: each child makes its own (working folder and HOME), installs
``coursekit/confine.py`` before its first cell, and after each child exits the zygote
wipes whatever is not a running child's, so nothing a student wrote reaches the next one.
"""
from __future__ import annotations

import os
import pickle
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

from . import plain
from .sandbox import (
    BoundedKernel,
    Outcome,
    exit_reason,
    kernel_env,
    limit_code,
    memory_limit_supported,
    strip_ansi,
)

PRELOAD = ("numpy", "torch", "torch.nn", "torch.nn.functional", "torch.utils.data",
           "matplotlib", "matplotlib.pyplot", "sklearn", "sklearn.datasets",
           "sklearn.model_selection", "sklearn.linear_model", "IPython", "utils",
           "utils.checks", "utils.data", "utils.functional", "utils.training",
           "utils.plotting", "coursekit.probe")


# The zygote imports everything once: on a loaded 2-core machine that took over a minute.
ZYGOTE_STARTUP = 300


def supported() -> bool:
    return hasattr(os, "fork") and hasattr(socket, "send_fds")


# ------------------------------------------------------------------ framing
def _send(sock: socket.socket, obj, fds=()) -> None:
    data = pickle.dumps(obj)
    header = struct.pack("!I", len(data))
    if fds:
        socket.send_fds(sock, [header + data], list(fds))
    else:
        sock.sendall(header + data)


def _recv_exact(sock: socket.socket, n: int, fds: list | None = None) -> bytes:
    buf = b""
    while len(buf) < n:
        if fds is not None and not buf:
            chunk, got, _, _ = socket.recv_fds(sock, n - len(buf), 1)
            fds.extend(got)
        else:
            chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("the other end closed the connection")
        buf += chunk
    return buf


def _recv(sock: socket.socket, fds: list | None = None):
    (size,) = struct.unpack("!I", _recv_exact(sock, 4, fds))
    return pickle.loads(_recv_exact(sock, size))


# ------------------------------------------------------------------ the child (one notebook)
def _prepare(cwd: str, memory_mb: int | None, threads: int, sandbox: dict | None) -> None:
    """A fresh child's folders, silence, memory limit and threads (before any cell)."""
    if sandbox is not None:
        home = os.path.join(os.path.dirname(cwd), "home")
        os.makedirs(cwd, exist_ok=True)
        os.makedirs(home, exist_ok=True)
        os.environ.update(HOME=home, TMPDIR=home)
    os.chdir(cwd)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    if memory_mb and memory_limit_supported():
        exec(limit_code(memory_mb), {})
    import torch
    torch.set_num_threads(threads)


def _child(sock: socket.socket, cwd: str, memory_mb: int | None, threads: int,
           sandbox: dict | None = None) -> None:
    """Run cells sent over ``sock`` until it closes; never returns. ``sandbox``
    ({"disk_mb": n}): in the zygote's OS sandbox, make the folders and confine."""
    code = 0
    try:
        _prepare(cwd, memory_mb, threads, sandbox)
        from IPython.core.interactiveshell import InteractiveShell

        shell = InteractiveShell.instance(colors="nocolor")
        if sandbox is not None:  # after the shell: it chmods its profile folder
            from . import confine

            confine.set_dumpable(True)  # its own /proc files stay its own
            confine.install(sandbox["disk_mb"])
        error: dict = {}
        shell._showtraceback = lambda etype, evalue, stb: error.update(
            ename=etype.__name__, evalue=str(evalue), traceback=list(stb))
        running = [False]

        def interrupt(signum, frame):  # only a running cell is interrupted
            if running[0]:
                raise KeyboardInterrupt

        signal.signal(signal.SIGINT, interrupt)
        while True:
            try:
                msg = _recv(sock)
            except EOFError:
                break
            error.clear()
            count = shell.execution_count if msg["history"] else None
            running[0] = True
            try:
                shell.run_cell(msg["code"], store_history=msg["history"])
            finally:
                running[0] = False
            if "matplotlib.pyplot" in sys.modules:  # as the inline backend does
                sys.modules["matplotlib.pyplot"].close("all")
            if error:
                plain.send_outcome(sock, Outcome("error", error["ename"], strip_ansi(error["evalue"]),
                                    [strip_ansi(t) for t in error["traceback"]], count))
            else:
                plain.send_outcome(sock, Outcome("ok", execution_count=count))
    except BaseException:  # noqa: BLE001 - report nothing, exit non-zero: "the kernel died"
        code = 70
    finally:
        os._exit(code)


# ------------------------------------------------------------------ the zygote
def _wipe(scratch: str, keep) -> None:
    """Remove everything in ``scratch`` but the folders ``keep`` (running children's)."""
    for name in os.listdir(scratch):
        path = os.path.join(scratch, name)
        if path in keep:
            continue
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                os.remove(path)
            except OSError:
                pass


def serve(fd: int, scratch: str | None = None) -> None:
    """The zygote's loop: import once, then fork a child per request (``python -m
    coursekit.warm FD [SCRATCH]``; SCRATCH: in the OS sandbox, the children's tmpfs)."""
    try:
        os.setpgrp()  # Ctrl-C in the grader's terminal is the grader's business, not ours
    except OSError:  # the sandbox's session leader already
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if scratch is not None:
        from . import confine

        confine.set_dumpable(False)
    sock = socket.socket(fileno=fd)
    import matplotlib
    matplotlib.use("Agg")
    from importlib import import_module
    for name in PRELOAD:
        import_module(name)
    import torch
    # its first call imports torch's compiler stack (seconds): every setup cell makes it
    torch.use_deterministic_algorithms(torch.are_deterministic_algorithms_enabled(),
                                       warn_only=torch.is_deterministic_algorithms_warn_only_enabled())
    _send(sock, {"ready": os.getpid()})
    children, statuses = {}, {}  # running: pid -> its folder; pid -> exit code of those reaped
    while True:
        try:
            msg = _recv(sock)
        except (EOFError, OSError):
            break
        if msg["op"] == "fork":
            grader_end, child_end = socket.socketpair()
            pid = os.fork()
            if pid == 0:
                sock.close()
                grader_end.close()
                signal.signal(signal.SIGINT, signal.default_int_handler)
                if msg.get("probe") is not None:
                    from .probe import start

                    start(child_end, msg, _prepare)
                _child(child_end, msg["cwd"], msg["memory_mb"], msg["threads"],
                       msg.get("sandbox"))
            child_end.close()
            children[pid] = os.path.dirname(msg["cwd"])
            _send(sock, {"pid": pid}, fds=[grader_end.fileno()])
            grader_end.close()
        elif msg["op"] == "signal":  # only a child of ours: the grader cannot see its pid
            sent = msg["pid"] in children
            if sent:
                try:
                    os.kill(msg["pid"], msg["signum"])
                except OSError:
                    sent = False
            _send(sock, {"sent": sent})
        elif msg["op"] == "cpu":  # a child's CPU seconds, as the kernel counts them
            from .probe import cpu_seconds

            _send(sock, {"cpu": cpu_seconds(msg["pid"]) if msg["pid"] in children else None})
        elif msg["op"] == "wait":  # the exit status of a child that is gone (or None)
            pid = msg["pid"]
            deadline = time.monotonic() + msg.get("timeout", 0)
            while pid in children:
                done, raw = os.waitpid(pid, os.WNOHANG)
                if done:
                    children.pop(pid)
                    statuses[pid] = os.waitstatus_to_exitcode(raw)
                    if scratch is not None:
                        _wipe(scratch, set(children.values()))
                elif time.monotonic() >= deadline:
                    break
                else:
                    time.sleep(0.02)
            _send(sock, {"status": statuses.get(pid)})
    for pid in children:  # the grader is gone: so are its notebooks
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except OSError:
            pass
    os._exit(0)


class Zygote:
    """The process that forks warm children; one per grading process, started lazily."""

    _current: "Zygote | None" = None

    def __init__(self, threads: int = 1, sandbox=None):
        grader_end, zygote_end = socket.socketpair()
        argv = [sys.executable, "-m", "coursekit.warm", str(zygote_end.fileno())]
        extra: dict = {}
        if sandbox is None:
            env = kernel_env(threads)
        else:  # under bubblewrap, its init; a new session: Ctrl-C is the grader's
            from . import bwrap

            scratch = bwrap.scratch_root()
            home = os.path.join(scratch, ".zygote")
            env = kernel_env(threads, home=home)
            argv = bwrap.command(sandbox.view(scratch, dirs=(home,), cwd=home,
                                              as_pid_1=True), argv + [scratch])
            extra = {"start_new_session": True}
        env.setdefault("MPLBACKEND", "Agg")
        self.proc = subprocess.Popen(
            argv, pass_fds=[zygote_end.fileno()], env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **extra)
        zygote_end.close()
        self.sock, self.threads, self.sandbox = grader_end, threads, sandbox
        self.sock.settimeout(ZYGOTE_STARTUP)
        try:
            _recv(self.sock)
        except (EOFError, OSError) as exc:
            self.close()
            raise RuntimeError(f"the warm-kernel zygote did not start: {exc}") from None
        self.sock.settimeout(None)

    @classmethod
    def get(cls, threads: int = 1, sandbox=None) -> "Zygote":
        z = cls._current
        if z is None or z.proc.poll() is not None or z.threads != threads or \
                z.sandbox != sandbox:
            if z is not None:
                z.close()
            z = cls._current = cls(threads, sandbox)
        return z

    def fork(self, cwd: str, memory_mb: int | None, probe: dict | None = None
             ) -> tuple[int, socket.socket]:
        """A new child in ``cwd``: a notebook kernel, or with ``probe`` ({"deny": folders})
        a probe process (``coursekit/probe.py``). (its pid, a socket to it)"""
        msg = {"op": "fork", "cwd": str(cwd), "memory_mb": memory_mb, "threads": self.threads}
        if probe is not None:
            msg["probe"] = probe
        if self.sandbox is not None:
            msg["sandbox"] = {"disk_mb": self.sandbox.disk_mb}
        _send(self.sock, msg)
        fds: list = []
        reply = _recv(self.sock, fds)
        return reply["pid"], socket.socket(fileno=fds[0])

    def signal(self, pid: int, signum: int) -> bool:
        """Send ``signum`` to the child ``pid`` (a pid of the zygote's namespace)."""
        _send(self.sock, {"op": "signal", "pid": pid, "signum": int(signum)})
        return _recv(self.sock)["sent"]

    def cpu(self, pid: int) -> float | None:
        """The child's CPU seconds so far (``cpu_seconds`` in the zygote's namespace)."""
        _send(self.sock, {"op": "cpu", "pid": pid})
        return _recv(self.sock)["cpu"]

    def wait(self, pid: int, timeout: float = 0.0) -> int | None:
        """The child's exit code (negative: killed by that signal), None if it runs."""
        _send(self.sock, {"op": "wait", "pid": pid, "timeout": timeout})
        return _recv(self.sock)["status"]

    def close(self) -> None:
        try:
            self.sock.close()
        finally:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class WarmKernel(BoundedKernel):
    """``sandbox.Kernel``'s interface on a child forked from the warm zygote: the bounds,
    ``run`` (interrupt, grace, kill) and ``restart`` come from ``BoundedKernel``."""

    def __init__(self, *args, **kwargs):  # BoundedKernel's (cwd, memory_mb, threads, grace,
        super().__init__(*args, **kwargs)  # sandbox)
        self.pid, self.sock, self.zygote = None, None, None

    def start(self) -> "WarmKernel":
        if self.sandbox is not None:
            from .bwrap import scratch_root

            if os.path.dirname(os.path.dirname(self.cwd)) != scratch_root():
                raise ValueError(f"a sandboxed warm kernel works in a folder of a folder of "
                                 f"{scratch_root()} (the zygote's tmpfs), not {self.cwd}")
        self.zygote = Zygote.get(self.threads, self.sandbox)
        self.pid, self.sock = self.zygote.fork(self.cwd, self.memory_mb)
        return self

    def shutdown(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.pid is not None:
            try:
                self.zygote.signal(self.pid, signal.SIGKILL)
                self.zygote.wait(self.pid, timeout=5)
            except (EOFError, OSError):
                pass
            self.pid = None

    def alive(self) -> bool:
        return self.pid is not None and self.zygote.wait(self.pid) is None

    def _submit(self, code: str, history: bool):
        t0 = time.monotonic()
        try:
            _send(self.sock, {"code": code, "history": history})
        except OSError:
            return self._dead(t0)
        return None

    def _interrupt(self) -> None:
        self.zygote.signal(self.pid, signal.SIGINT)

    def _wait(self, handle, deadline: float) -> Outcome | None:
        self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            return plain.recv_outcome(self.sock, _recv_exact)
        except (TimeoutError, socket.timeout):
            return None
        except (EOFError, OSError):
            return self._dead(time.monotonic())

    def _dead(self, t0: float) -> Outcome:
        try:
            code = self.zygote.wait(self.pid, timeout=5)
        except (EOFError, OSError):  # the zygote itself is gone (the next start makes one)
            code = None
        return Outcome("dead", detail=exit_reason(code), seconds=time.monotonic() - t0)


if __name__ == "__main__":
    serve(int(sys.argv[1]), *sys.argv[2:3])
