"""Executed documentation: the code blocks of README.md and CONTRIBUTING.md run in a
scratch copy of the course (``bash`` blocks through ``tests/docblocks.py``, ``python``
blocks through phmdoctest), and what a block says it prints is what it prints. The
student release's README is run by ``tests/coursekit/test_release.py``.

The fast tests check the markers (every block runs or says why not) and the runner; the
blocks themselves run in the ``slow`` tests, in a copy of the checkout whose ``.venv`` is
a link to the environment running the tests (``make test``'s, so make installs nothing).
"""
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from docblocks import DocError, blocks, problems, relative_links, run_shell_blocks, script

from coursekit.notebook import REPO

DOCS = ("README.md", "CONTRIBUTING.md")
SHELL = [(doc, b.line) for doc in DOCS for b in blocks(REPO / doc) if b.lang in ("bash", "sh")]


# ---------------------------------------------------------------------------- markers
@pytest.mark.parametrize("doc", DOCS)
def test_every_block_runs_or_says_why_not(doc):
    assert problems(REPO / doc) == []
    runs = [b for b in blocks(REPO / doc) if b.runs]
    assert runs, f"{doc}: no block runs"


@pytest.mark.parametrize("doc", DOCS)
def test_relative_links_point_at_files_that_exist(doc):
    links = relative_links((REPO / doc).read_text())
    missing = [link for link in links if not (REPO / link).exists()]
    assert not missing, f"{doc} links to missing files: {missing}"


def test_the_runner_reads_its_markers(tmp_path):
    md = tmp_path / "doc.md"
    md.write_text("""# Doc

<!-- docs: env A=1 B=two; skip-line make test: the suite -->
```bash
echo "$A $B"
make test
```

says:

<!-- docs: output -->
```
1 two
```

<!--phmdoctest-skip-->
<!-- docs: skip: needs Colab; a GPU -->
```python
import google.colab
```

- a list item:

  ```sh
  printf 'in a list\\n'
  ```

```json
{"not": "run"}
```
""")
    found = blocks(md)
    assert [(b.line, b.lang, b.runs) for b in found] == [
        (4, "bash", True), (12, "", False), (18, "python", False), (24, "sh", True),
        (28, "json", False)]
    first, _, colab, listed, _ = found
    assert (first.env, first.skip_lines, first.expected) == (
        {"A": "1", "B": "two"}, [("make test", "the suite")], "1 two\n")
    assert script(first) == 'echo "$A $B"\n'
    assert (colab.skip, colab.phmdoctest_skip) == ("needs Colab; a GPU", True)
    assert problems(md) == []
    results = run_shell_blocks(md, tmp_path, {"PATH": "/usr/bin:/bin"})
    assert {line: r.failure() for line, r in results.items()} == {4: None, 24: None}
    assert results[24].stdout == "in a list\n"
    md.write_text(md.read_text().replace("```sh", "<!-- docs: exit 3 -->\n  ```sh"))
    failure = run_shell_blocks(md, tmp_path, {"PATH": "/usr/bin:/bin"})[25].failure()
    assert failure.startswith("doc.md:25: exit status 0, not 3\n$ printf")
    md.write_text(md.read_text().replace("1 two\n```", "1 three\n```"))
    failure = run_shell_blocks(md, tmp_path, {"PATH": "/usr/bin:/bin"})[4].failure()
    assert failure == ("doc.md:4: prints other than its README says\n--- README\n1 three\n"
                       "--- printed\n1 two")


@pytest.mark.parametrize("text, message", [
    ("<!-- docs: run -->\n```bash\ntrue\n```\n", "doc.md:1: unknown docs directive 'run'"),
    ("<!-- docs: env A -->\n```bash\ntrue\n```\n", "'env' takes NAME=VALUE pairs, got 'A'"),
    ("<!-- docs: exit one -->\n```bash\ntrue\n```\n", "unknown docs directive 'exit one'"),
    ("<!-- docs: skip: -->\n```bash\ntrue\n```\n", "doc.md:1: 'skip:' needs a reason"),
    ("<!-- docs: output -->\n```\nx\n```\n", "doc.md:2: an output block must follow a shell "
                                            "block that runs"),
])
def test_a_marker_the_runner_cannot_read_is_an_error(tmp_path, text, message):
    (tmp_path / "doc.md").write_text(text)
    with pytest.raises(DocError, match=message):
        blocks(tmp_path / "doc.md")


