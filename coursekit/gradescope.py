"""The Gradescope autograder: ``make gradescope`` -> ``build/gradescope/autograder.zip``.

    python -m coursekit gradescope --out build/gradescope [--seminar 01_linear_regression ...]
                                   [--hidden-visibility after_published] [--sandbox auto] [--cold]
                                   [--pip-conf FILE]

The zip has Gradescope's layout for a custom autograder ("Autograder Specifications"):
``setup.sh`` (run once as root when Gradescope builds the image: Python, bubblewrap, a
virtual environment in ``/autograder/venv`` with the course installed from
``source/course`` and its dependencies as pyproject.toml declares them (lower bounds), torch
included, pip picking the builds), ``run_autograder`` (run per submission: the course's
grader, ``coursekit.autograder``, writes ``/autograder/results/results.json``),
``gradescope.json`` (the assignment: its seminars, the visibility of hidden checks, the
sandbox mode, warm or cold kernels, and the public cell ids that tell the course's
seminars apart) and ``course/`` (``utils``, ``coursekit``, ``pyproject.toml``, the
README, ``data/README.md`` and, only there, the assignment's solutions with their hidden
tests and probes). Gradescope unpacks it in ``/autograder/source``, which the student's
upload (``/autograder/submission``) never sees; the grading kernels cannot read it either
(the guard, and bubblewrap where it runs).
"""
from __future__ import annotations

import json
import shutil
import time
import zipfile
from pathlib import Path

from .autograder import CONFIG, VISIBILITIES
from .notebook import REPO, CourseError

ZIP = "autograder.zip"
EPOCH = (2020, 1, 1, 0, 0, 0)  # every member's date: the same course gives the same zip
COURSE_FILES = ("pyproject.toml", "README.md", "LICENSE", "data/README.md")

SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (Ubuntu):
# the course's Python environment in $GRADESCOPE_ROOT/venv (default /autograder/venv).
# Written by `make gradescope` (coursekit/gradescope.py); do not edit it in the zip.
set -euo pipefail
ROOT="${GRADESCOPE_ROOT:-/autograder}"
COURSE="$ROOT/source/course"
# System packages: Python with venv, and bubblewrap (the grader's OS sandbox, used where
# the container lets it run). COURSE_SKIP_APT=1 leaves this part out (the course's tests).
if [ "${COURSE_SKIP_APT:-0}" != 1 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends python3 python3-venv python3-pip bubblewrap
fi
# An instructor's pip configuration, when `make gradescope PIP_CONF=FILE` put one in the
# zip (e.g. an index of CPU-only torch builds: the default build is CUDA's, some GB).
if [ -f "$ROOT/source/pip.conf" ]; then
    export PIP_CONFIG_FILE="$ROOT/source/pip.conf"
fi
PYTHON="${COURSE_PYTHON:-python3}"
"$PYTHON" -m venv "$ROOT/venv"
# The course and its dependencies as its pyproject.toml declares them (lower bounds only,
# torch included): pip picks the newest builds that satisfy them on this machine.
"$ROOT/venv/bin/python" -m pip install --quiet --upgrade pip
"$ROOT/venv/bin/python" -m pip install --quiet -e "$COURSE"
# Fail here, when the image is built, rather than on a student's submission.
"$ROOT/venv/bin/python" -m coursekit gradescope-check
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this for every submission (as root): the course's grader grades
# $GRADESCOPE_ROOT/submission (default /autograder) into results/results.json.
# Written by `make gradescope` (coursekit/gradescope.py); do not edit it in the zip.
set -uo pipefail
ROOT="${GRADESCOPE_ROOT:-/autograder}"
export GRADESCOPE_ROOT="$ROOT"
# the zip's own course, whatever else the environment has installed
export PYTHONPATH="$ROOT/source/course${PYTHONPATH:+:$PYTHONPATH}"
cd "$ROOT" || exit 1
exec "$ROOT/venv/bin/python" -m coursekit gradescope-run
"""


def public_marks(solutions_dir) -> dict:
    """stem -> the cell ids only that seminar has (the seminars carry the same ids, so
    these are public): how the autograder tells a notebook of another seminar."""
    from .grading import load_solutions

    return {stem: sorted(v for k, v in solution.marks if k == "id")
            for stem, solution in load_solutions(solutions_dir).items()}


def config(seminars=None, hidden_visibility: str = "after_published", sandbox: str = "auto",
           warm: bool = True, repo: Path = REPO) -> dict:
    """The assignment's gradescope.json; CourseError on an unknown seminar or option."""
    marks = public_marks(repo / "solutions")
    chosen = sorted(seminars or marks)
    unknown = sorted(set(chosen) - set(marks))
    if unknown:
        raise CourseError(f"no seminar {', '.join(unknown)} in solutions/ (the seminars: "
                          f"{', '.join(marks)})")
    if hidden_visibility not in VISIBILITIES:
        raise CourseError(f"--hidden-visibility must be one of {', '.join(VISIBILITIES)}, "
                          f"not {hidden_visibility!r}")
    if sandbox not in ("auto", "required", "off"):
        raise CourseError(f"--sandbox must be auto, required or off, not {sandbox!r}")
    return {"seminars": chosen, "only_found": not seminars,
            "hidden_visibility": hidden_visibility, "sandbox": sandbox, "warm": warm,
            "marks": marks}


def _members(cfg: dict, repo: Path, pip_conf=None) -> dict:
    """zip name -> (source path or None, text or None, executable)."""
    out = {"setup.sh": (None, SETUP_SH, True), "run_autograder": (None, RUN_AUTOGRADER, True),
           CONFIG: (None, json.dumps(cfg, indent=1) + "\n", False)}
    if pip_conf is not None:
        if not Path(pip_conf).is_file():
            raise CourseError(f"--pip-conf {pip_conf}: no such file")
        out["pip.conf"] = (Path(pip_conf), None, False)
    for name in COURSE_FILES:
        if (repo / name).is_file():
            out[f"course/{name}"] = (repo / name, None, False)
    for package in ("utils", "coursekit"):
        for path in sorted((repo / package).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                out[f"course/{path.relative_to(repo)}"] = (path, None, False)
    for stem in cfg["seminars"]:
        for rel in (f"solutions/{stem}.ipynb", f"solutions/probes/{stem}.py"):
            if (repo / rel).is_file():
                out[f"course/{rel}"] = (repo / rel, None, False)
    return out


def build(out, seminars=None, hidden_visibility: str = "after_published",
          sandbox: str = "auto", warm: bool = True, repo: Path = REPO, pip_conf=None) -> Path:
    """Write ``out/autograder.zip`` (replacing an earlier one); its path. ``pip_conf``:
    a pip configuration file setup.sh installs with (``pip.conf`` in the zip)."""
    cfg = config(seminars, hidden_visibility, sandbox, warm, repo)
    members = _members(cfg, repo, pip_conf)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    target, tmp = out / ZIP, out / (ZIP + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for name, (path, text, executable) in sorted(members.items()):
            info = zipfile.ZipInfo(name, EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o100755 if executable else 0o100644) << 16
            z.writestr(info, text if text is not None else path.read_bytes())
    shutil.move(tmp, target)
    return target


def unpack(zip_path, base) -> Path:
    """Lay the zip out as Gradescope does: ``base/source`` (the zip) and
    ``base/run_autograder``; ``base/submission`` and ``base/results`` empty. (The test's
    stand-in for Gradescope, and a way to try an autograder by hand.)"""
    base = Path(base)
    with zipfile.ZipFile(zip_path) as z:
        z.extractall(base / "source")
        for info in z.infolist():  # zipfile does not restore the executable bits
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                (base / "source" / info.filename).chmod(mode)
    shutil.copy2(base / "source" / "run_autograder", base / "run_autograder")
    for name in ("submission", "results"):
        (base / name).mkdir(exist_ok=True)
    return base


def check(base=None) -> str:
    """What setup.sh checks at the end: the solutions load, a grading kernel starts and
    imports the course, and whether the OS sandbox runs here. A line to print;
    CourseError or GradeError (exit 2: the image build fails) when it cannot grade."""
    from . import autograder, bwrap, grading

    base = Path(base or autograder.root())
    cfg = json.loads((base / "source" / CONFIG).read_text(encoding="utf-8"))
    found = grading.load_solutions(base / "source" / "course" / "solutions")
    missing = sorted(set(cfg["seminars"]) - set(found))
    if missing:
        raise CourseError(f"the autograder has no solution for {', '.join(missing)}")
    opts, _ = grading.settle_sandbox(grading.Options(sandbox=cfg.get("sandbox", "auto"),
                                                     warm=False))
    grading.preflight(opts)  # a kernel starts, as grading starts it, and imports the course
    why = bwrap.available()
    return (f"autograder ready: {', '.join(cfg['seminars'])}; the OS sandbox is "
            + (f"OFF here ({why})" if why else "on (bubblewrap)"))


def timed_build(out, **kw) -> tuple[Path, float, int]:
    """(zip, seconds, bytes) of one build: the figures the README quotes."""
    t0 = time.perf_counter()
    path = build(out, **kw)
    return path, time.perf_counter() - t0, path.stat().st_size
