"""Hand-written one-line mutations of the course's own code, run against its fast tests.

    python ci/mutate.py                   # every mutation; prints killed / survived
    python ci/mutate.py --only checks     # the mutations of utils/checks.py
    python ci/mutate.py --list            # what each mutation does, without running
    python ci/mutate.py --match "check_close: no tolerance"   # chosen mutations only

Each mutation replaces one exact piece of text (found exactly once) in a copy of the
checkout's tracked files, then runs the test file(s) named with it, in the copy
(``import utils`` resolves to the mutated copy: the script checks it). A mutation the
tests still pass *survived*: the tests do not pin down what the line does. The mutations
are the kinds issue 15 lists (tolerances, NaN handling, float-error flags, relative-error
denominator, eval/train modes, scheduler step, data folder, seeded shuffling, the
seminar generator's leak guards and exit codes). Exit code 1 when any survived
(0: all killed). Not part of ``make test`` (a minute or more per module).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

C, D, T, K = ("utils/checks.py", ["tests/test_checks.py"]), \
    ("utils/data.py", ["tests/test_data.py"]), \
    ("utils/training.py", ["tests/test_training.py"]), \
    ("coursekit/generate.py", ["tests/coursekit/test_generate.py",
                               "tests/coursekit/test_notebook.py"])
KC, KE, KN, KL = ("coursekit/cli.py", ["tests/coursekit/test_cli.py"]), \
    ("coursekit/execute.py", ["tests/coursekit/test_execute.py"]), \
    ("coursekit/notebook.py", ["tests/coursekit/test_notebook.py",
                               "tests/coursekit/test_generate.py"]), \
    ("coursekit/leaks.py", ["tests/coursekit/test_leaks.py", "tests/coursekit/test_generate.py"])

# (module, what the mutation does, exact old text, new text)
MUTATIONS = [
    # ---------------------------------------------------------------- utils/checks.py
    (C, "check_close: no tolerance (exact equality)",
     "bad = ~np.isclose(a64, e64, rtol=rtol, atol=atol, equal_nan=True)",
     "bad = ~np.isclose(a64, e64, rtol=0, atol=0, equal_nan=True)"),
    (C, "check_close: tolerance x1000",
     "bad = ~np.isclose(a64, e64, rtol=rtol, atol=atol, equal_nan=True)",
     "bad = ~np.isclose(a64, e64, rtol=rtol * 1e3, atol=atol * 1e3, equal_nan=True)"),
    (C, "check_close: atol ignored",
     "bad = ~np.isclose(a64, e64, rtol=rtol, atol=atol, equal_nan=True)",
     "bad = ~np.isclose(a64, e64, rtol=rtol, atol=0, equal_nan=True)"),
    (C, "check_close: without equal_nan",
     "bad = ~np.isclose(a64, e64, rtol=rtol, atol=atol, equal_nan=True)",
     "bad = ~np.isclose(a64, e64, rtol=rtol, atol=atol, equal_nan=False)"),
    (C, "check_close: NaN where a number is expected not named",
     "if np.isnan(a64).any() and not np.isnan(e64).any():",
     "if False:"),
    (C, "check_close: float32 tensors not widened to float64",
     "            x = x.double()\n", "            pass\n"),
    (C, "no_float_errors: invalid ignored",
     'np.errstate(over="raise", invalid="raise", divide="raise")',
     'np.errstate(over="raise", invalid="ignore", divide="raise")'),
    (C, "no_float_errors: divide-by-zero ignored",
     'np.errstate(over="raise", invalid="raise", divide="raise")',
     'np.errstate(over="raise", invalid="raise", divide="ignore")'),
    (C, "no_float_errors: hint dropped",
     '''(f" - {hint}" if hint else "")''', '""'),
    (C, "rel_error: denominator |b| only",
     "np.maximum(1e-8, np.abs(a) + np.abs(b))))", "np.maximum(1e-8, np.abs(b))))"),
    (C, "rel_error: floor 1 instead of 1e-8",
     "np.maximum(1e-8, np.abs(a) + np.abs(b))))", "np.maximum(1.0, np.abs(a) + np.abs(b))))"),
    (C, "rel_error: mean instead of max",
     "return float(np.max(np.abs(a - b)", "return float(np.mean(np.abs(a - b)"),
    (C, "gradient_check: threshold x10^4",
     "    if err > tol:\n", "    if err > tol * 1e4:\n"),
    (C, "gradient_check: default tol 1e-2",
     "analytic, df=None, tol: float = 1e-6,", "analytic, df=None, tol: float = 1e-2,"),
    (C, "numerical_gradient: one-sided difference",
     "        x[i] = old - h\n", "        x[i] = old\n"),
    (C, "call_unchanged: tensors not copied",
     "        return x.detach().clone()", "        return x.detach()"),
    # ---------------------------------------------------------------- utils/training.py
    (T, "evaluate: no eval mode", "    model.eval()\n", "    pass\n"),
    (T, "evaluate: training mode not restored", "    model.train(was_training)\n",
     "    pass\n"),
    (T, "evaluate: gradients recorded", "    with torch.no_grad():", "    if True:"),
    (T, "fit: no scheduler step", "            scheduler.step()", "            pass"),
    (T, "fit: no train mode at each epoch", "        model.train()\n", "        pass\n"),
    (T, "fit: no zero_grad", "            optimizer.zero_grad()\n", "            pass\n"),
    (T, "fit: loss per batch, not per example",
     "            total += loss.item() * len(y)", "            total += loss.item()"),
    (T, "accuracy: argmax over the batch axis",
     "(logits.argmax(dim=1) == y)", "(logits.argmax(dim=0) == y)"),
    # ---------------------------------------------------------------- utils/data.py
    (D, "data_dir: repository's data/ ignored", '        return REPO_ROOT / "data"',
     '        return Path("data")'),
    (D, "data_dir: COURSE_DATA ignored", '    if os.environ.get("COURSE_DATA"):',
     "    if False:"),
    (D, "make_loaders: unseeded shuffling",
     "batch_size=batch_size, shuffle=True, generator=gen)",
     "batch_size=batch_size, shuffle=True)"),
    (D, "make_loaders: no shuffling", "batch_size=batch_size, shuffle=True, generator=gen)",
     "batch_size=batch_size, shuffle=False, generator=gen)"),
    (D, "make_loaders: seed ignored", "gen = torch.Generator().manual_seed(seed)",
     "gen = torch.Generator().manual_seed(0)"),
    (D, "make_moons: second moon not shifted down",
     "0.5 - np.sin(t)], 1))", "-np.sin(t)], 1))"),
    (D, "make_spirals: other winding", "theta = 4.0 * r +", "theta = 2.0 * r +"),
    (D, "make_blobs: std ignored", "X = centers[y] + std * rng.standard_normal((n, 2))",
     "X = centers[y] + rng.standard_normal((n, 2))"),
    (D, "make_line: not sorted", "    x = np.sort(rng.uniform(*x_range, size=n))\n    y = w * x",
     "    x = rng.uniform(*x_range, size=n)\n    y = w * x"),
    (D, "make_line: noise ignored", "y = w * x + b + noise * rng.standard_normal(n)",
     "y = w * x + b + 0 * rng.standard_normal(n)"),
    (D, "train_val_test_split: stratify ignored",
     "strat = np.asarray(y) if stratify else None", "strat = None"),
    (D, "train_val_test_split: seed ignored",
     "rest, test = train_test_split(idx, test_size=test_size, random_state=seed,",
     "rest, test = train_test_split(idx, test_size=test_size, random_state=None,"),
    (D, "load_digits: not scaled to [0, 1]", "X = digits.images.astype(np.float32) / 16.0",
     "X = digits.images.astype(np.float32)"),
    # ------------------------------------------ coursekit: generate, leaks, notebook, cli
    (KL, "leak guard: leftover markers not reported",
     "    return [m for m in MARKERS if m in text]", "    return []"),
    (KL, "leak guard: solution / hidden-test text not reported",
     "         if line in text]\n", "         if False]\n"),
    (KL, "leak guard: a line with quotes read as escaped JSON",
     "    text = notebook_text(raw)\n", "    text = raw\n"),
    (KL, "leak guard: the line threshold ignored",
     "if len(s) >= SECRET_LINE_CHARS]", "if len(s) >= 0]"),
    (K, "leak guard: stored execution counts not reported",
     "(cell.outputs or cell.execution_count)", "(cell.outputs)"),
    (K, "leak guard: stored outputs not reported",
     "(cell.outputs or cell.execution_count)", "(cell.execution_count)"),
    (K, "leak guard: solution without graded cells accepted",
     "    if not graded_cells(solution):\n", "    if False:\n"),
    (K, "leak guard: duplicate task ids accepted",
     "    if len(ids) != len(set(ids)):\n", "    if False:\n"),
    (KN, "leak guard: solution / hidden overlap accepted",
     "        if a < pos:\n", "        if False:\n"),
    (K, "leak guard: stale seminar accepted",
     "    if nbformat.writes(make_seminar(solution)) != nbformat.writes(seminar):",
     "    if False:"),
    (KL, "leak guard: hidden-test lines not in the leak list",
     "def region_lines(nb, regions=REGIONS)", "def region_lines(nb, regions=REGIONS[:1])"),
    (K, "make_seminar: execution counts kept", "            cell.execution_count = None\n",
     "            pass\n"),
    (KN, "make_seminar: hidden tests kept",
     '    spans += [(a, b, "hidden") for a, b in _regions(lines, HIDDEN_BEGIN, HIDDEN_END, where)]\n',
     "    list(_regions(lines, HIDDEN_BEGIN, HIDDEN_END, where))\n"),
    (K, "generate: orphan seminars accepted",
     "        if not (root / \"solutions\" / sem.name).exists():", "        if False:"),
    (KC, "make check / make seminars: exit 0 on problems",
     "    print(f\"generated {len(list((REPO / 'solutions').glob('*.ipynb')))} seminars\")\n"
     "    return 1 if problems else 0",
     "    print(f\"generated {len(list((REPO / 'solutions').glob('*.ipynb')))} seminars\")\n"
     "    return 0"),
    (KC, "make check: problems not printed",
     '        _err(f"error: {msg}")\n    if args.cmd == "generate":',
     '        pass\n    if args.cmd == "generate":'),
    (KC, "make refresh: exit 0 when a cell fails",
     '            _err(f"error: {path} failed, nothing written:\\n{exc}")\n            return 1',
     '            _err(f"error: {path} failed, nothing written:\\n{exc}")\n            return 0'),
    (KE, "make refresh: a failed notebook written with its error",
     "    nb, _ = execute(read(path), cwd=Path(path).parent)",
     "    nb, _ = execute(read(path), cwd=Path(path).parent, allow_errors=True)"),
    (K, "forbid rules not checked by make check",
     "    problems += rule_problems(solution, str(solution_path))\n", ""),
]

MODULES = {"checks": "utils/checks.py", "data": "utils/data.py",
           "training": "utils/training.py", "generate": "coursekit/generate.py",
           "notebook": "coursekit/notebook.py", "cli": "coursekit/cli.py",
           "execute": "coursekit/execute.py", "leaks": "coursekit/leaks.py"}


def copy_tree(dest: Path, tests_from: str | None = None) -> None:
    """The checkout's tracked files (working-tree versions) in ``dest``; with
    ``tests_from``, the test files (``tests/**/test_*.py``, the conftest.py files and
    ``tests/fakes.py``) as they were at
    that git revision instead (to count survivors before tests were added)."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    for name in MODULES.values():
        shutil.copy2(REPO / name, dest / name)
    for path in (REPO / "tests").rglob("test_*.py"):
        (dest / path.relative_to(REPO)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest / path.relative_to(REPO))
    if tests_from:
        for path in [*(dest / "tests").rglob("test_*.py"), dest / "tests" / "conftest.py",
                     dest / "tests" / "fakes.py", dest / "conftest.py"]:
            name = path.relative_to(dest).as_posix()
            old = subprocess.run(["git", "show", f"{tests_from}:{name}"], cwd=REPO,
                                 capture_output=True)
            if old.returncode == 0:
                path.write_bytes(old.stdout)
            else:
                path.unlink()  # the file did not exist then


