"""What the grading modules share (coursekit/grading/common.py): the denied paths."""


from coursekit.grading import Options


def test_denied_paths_of_a_worktree_whose_path_has_a_colon(tmp_path):
    from coursekit.grading import common

    checkout = tmp_path / "repo"
    checkout.mkdir()
    want = sorted(str(checkout / n) for n in ("solutions", "tests", ".git", "build", "grades"))
    gitdir = tmp_path / "main:2026" / ".git" / "worktrees" / "wt"
    gitdir.mkdir(parents=True)
    (checkout / ".git").write_text(f"gitdir: {gitdir}\n")
    assert common.denied_paths(Options(), checkout) == sorted(want + [str(gitdir)])
    # a pointer that is not text: ignored, the checkout's own folders still denied
    (checkout / ".git").write_bytes(b"gitdir: \xff\xfe\n")
    assert set(want) <= set(common.denied_paths(Options(), checkout))
