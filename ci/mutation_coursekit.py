"""Mutation testing of the instructor tooling (``coursekit``) against its fast tests.

    python ci/mutation_coursekit.py                      # fresh run of every mutant, then the report
    python ci/mutation_coursekit.py --threshold 80       # exit 1 when the score is below 80 %
    python ci/mutation_coursekit.py --resume             # keep mutmut's cache between runs
    python ci/mutation_coursekit.py --report-only        # the report from the last run's results
    python ci/mutation_coursekit.py --survivors [generate]  # the diff of each surviving mutant

The configuration is ``ci/mutmut_coursekit.toml`` (a ``[tool.mutmut]`` table: mutate
``coursekit/``, run the tooling's tests with ``-m "not slow"``). mutmut reads its
configuration from ``pyproject.toml`` in the folder it runs in, so this script copies the
checkout (the files git tracks or would track) into a scratch folder outside it (default
``coursekit-mutation`` in the system's temporary folder; ``--scratch DIR``), puts that table in the copy's
``pyproject.toml`` in place of the checkout's own ``[tool.mutmut]`` (the utils one) and
runs ``mutmut run`` there. Nothing of the checkout is modified but the report,
``MUTATION_COURSEKIT.md``.

Score = killed / (all - equivalent), per module and in total; a time-out counts as
killed, a mutant no fast test reaches as survived. Mutants judged equivalent (no test can
tell them from the original) are listed with a reason in
``ci/equivalent_mutants_coursekit.toml``; an entry whose mutant is no longer generated
or is now killed is reported as stale. Exit code: 0 when the score reaches the threshold
and no entry is stale, 1 otherwise, 2 when mutmut itself failed.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

from mutation_common import load_equivalent as _load_equivalent
from mutation_common import (conclude, mutant_diff, mutmut_main, nothing_killed,
                             status)

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "ci" / "mutmut_coursekit.toml"
EQUIVALENT = REPO / "ci" / "equivalent_mutants_coursekit.toml"
REPORT = REPO / "MUTATION_COURSEKIT.md"
SCRATCH = Path(tempfile.gettempdir()) / "coursekit-mutation"

def pyproject_with_config(text: str, table: str) -> str:
    """``text`` (a pyproject.toml) without its ``[tool.mutmut]`` table, plus ``table``."""
    kept, skipping = [], False
    for line in text.splitlines():
        header = re.match(r"\s*\[\[?([^\]]+)\]", line)
        if header:
            skipping = header.group(1).strip() == "tool.mutmut"
        if not skipping:
            kept.append(line)
    return "\n".join(kept).rstrip() + "\n\n" + table.strip() + "\n"


def prepare(scratch: Path, fresh: bool) -> None:
    """Copy the checkout's files into ``scratch`` (keeping mtimes: mutmut re-tests only
    what changed) and install the coursekit configuration in the copy's pyproject.toml."""
    if fresh:
        shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True, exist_ok=True)
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout
    for rel in filter(None, listed.split("\0")):
        src = REPO / rel
        if not src.is_file():
            continue
        dst = scratch / rel
        if dst.exists() and dst.stat().st_mtime == src.stat().st_mtime:
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
    (scratch / "pyproject.toml").write_text(pyproject_with_config(
        (REPO / "pyproject.toml").read_text(), CONFIG.read_text()))


def load_results(scratch: Path) -> dict[str, dict[str, int | None]]:
    """{module path: {mutant name: mutmut's exit code}} from ``mutants/coursekit/**/*.meta``."""
    out = {}
    for meta in sorted((scratch / "mutants" / "coursekit").rglob("*.py.meta")):
        rel = meta.relative_to(scratch / "mutants").as_posix()[:-len(".meta")]
        out[rel] = json.loads(meta.read_text())["exit_code_by_key"]
    return out


