"""Running the notebooks headless (coursekit/execute.py): errors recorded and the run
measured; `make refresh` leaves the stored notebook untouched when a cell fails. The fast
tests replace the notebook run: the rows and the table of BENCHMARKS.md, the machine, the
stored outputs."""
import json
import os
import platform
import subprocess
import time
import types

import nbformat
import pytest
from fakes import files
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from coursekit import cli, execute, notebook


@pytest.mark.slow
def test_execute_records_errors_and_measures(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 21 * 2"),
                nbformat.v4.new_code_cell("raise ValueError('boom')"),
                nbformat.v4.new_code_cell("print(x)")]
    nb.metadata["course"] = {"headline": {"label": "x", "expr": "x"}}
    done, info = execute.execute(nb, cwd=tmp_path, allow_errors=True, measure=True)
    assert execute.error_cells(done) == [done.cells[1]]
    assert done.cells[2].outputs[0].text == "42\n"
    assert info["headline"] == 42 and info["peak_mb"] > 10 and 0 < info["cpu_s"] < 600
    assert len(done.cells) == 3  # the measuring cell is not left behind


@pytest.mark.slow
def test_make_refresh_leaves_the_stored_notebook_untouched_when_a_cell_fails(tmp_path, capsys):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("1 / 0")]
    path = tmp_path / "broken.ipynb"
    notebook.write(nb, path)
    before = path.read_bytes()
    assert cli.main(["refresh", str(path)]) == 1
    assert path.read_bytes() == before
    assert "failed, nothing written" in capsys.readouterr().err


def test_error_cells():
    ok, bad = new_code_cell("a"), new_code_cell("b")
    bad.outputs = [nbformat.v4.new_output("stream", text="x"),
                   nbformat.v4.new_output("error", ename="E", evalue="v", traceback=[])]
    md = new_markdown_cell("c")
    assert execute.error_cells(new_notebook(cells=[ok, bad, md])) == [bad]


@pytest.mark.parametrize("row, line", [
    ({"notebook": "n/a.ipynb", "ok": True, "seconds": 12.34, "peak_mb": 800.4, "cpu_s": 20.26,
      "headline": "acc 0.9", "error": ""}, "| n/a.ipynb | 12.3 | 20.3 | 800 | acc 0.9 | ok |"),
    ({"notebook": "n/a.ipynb", "ok": True, "seconds": 60.0, "peak_mb": 1536,
      "headline": "", "error": ""}, "| n/a.ipynb | 60.0 | nan | 1536 |  | ok |"),
    ({"notebook": "n/a.ipynb", "ok": True, "seconds": 60.01, "peak_mb": 10,
      "headline": "", "error": ""}, "| n/a.ipynb | 60.0 | nan | 10 |  | OVER BUDGET |"),
    ({"notebook": "n/a.ipynb", "ok": True, "seconds": 1, "peak_mb": 1537,
      "headline": "a|b", "error": ""}, "| n/a.ipynb | 1.0 | nan | 1537 | a\\|b | OVER BUDGET |"),
    ({"notebook": "n/b.ipynb", "ok": False, "seconds": 99, "peak_mb": float("nan"),
      "headline": "", "error": "ValueError: x|y"},
     "| n/b.ipynb | 99.0 | nan | nan |  | FAILED: ValueError: x\\|y |"),
])
def test_format_row(row, line):
    assert execute._format_row(row) == line


