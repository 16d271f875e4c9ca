"""Check my seminar: run it in a fresh kernel with its visible tests, one line per task.

    python -m utils.check seminars/07_init_batchnorm.ipynb [--timeout 120]

or ``utils.check.check()`` in the seminar's last cell (Jupyter: the file as last saved;
Colab: the notebook as it is in the browser). The statuses are the grader's
(``passed``, ``failed``, ``timeout``, ``error``), and so are the messages ("not answered
yet: ..."). Only the visible tests run here: the hidden tests of a task (the seminar's
test cell says ``hidden_tests``) run at grading, so a task that passes here is not yet
its points. (``utils.checks`` holds the helpers the tests call; this module runs them.)
Exit status: 0 every visible test passed, 1 some did not, 2 the notebook cannot be checked.
"""
from __future__ import annotations

import os
import queue
import re
import sys
import time
from pathlib import Path

STATUSES = ("passed", "failed", "error", "timeout", "missing")  # the grader's words
TIMEOUT = 120  # seconds per cell, as the grader gives a seminar without timings
GRACE = 10  # seconds an interrupted cell gets before the kernel is given up
_CELL = re.compile(r"Cell In\[(\d+)\], line (\d+)")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_CALLS_CHECK = re.compile(r"\butils\.check\b|\bfrom utils import .*\bcheck\b")
_CHECKING = "COURSE_CHECKING"  # set in the checking kernel: a check() there does nothing


class CheckError(Exception):
    """The notebook cannot be checked (missing, not a notebook, no tests): say why."""


def load(path):
    """The notebook at ``path``, or a CheckError that says what is wrong with it."""
    import nbformat

    path = Path(path)
    if not path.is_file():
        raise CheckError(f"{path}: no such file" + (" (a folder)" if path.is_dir() else ""))
    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception as exc:  # not JSON, not a notebook
        raise CheckError(f"{path} is not a readable notebook ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:200] if str(exc) else ''})") from None
    if not any(_task(c) for c in nb.cells):
        raise CheckError(f"{path} has no graded test cell: is it a seminar "
                         "(seminars/NN_topic.ipynb)?")
    return nb


def _task(cell) -> dict | None:
    meta = cell.get("metadata", {}).get("course", {}) if cell.cell_type == "code" else {}
    return meta if "task" in meta else None


def tasks(nb) -> list[tuple[dict, list]]:
    """[(test cell metadata, the code cells since the previous test cell, test last)]; the
    cells after the last graded test (such as a cell that calls ``check``) are not run."""
    out, cells = [], []
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.strip() and not _CALLS_CHECK.search(cell.source):
            cells.append(cell)
        if _task(cell):
            out.append((_task(cell), cells))
            cells = []
    return out


def _kernel(cwd: Path):
    """A fresh kernel of this Python, in ``cwd``, that finds this copy of ``utils``."""
    from ipykernel.kernelspec import RESOURCES, get_kernel_dict
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpecManager

    class ThisPython(KernelSpecManager):
        def get_kernel_spec(self, kernel_name):
            return self.kernel_spec_class(resource_dir=RESOURCES, **get_kernel_dict())

    env = {**os.environ, _CHECKING: "1"}
    home = Path(__file__).resolve().parent.parent  # a checkout, not site-packages
    if (home / "pyproject.toml").is_file():
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(home), env.get("PYTHONPATH")]))
    km = KernelManager(kernel_name="this-python", kernel_spec_manager=ThisPython())
    km.start_kernel(cwd=str(cwd), env=env, stderr=open(os.devnull, "w"))
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=120)
    return km, kc


def _reply(km, kc, msg_id: str, seconds: float):
    """The kernel's reply to ``msg_id`` within ``seconds``; None when none came."""
    end = time.monotonic() + seconds
    while time.monotonic() < end and km.is_alive():
        try:
            msg = kc.get_shell_msg(timeout=min(1.0, max(end - time.monotonic(), 0.01)))
        except queue.Empty:
            continue
        finally:
            while True:  # outputs are not shown: drop them as they come
                try:
                    kc.get_iopub_msg(timeout=0)
                except queue.Empty:
                    break
        if msg["parent_header"].get("msg_id") == msg_id:
            return msg["content"]
    return None


