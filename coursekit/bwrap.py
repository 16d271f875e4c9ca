"""The OS sandbox around every grading process that runs student code: bubblewrap (Linux).

    sb = Sandbox(disk_mb=512, deny=folders)     # what grading asks for
    argv = command(sb.view(scratch, dirs=(cwd, home), cwd=cwd), [python, ...])

One description of what such a process sees (a ``View``), turned into bwrap's command
line for the cold Jupyter kernel (``coursekit/sandbox.py``) and the warm zygote, whose
forked children live in the zygote's sandbox (``coursekit/warm.py``):

- **namespaces**: a new network namespace (its own loopback, nothing else: neither the
  host's loopback nor the outside is reachable), PID (the grader's processes are out of
  sight), IPC, UTS (hostname ``grader``), cgroup, and user where the grader is not root;
  the process dies with the grader (``--die-with-parent``) in a session of its own.
- **filesystem**: an empty root, read-only, with ``/usr`` (and the ``/bin``, ``/lib``
  links), the few files of ``/etc`` the dynamic linker and fontconfig read, the CPU
  description under ``/sys`` (torch picks its kernels by it), the Python installation and
  environment (``sys.prefix``, ``sys.base_prefix``, the folders of ``sys.path``), and of
  the course only ``utils/``, ``coursekit/``, ``data/`` and ``pyproject.toml``. Never a
  folder that holds the course checkout, a home folder or a denied folder (solutions/,
  tests/, the submissions, the output). Writable: ``scratch``, a fresh tmpfs of at most
  ``disk_mb`` (the notebook's working folder and its HOME), and ``rw`` (the cold
  kernel's socket folder). ``/dev`` holds ``null``, ``random`` and ``urandom`` only.
- **environment**: what the caller passes (``coursekit.sandbox.kernel_env``: an allowlist).

What needs the process itself (no new processes, no uncounted shared memory, a file size
limit) it installs first thing: ``coursekit/confine.py``. ``available()`` says whether
all this works here, by running it once.
"""
from __future__ import annotations

import atexit
import functools
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives",
       "/etc/fonts", "/etc/localtime")
SYS = ("/sys/devices/system/cpu", "/sys/devices/system/node")
DEVICES = ("/dev/null", "/dev/random", "/dev/urandom")
COURSE = ("utils", "coursekit", "data", "pyproject.toml")  # of the course's checkout
DEFAULT_DISK_MB = 512
PROBE_TIMEOUT = 120


@functools.lru_cache(maxsize=None)
def course_root() -> Path | None:
    """The folder holding the ``utils`` package that kernels import (the checkout, for an
    editable install), or None."""
    spec = importlib.util.find_spec("utils")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(os.path.realpath(list(spec.submodule_search_locations)[0])).parent


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _homes() -> list:
    homes = [os.path.expanduser("~")]
    try:
        import pwd
        homes.append(pwd.getpwuid(os.getuid()).pw_dir)
    except (ImportError, KeyError):
        pass
    return [os.path.realpath(h) for h in homes if h and h != "~"]


def unsafe(path: str, deny=()) -> bool:
    """True for a path the sandbox must not show: the root; a folder that holds a denied
    folder, the course checkout, a home folder or a ``solutions/`` folder (another
    checkout); anything inside a denied folder; inside the course checkout, anything but
    COURSE and the Python environment (``sys.prefix``). A subfolder of a home (a Python
    installed there) is fine."""
    path = os.path.realpath(path)
    root = course_root()
    deny = [os.path.realpath(d) for d in deny]
    keep_out = deny + _homes() + ([str(root)] if root is not None else [])
    if path == os.sep or any(_within(k, path) for k in keep_out) or \
            any(_within(path, d) for d in deny) or os.path.isdir(os.path.join(path, "solutions")):
        return True
    if root is not None and _within(path, str(root)):
        allowed = [str(root / n) for n in COURSE] + [os.path.realpath(sys.prefix),
                                                      os.path.realpath(sys.exec_prefix)]
        return not any(_within(path, a) for a in allowed)
    return False


def python_paths(deny=()) -> tuple:
    """The read-only folders and files a grading kernel needs: the Python installation
    and environment, the folders of sys.path, and of the course only COURSE."""
    candidates = [sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix,
                  os.path.dirname(os.path.realpath(sys.executable)),
                  *(p for p in sys.path if p)]
    root = course_root()
    if root is not None:
        candidates += [str(root / name) for name in COURSE]
        spec = importlib.util.find_spec("coursekit")
        if spec is not None and spec.submodule_search_locations:
            candidates += list(spec.submodule_search_locations)
    if os.environ.get("COURSE_DATA"):
        candidates.append(os.environ["COURSE_DATA"])
    out = []
    for p in candidates:
        real = os.path.realpath(p)
        if os.path.exists(real) and not unsafe(real, deny) and real not in out and \
                not any(_within(real, o) for o in out if os.path.isdir(o)):
            out = [o for o in out if not _within(o, real)] + [real]
    return tuple(sorted(out))


@dataclass(frozen=True)
class View:
    """What one sandboxed process sees (see the module docstring)."""
    scratch: str  # a fresh tmpfs, writable, at most disk_mb
    disk_mb: int | None = DEFAULT_DISK_MB
    ro: tuple = ()  # host paths shown read-only at the same place
    rw: tuple = ()  # host paths shown writable at the same place
    dirs: tuple = ()  # folders to create (in scratch)
    cwd: str | None = None
    as_pid_1: bool = False  # the command is the namespace's init (immune to its children)


