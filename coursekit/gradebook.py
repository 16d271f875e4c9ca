"""Gradebook files an LMS imports: Canvas and Moodle CSVs from grades.json and a roster.

    python -m coursekit gradebook grades/grades.json --roster roster.csv --out grades/

The roster is a CSV with a header row; ``folder`` (the student's submission folder name,
the key of grades.json) is required, the rest as the LMS needs them: ``name``,
``canvas_id``, ``sis_user_id``, ``sis_login_id``, ``section`` (Canvas) and ``email``,
``idnumber`` (Moodle). Written to ``--out``:

- ``canvas.csv``: Canvas's gradebook import layout (its guide "How do I import grades in
  the Gradebook?", the layout of its own export): ``Student, ID, SIS User ID, SIS Login
  ID, Section``, one column per seminar, and a ``Points Possible`` row under the header.
  Canvas matches a row by ID (or SIS User ID / SIS Login ID) and a column by name,
  creating the assignment when none has that name. An empty cell changes nothing.
- ``moodle.csv``: for Moodle's "Import grades: CSV file", which maps users by a column
  the teacher picks ("Map from" ``Email address`` to email, or ``ID number`` to
  idnumber) and each other column to a grade item: ``First name``-free, ``ID number``,
  ``Email address``, one column per seminar.
- ``roster-problems.txt``: every student graded but not in the roster (no LMS id: left
  out of both CSVs), in the roster with no submission folder (empty cells), or with no
  id Canvas or Moodle can match by; the same lines go to stderr. Never silently dropped.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

from .grading.common import GradeError
from .grading.report import columns

ROSTER_COLUMNS = ("folder", "name", "canvas_id", "sis_user_id", "sis_login_id", "section",
                  "email", "idnumber")
CANVAS_HEAD = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
CANVAS_POINTS = "    Points Possible"  # as Canvas writes it in its export (4 spaces)
MOODLE_HEAD = ("ID number", "Email address")
PROBLEMS = "roster-problems.txt"


def read_roster(path) -> dict:
    """folder -> {roster column: value}; GradeError with the line on a bad roster."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")  # Excel writes a BOM
    except (OSError, UnicodeDecodeError) as exc:
        raise GradeError(f"cannot read roster {path}: {exc}") from None
    reader = csv.DictReader(io.StringIO(text))
    head = [h.strip() for h in reader.fieldnames or []]
    if "folder" not in head:
        raise GradeError(f"roster {path}: no 'folder' column (the submission folder name); "
                         f"its columns: {', '.join(head) or 'none'}; expected some of "
                         f"{', '.join(ROSTER_COLUMNS)}")
    unknown = [h for h in head if h not in ROSTER_COLUMNS]
    if unknown:
        raise GradeError(f"roster {path}: unknown column(s) {', '.join(unknown)} "
                         f"(known: {', '.join(ROSTER_COLUMNS)})")
    roster = {}
    for line, row in enumerate(reader, start=2):
        row = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
        folder = row.get("folder", "")
        if not folder:
            raise GradeError(f"roster {path}, line {line}: empty 'folder'")
        if folder in roster:
            raise GradeError(f"roster {path}, line {line}: folder {folder!r} twice")
        roster[folder] = {c: row.get(c, "") for c in ROSTER_COLUMNS}
    return roster


def _cells(records: dict, cols: dict) -> list:
    return [records[k].points if k in records else "" for k in cols]


def canvas_csv(book: dict, roster: dict) -> str:
    cols = columns(book)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([*CANVAS_HEAD, *cols])
    w.writerow([CANVAS_POINTS, "", "", "", "", *cols.values()])
    for folder, who in roster.items():
        if not (who["canvas_id"] or who["sis_user_id"] or who["sis_login_id"]):
            continue
        w.writerow([who["name"] or folder, who["canvas_id"], who["sis_user_id"],
                    who["sis_login_id"], who["section"], *_cells(book.get(folder, {}), cols)])
    return buf.getvalue()


def moodle_csv(book: dict, roster: dict) -> str:
    cols = columns(book)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([*MOODLE_HEAD, *cols])
    for folder, who in roster.items():
        if not (who["email"] or who["idnumber"]):
            continue
        w.writerow([who["idnumber"], who["email"], *_cells(book.get(folder, {}), cols)])
    return buf.getvalue()


def problems(book: dict, roster: dict) -> list:
    out = [f"graded but not in the roster (in neither CSV): {s}" for s in book
           if s not in roster]
    out += [f"in the roster but no submission folder (empty cells): {s}" for s in roster
            if s not in book]
    out += [f"no Canvas id (canvas_id, sis_user_id or sis_login_id; not in canvas.csv): {s}"
            for s, who in roster.items()
            if not (who["canvas_id"] or who["sis_user_id"] or who["sis_login_id"])]
    out += [f"no Moodle id (email or idnumber; not in moodle.csv): {s}"
            for s, who in roster.items() if not (who["email"] or who["idnumber"])]
    return out


def write(book: dict, roster: dict, out) -> tuple[list, list]:
    """Write canvas.csv, moodle.csv and roster-problems.txt into ``out``:
    (the paths, the problems)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    found = problems(book, roster)
    paths = []
    for name, text in (("canvas.csv", canvas_csv(book, roster)),
                       ("moodle.csv", moodle_csv(book, roster)),
                       (PROBLEMS, "".join(f"{p}\n" for p in found))):
        (out / name).write_text(text, encoding="utf-8")
        paths.append(out / name)
    return paths, found
