"""A Jupyter kernel with bounds, for running untrusted notebook cells one at a time.

    with Kernel(cwd=tmp, memory_mb=3072, threads=1) as k:
        outcome = k.run("x = 1 / 0", timeout=30)   # Outcome(status="error", ename=...)

What it bounds, and how:
- **time**: ``run`` waits at most ``timeout`` seconds for the cell, then interrupts the
  kernel (SIGINT, a ``KeyboardInterrupt`` in the cell). A kernel that does not come back
  within ``grace`` seconds (a C loop ignoring signals, a SIGINT handler) is killed.
- **memory**: ``RLIMIT_DATA`` (Linux: the private writable memory of the process, i.e.
  heap and anonymous mappings -- what RSS grows from) is set inside the kernel before any
  other code runs, hard and soft. ``RLIMIT_AS`` would not do: the CUDA build of torch
  maps about 3 GB of address space (shared libraries) on ``import torch`` alone, while
  its data segment stays under 1 GB. An allocation over the limit fails at once with
  ``MemoryError`` / torch's "can't allocate memory" instead of the machine swapping or
  the OOM killer taking a random process. Linux only (macOS does not enforce it): on
  other systems the kernel runs without a memory limit.
- **environment**: a fresh process in ``cwd`` (a temporary directory), the course's own
  Python (nbval's current-environment kernel), one BLAS/OpenMP thread (so results do not
  depend on how many kernels run in parallel), ``PYTHONHASHSEED=0``, no visible GPU, and
  of the grader's environment variables only those a kernel needs (``kernel_env``: no
  token or secret of the grading process).
- **the OS sandbox** (``sandbox=bwrap.Sandbox(...)``, see ``coursekit/bwrap.py``): the
  kernel runs under bubblewrap, without network, seeing only the Python environment and
  the course's public files, writing only to a size-limited tmpfs around ``cwd`` (the
  folder above ``cwd`` holds its HOME); it talks to the grader over Unix sockets in a
  folder of its own (read-only once they are bound), and installs
  ``coursekit/confine.py`` (no new processes, no uncounted memory, no chmod) before any
  cell. Interrupts travel as Jupyter messages.

- **reach and tampering** (``Guard``, see ``coursekit/guard.py``): installed first thing in a
  kernel (this one or any with the same ``run``), an audit hook refuses to open, list or
  copy anything under the denied folders and to start processes; ``Guard.sync`` restores
  the checks and the names instructor cells bound.

Without the OS sandbox this is a guard against accidents and shortcuts (endless loops,
huge tensors, crashes, a peek at the solutions, a patched check), not a security
boundary: a hostile student cell can still use the network or ``ctypes``.
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from queue import Empty

STARTUP_TIMEOUT = 60  # seconds for a kernel to start (import of ipykernel, zmq handshake)
GRACE = 10  # seconds an interrupted kernel gets to come back before it is killed

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


@dataclass
class Outcome:
    """What running one cell gave.

    status: "ok", "error" (the cell raised), "timeout" (interrupted, kernel alive),
    "killed" (timed out and did not respond to the interrupt: the kernel was killed)
    or "dead" (the kernel process died while running the cell).
    """
    status: str
    ename: str = ""
    evalue: str = ""
    traceback: list = field(default_factory=list)  # lines, ANSI codes removed
    execution_count: int | None = None
    seconds: float = 0.0
    detail: str = ""  # why a kernel died (exit code / signal, last stderr line)


# the grader's environment variables a kernel gets (all others - tokens, keys, CI
# secrets - stay with the grader), besides those kernel_env sets
ENV_KEEP = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TERM", "TMPDIR",
    "VIRTUAL_ENV", "LD_LIBRARY_PATH", "MPLBACKEND", "MPLCONFIGDIR", "IPYTHONDIR",
    "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "JUPYTER_PATH",
    "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "PYTHONPATH",
    "PYTHONHOME", "PYTHONNOUSERSITE", "PYTHONUSERBASE", "PYTHONDONTWRITEBYTECODE",
    "PYTHONWARNINGS", "PYTHONIOENCODING", "PYTHONUTF8", "COURSE_DATA", "COURSE_DEVICE",
    "COURSE_THREADS"})
# in the OS sandbox these point into its scratch folder or are not set
SANDBOX_DROP = ("MPLCONFIGDIR", "IPYTHONDIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME",
                "XDG_DATA_HOME", "JUPYTER_PATH", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR",
                "JUPYTER_RUNTIME_DIR", "PYTHONUSERBASE")


def kernel_env(threads: int = 1, home: str | None = None) -> dict:
    """The environment of a grading kernel: ENV_KEEP of this one, made deterministic and
    CPU-only. ``home``: a sandboxed kernel's HOME and TMPDIR (its PATH: this Python's
    folder and the system's)."""
    env = {k: v for k, v in os.environ.items() if k in ENV_KEEP or k.startswith("LC_")}
    n = str(threads)
    env.update(PYTHONHASHSEED="0", OMP_NUM_THREADS=n, MKL_NUM_THREADS=n,
               OPENBLAS_NUM_THREADS=n, CUDA_VISIBLE_DEVICES="", TQDM_DISABLE="1",
               PYDEVD_DISABLE_FILE_VALIDATION="1")
    if home is not None:
        for k in SANDBOX_DROP:
            env.pop(k, None)
        env.update(HOME=home, TMPDIR=home, USER="student", LOGNAME="student",
                   PATH=os.pathsep.join([os.path.dirname(sys.executable), "/usr/local/bin",
                                         "/usr/bin", "/bin"]))
    return env


