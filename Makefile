# The front door of the course. Two commands set everything up:
#   make course   environment + execute every notebook headless + a table of the results
#   make test     environment + the whole test suite (what CI runs)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)
NBVAL  := --nbval --nbval-current-env --nbval-sanitize-with nbval_sanitize.cfg
# the suite on every core (at most 4 workers; WORKERS=0: in one process): --dist loadscope
# keeps a notebook's cells, and a test module with its module-scoped fixtures, in one worker
WORKERS ?= auto
XDIST  := -n $(WORKERS) --maxprocesses 4 --dist loadscope
SUBMISSIONS ?= submissions
JOBS   ?= 2
# make test-perturbed: which units, perturbations (ci/perturbed.py; empty = all) and passes
UNITS   ?= all
PERTURB ?=
RUNS    ?= 1
RELEASE ?= build/release
SEMINARS ?=
PIP_CONF ?=
# the oldest supported Python, with every dependency at its declared lower bound
LOWEST_PYTHON ?= python3.10
LOWEST_VENV   ?= .venv-lowest
# the instructor tooling's one command line (coursekit/cli.py)
KIT := $(BIN)/python -m coursekit

.PHONY: kit env course test test-perturbed test-lowest lab seminars check bench refresh grade release site nbgrader gradescope clean

env: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev,site,nbgrader]'
	@rm -f $(VENV)/.installed-* && touch $@

course: kit env  ## execute every lecture notebook and solution into build/, print the table
	$(KIT) run

test: env  ## lint, unit tests, nbval on notebooks/ and solutions/, seminar and grader checks
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(XDIST) tests notebooks solutions $(NBVAL)

test-perturbed: env  ## nbval with the arithmetic perturbed as on another CPU: UNITS=06-12 PERTURB=isa-default RUNS=3
	$(BIN)/python ci/perturbed.py --units '$(UNITS)' --only '$(PERTURB)' --runs $(RUNS)

test-fast: env  ## lint and the tests that start no kernel: utils and the tooling's logic, in minutes
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(XDIST) -m "not slow" tests

mutation: env  ## mutation score of the fast tests: utils (>= 85 %) and coursekit (>= 80 %); an hour or more, not in make test
	$(BIN)/python -m pip install --quiet -e '.[mutation]'
	$(BIN)/python ci/mutation.py --threshold 85 --max-children 2; u=$$?; \
	$(BIN)/python ci/mutation_coursekit.py --threshold 80 --max-children 2; k=$$?; \
	test $$u = 0 && test $$k = 0

test-lowest:  ## the same checks with every dependency at its lowest declared version (ci/lowest-constraints.txt)
	@test -x $(LOWEST_VENV)/bin/python || $(LOWEST_PYTHON) -m venv $(LOWEST_VENV)
	$(LOWEST_VENV)/bin/python -m pip install --quiet -c ci/lowest-constraints.txt -e '.[dev]'
	$(LOWEST_VENV)/bin/python -m pip check
	$(LOWEST_VENV)/bin/python -m pytest $(XDIST) tests notebooks solutions $(NBVAL)

lab: env  ## JupyterLab on the repository
	$(BIN)/jupyter lab

seminars: kit env  ## regenerate seminars/ from solutions/
	$(KIT) generate

check: kit env  ## seminars up to date, clean, no solution text
	$(KIT) check

bench: kit env  ## BENCHMARKS.md from a real run
	$(KIT) bench

grade: kit env  ## points for a class: SUBMISSIONS=<dir>/<student>/NN_topic.ipynb [JOBS=2] -> grades/
	$(KIT) grade $(SUBMISSIONS) --out grades --jobs $(JOBS)

release: kit env  ## the student-facing course (no solutions, no hidden tests) into RELEASE=build/release
	$(KIT) release --out $(RELEASE)

refresh: kit env  ## re-execute NB=path/to.ipynb and store its outputs (then review the diff)
	$(KIT) refresh $(NB)

site: kit env  ## the course website from the stored notebooks into build/site (no solutions)
	$(KIT) site build

nbgrader: kit env  ## the solutions as an nbgrader course folder in build/nbgrader
	$(KIT) nbgrader

.PHONY: badges
badges: kit env  ## Colab badges in the title cells of notebooks/ and solutions/, then make seminars
	$(KIT) badges

gradescope: kit env  ## the Gradescope autograder: build/gradescope/autograder.zip [SEMINARS="01_linear_regression ..."] [PIP_CONF=file]
	$(KIT) gradescope --out build/gradescope $(foreach s,$(SEMINARS),--seminar $(s)) $(if $(PIP_CONF),--pip-conf $(PIP_CONF))

kit:  # the tooling is not part of a student release (no coursekit/ folder there)
	@test -d coursekit || { echo "error: this copy of the course has no instructor tooling (coursekit/): it is a student release; make env and make lab work" >&2; exit 2; }

clean:
	rm -rf build grades