@dataclass(frozen=True)
class Sandbox:
    """The sandbox grading asks for: a disk limit and the folders never to show."""
    disk_mb: int | None = DEFAULT_DISK_MB
    deny: tuple = field(default_factory=tuple)

    def view(self, scratch, rw=(), dirs=(), cwd=None, as_pid_1=False) -> View:
        return View(str(scratch), self.disk_mb, python_paths(self.deny),
                    tuple(map(str, rw)), tuple(map(str, dirs)), cwd and str(cwd), as_pid_1)


def _system_args() -> list:
    args = []
    for p in SYSTEM:
        if os.path.islink(p):  # a merged /usr: /bin -> usr/bin
            args += ["--symlink", os.readlink(p), p]
        elif os.path.isdir(p):
            args += ["--ro-bind", p, p]
    for p in ETC + SYS:
        args += ["--ro-bind-try", p, p]
    return args


def _aliases(view: View, argv) -> list:
    """The view shows real paths; a program named through a symbolic link (a ``.venv``
    that links to an environment elsewhere) gets that link, pointing into the view."""
    args = []
    if not argv or not os.path.isabs(str(argv[0])):
        return args
    path = os.sep
    for part in os.path.normpath(str(argv[0])).split(os.sep)[1:-1]:
        path = os.path.join(path, part)
        if os.path.islink(path):
            real = os.path.realpath(path)
            if any(_within(real, o) for o in view.ro):
                args += ["--symlink", real, path]
            break
    return args


def command(view: View, argv) -> list:
    """bwrap's command line that runs ``argv`` in ``view``."""
    # JPY_PARENT_PID (set by jupyter_client's launcher): the grader's pid is not in the
    # sandbox's PID namespace, and ipykernel would exit at once; bwrap's
    # --die-with-parent does that job
    # --cap-drop ALL: run as root, bwrap would leave every capability (over the sandbox's
    # own namespaces: enough to trace the zygote or mount a tmpfs without a size)
    args = ["bwrap", "--unshare-all", "--hostname", "grader", "--die-with-parent",
            "--new-session", "--cap-drop", "ALL", "--unsetenv", "JPY_PARENT_PID"]
    if view.as_pid_1:
        args.append("--as-pid-1")
    args += _system_args()
    for p in view.ro:
        args += ["--ro-bind", p, p]
    args += _aliases(view, argv)
    args += ["--proc", "/proc"]
    args += (["--size", str(64 * 1024)] if size_supported() else []) + ["--tmpfs", "/dev"]
    for d in DEVICES:
        args += ["--dev-bind", d, d]
    args += ["--remount-ro", "/dev"]
    if view.disk_mb and size_supported():
        args += ["--size", str(int(view.disk_mb) * 2**20)]
    args += ["--tmpfs", view.scratch]
    for d in view.dirs:
        args += ["--dir", d]
    for p in view.rw:
        args += ["--bind", p, p]
    if view.cwd:
        args += ["--chdir", view.cwd]
    return args + ["--remount-ro", "/", "--", *map(str, argv)]


@functools.lru_cache(maxsize=None)
def size_supported() -> bool:
    """bubblewrap >= 0.7 sizes a tmpfs (``--size``); older ones cannot bound the disk."""
    try:
        out = subprocess.run(["bwrap", "--help"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return "--size" in out.stdout + out.stderr


@functools.lru_cache(maxsize=None)
def available() -> str:
    """'' when the sandbox works here (bwrap runs Python in the view, and the process
    limits of confine.py install), else why not. Tried once per process."""
    if not sys.platform.startswith("linux"):
        return f"bubblewrap runs on Linux only (this is {sys.platform})"
    if shutil.which("bwrap") is None:
        return "bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    from . import confine

    if not confine.supported():
        import platform
        return f"the process limits (seccomp) are not written for {platform.machine()}"
    with tempfile.TemporaryDirectory(prefix="coursekit-probe-") as tmp:
        home = os.path.join(tmp, "home")
        view = Sandbox(disk_mb=8).view(tmp, dirs=(home,), cwd=home)
        probe = ("import coursekit.confine as c\nc.install(8)\nimport utils\nimport os\n"
                 "os.fork()\n")
        try:
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home}
            if os.environ.get("PYTHONPATH"):  # passed to kernels too (sandbox.KERNEL_ENV)
                env["PYTHONPATH"] = os.environ["PYTHONPATH"]
            done = subprocess.run(command(view, [sys.executable, "-c", probe]),
                                  env=env, stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True, timeout=PROBE_TIMEOUT)
        except (OSError, subprocess.SubprocessError) as exc:
            return f"bubblewrap could not run: {exc}"
    lines = [ln for ln in done.stderr.strip().splitlines() if ln.strip()]
    if done.returncode == 1 and lines and lines[-1].startswith("BlockingIOError"):
        return ""  # everything ran, and the fork at the end was refused: all in place
    why = lines[-1] if lines else f"exit code {done.returncode}"
    if "uid map" in why or "Operation not permitted" in why:
        why += (" (unprivileged user namespaces are disabled: on Ubuntu >= 23.10, "
                "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0)")
    return f"bubblewrap does not work here: {why}"


_ROOT: list = []


def scratch_root() -> str:
    """This process's folder for the notebooks' working folders (the warm zygote's
    sandbox puts its tmpfs there); removed when the process exits."""
    if not _ROOT:
        _ROOT.append(tempfile.mkdtemp(prefix="coursekit-"))
        atexit.register(shutil.rmtree, _ROOT[0], True)
    return _ROOT[0]
