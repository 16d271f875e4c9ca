"""A feedback file per student from a gradebook (``grades.json``): each seminar's points,
and for each task its points, status and message, the way nbgrader's feedback gives
students their results. Markdown, readable as is and rendered by GitHub or any viewer.

    python -m coursekit feedback grades/grades.json --out grades/feedback
"""
from __future__ import annotations

import re
from pathlib import Path

ICON = {"passed": "passed", "failed": "FAILED", "error": "ERROR", "timeout": "TIMEOUT",
        "missing": "MISSING"}


def _cell(text: str) -> str:
    """Text safe inside a markdown table cell: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|") or " "


def _pts(x) -> str:
    return f"{x:g}"


def student_feedback(student: str, records: dict) -> str:
    """The markdown feedback of one student: {seminar: GradeRecord} as in grades.json."""
    got = sum(r.points for r in records.values())
    out = sum(r.max_points for r in records.values())
    lines = [f"# Feedback for {student}", "",
             f"Total: **{_pts(got)} / {_pts(out)}** points over {len(records)} notebook(s).", ""]
    for key, record in records.items():
        lines += [f"## {key}: {_pts(record.points)} / {_pts(record.max_points)}", "",
                  f"Graded file: `{record.file}`", ""]
        lines += [f"> note: {n}" for n in record.notes]
        if record.notes:
            lines.append("")
        lines += ["| task | points | status | what the grader says |", "|---|---:|---|---|"]
        for t in record.tasks:
            lines.append(f"| {_cell(t.id)} | {_pts(t.points)}/{_pts(t.max_points)} "
                         f"| {ICON[t.status]} | {_cell(t.message)} |")
        lines.append("")
    return "\n".join(lines)


def safe_name(student: str) -> str:
    """A file name for a student folder name (no path separators, no dot files)."""
    name = re.sub(r"[^\w.@+-]", "_", student).lstrip(".")
    return name or "_"


def write_feedback(book: dict, out) -> list[Path]:
    """One ``<student>.md`` per student of ``book`` in ``out``; returns the paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for student, records in book.items():
        path = out / f"{safe_name(student)}.md"
        path.write_text(student_feedback(student, records) + "\n", encoding="utf-8")
        paths.append(path)
    return paths

