# readiness: `make demo` and `make test` work on a fresh machine with Python 3.10+ and make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test lint format bench clean browsers docs typecheck

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: venv
	$(BIN)/python examples/breast-cancer/train.py
	$(BIN)/python examples/not-ready/build.py
	mkdir -p out
	$(BIN)/readiness check examples/breast-cancer --json out/scorecard.json --html out/scorecard.html
	@echo
	@echo "--- a bundle that is NOT ready (the gate must block it):"
	$(BIN)/readiness check examples/not-ready --quiet --json out/not-ready.json; test $$? -eq 1

# The suite also type-checks the public API (mypy), builds docs/ strictly and checks that the
# generated check reference is current (tests/test_docs.py), so a plain pytest run catches them too.
test: venv browsers
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup

typecheck: venv
	$(BIN)/mypy

# Build the documentation into site/ (offline; `$(BIN)/mkdocs serve` to browse it).
docs: venv
	$(BIN)/python docs/gen_checks.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

lint:
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: venv
	$(BIN)/python benchmarks/check_example.py
	$(BIN)/python benchmarks/verdict_stability.py

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache site

# Headless Chromium and its driver for the HTML scorecard's browser test (Debian packages).
# Best effort: where they cannot be installed, that test is skipped and says why.
browsers:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
		|| echo "browsers: could not install chromium and chromium-driver; the browser test will be skipped"; \
	else echo "browsers: run 'apt-get install chromium chromium-driver' as root for the browser test"; fi
