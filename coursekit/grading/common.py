"""What every part of the grader shares: its limits, its options and its error."""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, TypedDict

from .. import bwrap
from ..notebook import REPO
from ..sandbox import GRACE

# Per-cell time limit. Default: TIMEOUT_MARGIN x the slowest cell of the solution as timed
# when its outputs were stored (nbclient records it in the cell metadata), and at least
# TIMEOUT_FLOOR: a correct but unvectorized answer may be 10x slower than the solution,
# and a loaded CI machine doubles times again. Without timings: DEFAULT_TIMEOUT, twice
# the whole-notebook budget (every notebook runs in 60 s on a 2-core CPU).
# Per-cell time limit. Default: TIMEOUT_MARGIN x the slowest cell of the solution as timed
# when its outputs were stored (nbclient records it in the cell metadata), and at least
# TIMEOUT_FLOOR: a correct but unvectorized answer may be 10x slower than the solution,
# and a loaded CI machine doubles times again. Without timings: DEFAULT_TIMEOUT, twice
# the whole-notebook budget (every notebook runs in 60 s on a 2-core CPU).
TIMEOUT_MARGIN, TIMEOUT_FLOOR, DEFAULT_TIMEOUT = 10, 30, 120


# RLIMIT_DATA per kernel: twice the 1.5 GB budget of a notebook (see coursekit/sandbox.py).
DEFAULT_MEMORY_MB = 3072


THREADS = 1  # per kernel, whatever --jobs is: so serial and parallel runs agree exactly


MAX_RESTARTS = 3  # fresh kernels per notebook after crashes before giving up


MESSAGE_CHARS = 600


STATUSES = ("passed", "failed", "error", "timeout", "missing")


# The OS sandbox (coursekit/bwrap.py): "auto" uses it where bubblewrap works and says loudly
# when it does not; "required" refuses to grade without it; "off" runs the guard only.
SANDBOX_MODES = ("auto", "required", "off")
DEFAULT_DISK_MB = bwrap.DEFAULT_DISK_MB  # the scratch tmpfs of one notebook
SandboxUsed = Literal["bubblewrap", "none"]


class Record(TypedDict, total=False):
    """One graded file in grades.json (student -> seminar or file stem -> Record)."""
    points: float
    max_points: float
    file: str  # the submitted file's name
    tasks: list  # {"id", "points", "max_points", "status" (one of STATUSES), "message"}
    notes: list  # what the grader did about the file (renamed, matched by position)
    # where the student's code ran: "bubblewrap" (the OS sandbox) or "none" (the guard
    # only); absent when no code of the student's ran (an unreadable or unknown file)
    sandbox: SandboxUsed


# What a grading kernel may not open, list or copy (besides the submissions being graded
# and the solutions graded against): see coursekit/guard.py.
DENIED = ("solutions", "tests", ".git", "build", "grades")


class GradeError(Exception):
    """The grader cannot run (bad arguments, broken solutions): exit 2 with this message."""


def cold_by_default() -> bool:
    """True when the environment asks for cold kernels: ``COURSE_GRADE_COLD`` set to
    anything but empty or ``0`` (read each time an ``Options`` is made)."""
    return os.environ.get("COURSE_GRADE_COLD", "").strip() not in ("", "0")


def _env_seed() -> int | None:
    text = os.environ.get("COURSE_PROBE_SEED", "").strip()
    return int(text) if text.isdigit() else None


@dataclass
class Options:
    timeout: float | None = None  # per cell, seconds; None: each seminar's default
    memory_mb: int | None = DEFAULT_MEMORY_MB
    grace: float = GRACE  # seconds an interrupted kernel gets before it is killed
    # fork kernels from a warm zygote (coursekit.warm) where the OS can; default off when the
    # environment sets COURSE_GRADE_COLD=1 (a Jupyter kernel per notebook: make test cold)
    warm: bool = field(default_factory=lambda: not cold_by_default())
    max_restarts: int = MAX_RESTARTS
    deny: tuple = ()  # more folders out of the kernel's reach (besides DENIED of the checkout)
    sandbox: str = "auto"  # one of SANDBOX_MODES
    disk_mb: int | None = DEFAULT_DISK_MB
    # the seed of the probes' inputs (coursekit/grading/verdict.py): None draws one per
    # run at grading time; COURSE_PROBE_SEED or --probe-seed fix it (a regrade)
    probe_seed: int | None = field(default_factory=lambda: _env_seed())


def sandbox_for(opts: Options) -> "bwrap.Sandbox | None":
    """The OS sandbox grading kernels run in under ``opts`` (None: the guard only)."""
    if opts.sandbox == "off" or (opts.sandbox == "auto" and bwrap.available()):
        return None
    return bwrap.Sandbox(disk_mb=opts.disk_mb, deny=tuple(denied_paths(opts)))


def settle_sandbox(opts: Options) -> tuple[Options, str]:
    """``opts`` with "auto" settled ("required" where bubblewrap works, else "off") and a
    warning to print once when the kernels will run without the sandbox ('' otherwise).
    GradeError when "required" and bubblewrap does not work."""
    if opts.sandbox not in SANDBOX_MODES:
        raise GradeError(f"--sandbox must be one of {', '.join(SANDBOX_MODES)}, "
                         f"not {opts.sandbox!r}")
    why = "turned off (--sandbox off)" if opts.sandbox == "off" else bwrap.available()
    if opts.sandbox == "required" and why:
        raise GradeError(f"--sandbox required, but {why}")
    if not why:
        return replace(opts, sandbox="required"), ""
    return replace(opts, sandbox="off"), (
        f"WARNING: grading WITHOUT the OS sandbox: {why}. Student code runs with this "
        "account's reach (files outside the course, the network, other processes); only "
        "the grader's guard (coursekit/guard.py) stands in its way. Every record says "
        '"sandbox": "none"; --sandbox required refuses to grade like this.')


def denied_paths(opts: Options, repo: Path = REPO) -> list:
    """The folders a grading kernel cannot read: the checkout's DENIED folders (and the
    git directory a worktree's ``.git`` file points to), and ``opts.deny``."""
    paths = [repo / name for name in DENIED] + [Path(d) for d in opts.deny]
    git = repo / ".git"
    if git.is_file():
        text = git.read_text(errors="ignore").strip()
        if text.startswith("gitdir:"):
            gitdir = (repo / text.split(":", 1)[1].strip()).resolve()
            paths.append(gitdir)
            common = gitdir / "commondir"
            if common.is_file():
                paths.append((gitdir / common.read_text().strip()).resolve())
    return sorted({os.path.realpath(p) for p in paths})
