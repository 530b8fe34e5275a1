# Two entry points for a fresh machine with only python3 and make: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint typecheck contracts unit bench bench-smoke bench-scale dist clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	@bash examples/demo.sh $(BIN)

lint: $(STAMP)
	$(BIN)/ruff check reconciler oes_reconcile.py tests benchmarks
	$(BIN)/ruff format --check reconciler oes_reconcile.py tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

# The layer contracts of pyproject.toml [tool.importlinter]: no stage imports a stage above it.
contracts: $(STAMP)
	$(BIN)/lint-imports

# The whole suite under coverage, child processes included; below the floor (fail_under) it fails.
unit: $(STAMP)
	rm -f .coverage .coverage.*
	$(BIN)/coverage run -m pytest -q
	$(BIN)/coverage combine -q
	$(BIN)/coverage report

# The tests that start no server and no process, in seconds: for the edit-test loop, not for CI.
test-fast: $(STAMP)
	$(BIN)/pytest -q -m "not slow"

test: lint typecheck contracts unit bench-smoke

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

bench-smoke: $(STAMP)
	$(BIN)/python benchmarks/run.py --smoke
	$(BIN)/python benchmarks/scale.py --smoke

# Issue 13's scale curve, baseline commit vs this tree, 1k to 1M overrides (the 1M plan takes minutes).
bench-scale: $(STAMP)
	$(BIN)/python benchmarks/scale.py

# The sdist and wheel in dist/, as a release would build them; the wheel installed into a fresh venv and run.
dist: $(STAMP)
	.ci/check-dist $(BIN)

clean:
	rm -rf dist build $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis .import_linter_cache .coverage .coverage.* htmlcov
