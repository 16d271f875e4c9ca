"""The course's instructor tooling: what builds, runs, grades and publishes the course.

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
