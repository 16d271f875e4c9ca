"""The course website (`make site`): assembled from the stored notebooks, no solutions or
hidden tests on it, the repository address written in one place, and, when Chromium is
installed, every page opened in a real headless browser with the network cut off. The
fast tests run coursekit/site.py's parts on the small course of conftest.py's ``repo``,
Sphinx replaced."""
import functools
import http.server
import re
import shutil
import subprocess
import threading
import types
from urllib.parse import unquote, urljoin, urlparse

import pytest
from fakes import ANSWER_LINE, COMMON_LINE, HIDDEN_LINE, files
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from coursekit import colab, generate, leaks, notebook, release, site
from coursekit.notebook import CourseError, REPO

LECTURES = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SEMINARS = sorted((REPO / "seminars").glob("[0-9][0-9]_*.ipynb"))


# ----------------------------------------------------------------------------- addresses
def test_repository_address_is_written_once_and_used_everywhere():
    url = site.repository_url()
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url), url
    assert f"git+{url}" in notebook.SETUP_CELL  # the Colab install line
    for nb in LECTURES + SEMINARS + sorted((REPO / "solutions").glob("*.ipynb")):
        first_code = next(c for c in notebook.read(nb).cells if c.cell_type == "code")
        assert f"git+{url}" in first_code.source, nb.name
    others = set(re.findall(r"https://github\.com/[\w.-]+/[\w.-]+",
                            (REPO / "README.md").read_text())) - {url}
    assert not others, f"README names another repository address: {others}"
    # the Colab badges derive from it: every notebook's title cell and the README's syllabus
    assert colab.badge_problems() == [] and colab.readme_badge_problems() == []


def test_colab_url_points_at_the_notebook_on_main():
    url = site.colab_url("notebooks/01_linear_regression.ipynb")
    owner_name = site.repository_url().removeprefix("https://github.com/")
    assert url == ("https://colab.research.google.com/github/"
                   f"{owner_name}/blob/main/notebooks/01_linear_regression.ipynb")


def test_missing_repository_address_is_a_clear_error(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    with pytest.raises(notebook.CourseError, match=r"\[project.urls\] Repository"):
        site.repository_url(tmp_path)


# ----------------------------------------------------------------------------- source
def test_assembled_source_has_lectures_and_seminars_only(tmp_path):
    pages = site.assemble(tmp_path / "src")
    assert pages["lectures"] == [p.stem for p in LECTURES]
    assert pages["seminars"] == [p.stem for p in SEMINARS]
    files = {p.relative_to(tmp_path / "src").parts[0] for p in (tmp_path / "src").rglob("*")}
    assert files == {"conf.py", "index.md", "lectures", "seminars"}
    index = (tmp_path / "src" / "index.md").read_text()
    assert "solutions/" not in index  # no link to a solution
    for stem in pages["lectures"]:
        assert f"lectures/{stem}.ipynb" in index
        nb = notebook.read(tmp_path / "src" / "lectures" / f"{stem}.ipynb")
        links = "\n".join(c.source for c in nb.cells[:3])
        assert site.colab_url(f"notebooks/{stem}.ipynb") in links
        assert f"{{download}}`Download the notebook <{stem}.ipynb>`" in links
    assert release.leaks(tmp_path / "src", sorted((REPO / "solutions").glob("*.ipynb"))) == []


def test_leak_check_reads_notebooks_decoded(tmp_path):
    """A planted line with quotes (escaped in the notebook's JSON) is still found."""
    sol = REPO / "solutions" / "03_backprop.ipynb"
    answer, _ = leaks.secret_lines([sol])
    quoted = next((line for line in answer if '"' in line or "\\" in line), None)
    if quoted is None:
        pytest.skip("no solution line with quotes to plant")
    nb = notebook.read(REPO / "seminars" / "03_backprop.ipynb")
    nb.cells[-1].source += "\n" + quoted
    notebook.write(nb, tmp_path / "seminars" / "03_backprop.ipynb")
    problems = release.leaks(tmp_path, [sol])
    assert any(quoted in p for p in problems), problems


def test_page_text_drops_tags_and_decodes_entities(tmp_path):
    page = tmp_path / "p.html"
    page.write_text('<pre><span class="n">hint</span>=<span>&quot;max&quot;</span></pre>'
                    "<script>var hidden = 1;</script>")
    assert site.page_text(page) == 'hint="max"'


def test_a_leaking_site_is_caught(tmp_path):
    sol = REPO / "solutions" / "01_linear_regression.ipynb"
    answer, hidden = leaks.secret_lines([sol])
    (tmp_path / "seminars").mkdir()
    (tmp_path / "seminars" / "01.html").write_text(
        "<pre>" + next(iter(answer)).replace("<", "&lt;") + "</pre>")
    (tmp_path / "lectures").mkdir()
    (tmp_path / "lectures" / "01.html").write_text("<p>" + next(iter(hidden)) + "</p>")
    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "01.html").write_text("<p>hello</p>")
    problems = site.leaks(tmp_path)
    assert any(p.startswith("seminars/01.html contains text of") for p in problems)
    assert any(p.startswith("lectures/01.html contains text of") for p in problems)
    assert any("solution page" in p for p in problems)


