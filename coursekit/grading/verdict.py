"""Verdicts out of the student's process (README, "Verdicts out of the student's process").

For a seminar with a probe module (``solutions/probes/NN_topic.py``, ``coursekit/probe.py``)
each task is graded so:

1. the grader picks the task's seed (``seed_for``: the run's ``Options.probe_seed`` and the
   task id; the run's seed is drawn afresh at grading time unless ``--probe-seed`` sets it);
2. a fresh probe process, forked from the clean warm zygote in the OS sandbox, runs the
   notebook's non-test cells up to the task with the *solution's* answer cells, then the
   task's probe, and sends its result as plain data: the expected values (once per run,
   seminar and task: cached);
3. another fresh probe process does the same with the *student's* answer cells;
4. the grader decodes what arrived (``coursekit/plain.py``: exact types, ``.npy`` without
   pickle) and compares it with the expected values; the verdict is the comparison's.

A process that reports no result (an exception, an exit, a timeout, a forged or malformed
message) fails its task with a message that says which. Nothing of a test runs in the
student's process: no test cell, no reference, no expected value.
"""
from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import signal
import socket
import tempfile
import time
from dataclasses import dataclass

from .. import bwrap, plain, probe, record
from ..sandbox import exit_reason
from . import measure
from .assemble import Assembly, Solution, task_segments
from .common import DEFAULT_TIMEOUT, THREADS, Options, denied_paths, sandbox_for

STARTUP = 60  # seconds a probe process gets to say it started its first cell


