"""The instructor grader: a class of submitted seminars -> points, per task.

    python -m coursekit grade SUBMISSIONS --out grades/ [--jobs N] [--timeout S] [--memory-mb M]
    python -m coursekit grade SUBMISSIONS --student alice --out reports/alice   # one CI job
    python -m coursekit grade SUBMISSIONS --shard 2/4 --out reports/2          # a quarter
    python -m coursekit merge reports/*/grades.json --out grades/              # the gradebook
    python -m coursekit feedback grades/grades.json --out grades/feedback      # per student

SUBMISSIONS holds one folder per student with any subset of the seminars under their file
names: ``SUBMISSIONS/<student>/NN_topic.ipynb``. The grader writes ``grades.json``
(student -> seminar -> points, max_points, per-task status and message), ``grades.csv``
(a row per student, a column per seminar, a total) and ``junit.xml``, and prints a table.

The parts, in the order a submission meets them: ``assemble`` (the solution read and
checked, a ``Solution``; the assembly: the student's answer cells put in its place),
``run`` (one assembly in a bounded kernel, task by task, into a ``GradeRecord``),
``batch`` (a class: submitted files to seminars, worker processes, shards) and ``report``
(json, csv, junit, table, merge); ``common`` holds the limits, the options, the deny list
and the grade record with its one reading and writing of grades.json. No part imports a
later one's caller. The words (solution, seminar, assembly, verdict, record...) are
defined once, in ``coursekit/__init__.py``.

How one notebook is graded (see the README, "Grading"):
1. The run is assembled from the instructor's solution ``solutions/NN_topic.ipynb``: every
   cell comes from the solution (tests, hidden tests, setup, data) except the answer cells
   (those with a ``### BEGIN SOLUTION`` region), which come from the student's file,
   matched by cell id, else by position. Edited or deleted test cells change nothing; a
   missing answer cell is graded as the seminar's empty stub. Cells a student added are
   not run. Cells after the last graded test are not run.
2. The cells run one by one in a fresh kernel (``coursekit.sandbox``): a temporary working
   directory, a memory limit, one thread, the solution's own seeding in the setup cell,
   and - where bubblewrap works, see ``--sandbox`` - the OS sandbox of ``coursekit/bwrap.py``
   (no network, no new processes, only the Python environment and the course's public
   files to read, a bounded scratch folder to write; every record says ``"sandbox"``).
   A task is the graded test cell and the cells since the previous one.
3. Each task scores its points when its answer cells run without error and its test cell
   passes, 0 otherwise, with a status:
   passed, failed (an answer or the test raised: the message says what and where), timeout
   (a cell ran over the per-cell limit: it is interrupted and the next task goes on),
   error (the kernel died, or the file could not be graded at all) or missing (the
   answer cell is not in the submission).
4. Guards (README, "What the grader guards against"): a task whose answers use a name
   its test cell's ``forbid`` metadata lists fails with the rule, cell and line
   (``coursekit/rules.py``, by syntax tree); before every instructor cell the names
   instructor cells bound and the attributes of utils, NumPy, torch, math and builtins
   are restored; the kernel cannot read solutions/, tests/, .git, build/, grades/ or the
   submissions, nor start processes (``coursekit/guard.py``).
5. A kernel that dies (memory, ``os._exit``, a segfault, a cell that ignores the
   interrupt) costs the task it died in: the grader starts a new kernel and replays the
   notebook from the top with that task's answer replaced by the stub, so the later tasks
   are still graded (at most ``MAX_RESTARTS`` times per notebook; a crash in a task with
   no student cell to blame ends the run and the remaining tasks get ``error``).

6. A seminar with a probe module (``solutions/probes/NN_topic.py``: units 01-03) is graded
   out of the student's process instead (``verdict``): per task, a fresh probe process
   runs the answer cells and the task's probe on inputs from a seed drawn at grading time
   and sends back plain data (``coursekit/plain.py``), which this process compares with
   what the solution gives in another process. No test cell runs.

Exit status: 0 when grading completed, whatever the students scored; 2 when the grader
cannot run (bad arguments, no or broken solutions, no kernel), with a one-line reason;
3 on a bug of the grader itself (one line; GRADE_DEBUG=1 shows the traceback).
"""
from .assemble import (
                       Assembly,
                       Solution,
                       Step,
                       assemble,
                       broken_rules,
                       cell_id,
                       default_timeout,
                       identify,
                       load_solution,
                       load_solutions,
                       task_segments,
)
from .batch import SubmittedFile, grade, grade_file, grade_files, plan, preflight, shard_students
from .common import (
                       DEFAULT_MEMORY_MB,
                       DEFAULT_TIMEOUT,
                       DENIED,
                       MAX_RESTARTS,
                       STATUSES,
                       THREADS,
                       TIMEOUT_FLOOR,
                       TIMEOUT_MARGIN,
                       DEFAULT_DISK_MB,
                       SANDBOX_MODES,
                       GradeError,
                       Options,
                       GradeRecord,
                       Status,
                       TaskVerdict,
                       gradebook_from_json,
                       gradebook_json,
                       gradebook_to_json,
                       read_gradebook,
                       cold_by_default,
                       denied_paths,
                       sandbox_for,
                       settle_sandbox,
                       with_denied,
)
from .report import columns, merge, table, to_csv, to_junit, write_reports
from .run import (
                       Verdict,
                       describe,
                       failed_record,
                       grade_notebook,
                       new_kernel,
                       run_tasks,
                       short_numbers,
)

__all__ = [
    "Assembly", "Solution", "Step", "assemble", "broken_rules", "cell_id", "default_timeout",
    "identify", "load_solution", "load_solutions", "task_segments", "SubmittedFile", "grade",
    "grade_file", "grade_files", "plan", "preflight", "shard_students", "DEFAULT_MEMORY_MB",
    "DEFAULT_TIMEOUT", "DENIED", "MAX_RESTARTS", "STATUSES", "THREADS", "TIMEOUT_FLOOR",
    "TIMEOUT_MARGIN", "GradeError", "Options", "cold_by_default", "denied_paths", "columns",
    "DEFAULT_DISK_MB", "SANDBOX_MODES", "GradeRecord", "Status", "TaskVerdict",
    "gradebook_from_json", "gradebook_json",
    "gradebook_to_json", "read_gradebook", "sandbox_for", "settle_sandbox", "with_denied",
    "merge", "table", "to_csv", "to_junit", "write_reports", "Verdict", "describe",
    "failed_record", "grade_notebook", "new_kernel", "run_tasks", "short_numbers",
]
