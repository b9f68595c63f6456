# The two set-up commands of the README: `make run` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
ARGS   ?=

.PHONY: run run-sandbox playground screenshots test lint fmt typecheck check bench soak clean lock

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Dependencies come from the lock files in requirements/ (exact versions, with hashes; `make lock`
# regenerates them from pyproject.toml); then the bot itself, without its dependencies.
# Re-install whenever a lock file or pyproject.toml changes.
INSTALL_LOCKED = $(BIN)/python -m pip install --quiet --require-hashes --no-deps -r
INSTALL_BOT    = $(BIN)/python -m pip install --quiet --no-deps -e .

$(VENV)/.installed-runtime: requirements/runtime.txt pyproject.toml | $(BIN)/python
	$(INSTALL_LOCKED) requirements/runtime.txt
	$(INSTALL_BOT)
	touch $@

$(VENV)/.installed-test: requirements/test.txt pyproject.toml | $(BIN)/python
	$(INSTALL_LOCKED) requirements/test.txt
	$(INSTALL_BOT)
	touch $@ $(VENV)/.installed-runtime

$(VENV)/.installed-bench: requirements/bench.txt pyproject.toml | $(BIN)/python
	$(INSTALL_LOCKED) requirements/bench.txt
	$(INSTALL_BOT)
	touch $@ $(VENV)/.installed-test $(VENV)/.installed-runtime

# Regenerate the lock files from pyproject.toml with pip-tools (in its own venv, not the bot's).
# UPGRADE=1 moves every pin to the newest version pyproject.toml allows; without it, pins
# change only where pyproject.toml now demands it.
PIPTOOLS       ?= .venv-piptools
PIP_COMPILE     = $(PIPTOOLS)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
	--no-emit-index-url --no-emit-find-links $(if $(UPGRADE),--upgrade) pyproject.toml

$(PIPTOOLS)/bin/pip-compile:
	$(PYTHON) -m venv $(PIPTOOLS)
	$(PIPTOOLS)/bin/python -m pip install --quiet pip-tools

lock: $(PIPTOOLS)/bin/pip-compile
	$(PIP_COMPILE) --extra postgres -o requirements/runtime.txt
	$(PIP_COMPILE) --extra postgres --extra test -o requirements/test.txt
	$(PIP_COMPILE) --extra postgres --extra test --extra bench -o requirements/bench.txt

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
	rm -rf $(VENV) $(PIPTOOLS) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
