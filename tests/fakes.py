"""Stand-ins shared by the tests of ``coursekit`` (a plain helper module, not a test module:
the tests import it, pytest collects nothing here; the fixtures built on them are in
conftest.py): the scripted kernel of the grader, jupyter_client's kernel manager and
client, the small solutions the tests grade, generate and publish, and the command line
run in-process.
"""
import importlib
import types
from dataclasses import replace

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from coursekit import cli, notebook
from coursekit.generate import make_seminar, seminar_problems
from coursekit.grading.common import GradeRecord, TaskVerdict
from coursekit.sandbox import Outcome

asm_mod = importlib.import_module("coursekit.grading.assemble")  # the package's `assemble` is the function


class FakeKernel:
    """Scripted kernel: ``script`` maps a text to the Outcome (or a function of the kernel
    giving one) of the first cell whose source contains it; other cells are "ok"."""

    def __init__(self, script=None, fail_restart=None):
        self.script = dict(script or {})
        self.log = []  # (source, timeout, history) of every run
        self.count = 0
        self.restarts = 0
        self.shutdowns = 0
        self.fail_restart = fail_restart

    def restart(self):
        if self.fail_restart:
            raise self.fail_restart
        self.restarts += 1
        self.count = 0
        return self

    def shutdown(self):
        self.shutdowns += 1

    def __enter__(self):
        return self.restart()

    def __exit__(self, *exc):
        self.shutdown()

    def run(self, source, timeout, history=True):
        self.log.append((source, timeout, history))
        if history:
            self.count += 1
        count = self.count if history else None
        for key, out in self.script.items():
            if key in source:
                out = out(self) if callable(out) else out
                return replace(out, traceback=list(out.traceback),
                               execution_count=count if out.execution_count is None
                               else out.execution_count)
        return Outcome("ok", execution_count=count)

    def cells(self):
        """The sources run with an execution count (the notebook's cells)."""
        return [s for s, _, h in self.log if h]


def code(cid, source, task=None, points=1):
    """A code cell with id ``cid``; with ``task``, the test cell of that task."""
    cell = new_code_cell(source)
    cell.id = cid
    if task:
        cell.metadata["course"] = {"task": task, "points": points}
    return cell


def answer(cid, body, head):
    """An answer cell: ``head`` then the solution region holding ``body``."""
    return code(cid, f"{head}\n    ### BEGIN SOLUTION\n    {body}\n    ### END SOLUTION\n")


def solution_nb():
    """Three tasks: 'a' (2 points), 'b' (1.5, a hidden test, an instructor cell calling the
    student's function), 'c' (1, no answer cell: an instructor-only task)."""
    return new_notebook(cells=[
        new_markdown_cell("# 01. Units"),
        code("setup", "import math\nLIMIT = 3"),
        answer("answer-a", "return 2 * x", "def twice(x):"),
        code("test-a", "assert twice(2) == 4, 'twice(2) is wrong'\nprint('a: OK')",
             task="a", points=2),
        answer("answer-b", "return x + 1", "def plus(x):"),
        code("use-b", "result = plus(LIMIT)"),
        code("test-b", "assert result == 4\n### BEGIN HIDDEN TESTS\nassert plus(-1) == 0\n"
             "### END HIDDEN TESTS\nprint('b: OK')", task="b", points=1.5),
        code("test-c", "assert math.pi > 3", task="c", points=1),
        code("after", "print('not run')"),
    ])


def student(**answers):
    """The student's notebook: the solution's answer cells replaced by ``answers``."""
    nb = solution_nb()
    for cell in nb.cells:
        key = cell.get("id", "").replace("-", "_")
        if key in answers:
            cell.source = answers[key]
    return nb


def error(ename, evalue="", traceback=(), count=None):
    return Outcome("error", ename, evalue, list(traceback), count)


def put(folder, rel, nb_or_text):
    path = folder / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(nb_or_text, str):
        path.write_text(nb_or_text)
    else:
        notebook.write(nb_or_text, path)
    return path


def cli_run(capsys, *argv):
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def solution_to_generate():
    nb = new_notebook(cells=[new_markdown_cell("# T"),
                             new_code_cell("def f(x):\n    ### BEGIN SOLUTION\n"
                                           "    return x * 2  # the answer\n    ### END SOLUTION\n"),
                             new_code_cell("assert f(1) == 2\n### BEGIN HIDDEN TESTS\n"
                                           "assert f(21) == 42, 'hidden check'\n"
                                           "### END HIDDEN TESTS")])
    for cell, cid in zip(nb.cells, ["md", "answer-f", "test-f"], strict=True):
        cell.id = cid
    nb.cells[2].metadata["course"] = {"task": "f", "points": 1}
    nb.cells[2].metadata["execution"] = {"iopub.execute_input": "2026-01-01T00:00:00Z"}
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", text="ok\n")]
    nb.cells[2].execution_count = 4
    nb.metadata["widgets"] = {"state": {}}
    nb.metadata["course"] = {"headline": {"label": "x", "expr": "1"}}
    return nb


