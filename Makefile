# FERLab: `make demo` runs the platform on embedded defaults, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha256sum requirements.txt 2>/dev/null | cut -c1-12)

.PHONY: install demo test test-embedded bench chromium lock clean

$(STAMP): requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

# Debian's Chromium drives the browser tests; Playwright's own browser download does not work offline.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests..."; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

demo: install
	$(BIN)/python manage.py demo --serve

# Two test processes (pytest-xdist), each file in one of them; TEST_PROCESSES=0 runs the suite in one process.
TEST_PROCESSES ?= 2
PYTEST := $(BIN)/python -m pytest -n $(TEST_PROCESSES) --dist loadfile

test: install chromium
	$(PYTEST) $(PYTEST_ARGS)

# The same suite with neither PostgreSQL nor Redis: SQLite and in-process tasks.
test-embedded: install chromium
	env -u DATABASE_URL -u CELERY_BROKER_URL $(PYTEST) $(PYTEST_ARGS)

bench: install
	@for script in $$(ls bench/*.py | grep -v "/_"); do echo "== $$script"; $(BIN)/python $$script || exit 1; done

lock:
	$(BIN)/pip freeze | sed 's/^torch==\(.*\)+cpu/torch==\1/' > requirements.txt.new
	{ echo "# Full pinned lock of requirements.in (pip freeze). Regenerate with: make lock"; cat requirements.txt.new; } > requirements.txt
	rm requirements.txt.new

clean:
	rm -rf var .pytest_cache
