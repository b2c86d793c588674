# Everything a newcomer needs: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo demo-patient-risk stop test test-repeat lint bench record-histories clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

## Start the embedded stack (Temporal dev server + workers) and run the training demo.
demo: $(STAMP)
	$(BIN)/mlwright up
	$(BIN)/mlwright demo
	@echo
	@echo "The stack keeps running (Web UI above). Stop it with: make stop"

## The flagship: seed sources, train the three models if needed, run the 23-step pipeline.
demo-patient-risk: $(STAMP)
	$(BIN)/mlwright up
	$(BIN)/mlwright patient-risk demo

stop: $(STAMP)
	$(BIN)/mlwright down

## The whole suite: unit, activity, workflow (dev server + time-skipping), replay, end-to-end.
test: $(STAMP)
	$(BIN)/python -m pytest

## Stability check: the whole suite N times in a row (default 5); stops at the first failing pass.
N ?= 5
test-repeat: $(STAMP)
	@for i in $$(seq $(N)); do echo "== pass $$i of $(N)"; $(BIN)/python -m pytest -q -p no:cacheprovider || exit 1; done

lint: $(STAMP)
	$(BIN)/ruff check .

## Every benchmark at a small size (about 5 min), then one summary table (bench/run_all.py).
bench: $(STAMP)
	$(BIN)/python bench/run_all.py

record-histories: $(STAMP)
	$(BIN)/python -m tests.replay.record_histories $(VERSION)

clean:
	rm -rf $(VENV) .mlwright .pytest_cache .ruff_cache *.egg-info
