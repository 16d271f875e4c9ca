"""The code blocks of a markdown file, and a small runner for its shell blocks: the
documentation is executed (tests/test_docs.py, tests/coursekit/test_release.py).

A fenced block's language says what it is. ``bash``/``sh`` blocks run here, one after
the other, each in ``bash -e`` in the same folder (a scratch copy of the course);
``python`` blocks run through phmdoctest (its own ``<!--phmdoctest-skip-->`` leaves one
out); any other block (output, a layout, JSON) is not code to run. HTML comments right
before a block, invisible on GitHub, say how to run it; several directives may share one
comment, separated by ``;`` (``skip:`` last: its reason runs to the end):

    <!-- docs: skip: REASON -->            not run (Colab, a GPU, a download, a synopsis,
                                           the test suite itself); the reason is reported
    <!-- docs: env NAME=VALUE ... -->      environment variables for this block
    <!-- docs: skip-line TEXT: REASON -->  the block's lines starting with TEXT are not run
    <!-- docs: exit N -->                  the block's expected exit status (default 0)
    <!-- docs: output -->                  this block is what the previous block prints
                                           on stdout (compared line by line, trailing
                                           spaces and blank lines at either end ignored)

Every ``bash``, ``sh`` and ``python`` block either runs or says why not. ``make`` runs
silent (``MAKEFLAGS=s``): an expected output shows what the commands print, not make's
echo of each command.
"""
from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SHELL, PYTHON = ("bash", "sh"), ("python",)
_DIRECTIVE = re.compile(r"^<!--\s*docs:\s*(.*?)\s*-->$", re.S)


class DocError(Exception):
    """A marker the runner cannot read, or a block it cannot classify."""


@dataclass
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    lang: str
    code: str
    skip: str | None = None  # the reason it is not run
    env: dict = field(default_factory=dict)
    skip_lines: list = field(default_factory=list)  # [(prefix, reason)]
    output: bool = False  # the expected stdout of the previous block
    status: int = 0  # the expected exit status
    expected: str | None = None  # set on a run block followed by an output block
    phmdoctest_skip: bool = False

    @property
    def where(self) -> str:
        return f"{self.path.name}:{self.line}"

    @property
    def runs(self) -> bool:
        return self.lang in SHELL + PYTHON and self.skip is None and not self.output


def _directives(text: str, where: str) -> dict:
    found = {"env": {}, "skip_lines": []}
    head, sep, reason = text.partition("skip:")  # a reason runs to the end of the comment
    if sep and (not head.strip() or head.rstrip().endswith(";")):
        found["skip"] = reason.strip() or _fail(f"{where}: 'skip:' needs a reason")
        text = head
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, _, arg = part.partition(" ")
        if name == "skip-line" and ":" in arg:
            prefix, reason = (s.strip() for s in arg.split(":", 1))
            found["skip_lines"].append((prefix, reason))
        elif name == "env" and arg:
            for pair in arg.split():
                key, eq, value = pair.partition("=")
                if not eq or not key:
                    _fail(f"{where}: 'env' takes NAME=VALUE pairs, got {pair!r}")
                found["env"][key] = value
        elif part == "output":
            found["output"] = True
        elif name == "exit" and arg.isdigit():
            found["status"] = int(arg)
        else:
            _fail(f"{where}: unknown docs directive {part!r} (skip: REASON, env NAME=VALUE, "
                  "skip-line TEXT: REASON, exit N, output)")
    return found


def _fail(msg):
    raise DocError(msg)


def blocks(path) -> list[Block]:
    """Every fenced block of the markdown file ``path``, with its directives."""
    import commonmark

    path = Path(path)
    root = commonmark.Parser().parse(path.read_text(encoding="utf-8"))
    out, previous = [], None
    for node, entering in root.walker():
        if not entering or node.t != "code_block" or not node.is_fenced:
            continue
        block = Block(path, node.sourcepos[0][0], (node.info or "").split(" ")[0].lower(),
                      node.literal)
        prev = node.prv
        while prev is not None and prev.t == "html_block" and prev.html_block_type == 2:
            literal = prev.literal.strip()
            if literal == "<!--phmdoctest-skip-->":
                block.phmdoctest_skip = True
            m = _DIRECTIVE.match(literal)
            if m:
                for key, value in _directives(m.group(1), f"{path.name}:{prev.sourcepos[0][0]}"
                                              ).items():
                    if key == "env":
                        block.env.update(value)
                    elif key == "skip_lines":
                        block.skip_lines += value
                    else:
                        setattr(block, key, value)
            prev = prev.prv
        if block.output:
            if previous is None or not previous.runs or previous.lang not in SHELL:
                _fail(f"{block.where}: an output block must follow a shell block that runs")
            previous.expected = block.code
        out.append(block)
        previous = block
    return out