def seed_for(seed: int, task: str) -> int:
    """The seed of ``task``'s inputs in a run whose seed is ``seed``."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{task}".encode()).digest()[:8], "big")


def new_seed() -> int:
    return secrets.randbelow(2**63)


# ----------------------------------------------------------------------------- one process
@dataclass
class Report:
    """What one probe process gave: "result" (``value``: decoded plain data), "error"
    (``error``: its fields), "timeout", "dead" or "malformed" (``detail``: why)."""
    status: str
    value: object = None
    error: dict | None = None
    detail: str = ""
    at: int = -1  # the cell (index) it was running; len(cells): the probe
    limit: float = 0.0
    record: list | None = None  # what the recorder saw run (coursekit/recorder.py)
    cpu: float | None = None  # CPU seconds of the probe phase (from the seed to the result)


_ERROR_KEYS = {"ename", "evalue", "cell", "line", "phase", "at"}


def _checked_error(err, answers) -> dict:
    if type(err) is not dict or set(err) != _ERROR_KEYS or type(err["ename"]) is not str \
            or type(err["evalue"]) is not str or type(err["at"]) is not str \
            or err["phase"] not in ("cell", "probe") or \
            not (err["cell"] is None or (type(err["cell"]) is str and err["cell"] in answers)) \
            or not (err["line"] is None or type(err["line"]) is int):
        raise plain.Malformed("an error report of the wrong form")
    return err


def _read(sock, pid, zygote, n: int, limits: list, probe_limit: float, answers,
          rules=None, seed: int = 0) -> Report:
    """The Report of a probe process from its messages. ``rules``: the job's forbid rules
    and ops when it has a recorder (its record must arrive before the result), else None.
    At the probe's progress message the grader reads the process's CPU time (``/proc``,
    through the zygote), sends the seed, and reads it again when the result arrives."""
    at, deadline, limit, start = -1, time.monotonic() + STARTUP, float(STARTUP), None
    seen = None  # the record of what ran
    while True:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            msg = probe.recv(sock)
        except (TimeoutError, socket.timeout):
            return Report("timeout", at=at, limit=limit)
        except (EOFError, OSError):
            return Report("dead", detail=exit_reason(zygote.wait(pid, timeout=5)), at=at)
        except plain.Malformed as exc:
            return Report("malformed", detail=str(exc), at=at)
        try:
            if set(msg) == {"cell"}:
                i = msg["cell"]
                if type(i) is not int or not at < i <= n:
                    raise plain.Malformed("a progress message out of order")
                at = i
                limit = probe_limit if i == n else limits[i]
                deadline = time.monotonic() + limit
                if i == n:
                    start = zygote.cpu(pid)
                    probe.send(sock, {"seed": seed})
            elif set(msg) == {"record"} and rules is not None and seen is None:
                try:
                    seen = record.check(msg["record"], rules, answers)
                except ValueError as exc:
                    raise plain.Malformed(str(exc)) from None
            elif set(msg) == {"result"}:
                end = zygote.cpu(pid)
                if at != n:
                    raise plain.Malformed("a result before the grader called the probe")
                if rules is not None and seen is None:
                    raise plain.Malformed("a result without the record of what ran")
                return Report("result", value=plain.decode(msg["result"]), at=at, record=seen,
                              cpu=None if None in (start, end) else end - start)
            elif set(msg) == {"error"}:
                return Report("error", error=_checked_error(msg["error"], answers), at=at)
            else:
                raise plain.Malformed("a message the grader does not know")
        except plain.Malformed as exc:
            return Report("malformed", detail=str(exc), at=at)
        except OSError:  # it closed its end before the seed could go
            return Report("dead", detail=exit_reason(zygote.wait(pid, timeout=5)), at=at)


def run_probe(job: dict, limits: list, probe_limit: float, opts: Options,
              seed: int = 0) -> Report:
    """Run ``job`` (coursekit/probe.py) in a fresh probe process, its probe on inputs drawn
    from ``seed``; its Report."""
    from .. import warm

    box = sandbox_for(opts)
    root = bwrap.scratch_root() if box is not None else None
    folder = tempfile.mkdtemp(prefix="probe-", dir=root)
    cwd = os.path.join(folder, "work")
    os.makedirs(cwd)
    zygote = warm.Zygote.get(THREADS, box)
    pid, sock = zygote.fork(cwd, opts.memory_mb, probe={"deny": denied_paths(opts)})
    try:
        probe.send(sock, {"job": job})
        rules = list(job["forbid"]) + list(job["ops"]) if job["forbid"] or job["ops"] \
            else None
        return _read(sock, pid, zygote, len(job["cells"]), limits, probe_limit,
                     set(job["answers"]), rules, seed)
    except OSError as exc:  # it closed its end before the job arrived
        return Report("dead", detail=f"{exit_reason(zygote.wait(pid, timeout=5))} ({exc})")
    finally:
        sock.close()
        try:
            zygote.signal(pid, signal.SIGKILL)
            zygote.wait(pid, timeout=5)
        except (EOFError, OSError):
            pass
        shutil.rmtree(folder, ignore_errors=True)


# ----------------------------------------------------------------------------- a notebook
_EXPECTED: dict = {}  # (seminar digest, seed, task) -> the solution's Report (a result)
EXPECTED_SLACK = 3  # the solution's side: its time limits x this (``_expected``)


def _job(solution: Solution, cells, task: str, own) -> dict:
    return {"cells": cells, "probes": solution.probes.source, "task": task,
            "answers": [s.id for s in solution.answers], "own": list(own),
            "forbid": list(solution.forbid.get(task, ())), "ops": list(solution.probes.specs[task]["ops"])}


def _expected(solution: Solution, steps, task, seed, own, limits, probe_limit, opts) -> Report:
    cells = [[s.id, s.source] for s in steps]
    key = hashlib.sha256(repr((solution.stem, cells, solution.probes.source)).encode()).hexdigest()
    key = (key, seed, task)
    if key in _EXPECTED:
        return _EXPECTED[key]
    # the solution's code neither loops nor dawdles: its run gets EXPECTED_SLACK x the
    # limits, and a second try after a timeout (a loaded machine's, e.g. a budget task
    # training under the recorder while other processes share the cores)
    limits, probe_limit = [x * EXPECTED_SLACK for x in limits], probe_limit * EXPECTED_SLACK
    for _ in range(2):
        report = run_probe(_job(solution, cells, task, own), limits, probe_limit, opts,
                           seed_for(seed, task))
        if report.status != "timeout":
            break
    if report.status == "result":  # a failure is tried again by the next submission
        _EXPECTED[key] = report
    return report


def _hint(name: str, solution: Solution, assembly: Assembly) -> str:
    import re

    if any(re.search(rf"(^|\n)\s*(def|class)\s+{name}\b|(^|\n){name}\s*=|import .*\b{name}\b",
                     src) for src in assembly.extra):
        return (f" [{name} is defined in a cell you added; the grader runs only the answer "
                "cells: move it into the answer cell that uses it]")
    theirs = solution.answer_names
    return f" [assign `{name}` in your answer cell '{theirs[name]}']" if name in theirs else ""


def _error_message(err: dict, solution: Solution, assembly: Assembly, opts: Options) -> str:
    import re

    ename, evalue = err["ename"], err["evalue"]
    what = f"{ename}: {evalue}".strip().rstrip(":") if evalue else ename
    if ename == "NotImplementedError":
        if err["phase"] == "cell":
            return f"not answered yet: cell '{err['at']}' raises NotImplementedError"
        return "not answered yet (NotImplementedError)" + \
            (f" in your cell '{err['cell']}'" if err["cell"] else "")
    if err["cell"]:
        what += f" (in your cell '{err['cell']}', line {err['line']})"
    if ename == "MemoryError" or "Cannot allocate memory" in evalue:
        what += f" [the grader allows {opts.memory_mb} MB per notebook]"
    name = re.match(r"name '(\w+)' is not defined", evalue)
    if ename == "NameError" and name:
        what += _hint(name[1], solution, assembly)
    return what


def _compared(value: dict, expected: dict, spec: dict, where: str) -> tuple[str, str]:
    """(status, message) of a result dict against the expected one, key by key in the
    expected order: a score's predictions scored against the solution's truth (the
    student's is not read; coursekit/grading/measure.py), the other keys compared."""
    scores, truths = {}, {s["truth"] for s in spec.get("score", ())}
    where = f"{where}, task {spec['task']!r}"
    for s in spec.get("score", ()):  # a key the solution's result lacks: the instructor's
        measure.truth_of(s, expected, where)
        scores.setdefault(s["predictions"], []).append(s)
    for label, w in expected.items():
        for s in scores.get(label, ()):
            status, message = measure.scored(s, value, expected, where)
            if message:
                return status, message
        if label not in scores and label not in truths and \
                (message := plain.compare(value[label], w, label, spec["rtol"], spec["atol"],
                                          spec["reveal"])):
            return "failed", message
    return "passed", ""


TIME_SLACK = 0.25  # CPU seconds beyond timed x the solution's: /proc's ticks and noise


def _timed(got: float | None, want: float | None, factor: float) -> tuple[str, str]:
    """(status, message) of a speed task: the student's probe phase may take at most
    ``factor`` x the solution's CPU time, + TIME_SLACK (both measured by the grader)."""
    if want is None:
        return "error", ("the grader could not measure the solution's CPU time (it reads "
                         "/proc/<pid>/stat, which this system lacks)")
    if got is None:
        return "failed", "the grader could not measure the CPU time of your code"
    if got > factor * want + TIME_SLACK:
        return "failed", (f"too slow: the grader's calls of your functions took {got:.2f} s "
                          f"of CPU time, the solution's {want:.2f} s (at most {factor:g} times "
                          f"the solution's + {TIME_SLACK:g} s is allowed)")
    return "passed", ""


def judge(got: Report, want: Report, spec: dict, cells, solution: Solution, assembly: Assembly,
          opts: Options) -> tuple:
    """(status, message, own) of a task from the student's and the solution's Reports."""
    def where(at):
        if 0 <= at < len(cells):
            cell_id = cells[at][0]
            is_answer = cell_id in assembly.answers
            return (f"your cell '{cell_id}'" if is_answer else f"cell '{cell_id}'"), is_answer
        return "the grader's calls of your functions", True

    if want.status != "result":
        why = (_error_message(want.error, solution, assembly, opts) if want.status == "error"
               else want.detail or want.status)
        return "error", f"the grader could not compute the expected values ({why})", False
    if want.record:  # the instructor's error: the solution runs what its task forbids
        return "error", "the solution breaks its own rule: " + record.message(want.record), \
            False
    if got.status == "result" and got.record:  # what ran outweighs what it computed
        return "failed", record.message(got.record, record.not_allowed_line(
            solution.nb, spec["task"])), True
    if got.status == "result":
        expected, value = want.value, got.value
        if isinstance(expected, dict) and isinstance(value, dict) and list(value) == \
                list(expected):
            status, message = _compared(value, expected, spec, f"probes/{solution.stem}.py")
        else:
            status, message = "failed", plain.compare(value, expected, "the result",
                                                      spec["rtol"], spec["atol"], spec["reveal"])
            if isinstance(expected, dict):
                message = ("the grader got results it did not ask for: your code answered "
                           "its calls with something other than their results")
        if not message and spec.get("timed"):
            status, message = _timed(got.cpu, want.cpu, spec["timed"])
        return ("passed", "", False) if not message else (status, message, False)
    if got.status == "error":
        own = got.error["phase"] == "cell" or got.error["cell"] is not None
        return "failed", _error_message(got.error, solution, assembly, opts), own
    text, is_answer = where(got.at)
    if got.status == "timeout":
        return "timeout", f"{text} did not finish within {got.limit:g} s (the per-cell " \
            "limit)", is_answer
    if got.status == "dead":
        return "error", f"{got.detail} while running {text}", is_answer
    return "failed", (f"the grader got no valid report of this task's results ({got.detail}): "
                      "a process that runs your code sends the grader plain data only"), True


def probe_verdicts(solution: Solution, assembly: Assembly, opts: Options, until=None) -> dict:
    """{task: (status, message, own)} for a seminar with probes (module docstring)."""
    seed = opts.probe_seed if opts.probe_seed is not None else new_seed()
    timeout = opts.timeout or solution.default_timeout
    first = next((i for i, s in enumerate(solution.steps) if s.kind == "answer"), 0)
    setup = {s.id for s in solution.steps[:first]}
    out, stubbed, done = {}, set(), []
    for task, steps in task_segments(solution, until):
        done += steps
        run = [s for s in done if s.kind != "test" and s.id not in solution.probes.skip]
        limits = [max(timeout, DEFAULT_TIMEOUT) if s.id in setup else timeout for s in run]
        own = [s.id for s in steps if s.kind == "answer"]
        want = _expected(solution, run, task, seed, own, limits, timeout, opts)

        def theirs(s):
            if s.kind != "answer":
                return s.source
            answer = assembly.answers.get(s.id)
            return s.seminar if s.task in stubbed or answer is None else answer

        cells = [[s.id, theirs(s)] for s in run]
        got = run_probe(_job(solution, cells, task, own), limits, timeout, opts, seed_for(seed, task))
        out[task] = judge(got, want, solution.probes.specs[task], cells, solution, assembly, opts)
        if got.status in ("timeout", "dead"):
            stubbed.add(task)  # later tasks' processes run its stubs instead
    return out
