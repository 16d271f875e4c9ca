"""Running one assembled submission in a bounded kernel, task by task, into a record:
statuses, messages a student can act on, replays after a crash."""
from __future__ import annotations

import math
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .. import bwrap
from ..sandbox import Guard, Kernel
from .assemble import Assembly, Solution, _num, assemble, broken_rules, task_segments
from .common import (
    DEFAULT_TIMEOUT,
    MESSAGE_CHARS,
    THREADS,
    GradeRecord,
    Options,
    Status,
    TaskVerdict,
    denied_paths,
    sandbox_for,
)

_CELL = re.compile(r"Cell In\[(\d+)\], line (\d+)")


_ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,}")


def _where(outcome, counts: dict):
    """(step, line, failing statement) of the innermost notebook frame of a traceback."""
    found = None
    for entry in outcome.traceback:
        for m in _CELL.finditer(entry):
            step = counts.get(int(m.group(1)))
            if step is not None:
                arrow = [ln for ln in entry.split("\n") if ln.lstrip().startswith("---->")]
                stmt = re.sub(r"^\s*---->\s*\d+\s?", "", arrow[0]).strip() if arrow else ""
                found = (step, int(m.group(2)), stmt)
    return found


def describe(outcome, step, counts: dict, assembly: Assembly, opts: Options,
             theirs: dict | None = None) -> str:
    """A message a student can act on: the exception, where it came from, a hint."""
    what = f"{outcome.ename}: {outcome.evalue}".strip().rstrip(":") if outcome.evalue \
        else outcome.ename
    where = _where(outcome, counts)
    if where is not None:
        wstep, line, stmt = where
        if wstep.kind == "answer":
            what += f" (in your cell '{wstep.id}', line {line})"
        elif wstep.kind == "test" and line in wstep.hidden:
            what = "a hidden test failed: " + what
        elif wstep.kind == "test" and not outcome.evalue and stmt:
            what += f" at `{stmt}`"
    if step.kind == "answer" and outcome.ename == "NotImplementedError":
        what = f"not answered yet: cell '{step.id}' raises NotImplementedError"
    elif outcome.ename == "NotImplementedError":
        what = "not answered yet (NotImplementedError)" + \
            (f" in your cell '{where[0].id}'" if where and where[0].kind == "answer" else "")
    if outcome.ename == "MemoryError" or "can't allocate memory" in outcome.evalue or \
            "Cannot allocate memory" in outcome.evalue:
        what += f" [the grader allows {opts.memory_mb} MB per notebook]"
    elif ("No space left on device" in outcome.evalue or "File too large" in outcome.evalue) \
            and sandbox_for(opts) is not None:
        what += f" [the grader allows {opts.disk_mb} MB of files per notebook]"
    elif outcome.ename == "BlockingIOError" and "[Errno 11]" in outcome.evalue and \
            sandbox_for(opts) is not None:
        what += " [the grader allows no new processes]"
    name = re.match(r"name '(\w+)' is not defined", outcome.evalue or "")
    if outcome.ename == "NameError" and name and any(
            re.search(rf"(^|\n)\s*(def|class)\s+{name[1]}\b|(^|\n){name[1]}\s*=|import .*\b"
                      rf"{name[1]}\b", src) for src in assembly.extra):
        what += (f" [{name[1]} is defined in a cell you added; the grader runs only the "
                 "answer cells: move it into the answer cell that uses it]")
    elif outcome.ename == "NameError" and name and theirs and name[1] in theirs:
        what += f" [assign `{name[1]}` in your answer cell '{theirs[name[1]]}']"
    return what


_NUMBER = re.compile(r"(?<![\w.])(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?(?!\w|\.\d)")


SIGNIFICANT = 6  # digits a number in a message keeps at most


