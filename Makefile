# The commands a newcomer needs. `make run` and `make test` work on a fresh clone.
VENV ?= .venv
PY := $(VENV)/bin/python
UV := $(shell command -v uv 2>/dev/null)

.PHONY: install run test test-fast bench lint format browser-deps clean

install: $(VENV)/.installed

# uv when present (3 s); otherwise pip bootstraps uv inside the venv and uv installs the lock.
$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
ifdef UV
	$(UV) pip sync --python $(PY) requirements.lock
else
	$(PY) -m pip install --quiet --disable-pip-version-check uv
	$(VENV)/bin/uv pip sync --python $(PY) requirements.lock
endif
	touch $@

# System Chromium for the Playwright journeys (Playwright's own browser download is unreachable).
browser-deps:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "install Debian's chromium package (sudo apt-get install -y chromium)"; exit 1; fi; }

run: install
	$(PY) -m portal.launcher run

test: install browser-deps
	$(PY) -m portal.launcher test -- $(PYTEST_ARGS)

test-fast: install
	$(PY) -m portal.launcher test -- -m "not browser" $(PYTEST_ARGS)

bench: install
	$(PY) -m portal.launcher exec -- $(PY) -m bench $(BENCH_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check . || true
	DEBUG=1 $(PY) manage.py makemigrations --check --dry-run

clean:
	rm -rf $(VENV) staticfiles test-results
