"""pyproject.toml (pip) and environment.yml (conda) must declare the same packages with the
same lower bounds; the README must give the commands the Makefile provides."""
import re


from coursekit.notebook import REPO

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: tomli, or the copy pip vendors (always there)
    try:
        import tomli as tomllib
    except ModuleNotFoundError:
        from pip._vendor import tomli as tomllib

CONDA_NAMES = {"pytorch": "torch"}  # conda-forge name -> PyPI name


def _split(req: str):
    name, _, bound = re.match(r"([A-Za-z0-9_.\-]+)\s*((>=|==|<=|~=)?\s*[^;\s]*)", req).groups()
    return name.lower().replace("_", "-"), bound.replace(" ", "")


def _pyproject():
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = meta["dependencies"] + sum(meta["optional-dependencies"].values(), [])
    return dict(_split(r) for r in reqs)


def _environment():
    deps, in_deps = {}, False
    for line in (REPO / "environment.yml").read_text().splitlines():
        if line.startswith("dependencies:"):
            in_deps = True
            continue
        m = re.match(r"  - ([^\s:]+)\s*$|      - ([^\s:-][^\s:]*)\s*$", line) if in_deps else None
        if m and (m.group(1) or m.group(2)) not in ("pip",):
            name, bound = _split(m.group(1) or m.group(2))
            deps[CONDA_NAMES.get(name, name)] = bound
    deps.pop("python", None)
    return deps


def test_environment_yml_mirrors_pyproject():
    assert _environment() == _pyproject()


def test_only_lower_bounds_and_no_index_urls():
    for name, bound in _pyproject().items():
        assert bound.startswith(">="), f"{name}: declare a lower bound, not {bound!r}"
    text = (REPO / "pyproject.toml").read_text() + (REPO / "environment.yml").read_text()
    assert "index-url" not in text and "+cu" not in text and "+cpu" not in text


def test_readme_documents_the_make_targets():
    readme = (REPO / "README.md").read_text()
    makefile = (REPO / "Makefile").read_text()
    for target in ("course", "test", "lab", "seminars", "bench", "grade"):
        assert f"make {target}" in readme, f"README does not mention make {target}"
    for target in ("course", "test", "lab", "seminars", "bench"):
        assert re.search(rf"^{target}:", makefile, re.M), f"Makefile lacks {target}"
    assert "make test" in (REPO / ".ci" / "run").read_text()


def test_readme_links_point_to_files_that_exist():
    readme = (REPO / "README.md").read_text()
    links = re.findall(r"\]\(([^)#]+)\)", readme)
    local = [link for link in links if "://" not in link]
    assert len(local) >= 15  # the syllabus alone links three notebooks per unit
    missing = [link for link in local if not (REPO / link).exists()]
    assert not missing, f"README links to missing files: {missing}"


def test_lowest_constraints_pin_every_declared_lower_bound():
    """ci/lowest-constraints.txt (make test-lowest) pins each dependency at exactly the
    lower bound pyproject.toml declares: the oldest versions the course promises."""
    pins = {}
    for line in (REPO / "ci" / "lowest-constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, bound = _split(line)
            pins[name] = bound
    declared = {name: bound.replace(">=", "==") for name, bound in _pyproject().items()}
    assert pins == declared


def test_ci_matrix_covers_the_lowest_and_the_newest_versions():
    workflow = (REPO / ".github" / "workflows" / "test.yml").read_text()
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    oldest = meta["requires-python"].removeprefix(">=")
    assert f'python: "{oldest}"' in workflow and "target: test-lowest" in workflow
    assert "macos" in workflow and "COURSE_DEVICE" in workflow