def test_blocks_that_neither_run_nor_say_why_are_found(tmp_path):
    (tmp_path / "doc.md").write_text(
        "<!-- docs: skip: fragment -->\n```python\nx\n```\n\n<!--phmdoctest-skip-->\n"
        "```python\ny\n```\n\n<!-- docs: env A=1 -->\n```json\n{}\n```\n\n```\nmake lab\n```\n")
    assert problems(tmp_path / "doc.md") == [
        "doc.md:2: a python block left out needs both <!--phmdoctest-skip--> (phmdoctest "
        "reads it) and <!-- docs: skip: REASON --> (the reason)",
        "doc.md:7: a python block left out needs both <!--phmdoctest-skip--> (phmdoctest "
        "reads it) and <!-- docs: skip: REASON --> (the reason)",
        "doc.md:12: a 'json' block is never run: its docs directive means nothing",
        "doc.md:16: looks like commands: fence it as ```bash so it runs"]


def test_relative_links():
    assert relative_links('[a](x/y.md) [b](https://e.org) ![c](img.png "t") [d](#top) '
                          '<img src="p.svg"> [e](data/README.md#s) [f](mailto:x@y)') == [
        "x/y.md", "img.png", "data/README.md", "p.svg"]


# ------------------------------------------------------------------------ the blocks run
def _installed_stamp() -> Path:
    cksum = subprocess.run("cksum < pyproject.toml", shell=True, cwd=REPO, text=True,
                           capture_output=True, check=True).stdout.split()[0]
    return Path(sys.prefix) / f".installed-{cksum}"


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    """A copy of the checkout's files (tracked or new, not ignored), with ``.venv`` linked
    to the environment running the tests."""
    if not _installed_stamp().exists():
        pytest.skip("the documentation runs in the environment `make env` installed: run "
                    "it through `make test` (or .venv/bin/python -m pytest after make env)")
    root = tmp_path_factory.mktemp("course")
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=REPO, capture_output=True, check=True)
    for name in filter(None, listed.stdout.decode().split("\0")):
        if (REPO / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, root / name)  # mtimes kept: make's stamp stays newer
    (root / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    return root


@pytest.fixture(scope="module")
def ran(scratch):
    """{(doc, line): Result} of every shell block of the docs that runs, in order."""
    from docblocks import environment

    # the copy's own utils and coursekit, not the checkout's that the linked environment
    # installed (the grading sandbox never shows a checkout that holds solutions/)
    env = environment({"PYTHONPATH": str(scratch)}, path_first=Path(sys.prefix) / "bin")
    return {(doc, line): r for doc in DOCS
            for line, r in run_shell_blocks(scratch / doc, scratch, env).items()}


@pytest.mark.slow
@pytest.mark.parametrize("doc, line", SHELL, ids=[f"{d}:{n}" for d, n in SHELL])
def test_shell_block(doc, line, ran):
    block = next(b for b in blocks(REPO / doc) if b.line == line)
    if block.skip:
        pytest.skip(f"{doc}:{line}: {block.skip}")
    assert ran[(doc, line)].failure() is None, ran[(doc, line)].failure()


@pytest.mark.slow
@pytest.mark.parametrize("doc", DOCS)
def test_python_blocks(doc, scratch):
    """phmdoctest turns the python blocks into a pytest file, run in the scratch copy."""
    from phmdoctest.main import testfile

    runs = [b for b in blocks(REPO / doc) if b.lang == "python" and b.runs]
    out = scratch / "build" / f"test_doc_{Path(doc).stem.lower()}.py"
    out.parent.mkdir(exist_ok=True)
    out.write_text(testfile(str(scratch / doc)))
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly",
                           str(out)], cwd=scratch, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert f"{len(runs)} passed" in done.stdout.splitlines()[-1], done.stdout[-2000:]


@pytest.mark.slow
def test_the_worked_grading_example_tells_carol_what_the_readme_says(ran, scratch):
    """The README's excerpt of grades.json: each task line of carol's is in the gradebook
    the example wrote."""
    example = next(b for b in blocks(REPO / "README.md") if "make grade" in b.code)
    assert ran[("README.md", example.line)].failure() is None
    excerpt = next(b for b in blocks(REPO / "README.md") if b.lang == "json").code
    book = json.loads((scratch / "grades" / "grades.json").read_text())
    tasks = [json.loads(t) for t in re.findall(r'\{"id".*?\}', " ".join(excerpt.split()))]
    assert len(tasks) == 5 and tasks == book["carol"]["01_linear_regression"]["tasks"]
    head = next(line.strip() for line in excerpt.splitlines() if '"points": 8' in line)
    assert {k: book["carol"]["01_linear_regression"][k] for k in ("points", "max_points", "file")} \
        == json.loads("{" + head.rstrip(",") + "}")
    notes = book["carol"]["02_logistic_regression"]["notes"]
    assert json.dumps(notes) in excerpt.replace("\n", "")