# ----------------------------------------------------------------------------- the built site
@pytest.fixture(scope="module")
def built(tmp_path_factory):
    missing = [m for m in ("sphinx", "myst_nb", "sphinx_book_theme") if not site._importable(m)]
    if missing:
        pytest.skip(f"SITE NOT BUILT: {', '.join(missing)} missing (pip install -e '.[site]')")
    root = tmp_path_factory.mktemp("site")
    problems = site.build(root / "html", root / "src", echo=lambda *_: None)
    return root / "html", problems


def test_site_builds_clean_with_every_page(built):
    out, problems = built
    assert problems == []
    for path in LECTURES:
        assert (out / "lectures" / f"{path.stem}.html").is_file()
    for path in SEMINARS:
        assert (out / "seminars" / f"{path.stem}.html").is_file()
    assert not list(out.rglob("*solution*.html"))
    assert (out / "_static" / "mathjax" / "tex-chtml.js").is_file()


def test_site_loads_nothing_from_the_network(built):
    out, _ = built
    external = re.compile(r'<(?:script|link|img)\b[^>]*(?:src|href)="(https?:)?//', re.I)
    offenders = [p.relative_to(out).as_posix() for p in out.rglob("*.html")
                 if external.search(p.read_text(errors="ignore"))]
    assert not offenders, f"pages that load scripts, styles or images from the web: {offenders}"


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.fixture(scope="module")
def browser(built):
    exe = _chromium()
    if exe is None:
        pytest.skip("BROWSER TEST SKIPPED: no Chromium found (Debian: apt-get install "
                    "chromium); the site was built and leak-checked, not opened")
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="BROWSER TEST SKIPPED: playwright missing "
                                          "(pip install -e '.[site]')")
    out, _ = built
    handler = functools.partial(_QuietHandler, directory=str(out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with sync_api.sync_playwright() as pw:
        chrome = pw.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        yield chrome, f"http://127.0.0.1:{server.server_port}/", out
        chrome.close()
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _open(chrome, url):
    """Open ``url`` with every request off this server refused; return the page and what
    went wrong: console errors, page errors, refused outside requests, failed requests."""
    page = chrome.new_page()
    trouble = []
    base = urlparse(url).netloc
    page.on("console", lambda m: m.type == "error" and trouble.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: trouble.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: urlparse(r.url).netloc == base and
            trouble.append(f"failed: {r.url}"))

    def route(r):
        if urlparse(r.request.url).netloc == base:
            r.continue_()
        else:
            trouble.append(f"outside request: {r.request.url}")
            r.abort()
    page.route("**/*", route)
    response = page.goto(url, wait_until="networkidle")
    if response is None or response.status != 200:
        trouble.append(f"status {response and response.status}")
    return page, trouble


def test_every_page_loads_without_errors_and_its_links_and_images_work(browser):
    chrome, root, out = browser
    pages = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.html")
                   if p.parent.name in ("lectures", "seminars") or p.parent == out)
    problems, targets = [], set()
    for rel in pages:
        page, trouble = _open(chrome, root + rel)
        problems += [f"{rel}: {t}" for t in trouble]
        broken = page.eval_on_selector_all(
            "img", "imgs => imgs.filter(i => !(i.complete && i.naturalWidth > 0))"
                   ".map(i => i.src)")
        problems += [f"{rel}: broken image {src}" for src in broken]
        for href in page.eval_on_selector_all("a[href]", "as => as.map(a => a.href)"):
            if urlparse(href).netloc == urlparse(root).netloc:
                targets.add(href.split("#")[0])
        page.close()
    for href in sorted(targets):
        local = out / unquote(urlparse(href).path).lstrip("/")
        if local.is_dir():
            local = local / "index.html"
        if not local.is_file():
            problems.append(f"broken link: {href}")
    assert len(pages) >= len(LECTURES) + len(SEMINARS) + 1
    assert not problems, "\n".join(problems[:30])


def test_equations_are_typeset_offline(browser):
    chrome, root, out = browser
    page, trouble = _open(chrome, root + f"lectures/{LECTURES[0].stem}.html")
    page.wait_for_selector("mjx-container", timeout=30_000)
    assert page.locator("mjx-container").count() > 5
    assert not trouble, trouble
    shots = REPO / "build" / "site-screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.screenshot(path=str(shots / "lecture.png"))
    home, _ = _open(chrome, root + "index.html")
    home.set_viewport_size({"width": 1280, "height": 900})
    home.screenshot(path=str(shots / "home.png"))


def test_search_finds_a_term(browser):
    chrome, root, out = browser
    page, trouble = _open(chrome, urljoin(root, "search.html?q=backpropagation"))
    page.wait_for_selector("#search-results ul li", timeout=30_000)
    hits = page.eval_on_selector_all("#search-results ul li a", "as => as.map(a => a.href)")
    assert any("03_backprop" in h for h in hits), hits
    assert not trouble, trouble


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


def test_site_build_shows_sphinx_errors(repo, tmp_path, monkeypatch):
    """Sphinx's own error output (a real process here: a script in its place) is the
    message."""
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'not quite' \necho 'WARNING: a broken link' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(site, "_importable", lambda m: True)
    monkeypatch.setattr(site, "sys", types.SimpleNamespace(executable=str(fake)))
    with pytest.raises(CourseError) as info:
        site.build(tmp_path / "out", tmp_path / "src", repo)
    assert str(info.value) == "sphinx failed:\nWARNING: a broken link\n"


def test_site_leaks_in_markdown_and_undecodable_pages(repo, tmp_path):
    out = tmp_path / "site"
    (out / "lectures").mkdir(parents=True)
    bad = b"\xff\xfe not UTF-8 "
    (out / "lectures" / "01.md").write_bytes(bad + HIDDEN_LINE.encode())
    (out / "lectures" / "02.html").write_bytes(b"<p>" + bad + HIDDEN_LINE.encode() + b"</p>")
    (out / "seminars").mkdir()
    (out / "seminars" / "01.html").write_text(f"<p>{COMMON_LINE}</p>")  # in a lecture: public
    assert site.leaks(out, repo) == [
        f"lectures/01.md contains text of 01_words.ipynb: {HIDDEN_LINE!r}",
        f"lectures/02.html contains text of 01_words.ipynb: {HIDDEN_LINE!r}"]


def test_site_source_in_a_new_folder_links_first_and_short_topics(repo, tmp_path):
    notebook.write(new_notebook(cells=[new_code_cell("x = 1"), new_code_cell("y = 2")]),
                   repo / "notebooks" / "02_code.ipynb")
    readme = (repo / "README.md").read_text().replace("| 02 | Planned unit |",
                                                      "| 02 | Code; more: later |")
    (repo / "README.md").write_text(readme + "| 03 | Planned: soon |\n")
    src = tmp_path / "new" / "src"
    site.assemble(src, repo)
    cells = notebook.read(src / "lectures" / "02_code.ipynb").cells
    assert cells[0].source.startswith("[Open in Colab]")
    assert [c.source for c in cells[1:]] == ["x = 1", "y = 2"]
    index = (src / "index.md").read_text().split("\n")
    assert index[9].startswith("| 02 | Code | [lecture](lectures/02_code.ipynb) |")
    assert index[10] == "| 03 | Planned: soon | planned |  |  |"  # no lecture: as written