def limit_code(memory_mb: int | None) -> str:
    """Python source that caps the data segment of the process running it."""
    if not memory_mb:
        return ""
    n = int(memory_mb) * 2**20
    return ("import resource as _r\n"
            f"_r.setrlimit(_r.RLIMIT_DATA, ({n}, {n}))\n"
            "del _r\n")


def confine_code(disk_mb: int | None) -> str:
    """Python source that installs ``coursekit/confine.py`` in the (sandboxed) process
    running it, binding no name in the notebook's namespace."""
    from pathlib import Path

    source = (Path(__file__).with_name("confine.py")).read_text()
    return (f"(lambda ns: (exec(compile({source!r}, '<grader confine>', 'exec'), ns), "
            f"ns['install']({disk_mb!r})))({{'__name__': '_grader_confine'}})\n")


def guard_code(deny, token: str, solution_names=()) -> str:
    """Python source that installs ``coursekit/guard.py`` in the process running it, binding
    no name in the notebook's namespace."""
    from pathlib import Path

    source = (Path(__file__).with_name("guard.py")).read_text()
    args = (sorted(str(d) for d in deny), token, sorted(solution_names))
    return (f"(lambda ns: (exec(compile({source!r}, '<grader guard>', 'exec'), ns), "
            f"ns['install'](*{args!r})))({{'__name__': '_grader_guard'}})\n")


class Guard:
    """The grader's guard (``coursekit/guard.py``) in a kernel: anything with
    ``run(code, timeout, history)`` (``Kernel``, ``coursekit.warm.WarmKernel``).

        guard = Guard(deny=[folders], solution_names=names)
        guard.install(kernel)                  # after every (re)start, before any cell
        guard.sync(kernel, capture, restore)   # between cells, no execution count
    """

    def __init__(self, deny, solution_names=()):
        self.deny, self.solution_names = [str(d) for d in deny], tuple(solution_names)
        self.token = ""  # the guard's handle in the kernel: sys.modules["_grader_<token>"]
        self.pending = ()  # names the last instructor cell bound, not yet remembered

    def install(self, kernel, timeout: float = STARTUP_TIMEOUT) -> None:
        self.token, self.pending = secrets.token_hex(8), ()
        out = kernel.run(guard_code(self.deny, self.token, self.solution_names),
                         timeout=timeout, history=False)
        if out.status != "ok":
            raise RuntimeError(f"could not install the grader's guard in the kernel: "
                               f"{out.ename or out.status}: {out.evalue or out.detail}")

    def sync(self, kernel, capture=(), restore: bool = False,
             timeout: float = STARTUP_TIMEOUT) -> Outcome:
        """Remember the values of the names ``capture`` (bound by the instructor cell that
        just ran) and, with ``restore``, put back every remembered name and module
        attribute."""
        code = (f"__import__('sys').modules['_grader_{self.token}'].sync("
                f"{sorted(capture)!r}, {bool(restore)})")
        return kernel.run(code, timeout=timeout, history=False)


