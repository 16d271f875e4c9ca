"""Unit tests of what publishes and measures the course, without a kernel or Sphinx:
coursekit/release.py and site.py on a small course written here, execute.py with the
notebook run replaced, simulate.py with a scripted kernel (tests/fakes.py).
"""
import json
import os
import platform
import subprocess
import time

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from fakes import ANSWER_LINE, COMMON_LINE, HIDDEN_LINE, FakeKernel, error, solution, solution_nb

from coursekit import bwrap, execute, generate, grading, leaks, notebook, release, simulate, site
from coursekit import student as front_door
from coursekit.grading import GradeRecord, TaskVerdict, batch, run
from coursekit.notebook import CourseError
from coursekit.sandbox import Outcome

def files(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


# ========================================================================== release
def test_release_ships_the_student_course_only(repo, tmp_path):
    out = tmp_path / "rel"
    assert release.release(out, repo) == []
    assert files(out) == [".course-release", "Makefile", "README.md", "data/README.md",
                          "notebooks/01_words.ipynb", "pyproject.toml",
                          "seminars/01_words.ipynb", "utils/__init__.py", "utils/words.py"]
    assert (out / ".course-release").read_text() == \
        "made by `python -m coursekit release`; replaced by the next\n"
    assert (out / "notebooks" / "01_words.ipynb").read_bytes() == \
        (repo / "notebooks" / "01_words.ipynb").read_bytes()
    assert nbformat.writes(notebook.read(out / "seminars" / "01_words.ipynb")) == \
        nbformat.writes(generate.make_seminar(solution()))
    (out / "stale.txt").write_text("from the last release")
    assert release.release(out, repo) == []  # an earlier release: replaced
    assert not (out / "stale.txt").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert release.release(empty, repo) == []
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("x")
    with pytest.raises(CourseError) as info:
        release.release(mine, repo)
    assert str(info.value) == (f"{mine} exists, is not empty and is not an earlier release: "
                               "release into a new folder")
    assert files(mine) == ["thesis.tex"]
    assert release.RELEASE_FILES == ("LICENSE", "conftest.py", "nbval_sanitize.cfg",
                                     ".gitignore", "data/README.md")
    # the front door is generated, not copied: the instructor's files stay behind
    assert (out / "Makefile").read_text() == front_door.makefile() != (repo / "Makefile").read_text()
    assert (out / "README.md").read_text() == front_door.readme(repo)
    assert (out / "pyproject.toml").read_text() == front_door.pyproject(repo)


def test_secret_and_public_lines(repo):
    sols = [repo / "solutions" / "01_words.ipynb"]
    answer, hidden = leaks.secret_lines(sols, repo)
    assert answer == {ANSWER_LINE: "01_words.ipynb"}  # the common line is in the lecture
    assert hidden == {HIDDEN_LINE: "01_words.ipynb"}
    (repo / "utils" / "edge.py").write_text("x" * 20 + "\n" + "y" * 19 + "\n  " + "z" * 20 + "  \n")
    public = leaks.public_lines(sols, repo)
    assert {"x" * 20, "z" * 20} <= public and "y" * 19 not in public
    assert COMMON_LINE in public and "assert shortest(['a', 'bb']) == 'a'" in public
    assert ANSWER_LINE not in public and "# helpers" not in public  # < 20 characters
    # a hint in the markdown, wrapped over two lines, makes a region line public
    nb = solution()
    nb.cells[0].source += "\nHint: `return sorted(items,\nkey=len)[0]  # shortest`"
    notebook.write(nb, sols[0])
    assert leaks.secret_lines(sols, repo)[0] == {}


def test_notebook_text_decodes_json_strings():
    raw = json.dumps({"cells": [{"source": ["a = \"x\"\n", "b\\n"], "n": 3},
                                {"outputs": [{"text": "t"}, 5]}], "m": {"k": "v"}})
    assert leaks.notebook_text(raw) == 'a = "x"\nb\\n\nt\nv'
    assert leaks.notebook_text("{oops") == "{oops"
    assert leaks.notebook_text('["a", ["b", "c"]]') == "a\nbc"


def test_leaks_in_a_folder(repo, tmp_path):
    sols = [repo / "solutions" / "01_words.ipynb"]
    out = tmp_path / "out"
    (out / "seminars").mkdir(parents=True)
    (out / "notebooks").mkdir()
    (out / "solutions").mkdir()
    (out / "tests").mkdir()
    (out / "seminars" / "a.md").write_text(ANSWER_LINE)
    (out / "notebooks" / "b.md").write_text(ANSWER_LINE)  # a lecture may show the answer
    (out / "notebooks" / "c.txt").write_text(HIDDEN_LINE)
    (out / "solutions" / "x.txt").write_text("nothing")
    (out / "tests" / "y.txt").write_text("nothing")
    (out / "blob.bin").write_bytes(b"\xff\xfe" + HIDDEN_LINE.encode("utf-16"))
    nb = new_notebook(cells=[new_code_cell("x = 1\n# " + notebook.HIDDEN_END)])
    notebook.write(nb, out / "notebooks" / "d.ipynb")
    quoted = generate.make_seminar(solution())
    quoted.cells[0].source += "\n" + HIDDEN_LINE  # quotes: escaped in the JSON
    notebook.write(quoted, out / "seminars" / "e.ipynb")
    (out / "notebooks" / "f.md").write_text("### BEGIN SOLUTION in a markdown file is fine")
    assert release.leaks(out, sols, repo) == [
        f"notebooks/c.txt contains text of 01_words.ipynb: {HIDDEN_LINE!r}",
        "notebooks/d.ipynb contains the marker '### END HIDDEN TESTS'",
        f"seminars/a.md contains text of 01_words.ipynb: {ANSWER_LINE!r}",
        f"seminars/e.ipynb contains text of 01_words.ipynb: {HIDDEN_LINE!r}",
        "solutions/x.txt is in the release",
        "tests/y.txt is in the release"]


# ========================================================================== site
def test_repository_and_colab_addresses(repo, tmp_path):
    assert site.repository_url(repo) == "https://github.com/o/course"
    assert site.colab_url("seminars/01_words.ipynb", repo) == (
        "https://colab.research.google.com/github/o/course/blob/main/seminars/01_words.ipynb")
    assert site.colab_url("x.ipynb", repo, branch="dev").endswith("/o/course/blob/dev/x.ipynb")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "c"\n')
    with pytest.raises(CourseError) as info:
        site.repository_url(tmp_path)
    assert str(info.value) == "pyproject.toml has no [project.urls] Repository"


def test_syllabus_and_titles(repo):
    assert site.syllabus_rows(repo) == [("01", "Words: lists; sorting"), ("02", "Planned unit")]
    assert site._title(new_notebook(cells=[new_code_cell("# x"), new_markdown_cell("text\n#  T 1 ")]),
                       "f") == "T 1"
    assert site._title(new_notebook(cells=[new_markdown_cell("## sub")]), "fallback") == "fallback"


def test_assemble_the_sphinx_source(repo, tmp_path):
    src = tmp_path / "src"
    (src / "old").mkdir(parents=True)
    pages = site.assemble(src, repo)
    assert pages == {"lectures": ["01_words"], "seminars": ["01_words"]}
    assert files(src) == ["conf.py", "index.md", "lectures/01_words.ipynb",
                          "seminars/01_words.ipynb"]
    assert (src / "conf.py").read_text() == site.CONF.format(
        title="Deep learning with PyTorch", repo="https://github.com/o/course")
    lec = notebook.read(src / "lectures" / "01_words.ipynb")
    assert "widgets" not in lec.metadata
    assert [c.source for c in lec.cells] == [
        "# 01. Words (lecture)",
        "[Open in Colab](https://colab.research.google.com/github/o/course/blob/main/notebooks/"
        "01_words.ipynb) · {download}`Download the notebook <01_words.ipynb>`",
        COMMON_LINE]
    sem = notebook.read(src / "seminars" / "01_words.ipynb")
    assert "seminars/01_words.ipynb" in sem.cells[1].source and len(sem.cells) == 6
    assert [c.get("id") for c in sem.cells[-2:]] == list(generate.CHECK_IDS)
    colab = "https://colab.research.google.com/github/o/course/blob/main"
    assert (src / "index.md").read_text().split("\n") == [
        "# Deep learning with PyTorch", "", "Learn things.", "", "## Syllabus", "",
        "| unit | topic | lecture | seminar | Colab |", "|---|---|---|---|---|",
        f"| 01 | Words | [lecture](lectures/01_words.ipynb) | [seminar](seminars/01_words.ipynb)"
        f" | [lecture]({colab}/notebooks/01_words.ipynb) · [seminar]({colab}/seminars/"
        "01_words.ipynb) |",
        "| 02 | Planned unit | planned |  |  |", "",
        "Each page shows the notebook with its stored outputs; run it yourself on Colab or "
        "download it. Solutions and hidden tests are not published.", "",
        "```{toctree}", ":hidden:", ":caption: Lectures", ":maxdepth: 1", "",
        "lectures/01_words", "```", "",
        "```{toctree}", ":hidden:", ":caption: Seminars", ":maxdepth: 1", "",
        "seminars/01_words", "```", ""]


def test_a_notebook_without_markdown_gets_its_links_first(repo, tmp_path):
    notebook.write(new_notebook(cells=[new_code_cell("x = 1")]), repo / "notebooks" / "02_code.ipynb")
    site.assemble(tmp_path / "src", repo)
    cells = notebook.read(tmp_path / "src" / "lectures" / "02_code.ipynb").cells
    assert cells[0].source.startswith("[Open in Colab]") and cells[1].source == "x = 1"


def test_site_build_runs_sphinx_and_checks_leaks(repo, tmp_path, monkeypatch):
    monkeypatch.setattr(site, "_importable", lambda m: m == "sphinx")
    with pytest.raises(CourseError) as info:
        site.build(tmp_path / "out", tmp_path / "src", repo)
    assert str(info.value) == ("building the site needs myst_nb, sphinx_book_theme: "
                               "pip install -e '.[site]'")
    monkeypatch.setattr(site, "_importable", lambda m: True)
    calls = []

    def sphinx(cmd, capture_output, text):
        calls.append(cmd)
        out = __import__("pathlib").Path(cmd[-1])
        (out / "seminars").mkdir(parents=True)
        (out / "seminars" / "01_words.html").write_text(f"<pre>{ANSWER_LINE}</pre>")
        return subprocess.CompletedProcess(cmd, 0, "", "")
    monkeypatch.setattr(site.subprocess, "run", sphinx)
    out, src = tmp_path / "out", tmp_path / "src"
    (out / "old").mkdir(parents=True)
    said = []
    problems = site.build(out, src, repo, echo=said.append)
    assert calls == [[site.sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going",
                      "-q", "-d", str(src / ".doctrees"), str(src), str(out)]]
    assert said == [f"site: 3 pages in {out}"]
    assert problems == [f"seminars/01_words.html contains text of 01_words.ipynb: {ANSWER_LINE!r}"]
    assert not (out / "old").exists()
    monkeypatch.setattr(site.subprocess, "run", lambda cmd, capture_output, text:
                        subprocess.CompletedProcess(cmd, 2, "out" * 2000, "x" * 3000 + "boom"))
    with pytest.raises(CourseError) as info:
        site.build(out, src, repo)
    assert str(info.value) == "sphinx failed:\n" + "x" * 2996 + "boom"
    monkeypatch.setattr(site.subprocess, "run", lambda cmd, capture_output, text:
                        subprocess.CompletedProcess(cmd, 1, "only stdout", ""))
    with pytest.raises(CourseError, match="^sphinx failed:\nonly stdout$"):
        site.build(out, src, repo)


def test_importable():
    assert site._importable("json") is True
    assert site._importable("no_such_module_here") is False


def test_page_text(tmp_path):
    page = tmp_path / "p.html"
    page.write_text("<style>\n.a {}\n</style><p>a &lt; b &amp; c</p><SCRIPT>x</SCRIPT>"
                    "<script type='x'>\nhidden\n</script>d")
    assert site.page_text(page) == "a < b & c<SCRIPT>x</SCRIPT>d".replace("<SCRIPT>x</SCRIPT>",
                                                                          "x")


def test_site_leaks(repo, tmp_path):
    out = tmp_path / "site"
    for rel, text in (("seminars/01.html", f"<p>{ANSWER_LINE}</p>"),
                      ("lectures/01.html", f"<p>{ANSWER_LINE}</p><p>{HIDDEN_LINE}</p>"),
                      ("_sources/seminars/01.ipynb.txt", ANSWER_LINE),
                      ("_sources/lectures/01.md", "### BEGIN SOLUTION"),
                      ("lectures/02.ipynb", "### BEGIN HIDDEN TESTS"),
                      ("_static/x.js", HIDDEN_LINE),
                      ("solutions/index.html", "hi")):
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text)
    assert site.leaks(out, repo) == [
        "solutions is a solution page", "solutions/index.html is a solution page",
        f"_sources/seminars/01.ipynb.txt contains text of 01_words.ipynb: {ANSWER_LINE!r}",
        f"lectures/01.html contains text of 01_words.ipynb: {HIDDEN_LINE!r}",
        "lectures/02.ipynb contains the marker '### BEGIN HIDDEN TESTS'",
        f"seminars/01.html contains text of 01_words.ipynb: {ANSWER_LINE!r}"]


