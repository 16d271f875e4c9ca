# The front door of the course. Two commands set everything up:
#   make course   environment + execute every notebook headless + a table of the results
#   make test     environment + the whole test suite (what CI runs)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)
NBVAL  := --nbval --nbval-current-env --nbval-sanitize-with nbval_sanitize.cfg
SUBMISSIONS ?= submissions
JOBS   ?= 2
RELEASE ?= build/release
# the oldest supported Python, with every dependency at its declared lower bound
LOWEST_PYTHON ?= python3.10
LOWEST_VENV   ?= .venv-lowest

.PHONY: env course test test-lowest lab seminars check bench refresh grade release site nbgrader clean

env: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev,site,nbgrader]'
	@rm -f $(VENV)/.installed-* && touch $@

course: env  ## execute every lecture notebook and solution into build/, print the table
	$(BIN)/python -m utils.course run

test: env  ## lint, unit tests, nbval on notebooks/ and solutions/, seminar and grader checks
	$(BIN)/ruff check .
	$(BIN)/python -m pytest tests notebooks solutions $(NBVAL)

test-lowest:  ## the same checks with every dependency at its lowest declared version (ci/lowest-constraints.txt)
	@test -x $(LOWEST_VENV)/bin/python || $(LOWEST_PYTHON) -m venv $(LOWEST_VENV)
	$(LOWEST_VENV)/bin/python -m pip install --quiet -c ci/lowest-constraints.txt -e '.[dev]'
	$(LOWEST_VENV)/bin/python -m pip check
	$(LOWEST_VENV)/bin/python -m pytest tests notebooks solutions $(NBVAL)

lab: env  ## JupyterLab on the repository
	$(BIN)/jupyter lab

seminars: env  ## regenerate seminars/ from solutions/
	$(BIN)/python -m utils.course build

check: env  ## seminars up to date, clean, no solution text
	$(BIN)/python -m utils.course check

bench: env  ## BENCHMARKS.md from a real run
	$(BIN)/python -m utils.course bench

grade: env  ## points for a class: SUBMISSIONS=<dir>/<student>/NN_topic.ipynb [JOBS=2] -> grades/
	$(BIN)/python -m utils.grade $(SUBMISSIONS) --out grades --jobs $(JOBS)

release: env  ## the student-facing course (no solutions, no hidden tests) into RELEASE=build/release
	$(BIN)/python -m utils.grade release --out $(RELEASE)

refresh: env  ## re-execute NB=path/to.ipynb and store its outputs (then review the diff)
	$(BIN)/python -m utils.course refresh $(NB)

site: env  ## the course website from the stored notebooks into build/site (no solutions)
	$(BIN)/python -m utils.site build

nbgrader: env  ## the solutions as an nbgrader course folder in build/nbgrader
	$(BIN)/python -m utils.nbgrader_export

clean:
	rm -rf build grades
