"""What every part of the grader shares: its limits, its options, the deny list, its error,
and the grade record with the one reading and writing of grades.json."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, get_args

from .. import bwrap
from ..notebook import REPO
from ..sandbox import GRACE

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


# A task's status (what each one means: coursekit/grading/__init__.py, step 3)
Status = Literal["passed", "failed", "error", "timeout", "missing"]
STATUSES: tuple = get_args(Status)


# The OS sandbox (coursekit/bwrap.py): "auto" uses it where bubblewrap works and says loudly
# when it does not; "required" refuses to grade without it; "off" runs the guard only.
SANDBOX_MODES = ("auto", "required", "off")
DEFAULT_DISK_MB = bwrap.DEFAULT_DISK_MB  # the scratch tmpfs of one notebook
SandboxUsed = Literal["bubblewrap", "none"]


@dataclass
class TaskVerdict:
    """One task's verdict in a grade record (grades.json: its ``tasks`` list)."""
    id: str
    points: float
    max_points: float
    status: Status
    message: str = ""

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"task {self.id!r}: status {self.status!r} is not one of "
                             f"{', '.join(STATUSES)}")


@dataclass
class GradeRecord:
    """One graded file: grades.json maps student -> seminar (or file stem) -> record."""
    points: float
    max_points: float
    tasks: list[TaskVerdict]
    file: str  # the submitted file's name
    notes: list[str] = field(default_factory=list)  # what the grader did about the file
    # where the student's code ran: "bubblewrap" (the OS sandbox) or "none" (the guard
    # only); None (absent from grades.json) when no code of the student's ran
    sandbox: SandboxUsed | None = None

    def to_json(self) -> dict:
        """The record as grades.json holds it (its keys in this order; notes and sandbox
        only when there are some)."""
        out = {"points": self.points, "max_points": self.max_points,
               "tasks": [{"id": t.id, "points": t.points, "max_points": t.max_points,
                          "status": t.status, "message": t.message} for t in self.tasks],
               "file": self.file}
        if self.notes:
            out["notes"] = list(self.notes)
        if self.sandbox is not None:
            out["sandbox"] = self.sandbox
        return out

    @classmethod
    def from_json(cls, data) -> "GradeRecord":
        """The record of a grades.json entry; ValueError says what is wrong with it."""
        try:
            tasks = [TaskVerdict(_text(t["id"]), _points(t["points"]), _points(t["max_points"]),
                                 t["status"], _text(t["message"])) for t in data["tasks"]]
            notes = [_text(n) for n in data.get("notes", [])]
            record = cls(_points(data["points"]), _points(data["max_points"]), tasks,
                         _text(data["file"]), notes, data.get("sandbox"))
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a grade record ({type(exc).__name__}: {exc})") from None
        if record.sandbox not in (None, *get_args(SandboxUsed)):
            raise ValueError(f"sandbox {record.sandbox!r} is not one of "
                             f"{', '.join(get_args(SandboxUsed))}")
        return record


def _points(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"points must be a number, not {value!r}")
    return value


def _text(value) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, not {value!r}")
    return value


def gradebook_to_json(book: dict) -> dict:
    """A gradebook {student: {key: GradeRecord}} as grades.json holds it."""
    return {student: {key: record.to_json() for key, record in records.items()}
            for student, records in book.items()}


def gradebook_json(book: dict) -> str:
    """The text of grades.json for a gradebook {student: {key: GradeRecord}}."""
    # any text as is (UTF-8 when written): messages hold any text ('…' cuts long ones)
    return json.dumps(gradebook_to_json(book), indent=2, ensure_ascii=False) + "\n"


def read_gradebook(path) -> dict:
    """The gradebook {student: {key: GradeRecord}} of a grades.json file; GradeError names
    the file and the entry when it cannot be read or is not a gradebook."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GradeError(f"cannot read gradebook {path}: {type(exc).__name__}: {exc}") \
            from None
    return gradebook_from_json(data, path)


def gradebook_from_json(data, where="the gradebook") -> dict:
    """The gradebook {student: {key: GradeRecord}} of grades.json's data (``where``: its
    file, for the messages); GradeError when it is not one."""
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise GradeError(f"{where} is not a grades.json (student -> seminar -> record)")
    book = {}
    for student, records in data.items():
        book[student] = {}
        for key, record in records.items():
            try:
                book[student][key] = GradeRecord.from_json(record)
            except ValueError as exc:
                raise GradeError(f"cannot read gradebook {where}: {student}/{key}: {exc}") \
                    from None
    return book


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


def with_denied(opts: Options, *folders) -> Options:
    """``opts`` with ``folders`` (the submissions, the solutions graded against, the
    reports' folder...) kept out of the grading kernels' reach too: the one place the deny
    list grows; ``denied_paths`` makes the list of it."""
    return replace(opts, deny=tuple(opts.deny) + tuple(str(f) for f in folders))


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