# ========================================================================== execute
def test_error_cells():
    ok, bad = new_code_cell("a"), new_code_cell("b")
    bad.outputs = [nbformat.v4.new_output("stream", text="x"),
                   nbformat.v4.new_output("error", ename="E", evalue="v", traceback=[])]
    md = new_markdown_cell("c")
    assert execute.error_cells(new_notebook(cells=[ok, bad, md])) == [bad]


@pytest.mark.parametrize("row, line", [
    ({"notebook": "n/a.ipynb", "ok": True, "seconds": 12.34, "peak_mb": 800.4, "cpu_s": 20.26,
      "headline": "acc 0.9", "error": ""}, "| n/a.ipynb | 12.3 | 20.3 | 800 | acc 0.9 | ok |"),
    ({"notebook": "n/a.ipynb", "ok": True, "seconds": 60.0, "peak_mb": 1536,
      "headline": "", "error": ""}, "| n/a.ipynb | 60.0 | nan | 1536 |  | ok |"),
    ({"notebook": "n/a.ipynb", "ok": True, "seconds": 60.01, "peak_mb": 10,
      "headline": "", "error": ""}, "| n/a.ipynb | 60.0 | nan | 10 |  | OVER BUDGET |"),
    ({"notebook": "n/a.ipynb", "ok": True, "seconds": 1, "peak_mb": 1537,
      "headline": "a|b", "error": ""}, "| n/a.ipynb | 1.0 | nan | 1537 | a\\|b | OVER BUDGET |"),
    ({"notebook": "n/b.ipynb", "ok": False, "seconds": 99, "peak_mb": float("nan"),
      "headline": "", "error": "ValueError: x|y"},
     "| n/b.ipynb | 99.0 | nan | nan |  | FAILED: ValueError: x\\|y |"),
])
def test_format_row(row, line):
    assert execute._format_row(row) == line


