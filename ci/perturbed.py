"""nbval with the arithmetic perturbed: do the stored outputs hold on another CPU?

Another CPU (Intel instead of AMD, AVX2 instead of AVX-512, another core count) takes
other floating-point paths: torch's vector kernels, MKL's matrix products, oneDNN's
convolutions and recurrent layers, OpenBLAS's products under numpy, and the split of a
reduction between threads. A training run turns the last bit into the second decimal, so
a stored number that only holds on the machine that made it fails on the next one. This
script re-runs nbval on the lectures and solutions with those paths forced elsewhere on
*this* machine, the way another CPU would take them:

  python ci/perturbed.py                       # every perturbation, every unit, once
  python ci/perturbed.py --units 06-12 --only isa-default
  python ci/perturbed.py --runs 3              # three times in a row

Before the notebooks run, a probe (a matrix product, a long sum, tanh, softmax, a
convolution, an LSTM, numpy's products) is computed with and without each perturbation:
a perturbation that changes no result on this machine proves nothing and is reported as
such (and fails the run unless it is skipped for a stated reason). Exit status 0 when
every compared cell passed under every perturbation.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NBVAL = ["--nbval", "--nbval-current-env", "--nbval-sanitize-with", "nbval_sanitize.cfg"]

# name -> (what it stands for, environment). Every variable is read by the library at
# start-up, so each pass starts fresh kernels with it set.
PERTURBATIONS: dict[str, tuple[str, dict[str, str]]] = {
    "isa-default": (
        "a CPU without the vector units: torch's scalar kernels, MKL's compatible path, "
        "oneDNN at SSE4.1, OpenBLAS's oldest kernels",
        {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE",
         "ONEDNN_MAX_CPU_ISA": "SSE41", "OPENBLAS_CORETYPE": "Prescott"}),
    "isa-avx2": (
        "an AVX2 machine (run only where the CPU has AVX-512): torch, MKL, oneDNN and "
        "OpenBLAS at AVX2",
        {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2",
         "ONEDNN_MAX_CPU_ISA": "AVX2", "OPENBLAS_CORETYPE": "Haswell"}),
    "threads": (
        "another core count: 4 torch threads in every notebook (COURSE_THREADS, read by "
        "utils.seed), which splits reductions differently",
        {"COURSE_THREADS": "4"}),
}

PROBE = r"""
import hashlib, json, os
import numpy as np, torch
torch.manual_seed(0)
rng = np.random.default_rng(0)
torch.set_num_threads(int(os.environ.get("COURSE_THREADS", "1")))
def h(a):
    a = a.detach().numpy() if isinstance(a, torch.Tensor) else a
    return hashlib.sha1(np.ascontiguousarray(a).tobytes()).hexdigest()[:12]