def memory_limit_supported() -> bool:
    return sys.platform.startswith("linux")


def exit_reason(code: int | None) -> str:
    """Why a kernel process ended, from its exit code (negative: a signal; None: unknown)."""
    if code is None:
        return "the kernel process exited"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = {"SIGKILL": " (often: out of memory)", "SIGSEGV": " (a crash in native code)",
                "SIGABRT": " (a native library aborted)"}.get(name, "")
        return f"the kernel was killed by {name}{hint}"
    return f"the kernel exited with code {code} (os._exit, exit()/quit() or a fatal error)"


class BoundedKernel:
    """What every grading kernel shares: its bounds, its lifecycle and ``run`` with the
    deadline -> interrupt -> grace -> kill sequence. A subclass says how to start, stop,
    interrupt and talk to its process (``Kernel``: a Jupyter kernel;
    ``coursekit.warm.WarmKernel``: a child forked from a warm zygote)."""

    def __init__(self, cwd, memory_mb: int | None = 3072, threads: int = 1,
                 grace: float = GRACE, sandbox=None):
        self.cwd, self.memory_mb, self.threads, self.grace = str(cwd), memory_mb, threads, grace
        self.sandbox = sandbox  # a coursekit.bwrap.Sandbox, or None: no OS sandbox

    # ------------------------------------------------------------------ for subclasses
    def start(self):
        raise NotImplementedError

    def shutdown(self) -> None:
        raise NotImplementedError

    def alive(self) -> bool:
        raise NotImplementedError

    def _submit(self, code: str, history: bool):
        """Send ``code`` for execution: a handle for ``_wait``, or an Outcome when the
        process is already gone."""
        raise NotImplementedError

    def _wait(self, handle, deadline: float) -> Outcome | None:
        """The cell's Outcome (``dead`` if the process exits); None once ``deadline``
        passes."""
        raise NotImplementedError

    def _interrupt(self) -> None:
        """A KeyboardInterrupt in the running cell (SIGINT)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ lifecycle
    def restart(self):
        """A fresh process (all state lost), with the same limits."""
        self.shutdown()
        return self.start()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.shutdown()

    # ------------------------------------------------------------------ running code
    def run(self, code: str, timeout: float, history: bool = True) -> Outcome:
        """Run ``code`` and wait for it, at most ``timeout`` seconds (then interrupt).
        ``history=False`` runs it without an execution count (grader's own code)."""
        t0 = time.monotonic()
        handle = self._submit(code, history)
        if isinstance(handle, Outcome):
            out = handle
        else:
            out = self._wait(handle, t0 + timeout)
        if out is None:  # deadline passed: interrupt, give it a grace period, else kill
            self._interrupt()
            out = self._wait(handle, time.monotonic() + self.grace)
            if out is not None and out.status != "dead":
                out = Outcome("timeout", execution_count=out.execution_count)
            else:
                self.shutdown()
                out = Outcome("killed", detail=f"it ignored the interrupt for {self.grace:g} "
                                               "s and was killed")
        out.seconds = time.monotonic() - t0
        return out


class Kernel(BoundedKernel):
    """One IPython kernel process in ``cwd``; restartable; always shut down on exit."""

    def __init__(self, *args, **kwargs):  # BoundedKernel's (cwd, memory_mb, threads, grace,
        super().__init__(*args, **kwargs)  # sandbox)
        self.km = self.kc = None
        self.sockets = None  # the sandboxed kernel's folder of Unix sockets

    def start(self) -> "Kernel":
        from jupyter_client import KernelManager
        from nbval.kernel import CURRENT_ENV_KERNEL_NAME, NbvalKernelspecManager

        # The process's own stdout/stderr (C-level warnings, "Segmentation fault") would
        # land in the grader's terminal; what a cell prints travels over zmq instead.
        self.km = KernelManager(kernel_name=CURRENT_ENV_KERNEL_NAME,
                                kernel_spec_manager=NbvalKernelspecManager())
        env = kernel_env(self.threads)
        if self.sandbox is not None:
            env = self._sandboxed(self.km)
        self.km.start_kernel(cwd=self.cwd, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.kc = self.km.client()
        self.kc.start_channels()
        try:
            self.kc.wait_for_ready(timeout=STARTUP_TIMEOUT)
        except RuntimeError:
            self.shutdown()
            raise
        setup = [("set the memory limit", limit_code(self.memory_mb)
                  if self.memory_mb and memory_limit_supported() else "")]
        if self.sandbox is not None:
            setup.append(("confine the kernel", confine_code(self.sandbox.disk_mb)))
        for what, code in setup:
            out = self.run(code, timeout=STARTUP_TIMEOUT, history=False) if code else None
            if out is not None and out.status != "ok":
                self.shutdown()
                raise RuntimeError(f"could not {what} in the kernel: {out.ename}: "
                                   f"{out.evalue}")
        if self.sockets is not None:  # its sockets are bound: no more files there (and the
            os.chmod(self.km.connection_file, 0o400)  # kernel may not chmod: confine.py)
            os.chmod(self.sockets, 0o555)
        return self

    def _sandboxed(self, km) -> dict:
        """Make ``km`` start its kernel under bubblewrap: Unix sockets in a folder of its
        own instead of TCP (the kernel has no network), interrupts as messages (a signal
        would reach bwrap, not the kernel). The kernel's environment."""
        from . import bwrap

        self.sockets = tempfile.mkdtemp(prefix="ck-")  # short: a socket path has <= 107 bytes
        km.transport, km.ip = "ipc", os.path.join(self.sockets, "k")
        km.connection_file = os.path.join(self.sockets, "kernel.json")
        km.kernel_spec.interrupt_mode = "message"
        scratch = os.path.dirname(self.cwd)
        home = os.path.join(scratch, "home")
        view = self.sandbox.view(scratch, rw=[self.sockets], dirs=(self.cwd, home),
                                 cwd=self.cwd)
        plain = km.format_kernel_cmd
        km.format_kernel_cmd = lambda extra_arguments=None: bwrap.command(
            view, plain(extra_arguments))
        return kernel_env(self.threads, home=home)

    def shutdown(self) -> None:
        if self.kc is not None:
            self.kc.stop_channels()
            self.kc = None
        if self.sockets is not None:  # writable again for jupyter_client's clean-up
            try:
                os.chmod(self.sockets, 0o700)
            except OSError:
                pass
        if self.km is not None:
            try:
                self.km.shutdown_kernel(now=True)
            except Exception:  # already dead: nothing to stop
                pass
            self.km = None
        if self.sockets is not None:
            shutil.rmtree(self.sockets, ignore_errors=True)
            self.sockets = None

    def alive(self) -> bool:
        return self.km is not None and self.km.is_alive()

    def _submit(self, code: str, history: bool) -> str:
        return self.kc.execute(code, store_history=history, allow_stdin=False,
                               stop_on_error=False)

    def _interrupt(self) -> None:
        self.km.interrupt_kernel()

    def _wait(self, msg_id: str, deadline: float) -> Outcome | None:
        """Collect the iopub messages of ``msg_id`` until the kernel is idle again.
        None when ``deadline`` passes first; an Outcome("dead") when the process exits."""
        error, count = None, None
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                msg = self.kc.get_iopub_msg(timeout=min(1.0, left))
            except Empty:
                if not self.km.is_alive():
                    return Outcome("dead", execution_count=count, detail=self._death())
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "execute_input":
                count = content.get("execution_count")
            elif kind == "error":
                error = content
            elif kind == "status" and content.get("execution_state") == "idle":
                if error is None:
                    return Outcome("ok", execution_count=count)
                return Outcome("error", ename=error.get("ename", ""),
                               evalue=strip_ansi(error.get("evalue", "")),
                               traceback=[strip_ansi(t) for t in error.get("traceback", [])],
                               execution_count=count)

    def _death(self) -> str:
        """A short reason for a dead kernel: exit code or signal, and a hint."""
        proc = getattr(getattr(self.km, "provisioner", None), "process", None)
        code = proc.poll() if proc is not None else None
        if self.sandbox is not None and code is not None and code > 128:
            code = 128 - code  # bwrap exits 128 + N for a kernel killed by signal N
        return exit_reason(code)