def test_run_measures_writes_elsewhere_and_goes_on_after_a_failure(tmp_path, monkeypatch):
    good = new_notebook(cells=[new_code_cell("x = 1")])
    good.metadata["course"] = {"headline": {"label": "test acc", "expr": "x"}}
    notebook.write(good, tmp_path / "notebooks" / "01_a.ipynb")
    notebook.write(new_notebook(cells=[new_code_cell("y")]), tmp_path / "notebooks" / "02_b.ipynb")
    notebook.write(new_notebook(cells=[new_code_cell("raise")]), tmp_path / "solutions" / "03_c.ipynb")
    calls = []

    def fake_execute(nb, cwd, timeout=600, allow_errors=False, measure=False):
        calls.append((nb.cells[0].source, cwd, measure))
        if nb.cells[0].source == "raise":
            raise RuntimeError("first line\nsecond line\n  " + "z" * 300)
        done = nbformat.from_dict(nb)
        done.cells[0].outputs = [nbformat.v4.new_output("stream", text="ran\n")]
        return done, {"peak_mb": 812.7, "cpu_s": 3.25, "headline": 0.913}
    monkeypatch.setattr(execute, "execute", fake_execute)
    said = []
    paths = [tmp_path / "notebooks" / "01_a.ipynb", tmp_path / "notebooks" / "02_b.ipynb",
             tmp_path / "solutions" / "03_c.ipynb"]
    before = {p: p.read_bytes() for p in paths}
    t0 = time.perf_counter()
    rows = execute.run(paths, out_dir=tmp_path / "build", echo=said.append)
    elapsed = time.perf_counter() - t0
    assert calls == [("x = 1", tmp_path / "notebooks", True), ("y", tmp_path / "notebooks", True),
                     ("raise", tmp_path / "solutions", True)]
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in rows[:2]] == [
        {"notebook": "notebooks/01_a.ipynb", "ok": True, "error": "", "peak_mb": 812.7,
         "cpu_s": 3.25, "headline": "test acc 0.913"},
        {"notebook": "notebooks/02_b.ipynb", "ok": True, "error": "", "peak_mb": 812.7,
         "cpu_s": 3.25, "headline": ""}]
    assert rows[2]["ok"] is False and rows[2]["headline"] == "" and rows[2]["peak_mb"] != 0
    assert rows[2]["error"] == "RuntimeError: " + ("  " + "z" * 300)[:200]  # its last line
    assert all(0 <= r["seconds"] <= elapsed for r in rows)
    assert said == [execute._format_row(r) for r in rows]
    assert {p: p.read_bytes() for p in paths} == before  # the stored notebooks untouched
    assert files(tmp_path / "build") == ["notebooks/01_a.ipynb", "notebooks/02_b.ipynb"]
    assert notebook.read(tmp_path / "build" / "notebooks" / "01_a.ipynb").cells[0].outputs[0].text \
        == "ran\n"
    rows = execute.run(paths[:1], echo=said.append)
    assert rows[0]["ok"] and files(tmp_path / "build") == ["notebooks/01_a.ipynb",
                                                           "notebooks/02_b.ipynb"]


