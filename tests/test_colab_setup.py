"""The setup cell's Colab branch, run for real: in a fresh environment with the course not
installed and a stand-in ``google.colab`` module, the first cell installs the course
package (from a wheel built from this checkout instead of the repository address) and the
notebook's first cells run on the installed package."""
import subprocess
import sys
import textwrap

import pytest

from coursekit import notebook, site
from coursekit.notebook import REPO


@pytest.fixture(scope="module")
def colab(tmp_path_factory, course_wheel):
    root = tmp_path_factory.mktemp("colab")
    wheel = course_wheel
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True)
    py = root / "venv" / "bin" / "python"
    # Colab comes with torch, numpy and matplotlib: this environment sees the installed
    # libraries (a path, so no .pth of theirs runs: the course itself is not importable)
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()"
                              "['purelib'])"], capture_output=True, text=True, check=True)
    from pathlib import Path
    libraries = [p for p in sys.path if p.endswith("site-packages")]
    Path(purelib.stdout.strip(), "zz_libraries.pth").write_text("\n".join(libraries) + "\n")
    (root / "fake" / "google" / "colab").mkdir(parents=True)
    (root / "fake" / "google" / "__init__.py").write_text("")
    (root / "fake" / "google" / "colab" / "__init__.py").write_text("# stand-in\n")
    (root / "work").mkdir()  # not the checkout: `import utils` must find the installed one
    return py, wheel, root


def test_the_course_is_not_importable_before_the_setup_cell(colab):
    py, _, root = colab
    done = subprocess.run([str(py), "-c", "import utils"], cwd=root / "work",
                          capture_output=True, text=True)
    assert done.returncode != 0 and "No module named 'utils'" in done.stderr


def test_setup_cell_installs_the_course_on_colab_and_the_first_cells_run(colab):
    py, wheel, root = colab
    nb = notebook.read(REPO / "notebooks" / "01_linear_regression.ipynb")
    cells = [c.source for c in nb.cells if c.cell_type == "code"][:3]
    install = f"git+{site.repository_url()}"
    assert install in cells[0]
    cells[0] = cells[0].replace(install, str(wheel))  # the same pip call, offline
    script = textwrap.dedent("""
        import sys
        sys.path.insert(0, {fake!r})
        import google.colab  # what the setup cell looks for
        import matplotlib
        matplotlib.use("Agg")
        cells = {cells!r}
        for i, src in enumerate(cells):
            exec(compile(src, f"cell {{i}}", "exec"), globals())
        import utils
        print("UTILS", utils.__file__)
        print("SEED", seed)
        print("DATA", utils.data.data_dir().resolve())
    """).format(fake=str(root / "fake"), cells=cells)
    done = subprocess.run([str(py), "-c", script], cwd=root / "work", capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    where = next(line for line in done.stdout.splitlines() if line.startswith("UTILS"))
    assert str(root / "venv") in where and str(REPO) not in where, where
    assert (root / "venv").exists() and any((root / "venv").rglob("utils/corpus/*.gz"))
    # downloads (DATASET = "mnist") go to data/ in the working folder (/content on Colab)
    assert f"DATA {(root / 'work' / 'data').resolve()}" in done.stdout.splitlines()