def _purge() -> None:
    """Forget the course's modules and the test modules, so the next pytest run imports
    the (mutated) code again; torch, NumPy and the rest stay imported (the speed-up)."""
    for name in list(sys.modules):
        if name in ("utils", "coursekit", "conftest", "fakes") or \
                name.startswith(("utils.", "coursekit.", "test_", "tests.")):
            del sys.modules[name]


def worker(indices: list) -> None:
    """In the copy: the baseline run, then each mutation of ``indices``, each a
    ``pytest.main`` in this one process; one JSON line per run on stdout."""
    import json

    import pytest

    out = os.fdopen(os.dup(1), "w", buffering=1)
    null = os.open(os.devnull, os.O_WRONLY)
    for i in indices:
        (path, tests), _, old, new = MUTATIONS[i] if i >= 0 else (MUTATIONS[-i - 1][0], "", "", "")
        original = Path(path).read_text()
        print(json.dumps({"start": i}), file=out)
        if i >= 0:
            if original.count(old) != 1:
                print(json.dumps({"i": i, "error": f"text found {original.count(old)} times"}),
                      file=out)
                continue
            Path(path).write_text(original.replace(old, new))
        _purge()
        t0 = time.monotonic()
        saved = os.dup(1), os.dup(2)
        os.dup2(null, 1)
        os.dup2(null, 2)
        try:
            code = pytest.main(["-x", "-q", "-p", "no:cacheprovider", *tests])
        finally:
            sys.stdout.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            Path(path).write_text(original)
        print(json.dumps({"i": i, "passed": int(code) == 0,
                          "secs": round(time.monotonic() - t0, 1)}), file=out)


