"""What the two mutation runners share (``ci/mutation.py`` for ``utils``,
``ci/mutation_coursekit.py`` for ``coursekit``): mutmut's exit codes, its command line
run with the mutated copy importable, a mutant's diff, and the equivalent-mutant lists."""
from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path

KILLED = {1: "killed", 3: "killed", 36: "timeout", 24: "timeout", -24: "timeout",
          152: "timeout", 255: "timeout"}
SURVIVED = {0: "survived", 5: "no tests", 33: "no tests", None: "not checked"}


def status(code) -> str:
    """What mutmut's exit code for a mutant means."""
    return KILLED.get(code) or SURVIVED.get(code) or f"suspicious (exit {code})"


def mutmut_main(args: list[str]) -> None:
    """Run mutmut's command line in this process, with the package resolving to
    ``mutants/<package>``: an editable install's import hook (``__editable__`` finder on
    ``sys.meta_path``) would otherwise load the checkout's unmutated code in every test,
    and every mutant would survive. mutmut forks its workers from this process."""
    sys.meta_path[:] = [f for f in sys.meta_path
                        if "__editable__" not in getattr(f, "__module__", "")
                        and "__editable__" not in getattr(f, "__name__", "")]
    from mutmut.__main__ import cli

    sys.argv = ["mutmut", *args]
    cli()


def load_equivalent(path: Path) -> dict[str, tuple[str, str]]:
    """{mutant name: (kind, reason)} from a ``[mutant."name"]`` TOML list; kind
    "equivalent" (cannot change any result) or "unpinned" (changes only wording or drawing
    style that no test should pin)."""
    data = tomllib.loads(path.read_text()) if path.exists() else {}
    return {name: (entry.get("kind", "equivalent"), entry["reason"])
            for name, entry in data.get("mutant", {}).items()}


def mutant_diff(folder: Path, name: str, path: str) -> str:
    """mutmut's diff of one mutant of ``path`` (the original and mutated lines), read from
    the ``mutants/`` of ``folder``."""
    os.chdir(folder)
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    return "\n".join(line for line in get_diff_for_mutant(name, path=path).splitlines()
                     if line.startswith(("+", "-")) and not line.startswith(("+++", "---")))


def nothing_killed(results: dict, package: str) -> bool:
    """True (and says so) when no mutant of ``results`` ({module: {name: exit code}}) was
    killed: then the tests did not import ``mutants/<package>``."""
    if any(status(c) == "killed" for codes in results.values() for c in codes.values()):
        return False
    print(f"error: no mutant was killed: do the tests import mutants/{package}?",
          file=sys.stderr)
    return True


def conclude(total: float, stale: list, threshold: float, report: Path,
             equivalent: Path) -> int:
    """Print the report and what fails the run; the exit code: 0 when the score reaches
    the threshold and no equivalent entry is stale, else 1."""
    print(report.read_text())
    for name, why in stale:
        print(f"error: stale entry in {equivalent.parent.name}/{equivalent.name}: {name} "
              f"({why})", file=sys.stderr)
    if total < threshold:
        print(f"error: mutation score {total:.1f} % < {threshold:g} %", file=sys.stderr)
        return 1
    return 1 if stale else 0