class FakeClient:
    """jupyter_client's blocking client: ``messages`` are the iopub messages to hand out
    (an item ``"empty"`` is a 1 s silence: queue.Empty)."""

    def __init__(self, km):
        self.km, self.messages, self.executed, self.events = km, [], [], []
        self.ready_error = None

    def start_channels(self):
        self.events.append("start_channels")

    def stop_channels(self):
        self.events.append("stop_channels")

    def wait_for_ready(self, timeout):
        self.events.append(("wait_for_ready", timeout))
        if self.ready_error:
            raise self.ready_error

    def execute(self, code, store_history, allow_stdin, stop_on_error):
        self.executed.append((code, store_history, allow_stdin, stop_on_error))
        msg_id = f"m{len(self.executed)}"
        script = self.km.script.pop(0) if self.km.script else [("idle", {})]
        for kind, content in script:
            if kind == "empty":
                self.messages.append("empty")
                continue
            kind, parent = (kind, msg_id) if kind != "other" else ("error", "someone-else")
            msg_type = "status" if kind == "idle" else kind
            content = {"execution_state": "idle"} if kind == "idle" else content
            self.messages.append({"parent_header": {"msg_id": parent}, "msg_type": msg_type,
                                  "content": content})
        return msg_id

    def get_iopub_msg(self, timeout):
        from queue import Empty
        if not self.messages or self.messages[0] == "empty":
            if self.messages:
                self.messages.pop(0)
            raise Empty
        return self.messages.pop(0)


class FakeKM:
    made = []

    def __init__(self, kernel_name, kernel_spec_manager):
        self.kernel_name, self.spec = kernel_name, kernel_spec_manager
        self.script, self.events, self.living = [], [], True
        self.provisioner = types.SimpleNamespace(process=types.SimpleNamespace(poll=lambda: -9))
        self.kc = FakeClient(self)
        FakeKM.made.append(self)

    def start_kernel(self, **kw):
        self.events.append(("start_kernel", kw))

    def client(self):
        return self.kc

    def is_alive(self):
        return self.living

    def interrupt_kernel(self):
        self.events.append("interrupt")

    def shutdown_kernel(self, now):
        self.events.append(("shutdown", now))
        if not self.living:
            raise RuntimeError("already dead")


ANSWER_LINE = "return sorted(items, key=len)[0]  # shortest"


HIDDEN_LINE = "assert shortest(['abc', 'de']) == 'de', 'hidden'"


COMMON_LINE = "optimizer.zero_grad()  # as everywhere"


def solution():
    nb = new_notebook(cells=[
        new_markdown_cell("# 01. Words"),
        new_code_cell("def shortest(items):\n    ### BEGIN SOLUTION\n    " + COMMON_LINE +
                      "\n    " + ANSWER_LINE + "\n    ### END SOLUTION\n"),
        new_code_cell("assert shortest(['a', 'bb']) == 'a'\n### BEGIN HIDDEN TESTS\n" +
                      HIDDEN_LINE + "\n### END HIDDEN TESTS")])
    for cell, cid in zip(nb.cells, ["title", "answer-shortest", "test-shortest"], strict=True):
        cell.id = cid
    nb.cells[2].metadata["course"] = {"task": "shortest", "points": 1}
    return nb


SOLUTION = """def f(x):
    \"\"\"Double x.\"\"\"
    ### BEGIN SOLUTION
    doubled_value = 2 * x
    return doubled_value
    ### END SOLUTION
"""


def f_solution_nb():
    """A title, the answer cell of SOLUTION and a test cell of task 'f' (2 points) with a
    stored output."""
    nb = nbformat.v4.new_notebook()
    answer = nbformat.v4.new_code_cell(SOLUTION)
    answer.id = "answer-f"
    test = nbformat.v4.new_code_cell("assert f(2) == 4\nprint('f: OK')")
    test.id = "test-f"
    test.metadata["course"] = {"task": "f", "points": 2}
    test.outputs = [nbformat.v4.new_output("stream", text="f: OK\n")]
    test.execution_count = 2
    title = nbformat.v4.new_markdown_cell("# T")
    title.id = "title"
    nb.cells = [title, answer, test]
    return nb


def fresh_pair(tmp_path, nb):
    """What `make check` finds in ``nb`` and its freshly generated seminar (issue 15: a test
    of one guard fails when that guard in coursekit/generate.py or leaks.py is switched off;
    the seminar is fresh, so only the guard under test can speak)."""
    sol, sem = tmp_path / "solutions" / "01_t.ipynb", tmp_path / "seminars" / "01_t.ipynb"
    notebook.write(nb, sol)
    notebook.write(make_seminar(nb), sem)
    return seminar_problems(sol, sem)


def files(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def rec(points, max_points, tasks, file="f.ipynb"):
    return GradeRecord(points, max_points, tasks, file)


def task_(tid, points, max_points, status, message=""):
    return TaskVerdict(tid, points, max_points, status, message)
