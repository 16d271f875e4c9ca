"""Headless execution of notebooks: ``make course`` (a table of time, peak memory and
headline metric), the notebook section of ``make bench`` (BENCHMARKS.md; the command line
adds the grading section, ``coursekit.simulate.bench_section``: this module never imports
the grader) and ``make refresh`` (store outputs)."""
from __future__ import annotations

import copy
import json
import platform
import subprocess
import time
from pathlib import Path

from .notebook import BUDGET_MB, BUDGET_SECONDS, REPO, course_notebooks, read, write

# ----------------------------------------------------------------------------- execution
_MEASURE = """
import json as _j, resource as _r, sys as _s
_u = _r.getrusage(_r.RUSAGE_SELF)
_kb = _u.ru_maxrss / (1024 if _s.platform == 'darwin' else 1)
print('__COURSE__' + _j.dumps({'peak_mb': _kb / 1024, 'cpu_s': _u.ru_utime + _u.ru_stime,
                               'headline': %s}))
"""


def execute(nb, cwd, timeout: int = 600, allow_errors: bool = False, measure: bool = False):
    """Run ``nb`` in a fresh kernel of this Python environment with working directory
    ``cwd``. Returns the executed notebook and, with ``measure``, a dict with the kernel's
    peak RSS in MB and the value of the notebook's headline expression."""
    from jupyter_client import KernelManager
    from nbclient import NotebookClient
    from nbval.kernel import CURRENT_ENV_KERNEL_NAME, NbvalKernelspecManager

    nb = copy.deepcopy(nb)
    info = {}
    if measure:
        import nbformat

        head = nb.metadata.get("course", {}).get("headline", {}).get("expr")
        nb.cells.append(nbformat.v4.new_code_cell(_MEASURE % (head or "None")))
    km = KernelManager(kernel_name=CURRENT_ENV_KERNEL_NAME,
                       kernel_spec_manager=NbvalKernelspecManager())
    client = NotebookClient(nb, km=km, timeout=timeout, allow_errors=allow_errors,
                            startup_timeout=180, resources={"metadata": {"path": str(cwd)}})
    try:  # the kernel's own stderr is start-up chatter; cell output comes over iopub
        client.execute(stderr=subprocess.DEVNULL)
    finally:  # a kernel manager we pass in is ours to stop: nbclient leaves it running
        if km.has_kernel:
            km.shutdown_kernel(now=True)
    if measure:
        cell = nb.cells.pop()
        text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        info = json.loads(text.split("__COURSE__", 1)[1])
    return nb, info


def error_cells(nb) -> list:
    """Code cells whose outputs hold an error."""
    return [c for c in nb.cells if c.cell_type == "code"
            and any(o.output_type == "error" for o in c.get("outputs", []))]


def run(paths, out_dir: Path | None = None, echo=print) -> list[dict]:
    """Execute notebooks headless (into ``out_dir`` if given, never over the stored ones)
    and return one row per notebook: name, seconds, peak MB, headline, ok."""
    rows = []
    for path in map(Path, paths):
        t0 = time.perf_counter()
        row = {"notebook": f"{path.parent.name}/{path.name}", "ok": True, "error": ""}
        try:
            executed, info = execute(read(path), cwd=path.parent, measure=True)
            head = read(path).metadata.get("course", {}).get("headline", {})
            row.update(peak_mb=info["peak_mb"], cpu_s=info.get("cpu_s", float("nan")),
                       headline=f"{head.get('label', '')} {info['headline']}".strip()
                       if head else "")
            if out_dir is not None:
                write(executed, Path(out_dir) / path.parent.name / path.name)
        except Exception as exc:  # report and go on: one broken notebook hides no other
            row.update(ok=False, peak_mb=float("nan"), cpu_s=float("nan"), headline="",
                       error=f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1][:200]}")
        row["seconds"] = time.perf_counter() - t0
        echo(_format_row(row))
        rows.append(row)
    return rows


def _format_row(r) -> str:
    over = r["ok"] and (r["seconds"] > BUDGET_SECONDS or r["peak_mb"] > BUDGET_MB)
    status = "FAILED: " + r["error"] if not r["ok"] else ("OVER BUDGET" if over else "ok")
    cells = [r["notebook"], f"{r['seconds']:.1f}", f"{r.get('cpu_s', float('nan')):.1f}",
             f"{r['peak_mb']:.0f}", r["headline"], status]
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


TABLE_HEAD = ("| notebook | time, s | kernel CPU, s | peak RSS, MB | headline metric | status |\n"
              "|---|---:|---:|---:|---|---|")


def _load() -> str:
    """The 1-minute load average (a busy machine stretches the wall times), or "?"."""
    try:
        import os

        return f"{os.getloadavg()[0]:.1f}"
    except (OSError, AttributeError):
        return "?"


def machine() -> str:
    import os

    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        mem = f", {mem:.0f} GB RAM"
    except (ValueError, OSError, AttributeError):
        mem = ""
    gpu = "CUDA GPU" if torch.cuda.is_available() else "no GPU"
    return (f"{cpu}, {os.cpu_count()} logical CPUs{mem}, {gpu}; {platform.system()} "
            f"{platform.machine()}; Python {platform.python_version()}, torch "
            f"{torch.__version__}, {torch.get_num_threads()} torch threads")


def bench(rows=None) -> tuple[list[dict], str]:
    """Run every notebook (unless ``rows`` are given) and return the rows and the
    notebook section of BENCHMARKS.md (its title, the machine, the table, the total)."""
    print(TABLE_HEAD)
    load_before = _load()
    rows = rows if rows is not None else run(course_notebooks(), out_dir=REPO / "build")
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m coursekit bench`): every lecture notebook and",
        "solution executed headless in a fresh kernel, wall time including kernel start,",
        "the kernel's CPU time (user + system, all its threads: less sensitive than the wall",
        "time to other work on the machine), peak resident memory of the kernel process, and",
        "the notebook's headline metric.",
        f"Budget per notebook: {BUDGET_SECONDS} s and {BUDGET_MB / 1024:.1f} GB on a 2-core CPU.",
        "",
        f"Machine: {machine()}.",
        f"Run: {time.strftime('%Y-%m-%d')}; load average (1 min) {load_before} before the "
        f"notebooks, {_load()} after.",
        "",
        TABLE_HEAD,
        *[_format_row(r) for r in rows],
        "",
        f"Total: {sum(r['seconds'] for r in rows):.0f} s for {len(rows)} notebooks.",
        "",
    ]
    return rows, "\n".join(lines)


def refresh(path: Path) -> float:
    """Re-execute a stored notebook and write its outputs back (widget state dropped: stale
    progress bars, CDN scripts). Raises nbclient's CellExecutionError when a cell fails,
    and the stored notebook is then left untouched. Returns the seconds it took."""
    t0 = time.perf_counter()
    nb, _ = execute(read(path), cwd=Path(path).parent)
    nb.metadata.pop("widgets", None)
    write(nb, path)
    return time.perf_counter() - t0
