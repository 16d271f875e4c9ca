"""The student-facing course, exported without solutions or hidden tests.

    python -m coursekit release --out DIR        (`make release`)

DIR gets the lecture notebooks, the seminars freshly generated from the solutions, the
``utils`` package (whole: the instructor tooling is ``coursekit``, which is not released),
``data/README.md`` and the project files
(README, pyproject, environment.yml, Makefile, nbval configuration). It never gets
``solutions/`` or ``tests/`` (where the known-wrong answers live). ``leaks`` then checks
the result; ``tests/test_grade.py`` runs it on the real course.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from . import build, notebook
from .notebook import REPO, CourseError

RELEASE_FILES = ("README.md", "LICENSE", "pyproject.toml", "environment.yml", "Makefile",
                 "conftest.py", "nbval_sanitize.cfg", ".gitignore", "data/README.md")
MARK = ".course-release"


def release(out, repo: Path = REPO) -> list:
    """Export the student-facing course into ``out`` (a new or empty folder, or an earlier
    release, which is replaced): lecture notebooks, seminars freshly generated from the
    solutions, ``utils`` as it is, the data README and the project files (never
    ``coursekit``, ``solutions`` or ``tests``). Returns the leak problems (empty: clean)."""
    out = Path(out)
    if (out / MARK).is_file():  # an earlier release: replace it
        shutil.rmtree(out)
    elif out.exists() and any(out.iterdir()):
        raise CourseError(f"{out} exists, is not empty and is not an earlier release: "
                          "release into a new folder")
    out.mkdir(parents=True, exist_ok=True)
    (out / MARK).write_text("made by `python -m coursekit release`; replaced by the next\n")
    for name in RELEASE_FILES:
        if (repo / name).is_file():
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(repo / name, out / name)
    for nb in sorted((repo / "notebooks").glob("*.ipynb")):
        (out / "notebooks").mkdir(parents=True, exist_ok=True)
        shutil.copy2(nb, out / "notebooks" / nb.name)
    for sol in sorted((repo / "solutions").glob("*.ipynb")):
        notebook.write(build.make_seminar(notebook.read(sol)), out / "seminars" / sol.name)
    shutil.copytree(repo / "utils", out / "utils",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return leaks(out, sorted((repo / "solutions").glob("*.ipynb")), repo)


def _region_lines(nb, begin: str, end: str) -> list:
    """The non-trivial lines (20+ characters, as `make check` uses) inside fenced regions."""
    out = []
    for cell in nb.cells:
        lines = cell.source.split("\n")
        for a, b in notebook._regions(lines, begin, end, "cell"):
            out += [t.strip() for t in lines[a + 1:b] if len(t.strip()) >= 20]
    return out


def _public_texts(solutions, repo: Path = REPO) -> list[str]:
    """What students see anyway: the seminars' own text (each solution outside its
    regions), the lecture notebooks and ``utils``."""
    texts = []
    for sol in solutions:
        texts += [notebook.strip_source(c.source) for c in notebook.read(sol).cells]
    for nb in sorted((repo / "notebooks").glob("*.ipynb")):
        texts += [c.source for c in notebook.read(nb).cells]
    texts += [py.read_text() for py in sorted((repo / "utils").glob("*.py"))]
    return texts


def public_lines(solutions, repo: Path = REPO) -> set:
    """Lines students see anyway (``_public_texts``). A region line that is one of these
    (``optimizer.zero_grad()``, ``with torch.no_grad():``) is common code, not a secret."""
    return {t.strip() for text in _public_texts(solutions, repo)
            for t in text.split("\n") if len(t.strip()) >= 20}


def secret_lines(solutions, repo: Path = REPO) -> tuple[dict, dict]:
    """({line: solution file} of solution regions, the same of hidden-test regions): the
    non-trivial region lines that appear nowhere students see anyway (``public_lines``)."""
    texts = _public_texts(solutions, repo)
    public = {t.strip() for text in texts for t in text.split("\n") if len(t.strip()) >= 20}
    # a line inside a public line is public too, and so is a line that a seminar's markdown
    # gives as a hint wrapped over two lines (compared with all whitespace collapsed)
    seen = " ".join(" ".join(texts).split())
    answer, hidden = {}, {}
    for sol in solutions:
        nb = notebook.read(sol)
        answer.update((t, sol.name) for t in _region_lines(nb, notebook.BEGIN, notebook.END)
                      if t not in public and " ".join(t.split()) not in seen)
        hidden.update((t, sol.name) for t in
                      _region_lines(nb, notebook.HIDDEN_BEGIN, notebook.HIDDEN_END)
                      if t not in public and " ".join(t.split()) not in seen)
    return answer, hidden


def notebook_text(raw: str) -> str:
    """Every string in a notebook's JSON (sources, outputs, metadata), decoded: a line
    with quotes or backslashes is found as written, not only in its escaped JSON form."""
    import json

    def strings(node):
        if isinstance(node, str):
            yield node
        elif isinstance(node, list):
            if node and all(isinstance(x, str) for x in node):
                yield "".join(node)  # a source or text split into lines
            else:
                for x in node:
                    yield from strings(x)
        elif isinstance(node, dict):
            for x in node.values():
                yield from strings(x)
    try:
        return "\n".join(strings(json.loads(raw)))
    except ValueError:
        return raw


def leaks(folder: Path, solutions, repo: Path = REPO) -> list:
    """What of the solutions is in ``folder`` (empty: nothing). The rules:
    no solutions/ or tests/ folder; no solution or hidden-test marker in a notebook; no
    secret line (``secret_lines``) of a solution or hidden-test region in a seminar; no
    secret line of a hidden-test region anywhere. Lines of solution regions may appear in
    lecture notebooks and utils: the lecture teaches the code the seminar asks for."""
    answer, hidden = secret_lines(solutions, repo)
    problems = []
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        rel = path.relative_to(folder)
        if rel.parts[0] in ("solutions", "tests"):
            problems.append(f"{rel} is in the release")
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        if path.suffix == ".ipynb":
            text = notebook_text(text)
        if path.suffix == ".ipynb":
            problems += [f"{rel} contains the marker '{m}'" for m in
                         (notebook.BEGIN, notebook.END, notebook.HIDDEN_BEGIN, notebook.HIDDEN_END)
                         if m in text]
        lines = {**hidden, **answer} if rel.parts[0] == "seminars" else hidden
        problems += [f"{rel} contains text of {src}: {line!r}" for line, src in lines.items()
                     if line in text]
    return problems
