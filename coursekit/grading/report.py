"""The gradebook's reports: grades.json, grades.csv, junit.xml, the printed table, and the
merge of several gradebooks (one per CI job)."""
from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from pathlib import Path

from .assemble import _num
from .common import GradeError, gradebook_json, read_gradebook


# ============================================================================ reports
def columns(book: dict) -> dict:
    """{seminar stem: max points} over all graded records (not the unknown files)."""
    cols = {}
    for records in book.values():
        for key, record in records.items():
            if record.max_points > 0:
                cols[key] = max(cols.get(key, 0), record.max_points)
    return dict(sorted(cols.items()))


def _total(records: dict, cols: dict):
    return _num(sum(records[k].points for k in cols if k in records))


def to_csv(book: dict) -> str:
    cols = columns(book)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["student", *cols, "total"])
    for student, records in book.items():
        w.writerow([student, *(records[k].points if k in records else "" for k in cols),
                    _total(records, cols)])
    return buf.getvalue()


def to_junit(book: dict) -> str:
    root = ET.Element("testsuites", name="grades")
    for student, records in book.items():
        for key, record in records.items():
            tasks = record.tasks
            suite = ET.SubElement(
                root, "testsuite", name=f"{student}/{key}", tests=str(len(tasks)),
                failures=str(sum(t.status in ("failed", "missing") for t in tasks)),
                errors=str(sum(t.status in ("error", "timeout") for t in tasks)))
            for t in tasks:
                case = ET.SubElement(suite, "testcase", classname=f"{student}.{key}",
                                     name=t.id)
                tag = {"failed": "failure", "missing": "failure", "error": "error",
                       "timeout": "error"}.get(t.status)
                if tag:
                    ET.SubElement(case, tag, type=t.status, message=t.message)
                ET.SubElement(case, "system-out").text = \
                    f"{t.points:g}/{t.max_points:g} points"
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def table(book: dict) -> str:
    """The points table: a row per student, 'points/max' per seminar, a total."""
    cols = columns(book)
    head = ["student", *cols, "total"]
    rows = [head]
    for student, records in book.items():
        rows.append([student, *(f"{records[k].points:g}/{m:g}" if k in records else "-"
                                for k, m in cols.items()),
                     f"{_total(records, cols):g}/{sum(cols.values()):g}"])
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                       enumerate(zip(r, widths, strict=True))) for r in rows]
    problems = [f"  {s}/{record.file} [{t.id}] {t.status}: {t.message}"
                for s, records in book.items() for record in records.values()
                for t in record.tasks if t.status in ("error", "timeout")]
    bare = sum(record.sandbox == "none" for records in book.values()
               for record in records.values())
    warning = [f"WARNING: {bare} notebook(s) were graded WITHOUT the OS sandbox "
               '(grades.json: "sandbox": "none")'] if bare else []
    return "\n".join(lines + (["", "errors and timeouts:", *problems] if problems else [])
                     + ([""] + warning if warning else []))


def write_reports(book: dict, out) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # UTF-8 whatever the locale: messages hold any text ('…' cuts long ones), junit.xml
    # says it is UTF-8, and merge and feedback read them as such
    (out / "grades.json").write_text(gradebook_json(book), encoding="utf-8")
    (out / "grades.csv").write_text(to_csv(book), encoding="utf-8")
    (out / "junit.xml").write_text(to_junit(book), encoding="utf-8")
    return out


def merge(paths) -> dict:
    """One gradebook from several grades.json (e.g. one per CI job). The same student and
    seminar in two reports must agree, else GradeError."""
    book = {}
    for path in map(Path, paths):
        for student, records in read_gradebook(path).items():
            merged = book.setdefault(student, {})
            for key, record in records.items():
                if key in merged and merged[key] != record:
                    raise GradeError(f"{path}: {student}/{key} differs from an earlier report")
                merged[key] = record
    return {s: dict(sorted(book[s].items())) for s in sorted(book)}
