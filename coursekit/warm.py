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
"""
from __future__ import annotations

import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
import time

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
           "sklearn.model_selection", "IPython", "utils", "utils.checks", "utils.data",
           "utils.functional", "utils.training", "utils.plotting")


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
def _child(sock: socket.socket, cwd: str, memory_mb: int | None, threads: int) -> None:
    """Run cells sent over ``sock`` until it closes; never returns."""
    code = 0
    try:
        os.chdir(cwd)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        if memory_mb and memory_limit_supported():
            exec(limit_code(memory_mb), {})
        import torch
        torch.set_num_threads(threads)
        from IPython.core.interactiveshell import InteractiveShell

        shell = InteractiveShell.instance(colors="nocolor")
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
                _send(sock, Outcome("error", error["ename"], strip_ansi(error["evalue"]),
                                    [strip_ansi(t) for t in error["traceback"]], count))
            else:
                _send(sock, Outcome("ok", execution_count=count))
    except BaseException:  # noqa: BLE001 - report nothing, exit non-zero: "the kernel died"
        code = 70
    finally:
        os._exit(code)


# ------------------------------------------------------------------ the zygote
def serve(fd: int) -> None:
    """The zygote's loop: import once, then fork a child per request (``python -m
    coursekit.warm FD``)."""
    os.setpgrp()  # Ctrl-C in the grader's terminal is the grader's business, not ours
    signal.signal(signal.SIGINT, signal.SIG_IGN)
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
    children, statuses = set(), {}  # running; pid -> exit code of those reaped
    while True:
        try:
            msg = _recv(sock)
        except (EOFError, OSError):
            break
        if msg["op"] == "fork":
            mine, theirs = socket.socketpair()
            pid = os.fork()
            if pid == 0:
                sock.close()
                mine.close()
                signal.signal(signal.SIGINT, signal.default_int_handler)
                _child(theirs, msg["cwd"], msg["memory_mb"], msg["threads"])
            theirs.close()
            children.add(pid)
            _send(sock, {"pid": pid}, fds=[mine.fileno()])
            mine.close()
        elif msg["op"] == "wait":  # the exit status of a child that is gone (or None)
            pid = msg["pid"]
            deadline = time.monotonic() + msg.get("timeout", 0)
            while pid in children:
                done, raw = os.waitpid(pid, os.WNOHANG)
                if done:
                    children.discard(pid)
                    statuses[pid] = os.waitstatus_to_exitcode(raw)
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

    def __init__(self, threads: int = 1):
        mine, theirs = socket.socketpair()
        env = kernel_env(threads)
        env.setdefault("MPLBACKEND", "Agg")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "coursekit.warm", str(theirs.fileno())],
            pass_fds=[theirs.fileno()], env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        theirs.close()
        self.sock, self.threads = mine, threads
        self.sock.settimeout(ZYGOTE_STARTUP)
        try:
            _recv(self.sock)
        except (EOFError, OSError) as exc:
            self.close()
            raise RuntimeError(f"the warm-kernel zygote did not start: {exc}") from None
        self.sock.settimeout(None)

    @classmethod
    def get(cls, threads: int = 1) -> "Zygote":
        z = cls._current
        if z is None or z.proc.poll() is not None or z.threads != threads:
            if z is not None:
                z.close()
            z = cls._current = cls(threads)
        return z

    def fork(self, cwd: str, memory_mb: int | None) -> tuple[int, socket.socket]:
        _send(self.sock, {"op": "fork", "cwd": str(cwd), "memory_mb": memory_mb,
                          "threads": self.threads})
        fds: list = []
        reply = _recv(self.sock, fds)
        return reply["pid"], socket.socket(fileno=fds[0])

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

    def __init__(self, *args, **kwargs):  # BoundedKernel's (cwd, memory_mb, threads, grace)
        super().__init__(*args, **kwargs)
        self.pid, self.sock, self.zygote = None, None, None

    def start(self) -> "WarmKernel":
        self.zygote = Zygote.get(self.threads)
        self.pid, self.sock = self.zygote.fork(self.cwd, self.memory_mb)
        return self

    def shutdown(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
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
        os.kill(self.pid, signal.SIGINT)

    def _wait(self, handle, deadline: float) -> Outcome | None:
        self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            return _recv(self.sock)
        except (TimeoutError, socket.timeout):
            return None
        except (EOFError, OSError):
            return self._dead(time.monotonic())

    def _dead(self, t0: float) -> Outcome:
        code = self.zygote.wait(self.pid, timeout=5)
        return Outcome("dead", detail=exit_reason(code), seconds=time.monotonic() - t0)


if __name__ == "__main__":
    serve(int(sys.argv[1]))
