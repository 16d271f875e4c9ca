"""Known-wrong answers lose their task's points: graded tests that cannot catch a plausible
mistake are defects.

``tests/wrong_answers/NN_topic.py`` holds, for ``solutions/NN_topic.ipynb``::

    WRONG = [  # (task id, description, {answer cell id: replacement source})
        ("mse", "forgot the 1/N", {"answer-mse": "def mse(y_hat, y): ..."}),
    ]

Each entry becomes a submission: the solution with those answer cells replaced. It is
graded by the real grader (same kernel, limits and hidden tests as a student's), but only
up to the task's own test cell (the later cells cannot change that task's verdict), all
entries in one parallel run. The task must end ``failed`` with 0 points.
"""
import importlib.util
import os
import re
from pathlib import Path

import pytest

from coursekit import grading, notebook
from coursekit.grading.verdict import new_seed

REPO = notebook.REPO
SOLUTIONS = notebook.selected_units(sorted((REPO / "solutions").glob("*.ipynb")))
WRONG_DIR = REPO / "tests" / "wrong_answers"


def load_wrong(path: Path) -> list:
    spec = importlib.util.spec_from_file_location(f"wrong_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.WRONG)


def entries() -> list:
    """[(stem, index, task id, description, replacements)] over every WRONG list."""
    out = []
    for path in notebook.selected_units(sorted(WRONG_DIR.glob("*.py"))):
        for i, (task, description, replace) in enumerate(load_wrong(path)):
            out.append((path.stem, i, task, description, replace))
    return out


ENTRIES = entries()
ids = [f"{stem}-{task}-{i}" for stem, i, task, _, _ in ENTRIES]


@pytest.mark.parametrize("solution", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_every_task_has_a_known_wrong_answer(solution):
    sem = grading.load_solutions(REPO / "solutions")[solution.stem]
    covered = {task for stem, _, task, _, _ in ENTRIES if stem == solution.stem}
    lacking = [t for t, _ in sem.tasks if t not in covered]
    assert not lacking, (f"tasks without a known-wrong answer in tests/wrong_answers/"
                         f"{solution.stem}.py: {lacking}")


def test_entries_name_real_tasks_and_answer_cells():
    seminars = grading.load_solutions(REPO / "solutions")
    problems = []
    for stem, i, task, description, replace in ENTRIES:
        sem = seminars.get(stem)
        if sem is None:
            problems.append(f"{stem}.py: no solutions/{stem}.ipynb")
            continue
        if task not in dict(sem.tasks):
            problems.append(f"{stem}.py #{i} ({description}): no task {task!r}")
        answers = {s.id: s.task for s in sem.answers}
        problems += [f"{stem}.py #{i} ({description}): {cid!r} is not an answer cell"
                     for cid in replace if cid not in answers]
        later = [cid for cid in replace if cid in answers and
                 [t for t, _ in sem.tasks].index(answers[cid]) >
                 [t for t, _ in sem.tasks].index(task)]
        problems += [f"{stem}.py #{i}: {cid!r} comes after task {task!r}" for cid in later]
    assert not problems, "\n".join(problems)


def _grade_entries(opts, folder=None, only=None) -> dict:
    """Grade the entries (one submission each, up to its task; ``only``: these students)
    in one parallel run: {student: record}."""
    import tempfile

    seminars = grading.load_solutions(REPO / "solutions")
    jobs = []
    with tempfile.TemporaryDirectory(prefix="wrong-") as tmp:
        folder = Path(folder or tmp)
        for n, (stem, _, task, _, replace) in enumerate(ENTRIES):
            if stem not in seminars or task not in dict(seminars[stem].tasks):
                continue  # reported by test_entries_name_real_tasks_and_answer_cells
            if only is not None and f"entry{n:03d}" not in only:
                continue
            nb = notebook.read(REPO / "solutions" / f"{stem}.ipynb")
            for cell in nb.cells:
                if cell.get("id") in replace:
                    cell.source = replace[cell.id]
            path = folder / f"entry{n:03d}" / f"{stem}.ipynb"
            notebook.write(nb, path)
            jobs.append(grading.Job(f"entry{n:03d}", str(path), stem, stem, until=task))
        n_jobs = min(2, os.cpu_count() or 1)
        grading.preflight(opts, n_jobs)
        results = grading.grade_jobs(jobs, str(REPO / "solutions"), opts, jobs=n_jobs)
        return {student: rec for student, _, rec, _ in results}


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory):
    """Grade every entry (one submission each, up to its task) in one parallel run."""
    return _grade_entries(grading.Options(probe_seed=SEED), tmp_path_factory.mktemp("wrong"))


SAMPLE = 8  # every SAMPLE-th entry is also graded without the OS sandbox
# the probes' inputs (units graded out of the student's process): drawn afresh per session,
# the same for both runs of an entry, so that they differ by the sandbox only
SEED = new_seed()


def _grades(book: dict) -> dict:
    """Each record's tasks as (id, points, status, message with its numbers masked): some
    tests quote a time they measured ("conv2d took 1.6 s")."""
    return {s: [(t["id"], t["points"], t["status"], re.sub(r"\d+(\.\d+)?", "#", t["message"]))
                for t in rec["tasks"]] for s, rec in book.items()}


@pytest.mark.slow
def test_same_verdicts_without_the_sandbox(verdicts):
    """The OS sandbox changes no grade: a sample of the entries (every SAMPLE-th) gets the
    same points, statuses and messages (up to measured numbers) with --sandbox off as with
    the sandbox (the default here). All of them: the README's measured run."""
    if {rec.get("sandbox") for rec in verdicts.values()} != {"bubblewrap"}:
        from coursekit import bwrap
        pytest.skip(f"the OS sandbox is not available here: {bwrap.available()}")
    sample = {s: rec for s, rec in verdicts.items() if int(s.removeprefix("entry")) % SAMPLE == 0}
    bare = _grade_entries(grading.Options(sandbox="off", probe_seed=SEED), only=set(sample))
    assert len(bare) == len(sample) > 10
    assert {r["sandbox"] for r in bare.values()} == {"none"}
    assert _grades(bare) == _grades(sample)


@pytest.mark.parametrize("stem, i, task, description, replace", ENTRIES, ids=ids)
def test_wrong_answer_loses_the_task(verdicts, stem, i, task, description, replace):
    rec = verdicts.get(f"entry{ENTRIES.index((stem, i, task, description, replace)):03d}")
    assert rec is not None, "not graded (see test_entries_name_real_tasks_and_answer_cells)"
    result = {t["id"]: t for t in rec["tasks"]}[task]
    assert result["status"] == "failed" and result["points"] == 0, (
        f"{stem} task {task!r} is not caught by its test: {description!r} gives "
        f"{result['status']} {result['points']}/{result['max_points']} {result['message']}")