def test_headline_without_a_label_and_bench_runs_the_course(tmp_path, monkeypatch, capsys):
    nb = new_notebook(cells=[new_code_cell("x = 1")])
    nb.metadata["course"] = {"headline": {"expr": "x"}}
    notebook.write(nb, tmp_path / "01_a.ipynb")
    monkeypatch.setattr(execute, "execute", lambda nb, cwd, **kw: (nb, {"peak_mb": 1.0,
                                                                         "headline": 7}))
    assert execute.run([tmp_path / "01_a.ipynb"], echo=lambda s: None)[0]["headline"] == "7"
    seen = []
    monkeypatch.setattr(execute, "run", lambda paths, out_dir=None: seen.append(
        (list(paths), out_dir)) or [])
    monkeypatch.setattr(execute, "machine", lambda: "m")
    assert execute.bench()[0] == []
    assert seen == [(notebook.course_notebooks(), notebook.REPO / "build")]


def test_machine_without_cpuinfo_or_memory_size(monkeypatch):
    import types

    monkeypatch.setitem(__import__("sys").modules, "torch", types.SimpleNamespace(
        __version__="1", get_num_threads=lambda: 1,
        cuda=types.SimpleNamespace(is_available=lambda: False)))

    class NoFile:
        def __init__(self, path):
            assert path == "/proc/cpuinfo"

        def read_text(self):
            raise OSError("no such file")
    monkeypatch.setattr(execute, "Path", NoFile)
    monkeypatch.setattr(platform, "processor", lambda: "")
    monkeypatch.setattr(platform, "machine", lambda: "armv9")

    def no_sysconf(name):
        raise ValueError(name)
    monkeypatch.setattr(os, "sysconf", no_sysconf)
    assert execute.machine().startswith(f"armv9, {os.cpu_count()} logical CPUs, no GPU; ")

    class Info(NoFile):
        def read_text(self):
            return "processor : 0\nmodel name\t: Vendor CPU: 8 cores @ 2.0GHz \nmodel name : second\n"
    monkeypatch.setattr(execute, "Path", Info)
    monkeypatch.setattr(platform, "processor", lambda: "x86_64")
    assert execute.machine().startswith("Vendor CPU: 8 cores @ 2.0GHz, ")


