# The two set-up commands of the README: `make run` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
ARGS   ?=

.PHONY: run run-sandbox playground screenshots test lint fmt typecheck check bench soak clean

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

# Without Slack settings (no SLACK_BOT_TOKEN in the environment or .env) this starts the playground.
run: $(VENV)/.installed-runtime
	$(BIN)/cyclr-bot run --playground-if-no-slack $(ARGS)

run-sandbox: $(VENV)/.installed-runtime
	$(BIN)/cyclr-bot run --sandbox --playground-if-no-slack $(ARGS)

playground: $(VENV)/.installed-runtime
	$(BIN)/cyclr-bot playground $(ARGS)

# The README's pictures, taken from the playground by its browser test.
screenshots: $(VENV)/.installed-test
	CYCLR_BOT_SCREENSHOTS=docs CYCLR_BOT_REQUIRE_BROWSER=1 $(BIN)/python -m pytest -q \
		tests/browser/test_playground_browser.py -k install $(ARGS)

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
