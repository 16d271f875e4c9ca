"""Running the notebooks headless (coursekit/execute.py): errors recorded and the run
measured; `make refresh` leaves the stored notebook untouched when a cell fails."""
import nbformat
import pytest
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
