# Everything a new machine needs comes from here: `make run`, `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

.PHONY: install run test lint bench chromium dovecot wrk clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

run: install
	./scripts/run-local.sh

# Debian's Chromium for the browser test (Playwright's own download does not work offline).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser test"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
	  || echo "could not install chromium: the browser test will fail"; }

# Debian's dovecot: the real IMAP server the inbox tests start (tests/inbox/dovecot.py).
dovecot:
	@test -x /usr/sbin/dovecot || { \
	  echo "installing Debian's dovecot-imapd for the inbox tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd) \
	  || echo "could not install dovecot-imapd: the IMAP tests will fail"; }

# wrk (C) drives the HTTP benchmarks: the load generator must not be the bottleneck.
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
	  echo "installing Debian's wrk for the HTTP benchmarks"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk) \
	  || echo "could not install wrk"; }

# ruff, then the import layers and the ban on cycles (pyproject.toml [tool.importlinter]).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

test: install chromium dovecot lint
	$(BIN)/pytest $(PYTEST_ARGS)

bench: install wrk
	$(BIN)/python bench/dispatch.py --json
	$(BIN)/python bench/capture.py --json
	$(BIN)/python bench/scoring.py --json
	$(BIN)/python bench/report.py --json
	$(BIN)/python bench/inbox.py --json
	$(BIN)/python bench/track.py --json
	$(BIN)/python bench/mailevents.py --json

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
