# The two commands of the quick start: `make up` and `make test`. Each creates .venv and
# installs everything the first time (or when pyproject.toml changes), then does its job.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: up test lint typecheck deadcode unit bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --editable '.[test]'
	touch $(STAMP)

up: $(STAMP)
	$(BIN)/rollcall up

# The suite on TEST_WORKERS pytest-xdist workers: most tests wait on Temporal, HTTP or a child
# process rather than on the CPU (tests/support/parallel.py says what runs where).
TEST_WORKERS ?= 3

# mypy runs beside the suite (the suite leaves part of a core idle while it waits on processes);
# its report follows the suite's, and either failing fails `make test`.
test: lint
	@rm -f .rollcall-mypy.out; \
	$(BIN)/mypy > .rollcall-mypy.out 2>&1 & mypy=$$!; \
	$(BIN)/pytest -n $(TEST_WORKERS); suite=$$?; \
	wait $$mypy; typed=$$?; \
	echo "mypy:"; cat .rollcall-mypy.out; rm -f .rollcall-mypy.out; \
	[ $$suite -eq 0 ] && [ $$typed -eq 0 ]

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# Unused code: vulture at 80 % confidence (settings in pyproject.toml, [tool.vulture]), then the
# stricter check of unused functions, methods, classes and properties (tests/unit/test_dead_code.py).
deadcode: $(STAMP)
	$(BIN)/vulture
	$(BIN)/pytest -q -p no:cacheprovider tests/unit/test_dead_code.py

clean:
	rm -rf $(VENV) .rollcall .pytest_cache .mypy_cache .ruff_cache

unit: $(STAMP)
	$(BIN)/pytest tests/unit

# Every benchmark, each ending its output with one `BENCH {json}` line (figures, targets, holds).
# add_to_webinar as the README's at-scale settings run it (two workers, no sandbox: the 40/s target's
# configuration), sync at both sizes (issue #16 points 3 and 4).
bench: $(STAMP)
	@set -e; run() { echo "== bench/$$*"; $(BIN)/python bench/"$$@"; }; \
	run zoom_paging.py; run crm_bulk.py; run enroll.py; run add_to_webinar.py --workers 2 --no-sandbox; \
	run sync.py; run sync.py --scale 10 --rounds 1
