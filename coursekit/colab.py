"""Colab addresses and "Open in Colab" badges, derived from the one place the repository's
address is written: ``[project.urls] Repository`` in pyproject.toml.

    python -m coursekit badges [--check]     (`make badges`)

puts a badge in the title cell of every notebook in ``notebooks/`` and ``solutions/``
(``seminars/`` get theirs from their solution, through ``make seminars``) and after each
lecture and seminar link of the README's syllabus. It touches the
title cell's source only, through nbformat, and refuses a notebook that nbformat would not
write back byte for byte (hand-written JSON); running it twice changes nothing.
"""
from __future__ import annotations

import re
from pathlib import Path

from .notebook import REPO, CourseError

BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
# one line of the title cell: [![Open In Colab](image)](address of this notebook)
BADGE_LINE = re.compile(r"^\[!\[Open In Colab\]\([^)\s]*\)\]\(([^)\s]*)\)[ \t]*$", re.M)
BADGE_FOLDERS = ("notebooks", "solutions")


def repository_url(repo: Path = REPO) -> str:
    """The repository's public address: ``[project.urls] Repository`` in pyproject.toml,
    the one place it is written."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: tomli, or the copy pip vendors
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            from pip._vendor import tomli as tomllib
    meta = tomllib.loads((repo / "pyproject.toml").read_text())["project"]
    try:
        return meta["urls"]["Repository"].rstrip("/")
    except KeyError:
        raise CourseError("pyproject.toml has no [project.urls] Repository") from None


def colab_url(path: str, repo: Path = REPO, branch: str = "main") -> str:
    """Colab's address for the notebook at ``path`` (relative to the repository)."""
    owner_name = re.sub(r"^https://github\.com/", "", repository_url(repo))
    return f"https://colab.research.google.com/github/{owner_name}/blob/{branch}/{path}"


def badge(url: str) -> str:
    """The markdown of an "Open in Colab" badge linking to ``url``."""
    return f"[![Open In Colab]({BADGE_IMAGE})]({url})"


def badge_url(source: str) -> str | None:
    """The address the badge in ``source`` links to (None: no badge)."""
    m = BADGE_LINE.search(source)
    return m.group(1) if m else None


def with_badge(source: str, url: str) -> str:
    """``source`` (a title cell: ``# NN. Title`` first) with its badge linking to ``url``:
    the badge line replaced where there is one, else put after the heading line."""
    if BADGE_LINE.search(source):
        return BADGE_LINE.sub(lambda m: badge(url), source, count=1)
    head, _, rest = source.partition("\n")
    return f"{head}\n\n{badge(url)}" + (f"\n\n{rest.lstrip(chr(10))}" if rest.strip() else "")


def without_badge(source: str) -> str:
    """``source`` without its badge line (the site links to Colab in a cell of its own and
    loads no image from the web)."""
    return re.sub(r"\n*" + BADGE_LINE.pattern.strip("^$") + r"[ \t]*(?=\n|$)", "", source,
                  count=1, flags=re.M)


def retarget(source: str, folder: str) -> str:
    """The badge of ``source`` pointed at the same notebook name in ``folder`` (a
    solution's badge, in its seminar)."""
    return BADGE_LINE.sub(lambda m: badge(re.sub(r"/(notebooks|solutions|seminars)/(?=[^/]+$)",
                                                 f"/{folder}/", m.group(1))), source, count=1)


_ROW = re.compile(r"^\|\s*\d\d\s*\|.*$", re.M)  # a syllabus row of the README
_LINK = re.compile(r"\[(\w+)\]\(((?:notebooks|seminars)/[^)\s]+\.ipynb)\)"
                   r"(?: \[!\[Open In Colab\]\([^)\s]*\)\]\([^)\s]*\))?")


def readme_with_badges(text: str, repo: Path = REPO) -> str:
    """The README ``text`` with a badge after each lecture and seminar link of its syllabus
    table (rows starting ``| NN |``); other lines untouched."""
    def row(m):
        return _LINK.sub(lambda k: f"[{k[1]}]({k[2]}) {badge(colab_url(k[2], repo))}", m[0])
    return _ROW.sub(row, text)


def readme_badge_problems(repo: Path = REPO) -> list[str]:
    text = (repo / "README.md").read_text(encoding="utf-8")
    new = readme_with_badges(text, repo)
    return [f"README.md: the syllabus row of {m[1]} lacks the Colab badges of its lecture and "
            "seminar (run `make badges`)"
            for old, now in zip(_ROW.finditer(text), _ROW.finditer(new), strict=True)
            if old[0] != now[0] for m in [re.search(r"/(\d\d_\w+\.ipynb)", old[0])]]


def badge_problems(repo: Path = REPO) -> list[str]:
    """Every notebook's title cell has a badge to its own path (the seminars' included)."""
    from .notebook import read

    problems = []
    for folder in ("notebooks", "solutions", "seminars"):
        for path in sorted((repo / folder).glob("*.ipynb")):
            cells = read(path).cells
            want = colab_url(f"{folder}/{path.name}", repo)
            got = badge_url(cells[0].source) if cells and cells[0].cell_type == "markdown" \
                else None
            if got != want:
                problems.append(f"{folder}/{path.name}: the title cell's Colab badge "
                                f"{'links to ' + got if got else 'is missing'}; expected "
                                f"{want} (run `make badges`, then `make seminars`)")
    return problems


def add_badges(repo: Path = REPO, folders=BADGE_FOLDERS) -> list[Path]:
    """Put the badge in the title cell of every notebook in ``folders``; returns the files
    changed. Only the first cell's source changes: the file is rewritten only when nbformat
    writes the unchanged notebook back byte for byte."""
    import nbformat

    changed = []
    for folder in folders:
        for path in sorted((repo / folder).glob("*.ipynb")):
            raw = path.read_text(encoding="utf-8")
            nb = nbformat.reads(raw, as_version=4)
            if not nb.cells or nb.cells[0].cell_type != "markdown":
                raise CourseError(f"{path}: the first cell is not a markdown title cell")
            new = with_badge(nb.cells[0].source, colab_url(f"{folder}/{path.name}", repo))
            if new == nb.cells[0].source:
                continue
            if nbformat.writes(nb) + "\n" != raw:
                raise CourseError(f"{path}: nbformat would rewrite more than the title cell "
                                  "(the file was not written by nbformat): not touched")
            nb.cells[0].source = new
            path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
            changed.append(path)
    readme = repo / "README.md"
    if readme.is_file():
        text = readme.read_text(encoding="utf-8")
        if readme_with_badges(text, repo) != text:
            readme.write_text(readme_with_badges(text, repo), encoding="utf-8")
            changed.append(readme)
    return changed