x, w = torch.randn(300, 257), torch.randn(257, 129)
A, B = rng.standard_normal((300, 257)), rng.standard_normal((257, 129))
lstm = torch.nn.LSTM(10, 32, batch_first=True)
print(json.dumps({
    "torch matmul float32": h(x @ w),
    "torch matmul float64": h(x.double() @ w.double()),
    "torch sum of 1e6 numbers": h(torch.randn(1_000_003).sum()),
    "torch tanh, exp": h(torch.tanh(x) + torch.exp(x / 10)),
    "torch softmax": h(torch.softmax(x, 1)),
    "torch conv2d": h(torch.nn.functional.conv2d(torch.randn(8, 3, 16, 16), torch.randn(6, 3, 5, 5))),
    "torch LSTM": h(lstm(torch.randn(4, 20, 10))[0]),
    "numpy matmul float64": h(A @ B),
    "numpy matmul float32": h(A.astype(np.float32) @ B.astype(np.float32)),
}))
"""


def parse_units(spec: str) -> list[str]:
    """'06-12' or '01,07,12' or '7' -> ['06', ..., '12']; 'all' -> 01..12."""
    if spec.strip() == "all":
        return [f"{i:02d}" for i in range(1, 13)]
    units: list[str] = []
    for part in spec.split(","):
        part = part.strip()
        lo, _, hi = part.partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            raise ValueError(f"--units: {part!r} is not a unit number or a range such as 06-12")
        first, last = int(lo), int(hi or lo)
        if not 1 <= first <= last <= 12:
            raise ValueError(f"--units: {part!r} is outside 01-12 or reversed")
        units += [f"{i:02d}" for i in range(first, last + 1) if f"{i:02d}" not in units]
    return units


def notebooks(units: list[str], root: Path = ROOT) -> list[Path]:
    """The lectures and solutions of the units, lectures first."""
    found = [p for folder in ("notebooks", "solutions")
             for u in units for p in sorted((root / folder).glob(f"{u}_*.ipynb"))]
    return found


def has_avx512() -> bool:
    """Does torch run its AVX-512 kernels here (so that forcing AVX2 changes anything)?"""
    out = subprocess.run([sys.executable, "-c", "import torch; "
                          "print(torch.backends.cpu.get_cpu_capability())"],
                         capture_output=True, text=True)
    return out.stdout.strip().upper().startswith("AVX512")


def probe(env: dict[str, str]) -> dict[str, str]:
    """Fingerprints of a few results computed with ``env`` added to the environment."""
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         env={**os.environ, **env}, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"the probe failed under {env}:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout)


def moved(base: dict[str, str], other: dict[str, str]) -> list[str]:
    """The probe results that differ between two fingerprints."""
    return [k for k in base if base[k] != other.get(k)]


def failures(junit: Path) -> list[str]:
    """'notebook::Cell N' for every failed or errored test case of a JUnit report."""
    tree = ET.parse(junit)
    bad = []
    for case in tree.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            bad.append(f"{case.get('classname', '')}::{case.get('name', '')}")
    return bad


def run_nbval(paths: list[Path], env: dict[str, str]) -> tuple[float, list[str], int]:
    """nbval on ``paths`` with ``env`` added: (seconds, failed cells, cells run)."""
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "junit.xml"
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               f"--junitxml={junit}", *NBVAL, *map(str, paths)]
        start = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, env={**os.environ, **env}, check=False,
                       stdout=subprocess.DEVNULL if os.environ.get("PERTURBED_QUIET") else None)
        seconds = time.perf_counter() - start
        if not junit.exists():
            return seconds, ["pytest wrote no report (it could not start)"], 0
        cases = sum(1 for _ in ET.parse(junit).iter("testcase"))
        return seconds, failures(junit), cases


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--units", default="all", help="e.g. 06-12 or 01,07 (default all)")
    ap.add_argument("--only", default="", help="comma-separated perturbations "
                    f"({', '.join(PERTURBATIONS)}); default every one that applies")
    ap.add_argument("--runs", type=int, default=1, help="passes over each perturbation")
    args = ap.parse_args(argv)
    try:
        units = parse_units(args.units)
    except ValueError as err:
        ap.error(str(err))
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(PERTURBATIONS)
    unknown = [n for n in names if n not in PERTURBATIONS]
    if unknown:
        ap.error(f"unknown perturbation(s) {unknown}; known: {list(PERTURBATIONS)}")
    paths = notebooks(units)
    if not paths:
        ap.error(f"no lecture or solution notebook for units {units}")

    base = probe({})
    plan, rows, ok = [], [], True
    for name in names:
        what, env = PERTURBATIONS[name]
        if name == "isa-avx2" and not has_avx512():
            print(f"- {name}: skipped, torch runs no AVX-512 kernels on this CPU")
            continue
        changed = moved(base, probe(env))
        print(f"- {name}: {what}\n  changes on this machine: {', '.join(changed) or 'NOTHING'}")
        if not changed:
            print(f"  error: {name} changes no probed result here, so it tests nothing")
            ok = False
            continue
        plan.append((name, env))

    for run in range(1, args.runs + 1):
        for name, env in plan:
            print(f"\n== run {run}, {name}: nbval on {len(paths)} notebooks (units "
                  f"{units[0]}-{units[-1]})", flush=True)
            seconds, bad, cases = run_nbval(paths, env)
            rows.append((run, name, seconds, cases, bad))
            ok = ok and not bad

    print("\n| run | perturbation | seconds | cells | failed |\n|---:|---|---:|---:|---|")
    for run, name, seconds, cases, bad in rows:
        print(f"| {run} | {name} | {seconds:.0f} | {cases} | {', '.join(bad) or 'none'} |")
    print("\nevery compared cell held under every perturbation" if ok else
          "\nFAILED: a stored output depends on the CPU's arithmetic (see the table)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
