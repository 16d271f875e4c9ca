"""The course's instructor tooling: what builds, runs, grades and publishes the course.

The words, one meaning each (the code uses them so):

- *lecture*: a notebook in ``notebooks/``; it derives and shows, and is not graded.
- *solution*: a notebook in ``solutions/``, the single source of a unit's exercises: answer
  cells with the instructor's code, visible tests, hidden tests, task metadata; with its
  *probe module* ``solutions/probes/NN_topic.py`` where it has one.
- *seminar*: the exercise notebook *generated* from a solution (``make seminars``): answer
  cells blanked, hidden tests removed.
- *submission*: one student's file (a filled-in seminar) handed in; a *class* is a folder
  of submissions, one subfolder per student.
- *answer cell*: a cell of a seminar the student fills in; it belongs to one task.
- *task*: a graded part of a seminar: points, answer cells, tests, a probe. Its *task
  metadata* is the ``course`` entry of its test cell's metadata (``task``, ``points``,
  ``forbid``).
- *probe*: the instructor's function that runs in the student's process and returns plain
  data (``coursekit.plain``), compared with the solution's in the grader's process.
- *assembly*: the notebook the grader runs for a submission: the solution's cells with the
  student's answer cells put in (``grading.assemble``: to *assemble*).
- *verdict*: the outcome of one task: a status (one of ``grading.STATUSES``), points and a
  message.
- *grade record* (short: *record*): one graded file in ``grades.json``: points, the
  tasks' verdicts, notes, sandbox (``grading.GradeRecord``). The *recorder*
  (``coursekit.recorder``) is something else: what ran in a probe process.
- *gradebook*: ``grades.json`` (student -> seminar -> record) and the LMS files made from it.
- *release*: the student copy of the repository; *site*: the course website; ``build/``:
  the output folder, nothing else.
- *worker*: one of the ``--jobs`` parallel grading processes; it grades one submitted file
  at a time.

Students never import it (their package is ``utils``); one command line drives it all,
``python -m coursekit COMMAND`` (``coursekit.cli``), which the Makefile's targets call.
One module per concern, imported in this order and never back:

- ``notebook``: the notebook format, the solution and hidden-test regions, the metadata;
- ``leaks``, ``generate``: the leak rule; seminars generated from solutions and checked;
- ``rules``, ``guard``, ``sandbox``, ``warm``: what a grading kernel may do, the bounded
  kernel, and the warm zygote that forks kernels with torch already imported;
- ``grading``: the grader (``assemble``, ``run``, ``batch``, ``report``);
- ``feedback``, ``simulate``: a markdown file per student; a simulated class and the
  grading benchmark;
- ``execute``: headless runs, the notebooks' section of BENCHMARKS.md, stored outputs;
- ``release``, ``site``, ``nbgrader_export``: the student course, the website, nbgrader.
"""