def _answer(cell) -> bool:
    """An answer cell: the student's (the course names them ``answer-...``)."""
    return str(cell.get("id", "")).startswith("answer")


def _message(content: dict, cell, counts: dict, own: list) -> tuple[str, bool]:
    """What went wrong, in the grader's words, and whether it was in an answer cell of
    this task (``own``: its cells)."""
    ename, evalue = content.get("ename", "Error"), content.get("evalue", "")
    what = f"{ename}: {evalue}".strip() if evalue else ename
    where = None  # (cell, line) of the innermost notebook frame
    for entry in content.get("traceback", []):
        for m in _CELL.finditer(_ANSI.sub("", entry)):
            if int(m.group(1)) in counts:
                where = (counts[int(m.group(1))], int(m.group(2)))
    theirs = where is not None and _answer(where[0])
    if ename == "NotImplementedError" and _answer(cell):
        what = f"not answered yet: cell '{cell.get('id')}' raises NotImplementedError"
    elif ename == "NotImplementedError":
        what = "not answered yet (NotImplementedError)" + \
            (f" in your cell '{where[0].get('id')}'" if theirs else "")
    elif theirs:
        what += f" (in your cell '{where[0].get('id')}', line {where[1]})"
    return " ".join(what.split()), _answer(cell) or (theirs and where[0] in own)


def run(nb, cwd, timeout: float = TIMEOUT) -> list[dict]:
    """Run the seminar's tasks in a fresh kernel; one record per task: task, points,
    hidden (the task has hidden tests), status (the grader's word) and message."""
    rows, counts, dead = [], {}, ""
    km, kc = _kernel(Path(cwd))
    try:
        for meta, cells in tasks(nb):
            row = {"task": str(meta["task"]), "points": meta.get("points", 0),
                   "hidden": bool(meta.get("hidden_tests")), "status": "passed", "message": ""}
            rows.append(row)
            if dead:
                row.update(status="error", message=dead)
                continue
            for cell in cells:
                msg_id = kc.execute(cell.source, allow_stdin=False)
                content = _reply(km, kc, msg_id, timeout)
                if content is None and km.is_alive():  # over the limit: interrupt it
                    km.interrupt_kernel()
                    content = _reply(km, kc, msg_id, GRACE)
                    if row["status"] == "passed":
                        row.update(status="timeout", message=f"cell '{cell.get('id')}' ran "
                                   f"over the {timeout:g} s limit and was interrupted")
                    if content is not None:
                        continue
                if content is None:
                    dead = (f"not checked: the kernel stopped responding in task "
                            f"'{row['task']}' (cell '{cell.get('id')}')")
                    if row["status"] == "passed":
                        row.update(status="error", message=f"the kernel stopped in cell "
                                   f"'{cell.get('id')}' (out of memory, or a crash)")
                    break
                if content.get("execution_count") is not None:
                    counts[content["execution_count"]] = cell
                # an error in one of the instructor's cells of the task (a plot of an
                # earlier task's result) gives way to a later error of the task's own answer
                # or test cell: the grader runs a task from the answer cells it needs
                if content.get("status") == "error" and (
                        row["status"] == "passed" or row.get("soft")):
                    message, row["own"] = _message(content, cell, counts, cells)
                    row.update(status="failed", message=message,
                               soft=not (_answer(cell) or (cell.get("metadata", {}).get(
                                   "course") or {}).get("task")))
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    before = []  # as the grader says it: a task may fail because an earlier one did
    for row in rows:
        if row["status"] in ("failed", "timeout") and before and not row.pop("own", False):
            row["message"] += (f" (earlier task(s) {', '.join(before)} did not pass; this "
                               "task may depend on them)")
        row.pop("own", None)
        row.pop("soft", None)
        before += [row["task"]] if row["status"] != "passed" else []
    return rows


