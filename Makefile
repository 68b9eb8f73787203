# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# Real third-party Artifactory clients, unchanged, that the sandbox is tested with: JFrog's MLflow
# artifact-store plugin, dohq-artifactory and huggingface_hub. mlflow is large, so they get a venv of
# their own (tests/sandbox/test_mlflow_plugin.py, test_dohq_client.py, test_huggingface_client.py).
CLIENTS_VENV  := .venv-clients
CLIENTS_STAMP := $(CLIENTS_VENV)/.installed-stamp
CLIENTS_PINS  := mlflow-jfrog-plugin==1.0.2 mlflow==3.17.2 dohq-artifactory==1.0.2 huggingface-hub==2.4.0
# JFrog's frogml SDK (tests/sandbox/test_frogml.py): a venv of its own, because beside mlflow it
# pulls protobuf 7 -> 4.25, cloudpickle 3 -> 2.2.1 and opentelemetry-proto down under the mlflow tests.
FROGML_VENV  := .venv-frogml
FROGML_STAMP := $(FROGML_VENV)/.installed-stamp
FROGML_PINS  := frogml==2.1.152

# The light ML libraries whose own saved models the scan is tested on (tests/model/realmodels/).
MODELS_VENV  := .venv-models
MODELS_STAMP := $(MODELS_VENV)/.installed-stamp
MODELS_PINS  := requirements/models-test.txt

.PHONY: install models-venv test unit lint demo demo-hf bench action-yml clean FORCE

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The stamp holds the pins it was built with: a venv made before a pin was added gets it installed.
$(CLIENTS_STAMP): FORCE
	@test -x $(CLIENTS_VENV)/bin/python || $(PYTHON) -m venv $(CLIENTS_VENV)
	@echo '$(CLIENTS_PINS)' | cmp -s - $(CLIENTS_STAMP) || \
		{ $(CLIENTS_VENV)/bin/pip install -q $(CLIENTS_PINS) && echo '$(CLIENTS_PINS)' > $(CLIENTS_STAMP); }

FORCE:

$(FROGML_STAMP):
	$(PYTHON) -m venv $(FROGML_VENV)
	$(FROGML_VENV)/bin/pip install -q $(FROGML_PINS)
	touch $(FROGML_STAMP)

$(MODELS_STAMP): $(MODELS_PINS)
	$(PYTHON) -m venv $(MODELS_VENV)
	$(MODELS_VENV)/bin/pip install -q -r $(MODELS_PINS)
	touch $(MODELS_STAMP)

models-venv: $(MODELS_STAMP)

# The tests, then the linters. pytest's exit code 5 (no tests collected) fails the target.
test: install $(CLIENTS_STAMP) $(FROGML_STAMP) $(MODELS_STAMP)
	MLFLOW_JFROG_VENV=$(CURDIR)/$(CLIENTS_VENV) DOHQ_ARTIFACTORY_VENV=$(CURDIR)/$(CLIENTS_VENV) \
	HUGGINGFACE_HUB_VENV=$(CURDIR)/$(CLIENTS_VENV) FROGML_VENV=$(CURDIR)/$(FROGML_VENV) \
	ML_MODELS_VENV=$(CURDIR)/$(MODELS_VENV) ML_ACTION_NO_SKIPS=1 $(BIN)/pytest -q -n 2
	$(MAKE) lint

lint: install
	bash scripts/lint.sh

demo: install
	bash scripts/demo.sh

# The same into Hugging Face repositories, ending with huggingface_hub's snapshot_download.
demo-hf: install $(CLIENTS_STAMP)
	bash scripts/demo_hf.sh

bench: install
	bash scripts/bench.sh

# action.yml and README's reference tables, from the settings model.
action-yml: install
	$(BIN)/python scripts/gen_action_yml.py

clean:
	rm -rf $(VENV) $(CLIENTS_VENV) $(FROGML_VENV) $(MODELS_VENV) build dist .pytest_cache .mypy_cache .ruff_cache .hypothesis demo-out demo-out-hf