def problems(path) -> list[str]:
    """What is wrong with the markers of ``path`` (empty: every runnable-looking block
    runs or says why not, and python skips agree with phmdoctest's)."""
    found = []
    for b in blocks(path):
        if b.lang in PYTHON and b.phmdoctest_skip != (b.skip is not None):
            found.append(f"{b.where}: a python block left out needs both <!--phmdoctest-skip-->"
                         " (phmdoctest reads it) and <!-- docs: skip: REASON --> (the reason)")
        if b.lang not in SHELL + PYTHON and (b.skip or b.env or b.skip_lines):
            found.append(f"{b.where}: a '{b.lang or 'plain'}' block is never run: "
                         "its docs directive means nothing")
        if b.lang in ("", "console", "shell", "zsh") and re.match(r"\s*(\$ |make |\.venv/|python )",
                                                                  b.code):
            found.append(f"{b.where}: looks like commands: fence it as ```bash so it runs")
    return found


def script(block: Block) -> str:
    lines = [line for line in block.code.split("\n")
             if not any(line.lstrip().startswith(p) for p, _ in block.skip_lines)]
    return "\n".join(lines)


@dataclass
class Result:
    block: Block
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def failure(self) -> str | None:
        """Why this run does not do what its README says (None: it does)."""
        if self.returncode != self.block.status:
            return (f"{self.block.where}: exit status {self.returncode}, not "
                    f"{self.block.status}\n$ {script(self.block)}"
                    f"\n--- stdout (end)\n{self.stdout[-3000:]}\n--- stderr (end)\n"
                    f"{self.stderr[-3000:]}")
        if self.block.expected is not None and _norm(self.stdout) != _norm(self.block.expected):
            return (f"{self.block.where}: prints other than its README says\n--- README\n"
                    f"{_norm(self.block.expected)}\n--- printed\n{_norm(self.stdout)}")
        return None


def _norm(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip("\n").split("\n")).strip("\n")


def environment(extra: dict | None = None, path_first: Path | None = None) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("COURSE_UNITS", "MAKEFLAGS", "MAKELEVEL", "MFLAGS")
           and not k.startswith("PYTEST_")}
    env["MAKEFLAGS"] = "s"
    if path_first is not None:
        env["PATH"] = f"{path_first}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra or {})
    return env


def run_shell_blocks(path, cwd, env: dict, timeout: float = 1200) -> dict:
    """Run every shell block of ``path`` that runs, in order, in ``cwd``; {line: Result}."""
    results = {}
    for block in blocks(path):
        if not block.runs or block.lang not in SHELL:
            continue
        t0 = time.perf_counter()
        try:
            done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script(block)],
                                  cwd=cwd, env={**env, **block.env}, capture_output=True,
                                  text=True, timeout=timeout, stdin=subprocess.DEVNULL)
            code, out, err = done.returncode, done.stdout, done.stderr
        except subprocess.TimeoutExpired as exc:
            code, out, err = -9, str(exc.stdout or ""), f"timed out after {timeout} s"
        results[block.line] = Result(block, code, out, err, time.perf_counter() - t0)
    return results


def relative_links(text: str) -> list[str]:
    """The relative targets of markdown links and images and HTML src/href in ``text``."""
    targets = re.findall(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", text)
    targets += re.findall(r"(?:src|href)=[\"']([^\"']+)[\"']", text)
    return [t.split("#")[0] for t in targets
            if not re.match(r"^[a-z][a-z0-9+.-]*:", t, re.I) and not t.startswith("#")
            and t.split("#")[0]]
