# The two set-up commands of the README: `make run` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
ARGS   ?=

.PHONY: run run-sandbox test lint fmt typecheck check bench soak clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-install whenever pyproject.toml changes.
$(VENV)/.installed-runtime: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[postgres]'
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,postgres]'
	touch $@ $(VENV)/.installed-runtime

$(VENV)/.installed-bench: pyproject.toml $(VENV)/.installed-test
	$(BIN)/python -m pip install --quiet -e '.[test,postgres,bench]'
	touch $@

run: $(VENV)/.installed-runtime
	$(BIN)/cyclr-bot run $(ARGS)

run-sandbox: $(VENV)/.installed-runtime
	$(BIN)/cyclr-bot run --sandbox $(ARGS)

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest $(ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/mypy

fmt: $(VENV)/.installed-test
	$(BIN)/ruff check --fix .

check: lint test

bench: $(VENV)/.installed-bench
	$(BIN)/python -m benchmarks.run $(ARGS)

soak: $(VENV)/.installed-test
	CYCLR_BOT_SOAK=1 $(BIN)/python -m pytest -m slow $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