def report(results, equivalent, threshold: float, seconds: float | None, command: str) -> tuple:
    """Write the report; return (total score, stale entries)."""
    rows, tot = [], Counter()
    survivors = defaultdict(list)
    generated = {name for codes in results.values() for name in codes}
    stale = [(n, "no longer generated") for n in equivalent if n not in generated]
    for path, codes in results.items():
        c = Counter()
        for name, code in codes.items():
            s = status(code)
            if name in equivalent:
                if s in ("killed", "timeout"):
                    stale.append((name, "now killed"))
                    c["killed"] += 1
                else:
                    c["equivalent"] += 1
            elif s in ("killed", "timeout"):
                c["killed"] += 1
            else:
                c["survived"] += 1
                survivors[path].append((name, s))
            c["all"] += 1
        if not c["all"]:
            continue
        tot.update(c)
        denom = c["all"] - c["equivalent"]
        score = 100.0 * c["killed"] / denom if denom else 100.0
        rows.append(f"| `{path}` | {c['all']} | {c['killed']} | {c['equivalent']} | "
                    f"{c['survived']} | {score:.1f} % |")
    denom = tot["all"] - tot["equivalent"]
    total = 100.0 * tot["killed"] / denom if denom else 100.0
    lines = [
        "# Mutation testing of the instructor tooling (coursekit)",
        "",
        f"Measured with `{command}` (mutmut, configuration `ci/mutmut_coursekit.toml`). "
        "Each mutant is a one-token change of one function of `coursekit`; the tooling's "
        "fast tests (`-m \"not slow\"`: no kernel, no grading of a real notebook) run "
        "against it. Score = killed / (all - equivalent); a time-out counts as killed, a "
        "mutant no fast test reaches as survived.",
        "",
        "| module | mutants | killed | equivalent | survived | score |",
        "|---|---:|---:|---:|---:|---:|",
        *rows,
        f"| **total** | {tot['all']} | {tot['killed']} | {tot['equivalent']} | "
        f"{tot['survived']} | **{total:.1f} %** |",
        "",
        f"Threshold: {threshold:g} % ({'met' if total >= threshold else 'NOT met'})."
        + (f" Wall time of the run: {seconds / 60:.1f} min." if seconds else ""),
        "",
        "## Surviving mutants judged equivalent",
        "",
        "Kept in `ci/equivalent_mutants_coursekit.toml` (mutant name and reason); "
        "`python ci/mutation_coursekit.py --survivors` prints the change of the others.",
        "",
    ]
    for name, reason in sorted(equivalent.items()):
        lines.append(f"- `{name}`: {reason}")
    if stale:
        lines += ["", "## Stale entries of the equivalent list", ""]
        lines += [f"- `{n}`: {why}" for n, why in stale]
    lines += ["", "## Other survivors", ""]
    if not any(survivors.values()):
        lines.append("None.")
    for path, names in survivors.items():
        lines.append(f"- `{path}`: {len(names)}: "
                     + ", ".join(f"`{n.rsplit('.', 1)[-1]}`" + ("" if s == "survived" else f" ({s})")
                                 for n, s in sorted(names)))
    REPORT.write_text("\n".join(lines) + "\n")
    return total, stale


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threshold", type=float, default=80.0, help="minimum score, in %%")
    p.add_argument("--max-children", type=int, default=2, help="mutants tested at once")
    p.add_argument("--scratch", type=Path, default=SCRATCH,
                   help="the folder mutmut runs in (a copy of the checkout)")
    p.add_argument("--resume", action="store_true",
                   help="keep the scratch copy's mutants/ (mutmut re-tests only what changed)")
    p.add_argument("--rerun", action="store_true",
                   help="re-test only the mutants the last run did not kill (after new tests)")
    p.add_argument("--sample", type=int, default=0, metavar="N",
                   help="re-test N mutants drawn at random (seeded) from a generated run and "
                        "report the score of that sample (when the whole run takes too long)")
    p.add_argument("--seed", type=int, default=0, help="seed of --sample")
    p.add_argument("--report-only", action="store_true")
    p.add_argument("--survivors", nargs="*", metavar="MODULE",
                   help="print the diff of each surviving, not-equivalent mutant")
    p.add_argument("--mutmut", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    scratch = args.scratch.resolve()
    if args.mutmut is not None:
        os.chdir(scratch)
        mutmut_main(args.mutmut)
        return 0
    if args.survivors is not None:
        equivalent = {n: why for n, (_, why) in _load_equivalent(EQUIVALENT).items()}
        for path, codes in load_results(scratch).items():
            if args.survivors and Path(path).stem not in args.survivors:
                continue
            for name, code in codes.items():
                if status(code) in ("survived", "no tests") and name not in equivalent:
                    print(f"# {name} ({status(code)})\n{mutant_diff(scratch, name, path)}\n")
        return 0
    seconds = None
    command = f"python ci/mutation_coursekit.py --threshold {args.threshold:g}"
    if not args.report_only:
        names = []
        if args.rerun:  # tests only grow: what was killed stays killed
            equivalent = {n: why for n, (_, why) in _load_equivalent(EQUIVALENT).items()}
            names = [n for codes in load_results(scratch).values() for n, c in codes.items()
                     if status(c) not in ("killed", "timeout") and n not in equivalent]
            command += " --rerun (after a full run)"
        if args.sample and args.rerun:  # the sample's mutants that were not killed
            chosen = set(json.loads((scratch / "sample.json").read_text()))
            names = [n for n in names if n in chosen]
        elif args.sample:
            import random
            every = sorted(n for codes in load_results(scratch).values() for n in codes)
            names = sorted(random.Random(args.seed).sample(every, min(args.sample, len(every))))
            (scratch / "sample.json").write_text(json.dumps(names))
        prepare(scratch, fresh=not (args.resume or args.rerun or args.sample))
        t0 = time.monotonic()
        done = subprocess.run([sys.executable, str(Path(__file__).resolve()),
                               "--scratch", str(scratch), "--mutmut", "run",
                               "--max-children", str(args.max_children), *names], cwd=scratch)
        seconds = time.monotonic() - t0
        if done.returncode != 0:
            print(f"error: mutmut run failed (exit {done.returncode})", file=sys.stderr)
            return 2
    results, equivalent = load_results(scratch), {n: why for n, (_, why) in _load_equivalent(EQUIVALENT).items()}
    if args.sample:  # the score of the sample drawn by the last --sample run
        chosen = set(json.loads((scratch / "sample.json").read_text()))
        results = {path: {n: c for n, c in codes.items() if n in chosen}
                   for path, codes in results.items()}
        equivalent = {n: why for n, why in equivalent.items() if n in chosen}
        command = command.split(" --threshold")[0] + \
            f" --sample {args.sample} --seed {args.seed} --threshold {args.threshold:g}"
    if nothing_killed(results, "coursekit"):
        return 2
    total, stale = report(results, equivalent, args.threshold, seconds, command)
    return conclude(total, stale, args.threshold, REPORT, EQUIVALENT)


if __name__ == "__main__":
    sys.exit(main())
