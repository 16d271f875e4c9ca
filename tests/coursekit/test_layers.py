"""The layout issue 12 asks for: ``utils`` is what notebooks import, ``coursekit`` is the
instructor tooling, and no module of the tooling imports another in a circle."""
import ast
import json
import re
import subprocess
import sys
from pathlib import Path

from coursekit.notebook import REPO


def _imports(path: Path, package: str) -> set:
    """The modules of ``package`` that ``path`` imports, anywhere in the file (a lazy
    import inside a function closes a circle as surely as one at the top)."""
    tree = ast.parse(path.read_text())
    here = path.relative_to(REPO).with_suffix("").parts
    pkg = here[:-1]  # the package a relative import starts from (also for __init__)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[:len(pkg) - node.level + 1]
                mod = ".".join(base + tuple(filter(None, (node.module or "").split("."))))
            else:
                mod = node.module or ""
            if mod.split(".")[0] != package:
                continue
            for alias in node.names:  # `from . import notebook` imports a module
                sub = f"{mod}.{alias.name}"
                found.add(sub if (REPO / (sub.replace(".", "/") + ".py")).exists()
                          or (REPO / sub.replace(".", "/")).is_dir() else mod)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == package}
    return found


def _graph(package: str) -> dict:
    graph = {}
    for path in sorted((REPO / package).rglob("*.py")):
        name = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        graph[name] = _imports(path, package) - {name}
    return graph


def _cycle(graph: dict) -> list:
    """A list of modules forming an import circle, or [] (depth-first search)."""
    state, stack = {}, []

    def visit(n):
        state[n] = "open"
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            m = m if m in graph else m.rsplit(".", 1)[0]
            if state.get(m) == "open":
                return stack[stack.index(m):] + [m]
            if m not in state and (found := visit(m)):
                return found
        state[n] = "done"
        stack.pop()
        return []
    for n in sorted(graph):
        if n not in state and (found := visit(n)):
            return found
    return []


def test_no_import_circle_in_the_tooling():
    graph = _graph("coursekit")
    assert {"coursekit.cli", "coursekit.notebook", "coursekit.generate", "coursekit.execute",
            "coursekit.leaks", "coursekit.grading.assemble", "coursekit.grading.run", "coursekit.grading.batch",
            "coursekit.grading.report", "coursekit.sandbox", "coursekit.release"} <= set(graph)
    assert graph["coursekit.grading.run"] >= {"coursekit.grading.assemble"}  # the test sees edges
    assert _cycle(graph) == [], _cycle(graph)


def test_execute_never_imports_the_grader():
    """Running notebooks (``make course``, ``make refresh``) and the notebooks' section of
    ``make bench`` need no grader: the command line adds the grading section."""
    graph = _graph("coursekit")
    seen, todo = set(), ["coursekit.execute"]
    while todo:
        for dep in graph.get(todo.pop(), ()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    assert not {m for m in seen if m.startswith(("coursekit.grading", "coursekit.simulate"))}, \
        sorted(seen)
    assert "coursekit.notebook" in seen  # the walk sees edges


def test_the_circle_finder_finds_a_circle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_utils_never_imports_the_tooling():
    for path in sorted((REPO / "utils").rglob("*.py")):
        assert not _imports(path, "coursekit"), path


def test_utils_holds_only_what_notebooks_use():
    """Every module of utils is imported by a notebook or by a module that is (the setup
    cell's ``import utils`` loads ``utils.seed``; a seminar's last cell, ``utils.check``);
    the tooling's modules are not in it."""
    used = {"seed"}
    for folder in ("notebooks", "solutions", "seminars"):
        for nb in sorted((REPO / folder).glob("*.ipynb")):
            text = "\n".join("".join(c["source"]) for c in json.loads(nb.read_text())["cells"]
                             if c["cell_type"] == "code")
            used |= set(re.findall(r"\butils\.(\w+)", text))
            for names in re.findall(r"^\s*from utils import ([\w, ]+)$", text, re.M):
                used |= {n.split(" as ")[0].strip() for n in names.split(",")}
    graph = _graph("utils")
    todo = [f"utils.{m}" for m in used]
    while todo:
        for dep in graph.get(todo.pop(), ()):
            if dep.removeprefix("utils.") not in used:
                used.add(dep.removeprefix("utils."))
                todo.append(dep)
    modules = {p.stem for p in (REPO / "utils").glob("*.py")} - {"__init__"}
    assert modules - used == set(), "not imported by any notebook"
    tooling = {p.stem for p in (REPO / "coursekit").rglob("*.py")}
    assert not modules & (tooling - {"__init__"}), modules & tooling


def test_one_command_line(tmp_path):
    """Every Makefile target of the tooling goes through `python -m coursekit`, and no
    module but cli.py parses arguments."""
    make = (REPO / "Makefile").read_text()
    assert "-m utils." not in make and make.count("$(KIT) ") >= 9
    parsers = [p.relative_to(REPO) for p in (REPO / "coursekit").rglob("*.py")
               if "ArgumentParser(" in p.read_text()]
    assert [str(p) for p in parsers] == ["coursekit/cli.py"]
    out = subprocess.run([sys.executable, "-m", "coursekit", "--help"],
                         capture_output=True, text=True, timeout=120)
    for cmd in ("generate", "check", "run", "bench", "refresh", "grade", "merge", "feedback",
                "grade-bench", "simulate", "release", "site", "nbgrader"):
        assert cmd in out.stdout, cmd


def test_a_student_release_says_it_has_no_tooling(tmp_path):
    """`make seminars` (or any tooling target) in a copy without coursekit/ stops with a
    clear message before installing anything."""
    (tmp_path / "Makefile").write_text((REPO / "Makefile").read_text())
    done = subprocess.run(["make", "seminars"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode != 0
    assert "no instructor tooling (coursekit/)" in done.stderr
    assert not (tmp_path / ".venv").exists()


def test_mutation_runs_every_fast_test_of_the_tooling():
    """`make mutation` scores coursekit by the test files listed in ci/mutmut_coursekit.toml:
    a new file of fast tooling tests left out of that list would not count (and its
    mutants would look unkilled). Every file with a fast test that imports more of
    coursekit than its REPO path is listed."""
    import tomllib
    listed = set(tomllib.loads((REPO / "ci" / "mutmut_coursekit.toml").read_text())
                 ["tool"]["mutmut"]["pytest_add_cli_args_test_selection"])
    assert all((REPO / name).is_file() for name in listed), listed
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "not slow",
                          "-p", "no:cacheprovider", "tests"], cwd=REPO, capture_output=True,
                         text=True, timeout=300)
    fast = {line.split("::")[0] for line in out.stdout.splitlines() if "::" in line}
    assert len(fast) > 10, out.stdout[-2000:] + out.stderr[-2000:]
    tooling = set()
    for name in fast:
        tree = ast.parse((REPO / name).read_text())
        names = {a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                 and (node.module or "").startswith("coursekit") for a in node.names}
        names |= {"*" for node in ast.walk(tree) if isinstance(node, ast.Import)
                  and any(a.name.startswith("coursekit") for a in node.names)}
        if names - {"REPO"}:
            tooling.add(name)
    assert tooling - listed == set(), "fast tooling tests the mutation run leaves out"
