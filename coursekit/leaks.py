"""The leak rule: what of a solution a student must never see, in one place.

A *secret line* is a line of a solution region or a hidden-test region of a solution
(``coursekit.notebook``'s markers) of at least ``SECRET_LINE_CHARS`` characters, stripped:
shorter lines (``return x``, ``else:``, ``loss.backward()``) are too common to give an
answer away. The markers themselves must never reach a student's notebook either. Three
checks apply the rule:

- ``make check`` (``coursekit.generate``): a seminar holds no marker and no secret line of
  its solution, not even one the solution's own markdown quotes as a hint (a line its
  code shows outside the regions too, such as a visible test repeated by a hidden one,
  is the author's choice);
- ``make release`` and ``make site`` (``coursekit.release``, ``coursekit.site``): a
  published folder holds no marker in a notebook, no secret line of a solution region in
  a seminar and no secret line of a hidden-test region anywhere; there a line that
  students see anyway (``public_lines``: the seminars' own text, the lecture notebooks,
  ``utils``) is not a secret, since the lecture teaches the code the seminar asks for.
"""
from __future__ import annotations

import json
from pathlib import Path

from . import notebook
from .notebook import BEGIN, END, HIDDEN_BEGIN, HIDDEN_END, REPO

SECRET_LINE_CHARS = 20  # a region line this long or longer is a secret (see above)
MARKERS = (BEGIN, END, HIDDEN_BEGIN, HIDDEN_END)
REGIONS = ((BEGIN, END), (HIDDEN_BEGIN, HIDDEN_END))


def long_lines(text: str) -> list[str]:
    """The lines of ``text``, stripped, of at least ``SECRET_LINE_CHARS`` characters."""
    return [s for s in (t.strip() for t in text.split("\n")) if len(s) >= SECRET_LINE_CHARS]


def region_lines(nb, regions=REGIONS) -> list[str]:
    """The long lines (``long_lines``) inside the fenced ``regions`` of every cell of
    ``nb``: by default the solution and the hidden-test regions."""
    out = []
    for cell in nb.cells:
        lines = cell.source.split("\n")
        for begin, end in regions:
            for a, b in notebook._regions(lines, begin, end, "cell"):
                out += long_lines("\n".join(lines[a + 1:b]))
    return out


def markers_in(text: str) -> list[str]:
    """The region markers found in ``text``, in ``MARKERS`` order."""
    return [m for m in MARKERS if m in text]


def notebook_text(raw: str) -> str:
    """Every string in a notebook's JSON (sources, outputs, metadata), decoded: a line
    with quotes or backslashes is found as written, not only in its escaped JSON form."""

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


def _collapsed(texts) -> str:
    """``texts`` joined, every run of whitespace one space: a line is found in it even
    where it is part of a longer line or wrapped over two."""
    return " ".join(" ".join(texts).split())


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


def _lines_of(texts) -> set:
    return {t for text in texts for t in long_lines(text)}


def public_lines(solutions, repo: Path = REPO) -> set:
    """Lines students see anyway (``_public_texts``). A region line that is one of these
    (``optimizer.zero_grad()``, ``with torch.no_grad():``) is common code, not a secret."""
    return _lines_of(_public_texts(solutions, repo))


def secret_lines(solutions, repo: Path = REPO) -> tuple[dict, dict]:
    """({line: solution file} of solution regions, the same of hidden-test regions): the
    secret lines that appear nowhere students see anyway (``public_lines``)."""
    texts = _public_texts(solutions, repo)
    public = _lines_of(texts)  # public_lines, from the texts read once
    # a line inside a public line is public too, and so is a line that a seminar's markdown
    # gives as a hint wrapped over two lines (compared with all whitespace collapsed)
    seen = _collapsed(texts)
    answer, hidden = {}, {}
    for sol in solutions:
        nb = notebook.read(sol)
        for found, region in ((answer, REGIONS[0]), (hidden, REGIONS[1])):
            found.update((t, sol.name) for t in region_lines(nb, (region,))
                         if t not in public and _collapsed([t]) not in seen)
    return answer, hidden


def published_problems(rel: Path, text: str, answer: dict, hidden: dict,
                       seminar: bool, is_notebook: bool) -> list[str]:
    """The rule for one published file ``rel`` (of a release or a site) whose text is
    ``text``: no marker in a notebook; no secret line of a hidden-test region; in a
    seminar (``seminar``), no secret line of a solution region either. ``answer`` and
    ``hidden`` come from ``secret_lines``."""
    problems = [f"{rel} contains the marker '{m}'" for m in markers_in(text)] \
        if is_notebook else []
    lines = {**hidden, **answer} if seminar else hidden
    return problems + [f"{rel} contains text of {src}: {line!r}"
                       for line, src in lines.items() if line in text]


def seminar_problems(where, raw: str, solution) -> list[str]:
    """The rule for a seminar generated from ``solution`` (its notebook file's JSON is
    ``raw``, read as its decoded strings): no marker, and no secret line of the solution
    unless the solution's code outside its regions shows that line, whole or in a longer
    one (a visible test that a hidden one repeats); a line its markdown quotes is a leak
    (an author who quotes an answer line as a hint gives it away)."""
    text = notebook_text(raw)
    shown = _collapsed(notebook.strip_source(cell.source) for cell in solution.cells
                       if cell.cell_type == "code")
    return [f"{where} contains the marker '{m}'" for m in markers_in(text)] + \
        [f"{where} leaks solution text: {line!r}" for line in region_lines(solution)
         if _collapsed([line]) not in shown
         if line in text]
