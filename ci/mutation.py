"""Mutation testing of the student-facing ``utils`` modules with mutmut (``make mutation``).

    python ci/mutation.py                        # fresh run of every mutant, then MUTATION.md
    python ci/mutation.py --threshold 85         # exit 1 when the score is below 85 %
    python ci/mutation.py --resume               # keep mutmut's cache (mutants/) between runs
    python ci/mutation.py --rerun-survivors      # after adding tests: only the survivors again
    python ci/mutation.py --report-only          # MUTATION.md from the last run's results
    python ci/mutation.py --survivors [checks]   # the diff of each surviving mutant

What is mutated and which tests run is configured in ``pyproject.toml`` (``[tool.mutmut]``):
the modules of ``utils`` that students call (checks, data, training, ...), against their
fast unit tests (no notebook execution, no grading). mutmut copies ``utils/``, ``tests/``
and ``conftest.py`` into ``mutants/`` and runs the tests there, each mutant in a process
forked from a fork server.

Score = killed / (all - equivalent), per module and in total, where "killed" counts a
failing test run and a time-out, and "all" includes mutants no test reaches. Mutants
judged equivalent (no test can tell them from the original) are listed with a reason in
``ci/equivalent_mutants.toml``; an entry whose mutant is no longer generated or is now
killed is reported as stale. Exit code: 0 when the score reaches the threshold and no
entry is stale, 1 otherwise, 2 when mutmut itself failed (e.g. its forced-fail run showed
that the tests do not import the mutated copy).

``ci/mutate.py`` (hand-written mutations, including the seminar builder's leak guards)
is a separate, older tool; this script does not replace its ``course`` mutations.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter, defaultdict
from pathlib import Path

from mutation_common import load_equivalent as _load_equivalent
from mutation_common import (conclude, mutant_diff, mutmut_main, nothing_killed,
                             status)

REPO = Path(__file__).resolve().parent.parent
EQUIVALENT = REPO / "ci" / "equivalent_mutants.toml"
REPORT = REPO / "MUTATION.md"

def _modules() -> list[str]:
    conf = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["mutmut"]
    return [Path(p).stem for p in conf["only_mutate"]]


def load_results() -> dict[str, dict[str, int | None]]:
    """{module: {mutant name: mutmut's exit code}} from ``mutants/utils/*.py.meta``."""
    out = {}
    for mod in _modules():
        meta = REPO / "mutants" / "utils" / f"{mod}.py.meta"
        out[mod] = json.loads(meta.read_text())["exit_code_by_key"] if meta.exists() else {}
    return out


def report(results, equivalent, threshold: float, seconds: dict, command: str) -> tuple:
    """Write MUTATION.md; return (total score, stale entries)."""
    rows, tot = [], Counter()
    survivors = defaultdict(list)
    generated = {name for codes in results.values() for name in codes}
    stale = [(n, "no longer generated") for n in equivalent if n not in generated]
    for mod, codes in results.items():
        c = Counter()
        for name, code in codes.items():
            s = status(code)
            if s == "not checked":  # an interrupted run: counted as a survivor
                c["not run"] += 1
                c["survived"] += 1
            elif name in equivalent:
                if s in ("killed", "timeout"):
                    stale.append((name, "now killed"))
                    c["killed"] += 1
                else:
                    c["equivalent"] += 1
                    c["unpinned"] += equivalent[name][0] == "unpinned"
            elif s in ("killed", "timeout"):
                c["killed"] += 1
            else:
                c["survived"] += 1
                survivors[mod].append((name, s))
            c["all"] += 1
        tot.update(c)
        denom = c["all"] - c["equivalent"]
        score = 100.0 * c["killed"] / denom if denom else 100.0
        strict = 100.0 * c["killed"] / (denom + c["unpinned"]) if denom else 100.0
        rows.append(f"| `utils/{mod}.py` | {c['all']} | {c['killed']} | {c['equivalent']} "
                    f"({c['unpinned']}) | {c['survived'] - c['not run']} | {c['not run']} | {score:.1f} % "
                    f"| {strict:.1f} % |")
    denom = tot["all"] - tot["equivalent"]
    total = 100.0 * tot["killed"] / denom if denom else 100.0
    strict = 100.0 * tot["killed"] / (denom + tot["unpinned"]) if denom else 100.0
    lines = [
        "# Mutation testing of the student-facing utils",
        "",
        f"Measured with `{command}` (mutmut, configuration in `pyproject.toml` "
        "`[tool.mutmut]`; runner `ci/mutation.py`). Each mutant is a one-token change of "
        "one function of the module; the module's fast unit tests (no notebook execution, "
        "no grading) run against it. Score = killed / (all - equivalent); a time-out counts "
        "as killed, a mutant no test reaches as survived.",
        "",
        "The equivalent column counts the surviving mutants listed in "
        "`ci/equivalent_mutants.toml`; in brackets, those of them that only change wording "
        "or drawing style (kind \"unpinned\"), which the strict score counts as survivors.",
        "",
        "| module | mutants | killed | equivalent (unpinned) | survived | not run | score | strict |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
        f"| **total** | {tot['all']} | {tot['killed']} | {tot['equivalent']} "
        f"({tot['unpinned']}) | {tot['survived'] - tot['not run']} | {tot['not run']} "
        f"| **{total:.1f} %** | {strict:.1f} % |",
        "",
        (f"**{tot['not run']} mutants were not run** (an interrupted run); they count as "
         f"survivors above. Over the {tot['all'] - tot['not run']} mutants run, the score is "
         f"{100.0 * tot['killed'] / max(1, denom - tot['not run']):.1f} %.\n\n"
         if tot["not run"] else "")
        + f"Threshold: {threshold:g} % ({'met' if total >= threshold else 'NOT met'})."
        + "".join(f" Wall time, {what}: {t / 60:.1f} min." for what, t in seconds.items()),
        "",
        "## Surviving mutants judged equivalent",
        "",
        "Kept in `ci/equivalent_mutants.toml` (mutant name and reason); `mutmut show NAME` "
        "prints the change.",
        "",
    ]
    for name, (kind, reason) in sorted(equivalent.items()):
        lines.append(f"- `{name}`" + (" (unpinned)" if kind == "unpinned" else "")
                     + f": {reason}")
    if stale:
        lines += ["", "## Stale entries of the equivalent list", ""]
        lines += [f"- `{n}`: {why}" for n, why in stale]
    lines += ["", "## Other survivors (tests to write)", ""]
    if not any(survivors.values()):
        lines.append("None.")
    for names in survivors.values():
        for name, s in sorted(names):
            lines.append(f"- `{name}` ({s})")
    REPORT.write_text("\n".join(lines) + "\n")
    return total, stale


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threshold", type=float, default=85.0, help="minimum score, in %%")
    p.add_argument("--max-children", type=int, default=2, help="mutants tested at once")
    p.add_argument("--resume", action="store_true",
                   help="keep mutants/ (mutmut re-tests only what changed)")
    p.add_argument("--report-only", action="store_true")
    p.add_argument("--rerun-survivors", action="store_true",
                   help="keep mutants/ and test again only the mutants that survived the "
                        "last run (after adding tests)")
    p.add_argument("--survivors", nargs="*", metavar="MODULE",
                   help="print the diff of each surviving, not-equivalent mutant")
    p.add_argument("--mutmut", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.mutmut is not None:
        os.chdir(REPO)
        mutmut_main(args.mutmut)
        return 0
    if args.survivors is not None:
        equivalent = _load_equivalent(EQUIVALENT)
        for mod, codes in load_results().items():
            if args.survivors and mod not in args.survivors:
                continue
            for name, code in codes.items():
                if status(code) in ("survived", "no tests") and name not in equivalent:
                    print(f"# {name} ({status(code)})\n{mutant_diff(REPO, name, f'utils/{mod}.py')}\n")
        return 0
    command = (f"python ci/mutation.py --threshold {args.threshold:g} "
               f"--max-children {args.max_children}")
    if not args.report_only:
        names = []
        if args.rerun_survivors:
            names = [name for codes in load_results().values() for name, code in codes.items()
                     if status(code) in ("survived", "no tests")]
        elif not args.resume:
            shutil.rmtree(REPO / "mutants", ignore_errors=True)
        t0 = time.monotonic()
        # one thread per test process: with `max_children` processes (and other work) on a
        # few cores, torch's default of one thread per core made small LSTM trainings 20x
        # slower (threads waiting for each other), and mutmut's time-outs with them
        env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
        done = subprocess.run([sys.executable, __file__, "--mutmut", "run",
                               "--max-children", str(args.max_children), *names], cwd=REPO,
                              env=env)
        seconds = time.monotonic() - t0
        timing = REPO / "mutants" / "wall_times.json"
        times = json.loads(timing.read_text()) if timing.exists() else {}
        times["rerun of survivors" if args.rerun_survivors else "full run"] = seconds
        if not args.rerun_survivors and not args.resume:
            times.pop("rerun of survivors", None)
        timing.write_text(json.dumps(times))
        if done.returncode != 0:
            print(f"error: mutmut run failed (exit {done.returncode})", file=sys.stderr)
            return 2
    timing = REPO / "mutants" / "wall_times.json"
    seconds = json.loads(timing.read_text()) if timing.exists() else {}
    results = load_results()
    if nothing_killed(results, "utils"):
        return 2
    total, stale = report(results, _load_equivalent(EQUIVALENT), args.threshold, seconds, command)
    return conclude(total, stale, args.threshold, REPORT, EQUIVALENT)


if __name__ == "__main__":
    sys.exit(main())