def test_bench_writes_the_table(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(execute, "machine", lambda: "a test machine")
    loads = iter(["0.4", "1.7"])
    monkeypatch.setattr(execute, "_load", lambda: next(loads))
    rows = [{"notebook": "n/a.ipynb", "ok": True, "seconds": 10.4, "peak_mb": 700, "cpu_s": 15.04,
             "headline": "", "error": ""},
            {"notebook": "n/b.ipynb", "ok": True, "seconds": 20.3, "peak_mb": 900,
             "headline": "acc 1", "error": ""}]
    got, text = execute.bench(rows)
    assert got is rows
    assert capsys.readouterr().out == execute.TABLE_HEAD + "\n"
    assert text == "\n".join([
        "# Benchmarks", "",
        "Written by `make bench` (`python -m coursekit bench`): every lecture notebook and",
        "solution executed headless in a fresh kernel, wall time including kernel start,",
        "the kernel's CPU time (user + system, all its threads: less sensitive than the wall",
        "time to other work on the machine), peak resident memory of the kernel process, and",
        "the notebook's headline metric.",
        "Budget per notebook: 60 s and 1.5 GB on a 2-core CPU.", "",
        "Machine: a test machine.",
        f"Run: {time.strftime('%Y-%m-%d')}; load average (1 min) 0.4 before the notebooks, 1.7 after.",
        "", execute.TABLE_HEAD, "| n/a.ipynb | 10.4 | 15.0 | 700 |  | ok |",
        "| n/b.ipynb | 20.3 | nan | 900 | acc 1 | ok |", "",
        "Total: 31 s for 2 notebooks.", ""])


def test_machine_names_the_cpu_python_and_torch(monkeypatch):
    import types

    fake = types.SimpleNamespace(__version__="9.9.9", get_num_threads=lambda: 3,
                                 cuda=types.SimpleNamespace(is_available=lambda: False))
    monkeypatch.setitem(__import__("sys").modules, "torch", fake)
    cpu = platform.processor() or platform.machine()
    for line in open("/proc/cpuinfo").read().splitlines() if os.path.exists("/proc/cpuinfo") else []:
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    assert execute.machine() == (
        f"{cpu}, {os.cpu_count()} logical CPUs, {mem:.0f} GB RAM, no GPU; {platform.system()} "
        f"{platform.machine()}; Python {platform.python_version()}, torch 9.9.9, 3 torch threads")
    fake.cuda.is_available = lambda: True
    assert ", CUDA GPU; " in execute.machine()


def test_refresh_stores_outputs_and_drops_widgets_but_never_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "n.ipynb"
    nb = new_notebook(cells=[new_code_cell("x = 1")])
    notebook.write(nb, path)

    def fake_execute(nb, cwd, timeout=600, allow_errors=False, measure=False):
        assert cwd == tmp_path and not measure
        done = nbformat.from_dict(nb)
        done.metadata["widgets"] = {"state": 1}
        done.cells[0].execution_count = 1
        return done, {}
    monkeypatch.setattr(execute, "execute", fake_execute)
    t0 = time.perf_counter()
    assert 0 <= execute.refresh(path) <= time.perf_counter() - t0
    stored = notebook.read(path)
    assert stored.cells[0].execution_count == 1 and "widgets" not in stored.metadata
    monkeypatch.setattr(execute, "execute", lambda nb, cwd, **kw: (nb, {}))  # no widgets
    execute.refresh(path)
    assert "widgets" not in notebook.read(path).metadata
    before = path.read_bytes()

    def failing(nb, cwd, **kw):
        raise RuntimeError("a cell failed")
    monkeypatch.setattr(execute, "execute", failing)
    with pytest.raises(RuntimeError):
        execute.refresh(path)
    assert path.read_bytes() == before


# ========================================================================== simulate
def test_wrong_answers(tmp_path):
    assert simulate.wrong_answers("01_x", tmp_path) == []
    (tmp_path / "01_x.py").write_text("WRONG = [('t', 'why', {'answer-a': 'x'})]\n")
    assert simulate.wrong_answers("01_x", tmp_path) == [("t", "why", {"answer-a": "x"})]
    real = simulate.wrong_answers("01_linear_regression")
    assert real and all(len(w) == 3 for w in real)


def test_student_notebook():
    sol = solution_nb()
    nb = simulate.student_notebook(sol, {"answer-b": "def plus(x):\n    return 0\n"})
    src = {c.get("id"): c.source for c in nb.cells}
    assert src["answer-a"] == next(c.source for c in sol.cells if c.get("id") == "answer-a")
    assert src["answer-b"] == "def plus(x):\n    return 0\n"
    assert src["test-b"] == "assert result == 4\nprint('b: OK')"  # the seminar's test


@pytest.mark.parametrize("kind, task, rec, ok", [
    ("missing", None, None, True),
    ("missing", None, {"points": 0}, False),
    ("right", None, None, False),
    ("right", None, {"points": 2, "max_points": 2, "tasks": []}, True),
    ("right", None, {"points": 1, "max_points": 2, "tasks": []}, False),
    ("right", None, {"points": 0, "max_points": 0, "tasks": []}, False),
    ("blank", None, {"points": 0, "max_points": 2, "tasks": []}, True),
    ("blank", None, {"points": 1, "max_points": 2, "tasks": []}, False),
    ("broken (not JSON)", None, {"points": 0, "tasks": [{"id": "file", "status": "error"}]},
     True),
    ("broken (not JSON)", None, {"points": 0, "tasks": [{"id": "a", "status": "failed"}]},
     False),
    ("broken (not JSON)", None, {"points": 1, "tasks": [{"id": "a", "status": "error"}]},
     False),
    ("wrong", "a", {"points": 0, "tasks": [{"id": "a", "points": 0, "status": "failed"}]}, True),
    ("wrong", "a", {"points": 0, "tasks": [{"id": "a", "points": 0, "status": "passed"}]},
     False),
    ("wrong", "a", {"points": 1, "tasks": [{"id": "a", "points": 1, "status": "failed"}]},
     False),
    ("wrong", "b", {"points": 0, "tasks": [{"id": "a", "points": 0, "status": "failed"}]},
     False),
])
def test_expected(kind, task, rec, ok):
    """``rec``: the fields of a grade record that matter (the rest: any valid value)."""
    if rec is not None:
        rec = GradeRecord(rec["points"], rec.get("max_points", 2), [
            TaskVerdict(t["id"], t.get("points", 0), 2, t["status"])
            for t in rec.get("tasks", [])], "f.ipynb")
    assert simulate.expected(kind, task, rec) is ok


@pytest.fixture()
def course(tmp_path, monkeypatch):
    """A solutions folder of two units, their wrong answers, and kernels scripted to fail
    the way a real one would (a stub raises, a broken cell raises or kills the kernel)."""
    sols = tmp_path / "solutions"
    notebook.write(solution_nb(), sols / "01_units.ipynb")
    notebook.write(solution_nb(), sols / "02_more.ipynb")
    wrong = {"01_units": [("b", "off by one", {"answer-b": "def plus(x):\n    return x\n"})]}
    monkeypatch.setattr(simulate, "wrong_answers", lambda stem: wrong.get(stem, []))
    script = {"raise NotImplementedError": error("NotImplementedError", ""),
              "not finished": error("RuntimeError", "not finished"),
              "os._exit(1)": Outcome("dead", detail="the kernel exited with code 1"),
              "return x\n": error("AssertionError", "")}
    monkeypatch.setattr(run, "new_kernel", lambda cwd, opts: FakeKernel(script))
    monkeypatch.setattr(batch, "new_kernel", lambda cwd, opts, warm=None: FakeKernel(script))
    monkeypatch.setattr(bwrap, "available", lambda: "")  # the OS sandbox works (scripted)
    monkeypatch.delenv("COURSE_UNITS", raising=False)
    return sols


def test_simulated_class_build_is_seeded(course, tmp_path):
    plan = simulate.write_class(tmp_path / "a", 12, course, seed=1)
    assert plan == simulate.write_class(tmp_path / "b", 12, course, seed=1)
    assert files(tmp_path / "a") == files(tmp_path / "b")
    for rel in files(tmp_path / "a"):
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    assert len(plan) == 24 and {s for s, _ in plan} == {f"student{i:03d}" for i in range(12)}
    kinds = {k for k, _ in plan.values()}
    assert {"right", "blank", "missing", "wrong"} <= kinds
    for (student, stem), (kind, task) in plan.items():
        path = tmp_path / "a" / student / f"{stem}.ipynb"
        assert path.exists() is (kind != "missing")
        if kind == "wrong":
            assert (stem, task) == ("01_units", "b")
            assert "def plus(x):\n    return x\n" in \
                [c.source for c in notebook.read(path).cells]
        elif kind == "broken (not JSON)":
            assert path.read_text() == '{"cells": [ this is not a notebook' and task is None
        elif kind.startswith("broken"):
            assert task in ("a", "b")
        elif kind in ("right", "blank", "missing"):
            assert task is None
    assert simulate.write_class(tmp_path / "c", 12, course, seed=2) != plan


def test_simulate_grades_the_class_as_expected(course, tmp_path):
    said = []
    result = simulate.simulate(tmp_path / "class", 6, jobs=1, seed=4, solutions_dir=course,
                               echo=said.append)
    assert result["misses"] == []
    plan, book = result["plan"], result["book"]
    assert result["notebooks"] == sum(k != "missing" for k, _ in plan.values())
    assert said[-1] == f"expected grades: {len(plan)} of {len(plan)} submissions"
    assert said[0].startswith(f"6 students x 2 seminars: {result['notebooks']} notebooks "
                              "graded (") and said[0].endswith(
        "), warm kernels, --jobs 1, sandbox bubblewrap")
    assert said[2:4] == ["| seminar | notebooks | mean s per notebook (one worker) | slowest s |",
                         "|---|---:|---:|---:|"]
    assert grading.read_gradebook(tmp_path / "class" / "grades" / "grades.json") == book
    assert files(tmp_path / "class" / "grades" / "feedback") == [
        f"student{i:03d}.md" for i in range(6)]
    (tmp_path / "class" / "submissions" / "stale").mkdir()
    simulate.simulate(tmp_path / "class", 2, jobs=1, warm=False, seed=4, solutions_dir=course,
                      echo=said.append)
    assert not (tmp_path / "class" / "submissions" / "stale").exists()
    assert said[-1].startswith("expected grades: ")


def test_simulate_reports_an_unexpected_grade(course, tmp_path, monkeypatch):
    monkeypatch.setattr(simulate, "expected", lambda kind, task, rec: kind == "missing")
    said = []
    result = simulate.simulate(tmp_path / "class", 3, jobs=1, seed=0, solutions_dir=course,
                               echo=said.append)
    unexpected = [s for s in said if s.startswith("UNEXPECTED ")]
    assert len(unexpected) == len(result["misses"]) > 0
    assert all(m.startswith("student") and " gave " in m for m in result["misses"])


def test_bench_section(course):
    text = simulate.bench_section(course, n=2, jobs=1)
    lines = text.split("\n")
    assert lines[0] == "## Grading" and lines[-1] == ""
    rows = [line.split(" | ") for line in lines if line.startswith(("| warm", "| cold"))]
    assert [(r[0], r[1], r[2], r[3], r[4], r[9], r[10]) for r in rows] == [
        ("| warm", "bubblewrap", "1", "2", "1", "yes", "yes |"),
        ("| warm", "bubblewrap", "2", "4", "1", "yes", "yes |"),
        ("| warm", "none", "2", "4", "1", "yes", "yes |"),
        ("| cold", "bubblewrap", "2", "4", "1", "yes", "yes |"),
        ("| cold", "none", "2", "4", "1", "yes", "yes |")]
    assert "each student submits every seminar, 2 notebooks" in text
    assert "1 thread per kernel, memory limit 3072 MB" in text


class FakeNotebookClient:
    """nbclient's client: 'runs' the notebook by giving the measuring cell its output."""
    made = []

    def __init__(self, nb, km, timeout, allow_errors, startup_timeout, resources):
        self.nb, self.km = nb, km
        self.args = (timeout, allow_errors, startup_timeout, resources)
        FakeNotebookClient.made.append(self)

    def execute(self, stderr=None):
        self.stderr = stderr
        self.km.has_kernel = True
        last = self.nb.cells[-1]
        if "__COURSE__" in last.source:
            head = last.source.split("'headline': ")[1].split("}))")[0]
            last.outputs = [nbformat.v4.new_output("stream", text="noise\n"),
                            nbformat.v4.new_output("stream", text="__COURSE__" + json.dumps(
                                {"peak_mb": 321.5, "headline": head}))]
        if "raise" in self.nb.cells[0].source:
            raise RuntimeError("cell failed")


class FakeManager:
    def __init__(self, kernel_name, kernel_spec_manager):
        self.kernel_name, self.has_kernel, self.stopped = kernel_name, False, []

    def shutdown_kernel(self, now):
        self.stopped.append(now)


def test_execute_measures_with_an_extra_cell_and_stops_its_kernel(monkeypatch, tmp_path):
    import jupyter_client
    import nbclient
    from nbval.kernel import CURRENT_ENV_KERNEL_NAME

    monkeypatch.setattr(jupyter_client, "KernelManager", FakeManager)
    monkeypatch.setattr(nbclient, "NotebookClient", FakeNotebookClient)
    FakeNotebookClient.made = []
    nb = new_notebook(cells=[new_code_cell("acc = 0.5")])
    nb.metadata["course"] = {"headline": {"label": "acc", "expr": "round(acc, 3)"}}
    done, info = execute.execute(nb, tmp_path, measure=True)
    client = FakeNotebookClient.made[0]
    assert client.args == (600, False, 180, {"metadata": {"path": str(tmp_path)}})
    assert client.stderr == subprocess.DEVNULL
    assert client.km.kernel_name == CURRENT_ENV_KERNEL_NAME and client.km.stopped == [True]
    assert info == {"peak_mb": 321.5, "headline": "round(acc, 3)"}
    assert [c.source for c in done.cells] == ["acc = 0.5"]  # the measuring cell removed
    assert len(nb.cells) == 1 and client.nb is not nb  # the caller's notebook untouched
    measured = execute._MEASURE % "round(acc, 3)"
    assert "_j.dumps({'peak_mb': _kb / 1024, 'cpu_s': _u.ru_utime + _u.ru_stime,\n" in measured
    assert "'headline': round(acc, 3)}))" in measured
    done, info = execute.execute(new_notebook(cells=[new_code_cell("x")]), tmp_path,
                                 timeout=5, allow_errors=True, measure=True)
    assert info == {"peak_mb": 321.5, "headline": "None"}
    assert FakeNotebookClient.made[1].args[:2] == (5, True)
    done, info = execute.execute(new_notebook(cells=[new_code_cell("x")]), tmp_path)
    assert info == {} and [c.source for c in done.cells] == ["x"]
    with pytest.raises(RuntimeError, match="cell failed"):
        execute.execute(new_notebook(cells=[new_code_cell("raise")]), tmp_path)
    assert FakeNotebookClient.made[-1].km.stopped == [True]  # stopped even then


def test_load_is_the_one_minute_load_average(monkeypatch):
    if hasattr(os, "getloadavg"):
        assert float(execute._load()) == pytest.approx(os.getloadavg()[0], abs=0.2)
    monkeypatch.delattr(os, "getloadavg")
    assert execute._load() == "?"