def test_run_measures_writes_elsewhere_and_goes_on_after_a_failure(tmp_path, monkeypatch):
    good = new_notebook(cells=[new_code_cell("x = 1")])
    good.metadata["course"] = {"headline": {"label": "test acc", "expr": "x"}}
    notebook.write(good, tmp_path / "notebooks" / "01_a.ipynb")
    notebook.write(new_notebook(cells=[new_code_cell("y")]), tmp_path / "notebooks" / "02_b.ipynb")
    notebook.write(new_notebook(cells=[new_code_cell("raise")]), tmp_path / "solutions" / "03_c.ipynb")
    calls = []

    def fake_execute(nb, cwd, timeout=600, allow_errors=False, measure=False):
        calls.append((nb.cells[0].source, cwd, measure))
        if nb.cells[0].source == "raise":
            raise RuntimeError("first line\nsecond line\n  " + "z" * 300)
        done = nbformat.from_dict(nb)
        done.cells[0].outputs = [nbformat.v4.new_output("stream", text="ran\n")]
        return done, {"peak_mb": 812.7, "cpu_s": 3.25, "headline": 0.913}
    monkeypatch.setattr(execute, "execute", fake_execute)
    said = []
    paths = [tmp_path / "notebooks" / "01_a.ipynb", tmp_path / "notebooks" / "02_b.ipynb",
             tmp_path / "solutions" / "03_c.ipynb"]
    before = {p: p.read_bytes() for p in paths}
    t0 = time.perf_counter()
    rows = execute.run(paths, out_dir=tmp_path / "build", echo=said.append)
    elapsed = time.perf_counter() - t0
    assert calls == [("x = 1", tmp_path / "notebooks", True), ("y", tmp_path / "notebooks", True),
                     ("raise", tmp_path / "solutions", True)]
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in rows[:2]] == [
        {"notebook": "notebooks/01_a.ipynb", "ok": True, "error": "", "peak_mb": 812.7,
         "cpu_s": 3.25, "headline": "test acc 0.913"},
        {"notebook": "notebooks/02_b.ipynb", "ok": True, "error": "", "peak_mb": 812.7,
         "cpu_s": 3.25, "headline": ""}]
    assert rows[2]["ok"] is False and rows[2]["headline"] == "" and rows[2]["peak_mb"] != 0
    assert rows[2]["error"] == "RuntimeError: " + ("  " + "z" * 300)[:200]  # its last line
    assert all(0 <= r["seconds"] <= elapsed for r in rows)
    assert said == [execute._format_row(r) for r in rows]
    assert {p: p.read_bytes() for p in paths} == before  # the stored notebooks untouched
    assert files(tmp_path / "build") == ["notebooks/01_a.ipynb", "notebooks/02_b.ipynb"]
    assert notebook.read(tmp_path / "build" / "notebooks" / "01_a.ipynb").cells[0].outputs[0].text \
        == "ran\n"
    rows = execute.run(paths[:1], echo=said.append)
    assert rows[0]["ok"] and files(tmp_path / "build") == ["notebooks/01_a.ipynb",
                                                           "notebooks/02_b.ipynb"]


def test_headline_without_a_label_and_bench_runs_the_course(tmp_path, monkeypatch, capsys):
    nb = new_notebook(cells=[new_code_cell("x = 1")])
    nb.metadata["course"] = {"headline": {"expr": "x"}}
    notebook.write(nb, tmp_path / "01_a.ipynb")
    monkeypatch.setattr(execute, "execute", lambda nb, cwd, **kw: (nb, {"peak_mb": 1.0,
                                                                         "headline": 7}))
    assert execute.run([tmp_path / "01_a.ipynb"], echo=lambda s: None)[0]["headline"] == "7"
    seen = []
    monkeypatch.setattr(execute, "run", lambda paths, out_dir=None: seen.append(
        (list(paths), out_dir)) or [])
    monkeypatch.setattr(execute, "machine", lambda: "m")
    assert execute.bench()[0] == []
    assert seen == [(notebook.course_notebooks(), notebook.REPO / "build")]


def test_machine_without_cpuinfo_or_memory_size(monkeypatch):

    monkeypatch.setitem(__import__("sys").modules, "torch", types.SimpleNamespace(
        __version__="1", get_num_threads=lambda: 1,
        cuda=types.SimpleNamespace(is_available=lambda: False)))

    class NoFile:
        def __init__(self, path):
            assert path == "/proc/cpuinfo"

        def read_text(self):
            raise OSError("no such file")
    monkeypatch.setattr(execute, "Path", NoFile)
    monkeypatch.setattr(platform, "processor", lambda: "")
    monkeypatch.setattr(platform, "machine", lambda: "armv9")

    def no_sysconf(name):
        raise ValueError(name)
    monkeypatch.setattr(os, "sysconf", no_sysconf)
    assert execute.machine().startswith(f"armv9, {os.cpu_count()} logical CPUs, no GPU; ")

    class Info(NoFile):
        def read_text(self):
            return "processor : 0\nmodel name\t: Vendor CPU: 8 cores @ 2.0GHz \nmodel name : second\n"
    monkeypatch.setattr(execute, "Path", Info)
    monkeypatch.setattr(platform, "processor", lambda: "x86_64")
    assert execute.machine().startswith("Vendor CPU: 8 cores @ 2.0GHz, ")


