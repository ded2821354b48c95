# One entry point for every setup and job; each target installs what it needs into .venv first.
#   make demo     set up, then autograde the bundled sample class
#   make test     set up, then lint and run every test (what CI runs: .ci/run)
#   make release  regenerate course/ from solutions/
#   make bench    time notebook execution and autograding (benchmarks/)
#   make lab      open the course in JupyterLab
#   make hub      install the proxy of the course's JupyterHub (hub/jupyterhub_config.py)
#   make students-env   build the students' environment of that hub (STUDENTS_ENV=/opt/embedding-layers/students)

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# nbgrader shells out to `alembic`, which lives next to the venv's python.
RUN    := PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python

.PHONY: setup sandbox system hub students-env students-config demo test lint release bench lab clean

setup: $(STAMP)

# System packages: bubblewrap (the sandbox every submission runs in; grading refuses to run without it unless told
# --no-sandbox), a PostgreSQL server (to prove the gradebook works there) and Chromium (to prove feedback pages run
# no student script). Installed with apt when missing and
# possible (root on Debian/Ubuntu); otherwise `make` says what to install.
sandbox:
	@if ! command -v bwrap >/dev/null; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing bubblewrap (Debian package) for the grading sandbox"; \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q bubblewrap >/dev/null \
				|| { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q bubblewrap >/dev/null; }; \
		else echo "note: bubblewrap is missing: install it (sudo apt install bubblewrap) to grade"; fi; \
	fi

system: sandbox
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing postgresql (Debian package) for the tests"; \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null; \
		else echo "note: no PostgreSQL server binaries; tests/test_postgres.py will be skipped"; fi; \
	fi
	@if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing chromium (Debian package) for the tests that open pages in a browser"; \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null \
				|| { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }; \
		else echo "note: no Chromium; tests/test_feedback_browser.py will be skipped"; fi; \
	fi

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is needed, found " + sys.version.split()[0] + " at $(PYTHON); run: make PYTHON=/path/to/python3.11 ...")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

# configurable-http-proxy, the proxy of the course's JupyterHub (hub/jupyterhub_config.py, tests/test_hub.py), from
# the npm registry at the version hub/package-lock.json holds; into hub/node_modules (git-ignored).
hub: hub/node_modules/.installed

hub/node_modules/.installed: hub/package.json hub/package-lock.json
	@if command -v npm >/dev/null; then \
		npm ci --prefix hub --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "note: npm is missing (Node.js): tests/test_hub.py will fail; install nodejs and npm"; fi

# The students' environment of the course's JupyterHub (hub/jupyterhub_config.py), where students can read it: the
# lock's packages students need (no grader), and its configuration in its own etc/jupyter (the checkout stays closed).
STUDENTS_ENV ?= /opt/embedding-layers/students
students-env:
	test -x $(STUDENTS_ENV)/bin/python || $(PYTHON) -m venv $(STUDENTS_ENV)
	$(STUDENTS_ENV)/bin/python -m pip install --quiet --disable-pip-version-check -r hub/students/requirements.txt
	$(MAKE) students-config STUDENTS_ENV=$(STUDENTS_ENV)

students-config:
	install -d -m 755 $(STUDENTS_ENV)/etc/jupyter/labconfig
	install -m 644 hub/everyone/nbgrader_config.py hub/students/jupyter_server_config.py $(STUDENTS_ENV)/etc/jupyter/
	install -m 644 hub/students/labconfig/page_config.json $(STUDENTS_ENV)/etc/jupyter/labconfig/

demo: setup sandbox
	$(RUN) -m grader demo

# The tests run in one pytest-xdist worker per core (at most 4), in the units of work of tests/conftest.py.
test: setup system hub lint
	$(RUN) -m pytest -n auto --maxprocesses 4

lint: setup
	$(BIN)/ruff check .

release: setup
	$(RUN) -m grader release

bench: setup
	$(RUN) benchmarks/bench_notebooks.py

lab: setup
	$(BIN)/jupyter lab course/

clean:
	rm -rf demo-class submitted autograded feedback release gradebook.db .pytest_cache .ruff_cache
