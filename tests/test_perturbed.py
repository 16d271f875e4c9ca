"""ci/perturbed.py (make test-perturbed): unit selection, the probe that proves a
perturbation changes results, and the reading of pytest's report."""
import importlib.util
import platform

import pytest

from coursekit.notebook import REPO

spec = importlib.util.spec_from_file_location("perturbed", REPO / "ci" / "perturbed.py")
perturbed = importlib.util.module_from_spec(spec)
spec.loader.exec_module(perturbed)


def test_units_are_parsed_from_ranges_and_lists():
    assert perturbed.parse_units("06-12") == ["06", "07", "08", "09", "10", "11", "12"]
    assert perturbed.parse_units("7, 1,07") == ["07", "01"]
    assert perturbed.parse_units("all") == [f"{i:02d}" for i in range(1, 13)]
    for bad in ("12-6", "0", "13", "six", "1-x", ""):
        with pytest.raises(ValueError, match="--units"):
            perturbed.parse_units(bad)


def test_notebooks_are_the_units_lectures_then_solutions(tmp_path):
    for folder in ("notebooks", "solutions", "seminars"):
        (tmp_path / folder).mkdir()
        for name in ("06_opt.ipynb", "07_bn.ipynb", "08_reg.ipynb"):
            (tmp_path / folder / name).write_text("{}")
    found = perturbed.notebooks(["08", "06"], root=tmp_path)
    assert [f"{p.parent.name}/{p.name}" for p in found] == [
        "notebooks/08_reg.ipynb", "notebooks/06_opt.ipynb",
        "solutions/08_reg.ipynb", "solutions/06_opt.ipynb"]
    assert len(perturbed.notebooks(["01"], root=REPO)) == 2  # the repository's own unit 01


def test_failures_are_read_from_the_junit_report(tmp_path):
    report = tmp_path / "junit.xml"
    report.write_text(
        '<testsuites><testsuite name="pytest" tests="4">'
        '<testcase classname="notebooks.07_bn.ipynb" name="Cell 15"><failure message="x"/></testcase>'
        '<testcase classname="notebooks.07_bn.ipynb" name="Cell 16"/>'
        '<testcase classname="solutions.12_tr.ipynb" name="Cell 21"><error message="y"/></testcase>'
        '<testcase classname="solutions.12_tr.ipynb" name="Cell 22"><skipped/></testcase>'
        '</testsuite></testsuites>')
    assert perturbed.failures(report) == ["notebooks.07_bn.ipynb::Cell 15",
                                          "solutions.12_tr.ipynb::Cell 21"]


def test_moved_names_every_result_that_differs():
    base = {"matmul": "a", "sum": "b", "conv": "c"}
    assert perturbed.moved(base, dict(base)) == []
    assert perturbed.moved(base, {"matmul": "a", "sum": "z"}) == ["sum", "conv"]


def test_bad_arguments_are_usage_errors(capsys):
    for argv in (["--only", "isa-sse9"], ["--units", "14"]):
        with pytest.raises(SystemExit) as stop:
            perturbed.main(argv)
        assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "unknown perturbation(s) ['isa-sse9']" in err and "outside 01-12" in err


@pytest.mark.slow
@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86 kernels only")
def test_the_probe_is_repeatable_and_the_scalar_perturbation_moves_it():
    """A perturbation proves something only if the probe itself is deterministic and the
    perturbation changes its results: the run would otherwise pass for the wrong reason."""
    base = perturbed.probe({})
    assert perturbed.probe({}) == base
    changed = perturbed.moved(base, perturbed.probe(perturbed.PERTURBATIONS["isa-default"][1]))
    assert {"torch matmul float32", "torch tanh, exp", "numpy matmul float64"} <= set(changed)