def test_bench_writes_the_table(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(execute, "machine", lambda: "a test machine")
    loads = iter(["0.4", "1.7"])
    monkeypatch.setattr(execute, "_load", lambda: next(loads))
    rows = [{"notebook": "n/a.ipynb", "ok": True, "seconds": 10.4, "peak_mb": 700, "cpu_s": 15.04,
             "headline": "", "error": ""},
            {"notebook": "n/b.ipynb", "ok": True, "seconds": 20.3, "peak_mb": 900,
             "headline": "acc 1", "error": ""}]
    got, text = execute.bench(rows)
    assert got is rows
    assert capsys.readouterr().out == execute.TABLE_HEAD + "\n"
    assert text == "\n".join([
        "# Benchmarks", "",
        "Written by `make bench` (`python -m coursekit bench`): every lecture notebook and",
        "solution executed headless in a fresh kernel, wall time including kernel start,",
        "the kernel's CPU time (user + system, all its threads: less sensitive than the wall",
        "time to other work on the machine), peak resident memory of the kernel process, and",
        "the notebook's headline metric.",
        "Budget per notebook: 60 s and 1.5 GB on a 2-core CPU.", "",
        "Machine: a test machine.",
        f"Run: {time.strftime('%Y-%m-%d')}; load average (1 min) 0.4 before the notebooks, 1.7 after.",
        "", execute.TABLE_HEAD, "| n/a.ipynb | 10.4 | 15.0 | 700 |  | ok |",
        "| n/b.ipynb | 20.3 | nan | 900 | acc 1 | ok |", "",
        "Total: 31 s for 2 notebooks.", ""])


def test_machine_names_the_cpu_python_and_torch(monkeypatch):

    fake = types.SimpleNamespace(__version__="9.9.9", get_num_threads=lambda: 3,
                                 cuda=types.SimpleNamespace(is_available=lambda: False))
    monkeypatch.setitem(__import__("sys").modules, "torch", fake)
    cpu = platform.processor() or platform.machine()
    for line in open("/proc/cpuinfo").read().splitlines() if os.path.exists("/proc/cpuinfo") else []:
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    assert execute.machine() == (
        f"{cpu}, {os.cpu_count()} logical CPUs, {mem:.0f} GB RAM, no GPU; {platform.system()} "
        f"{platform.machine()}; Python {platform.python_version()}, torch 9.9.9, 3 torch threads")
    fake.cuda.is_available = lambda: True
    assert ", CUDA GPU; " in execute.machine()


def test_refresh_stores_outputs_and_drops_widgets_but_never_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "n.ipynb"
    nb = new_notebook(cells=[new_code_cell("x = 1")])
    notebook.write(nb, path)

    def fake_execute(nb, cwd, timeout=600, allow_errors=False, measure=False):
        assert cwd == tmp_path and not measure
        done = nbformat.from_dict(nb)
        done.metadata["widgets"] = {"state": 1}
        done.cells[0].execution_count = 1
        return done, {}
    monkeypatch.setattr(execute, "execute", fake_execute)
    t0 = time.perf_counter()
    assert 0 <= execute.refresh(path) <= time.perf_counter() - t0
    stored = notebook.read(path)
    assert stored.cells[0].execution_count == 1 and "widgets" not in stored.metadata
    monkeypatch.setattr(execute, "execute", lambda nb, cwd, **kw: (nb, {}))  # no widgets
    execute.refresh(path)
    assert "widgets" not in notebook.read(path).metadata
    before = path.read_bytes()

    def failing(nb, cwd, **kw):
        raise RuntimeError("a cell failed")
    monkeypatch.setattr(execute, "execute", failing)
    with pytest.raises(RuntimeError):
        execute.refresh(path)
    assert path.read_bytes() == before


class FakeNotebookClient:
    """nbclient's client: 'runs' the notebook by giving the measuring cell its output."""
    made = []

    def __init__(self, nb, km, timeout, allow_errors, startup_timeout, resources):
        self.nb, self.km = nb, km
        self.args = (timeout, allow_errors, startup_timeout, resources)
        FakeNotebookClient.made.append(self)

    def execute(self, stderr=None):
        self.stderr = stderr
        self.km.has_kernel = True
        last = self.nb.cells[-1]
        if "__COURSE__" in last.source:
            head = last.source.split("'headline': ")[1].split("}))")[0]
            last.outputs = [nbformat.v4.new_output("stream", text="noise\n"),
                            nbformat.v4.new_output("stream", text="__COURSE__" + json.dumps(
                                {"peak_mb": 321.5, "headline": head}))]
        if "raise" in self.nb.cells[0].source:
            raise RuntimeError("cell failed")


class FakeManager:
    def __init__(self, kernel_name, kernel_spec_manager):
        self.kernel_name, self.has_kernel, self.stopped = kernel_name, False, []

    def shutdown_kernel(self, now):
        self.stopped.append(now)


def test_execute_measures_with_an_extra_cell_and_stops_its_kernel(monkeypatch, tmp_path):
    import jupyter_client
    import nbclient
    from nbval.kernel import CURRENT_ENV_KERNEL_NAME

    monkeypatch.setattr(jupyter_client, "KernelManager", FakeManager)
    monkeypatch.setattr(nbclient, "NotebookClient", FakeNotebookClient)
    FakeNotebookClient.made = []
    nb = new_notebook(cells=[new_code_cell("acc = 0.5")])
    nb.metadata["course"] = {"headline": {"label": "acc", "expr": "round(acc, 3)"}}
    done, info = execute.execute(nb, tmp_path, measure=True)
    client = FakeNotebookClient.made[0]
    assert client.args == (600, False, 180, {"metadata": {"path": str(tmp_path)}})
    assert client.stderr == subprocess.DEVNULL
    assert client.km.kernel_name == CURRENT_ENV_KERNEL_NAME and client.km.stopped == [True]
    assert info == {"peak_mb": 321.5, "headline": "round(acc, 3)"}
    assert [c.source for c in done.cells] == ["acc = 0.5"]  # the measuring cell removed
    assert len(nb.cells) == 1 and client.nb is not nb  # the caller's notebook untouched
    measured = execute._MEASURE % "round(acc, 3)"
    assert "_j.dumps({'peak_mb': _kb / 1024, 'cpu_s': _u.ru_utime + _u.ru_stime,\n" in measured
    assert "'headline': round(acc, 3)}))" in measured
    done, info = execute.execute(new_notebook(cells=[new_code_cell("x")]), tmp_path,
                                 timeout=5, allow_errors=True, measure=True)
    assert info == {"peak_mb": 321.5, "headline": "None"}
    assert FakeNotebookClient.made[1].args[:2] == (5, True)
    done, info = execute.execute(new_notebook(cells=[new_code_cell("x")]), tmp_path)
    assert info == {} and [c.source for c in done.cells] == ["x"]
    with pytest.raises(RuntimeError, match="cell failed"):
        execute.execute(new_notebook(cells=[new_code_cell("raise")]), tmp_path)
    assert FakeNotebookClient.made[-1].km.stopped == [True]  # stopped even then


def test_load_is_the_one_minute_load_average(monkeypatch):
    if hasattr(os, "getloadavg"):
        assert float(execute._load()) == pytest.approx(os.getloadavg()[0], abs=0.2)
    monkeypatch.delattr(os, "getloadavg")
    assert execute._load() == "?"


class OutputsClient:
    """nbclient's client: gives every cell an output as a real run does; the measuring
    cell prints its record in two chunks; a cell ``raise`` fails the run."""

    def __init__(self, nb, km, **kw):
        self.nb, self.km = nb, km

    def execute(self, stderr=None):
        self.km.has_kernel = True
        for cell in self.nb.cells:
            cell.execution_count = 1
            cell.outputs = [nbformat.v4.new_output("stream", text="ran\n")]
            if "raise" in cell.source:
                raise RuntimeError("cell failed")
        last = self.nb.cells[-1]
        if "__COURSE__" in last.source:
            last.outputs = [nbformat.v4.new_output("stream", text='__COURSE__{"peak_mb": 2'),
                            nbformat.v4.new_output("stream", text='0.5, "headline": "0.9"}')]


class SpecManager:
    """jupyter_client's KernelManager: keeps the kernel spec manager it is given."""
    made = []

    def __init__(self, kernel_name, kernel_spec_manager):
        self.spec, self.has_kernel = kernel_spec_manager, False
        SpecManager.made.append(self)

    def shutdown_kernel(self, now):
        pass


def test_execute_leaves_the_callers_notebook_untouched_and_reads_chunked_output(
        monkeypatch, tmp_path):
    import jupyter_client
    import nbclient

    monkeypatch.setattr(jupyter_client, "KernelManager", SpecManager)
    monkeypatch.setattr(nbclient, "NotebookClient", OutputsClient)
    SpecManager.made = []
    nb = new_notebook(cells=[new_code_cell("acc = 0.9")])
    before = nbformat.writes(nb)
    done, info = execute.execute(nb, tmp_path, measure=True)
    assert info == {"peak_mb": 20.5, "headline": "0.9"}
    assert done.cells[0].outputs[0].text == "ran\n"
    assert nbformat.writes(nb) == before  # no outputs, no measuring cell
    # the kernel of this environment, as nbval finds it
    assert type(SpecManager.made[0].spec).__name__ == "NbvalKernelspecManager"
    failing = new_notebook(cells=[new_code_cell("raise")])
    with pytest.raises(RuntimeError):
        execute.execute(failing, tmp_path, measure=True)
    assert [c.source for c in failing.cells] == ["raise"]  # no measuring cell left in it
    assert failing.cells[0].outputs == []