def _short_number(m) -> str:
    text = m.group(0)
    digits = m.group(1).replace(".", "").lstrip("0")
    is_int = "." not in m.group(1) and not m.group(2)
    if len(digits.rstrip("0") if not is_int else digits) <= (12 if is_int else SIGNIFICANT):
        return text
    value = float(text)  # never raises: a number beyond a float's range is inf
    return text if math.isinf(value) else f"{value:.{SIGNIFICANT}g}"


def short_numbers(message: str) -> str:
    """Numbers with more than SIGNIFICANT significant digits (integers: more than 12
    digits) rounded to SIGNIFICANT: '3840000.0000000001' -> '3.84e+06'."""
    return _NUMBER.sub(_short_number, message)


def _clean(message: str, cwd: str = "") -> str:
    """No temporary paths or memory addresses (records must not differ between runs);
    numbers with at most SIGNIFICANT significant digits."""
    message = _ADDRESS.sub("0x…", message.replace(cwd, ".") if cwd else message)
    message = short_numbers(message)
    return message if len(message) <= MESSAGE_CHARS else message[:MESSAGE_CHARS - 1] + "…"


@dataclass
class Verdict:
    """A task's verdict while it is graded, before points are given (GradeRecord's
    TaskVerdict then)."""
    status: Status
    message: str = ""
    own: bool = False  # the error is located in this task's own answer cell


def _guard(kernel, guard, step, timeout: float):
    """The tamper guard's bookkeeping before ``step`` (coursekit/guard.py): remember what the
    last instructor cell bound; before an instructor cell, restore the names instructor
    cells bound and the guarded modules. (Verdict, kernel_lost) when it failed, else None."""
    restore = step.kind != "answer"
    if guard is None or not (restore or guard.pending):
        return None
    out = guard.sync(kernel, guard.pending, restore, timeout)
    guard.pending = ()
    if out.status == "ok":
        return None
    if out.status in ("dead", "killed"):
        return Verdict("error", f"{out.detail or 'the kernel died'} while the grader "
                       f"prepared cell '{step.id}'"), True
    return Verdict("failed", f"the grader could not restore its checks before cell "
                   f"'{step.id}' ({out.ename or out.status}: {out.evalue}): an answer cell "
                   "changed what the tests rely on", True), False


def run_segment(kernel, steps, assembly: Assembly, stubbed: bool, timeout: float,
                counts: dict, opts: Options, theirs: dict | None = None,
                limits: dict | None = None, guard: Guard | None = None):
    """Run one task's cells (``limits``: seconds for some cells by id, else ``timeout``;
    ``guard``: the tamper guard installed in ``kernel``). Returns (Verdict, kernel_lost)."""
    failed = False  # an answer cell raised: the task fails whatever its test says
    first = None  # (step, outcome) of the first cell before the test that raised
    for step in steps:
        guarded = _guard(kernel, guard, step, timeout)
        if guarded is not None:
            return guarded
        source = step.source
        if step.kind == "answer":
            answer = assembly.answers.get(step.id)  # the student's source, None: missing
            source = step.seminar if stubbed or answer is None else answer
        limit = (limits or {}).get(step.id, timeout)
        out = kernel.run(source, timeout=limit)
        if out.execution_count is not None:
            counts[out.execution_count] = step
        cell = f"your cell '{step.id}'" if step.kind == "answer" else f"cell '{step.id}'"
        is_answer = step.kind == "answer"
        if out.status in ("timeout", "killed"):
            return Verdict("timeout", f"{cell} did not finish within {limit:g} s (the "
                           f"per-cell limit){'; ' + out.detail if out.detail else ''}",
                           is_answer), out.status == "killed"
        if out.status == "dead":
            return Verdict("error", f"{out.detail} while running {cell}", is_answer), True
        if step.kind != "answer" and out.status == "ok" and guard is not None:
            guard.pending = step.capture
        if out.status == "error" and step.kind != "test":
            # an instructor cell calling the student's function reports THAT exception,
            # not the NameError the test cell gets next
            failed = failed or step.kind == "answer"
            first = first or (step, out)
        if step.kind == "test":
            if out.status == "ok" and not failed:
                return Verdict("passed"), False
            culprit = first or (step, out)
            where = _where(culprit[1], counts)
            own = culprit[0].kind == "answer" or (where is not None and where[0] in steps
                                                   and where[0].kind == "answer")
            return Verdict("failed", describe(culprit[1], culprit[0], counts, assembly, opts,
                                              theirs), own), False
    return Verdict("error", "the task has no test cell"), False  # unreachable for checked