def table(rows: list[dict]) -> str:
    """The per-task table and a last line that claims no point a hidden test decides."""
    body = [(r["task"], f"{r['points']:g}", r["status"], r["message"] or (
        "visible tests passed; its hidden tests run at grading" if r["hidden"] else ""))
        for r in rows]
    width = [max(len(x[i]) for x in [("task", "points", "status"), *body]) for i in range(3)]
    lines = ["  ".join(x[i].ljust(width[i]) for i in range(3)) + "  " + x[3]
             for x in [("task", "points", "status", "message"), *body]]
    passed = [r for r in rows if r["status"] == "passed"]
    hidden = [r["task"] for r in passed if r["hidden"]]
    sure = sum(r["points"] for r in passed if not r["hidden"])
    lines += ["", f"visible tests passed in {len(passed)} of {len(rows)} tasks"
              + (f"; points no hidden test decides: {sure:g}" if sure else "")
              + (f"; hidden tests at grading decide the points of {', '.join(hidden)}"
                 if hidden else "")]
    return "\n".join(line.rstrip() for line in lines)


def _this_notebook():
    """(notebook, folder) of the notebook whose kernel calls ``check()``: Colab's live
    copy, or the file Jupyter names in ``JPY_SESSION_NAME`` (as last saved)."""
    if "google.colab" in sys.modules:
        import nbformat
        from google.colab import _message  # Colab's frontend hands out the open notebook

        raw = _message.blocking_request("get_ipynb", request="", timeout_sec=60)
        if raw and raw.get("ipynb"):
            import json

            nb = nbformat.reads(json.dumps(raw["ipynb"]), as_version=4)
            return nb, Path.cwd(), "this notebook"
    name = os.environ.get("JPY_SESSION_NAME", "")  # Jupyter Server 2: the notebook's path
    for path in (Path(name), Path(Path(name).name)) if name.endswith(".ipynb") else ():
        if path.is_file():
            return load(path), path.resolve().parent, f"{path.name} as last saved"
    raise CheckError("cannot tell which notebook this is: call check('NN_topic.ipynb') "
                     "with its file name (save it first)")


def _check(path, timeout: float) -> list[dict]:
    if path is None:
        nb, cwd, what = _this_notebook()
    else:
        nb, cwd, what = load(path), Path(path).resolve().parent, str(path)
    print(f"checking {what} in a fresh kernel (visible tests only) ...", flush=True)
    try:
        return run(nb, cwd, timeout)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # the kernel could not start, ...: one line, no traceback
        raise CheckError(f"the check could not run: {type(exc).__name__}: {exc}") from None


def check(path=None, timeout: float = TIMEOUT) -> list[dict]:
    """Check a seminar (``path``, or the notebook this is called from) and print the
    table; return the records. A notebook that cannot be checked gets a message, no
    exception (so a last cell that calls this never fails a notebook run)."""
    if os.environ.get(_CHECKING):
        return []  # called from inside a check: nothing to do
    try:
        rows = _check(path, timeout)
    except CheckError as exc:
        print(f"cannot check: {exc}")
        return []
    print(table(rows))
    return rows


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m utils.check",
                                description="Run a seminar with its visible tests in a fresh "
                                "kernel and print a line per task.")
    p.add_argument("notebook", help="a seminar, e.g. seminars/07_init_batchnorm.ipynb")
    p.add_argument("--timeout", type=float, default=TIMEOUT,
                   help=f"seconds per cell (default {TIMEOUT})")
    args = p.parse_args(argv)
    if not args.timeout > 0:
        p.error("--timeout must be > 0")
    try:
        rows = _check(args.notebook, args.timeout)
    except CheckError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    print(table(rows))
    return 0 if rows and all(r["status"] == "passed" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