def run_module(copy: Path, indices: list, timeout: float) -> dict:
    """{mutation index: (passed, seconds)} for ``indices`` (all of one module), baseline
    first (index -first-1); a worker that dies takes its current mutation with it (a
    crash kills the mutant) and a new one goes on with the rest."""
    import json

    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=str(copy))
    todo, results = [-indices[0] - 1, *indices], {}
    while todo:
        proc = subprocess.Popen([sys.executable, str(copy / "ci" / "mutate.py"),
                                 "--worker=" + ",".join(map(str, todo))], cwd=copy, env=env,
                                stdout=subprocess.PIPE, text=True)
        current, t0 = None, time.monotonic()
        for line in proc.stdout:
            msg = json.loads(line)
            if "start" in msg:
                current, t0 = msg["start"], time.monotonic()
            elif "error" in msg:
                raise SystemExit(f"error: mutation {msg['i']}: {msg['error']}")
            else:
                results[msg["i"]] = (msg["passed"], msg["secs"])
                todo.remove(msg["i"])
                current = None
                if msg["i"] >= 0:
                    (path, _), what, _, _ = MUTATIONS[msg["i"]]
                    print(f"{'SURVIVED' if msg['passed'] else 'killed  '} {msg['secs']:5.1f} s"
                          f"  {path}: {what}", flush=True)
        proc.wait(timeout=timeout)
        if current is None and proc.returncode != 0:
            raise SystemExit(f"error: the mutation worker failed (exit {proc.returncode})")
        if current is not None:  # the worker died running it
            results[current] = (False, round(time.monotonic() - t0, 1))
            todo.remove(current)
    return results


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", action="append", choices=sorted(MODULES),
                   help="only the mutations of this module (repeat)")
    p.add_argument("--match", action="append",
                   help="only mutations whose description contains this text (repeat)")
    p.add_argument("--list", action="store_true")
    p.add_argument("--timeout", type=float, default=3600,
                   help="seconds for all the mutations of one module")
    p.add_argument("--tests-from", metavar="REV",
                   help="the test files as at this git revision (a 'before' count)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker([int(i) for i in args.worker.split(",")])
        return 0
    chosen = [m for m in MUTATIONS if not args.only or
              m[0][0] in {MODULES[o] for o in args.only}]
    chosen = [m for m in chosen if not args.match or any(t in m[1] for t in args.match)]
    if args.list:
        for (path, tests), what, _, _ in chosen:
            print(f"{path}: {what}  [{' '.join(tests)}]")
        return 0
    with tempfile.TemporaryDirectory(prefix="mutate-") as tmp:
        copy = Path(tmp)
        copy_tree(copy, args.tests_from)
        where = subprocess.run([sys.executable, "-c", "import utils; print(utils.__file__)"],
                               cwd=copy, env=dict(os.environ, PYTHONPATH=str(copy)),
                               capture_output=True, text=True).stdout.strip()
        if not where.startswith(str(copy)):
            print(f"error: `import utils` in the copy loads {where}", file=sys.stderr)
            return 99
        survivors = []
        for path in dict.fromkeys(m[0][0] for m in chosen):
            indices = [MUTATIONS.index(m) for m in chosen if m[0][0] == path]
            results = run_module(copy, indices, args.timeout)
            if not results[-indices[0] - 1][0]:
                print(f"error: the tests of {path} fail without any mutation", file=sys.stderr)
                return 99
            survivors += [f"{path}: {MUTATIONS[i][1]}" for i in indices if results[i][0]]
    n = len(chosen)
    print(f"\n{n - len(survivors)} of {n} mutations killed, {len(survivors)} survived")
    for s in survivors:
        print(f"  survivor: {s}")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