def run_tasks(solution: Solution, assembly: Assembly, cwd, opts: Options, until=None,
              broken: dict | None = None) -> dict:
    """Run the assembled notebook task by task; replay after a crash (module docstring).
    ``broken``: task id -> the message of a rule its answers break (fails the task)."""
    timeout = opts.timeout or solution.default_timeout
    segments = task_segments(solution, until)
    theirs = solution.answer_names
    # the cells before the first answer (setup: import torch) run no student code: on a
    # loaded machine they may take longer than the solution's timings suggest
    first = next((i for i, s in enumerate(solution.steps) if s.kind == "answer"), 0)
    limits = {s.id: max(timeout, DEFAULT_TIMEOUT) for s in solution.steps[:first]}
    # crashed: tasks that killed the kernel; skip: their answers and those of timed-out
    # tasks are replaced by stubs when the notebook is replayed in a fresh kernel.
    verdicts, crashed, skip = {}, set(), set()
    kernel = new_kernel(cwd, opts)
    guard = Guard(denied_paths(opts), solution.solution_names)
    try:
        for attempt in range(opts.max_restarts + 1):
            problem = _start(kernel, guard)
            if problem:
                break
            counts, lost = {}, None
            for task_id, steps in segments:
                verdict, dead = run_segment(kernel, steps, assembly, task_id in skip, timeout,
                                            counts, opts, theirs, limits, guard)
                verdict = verdicts.setdefault(task_id, verdict)  # a replay only rebuilds state
                if verdict.status == "timeout":
                    skip.add(task_id)
                if dead:
                    lost = task_id
                    break
            if lost is None or all(t in verdicts for t, _ in segments):
                break
            crashed.add(lost)
            skip.add(lost)
            problem = f"the kernel died {attempt + 1} times"
            if not any(s.kind == "answer" for s in dict(segments)[lost]):
                problem = f"the kernel died in task '{lost}', which has no answer cell to skip"
                break
    finally:
        kernel.shutdown()
    for t, _ in segments:  # tasks never reached: say why
        verdicts.setdefault(t, Verdict("error", f"not graded: {problem}"))
    return _finish(verdicts, segments, crashed, broken)


def _finish(verdicts: dict, segments, crashed: set, broken: dict | None) -> dict:
    for t, message in (broken or {}).items():  # a broken rule outweighs a passed test
        if t in verdicts and verdicts[t].status in ("passed", "failed"):
            verdicts[t] = Verdict("failed", message, True)
    return _annotate(verdicts, segments, crashed)


def probe_tasks(solution: Solution, assembly: Assembly, opts: Options, until=None,
                broken: dict | None = None) -> dict:
    """The verdicts of a seminar with probes: made in this process from plain data its
    probe processes sent (coursekit/grading/verdict.py); no test cell runs."""
    from .verdict import probe_verdicts

    verdicts = {task_id: Verdict(*v) for task_id, v in
                probe_verdicts(solution, assembly, opts, until).items()}
    crashed = {t for t, v in verdicts.items() if v.status == "error" and v.own}
    return _finish(verdicts, task_segments(solution, until), crashed, broken)


def new_kernel(cwd, opts: Options, warm: bool | None = None):
    """A grading kernel in ``cwd``: forked from the warm zygote (torch already imported,
    see coursekit/warm.py) when ``opts.warm`` and the OS can fork, else a fresh Jupyter
    kernel. Both are bounded alike and give the same records."""
    from .. import warm as _warm

    use_warm = opts.warm if warm is None else warm
    cls = _warm.WarmKernel if use_warm and _warm.supported() else Kernel
    return cls(cwd, memory_mb=opts.memory_mb, threads=THREADS, grace=opts.grace,
               sandbox=sandbox_for(opts))


