"""Feedback files: every task of every seminar with its points, status and message."""
from coursekit import feedback
from coursekit.grading import gradebook_from_json

BOOK = gradebook_from_json({
    "carol": {
        "01_linear_regression": {
            "points": 6, "max_points": 10, "file": "01_linear_regression.ipynb",
            "notes": ["graded as 01_linear_regression"],
            "tasks": [
                {"id": "mse", "points": 0, "max_points": 1, "status": "failed",
                 "message": "mse: got 5 | expected 1.67\nsecond line"},
                {"id": "grad", "points": 2, "max_points": 2, "status": "passed",
                 "message": ""},
                {"id": "gd", "points": 0, "max_points": 3, "status": "timeout",
                 "message": "did not finish within 30 s"}]}},
    "../evil": {},
})


def test_feedback_lists_every_task_with_points_status_and_message():
    text = feedback.student_feedback("carol", BOOK["carol"])
    assert "Total: **6 / 10** points" in text
    assert "## 01_linear_regression: 6 / 10" in text
    assert "| mse | 0/1 | FAILED | mse: got 5 \\| expected 1.67 second line |" in text
    assert "| grad | 2/2 | passed |" in text and "| gd | 0/3 | TIMEOUT |" in text
    assert "> note: graded as 01_linear_regression" in text


def test_one_file_per_student_with_safe_names(tmp_path):
    paths = feedback.write_feedback(BOOK, tmp_path / "fb")
    assert sorted(p.name for p in paths) == ["_evil.md", "carol.md"]
    assert all(p.parent == tmp_path / "fb" for p in paths)
    assert "Total: **0 / 0**" in (tmp_path / "fb" / "_evil.md").read_text()