def _start(kernel, guard: Guard | None = None) -> str:
    """(Re)start the kernel and install the guard; '' on success, else why not."""
    try:
        kernel.restart()
        if guard is not None:
            guard.install(kernel)
    except Exception as exc:  # noqa: BLE001 - reported on every task left
        return f"could not start a kernel: {type(exc).__name__}: {exc}"
    return ""


def _annotate(verdicts: dict, segments, crashed: set) -> dict:
    """Say when a task that did not pass came after one that did not (it may depend on it)."""
    before = []
    for task_id, _ in segments:
        v = verdicts[task_id]
        if v.status != "passed" and before and not v.own:
            dead = [t for t in before if t in crashed]
            note = (f"graded in a fresh kernel after task(s) {', '.join(dead)} crashed it"
                    if dead else f"earlier task(s) {', '.join(before)} did not pass; this "
                    "task may depend on them")
            if "not graded" not in v.message:
                v.message = f"{v.message} ({note})" if v.message else note
        if v.status != "passed":
            before.append(task_id)
    return verdicts


# ============================================================================ records
def _record(solution: Solution, verdicts: dict, file: str, notes=(),
            assembly: Assembly | None = None, cwd: str = "") -> GradeRecord:
    tasks = []
    for task_id, points in solution.tasks:
        if task_id not in verdicts:
            continue
        v = verdicts[task_id]
        missing = [s.id for s in solution.answers if s.task == task_id and assembly is not None
                   and assembly.answers.get(s.id) is None]
        status, message = v.status, v.message
        if missing and status in ("failed", "passed"):
            why = "; ".join(assembly.notes[i] for i in missing)
            status = "missing" if status == "failed" else status
            message = why if status == "missing" else message
        tasks.append(TaskVerdict(task_id, _num(points if status == "passed" else 0),
                                 _num(points), status, _clean(message, cwd)))
    return GradeRecord(_num(sum(t.points for t in tasks)),
                       _num(sum(t.max_points for t in tasks)), tasks, file, list(notes))


def failed_record(solution: Solution | None, file: str, message: str,
                  status: Status = "error") -> GradeRecord:
    """Every task of ``solution`` at 0 with ``message``; a pseudo-task 'file' when
    ``solution`` is None."""
    if solution is None:
        return GradeRecord(0, 0, [TaskVerdict("file", 0, 0, status, message)], file)
    return _record(solution, {t: Verdict(status, message) for t, _ in solution.tasks}, file)


def grade_notebook(solution: Solution, nb, opts: Options | None = None, file: str = "",
                   notes=(), until: str | None = None) -> GradeRecord:
    """Grade one (already read) submission against its solution: the record. In the OS
    sandbox, the working folder is made in this process's scratch root (the warm
    zygote's tmpfs: coursekit/bwrap.py)."""
    from .. import warm as _warm

    opts = opts or Options()
    assembly = assemble(solution, nb)
    notes = list(notes) + [n for i, n in assembly.notes.items() if "matched by position" in n]
    boxed = sandbox_for(opts) is not None
    root = bwrap.scratch_root() if boxed else None
    with tempfile.TemporaryDirectory(prefix="grade-", dir=root, ignore_cleanup_errors=True) as tmp:
        cwd = Path(tmp) / "work"
        cwd.mkdir()
        if solution.probes is not None and _warm.supported():
            verdicts = probe_tasks(solution, assembly, opts, until=until,
                                   broken=broken_rules(solution, assembly))
        else:
            verdicts = run_tasks(solution, assembly, cwd, opts, until=until,
                                 broken=broken_rules(solution, assembly))
        record = _record(solution, verdicts, file, notes, assembly, cwd=str(cwd))
    record.sandbox = "bubblewrap" if boxed else "none"
    return record
