# nasforge: one-command setup, stubs, tests.
# `make test` on a fresh machine creates the venv, installs everything, generates the
# gRPC stubs and runs the test suite.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PROTOS := $(shell find proto -name '*.proto')
STUBS_STAMP := nasforge/.generated

.PHONY: install proto test test-unit lint clean demo help

help:
	@echo "make install  - create $(VENV), install nasforge and its dependencies, generate stubs"
	@echo "make test     - install, then run the whole test suite"
	@echo "make lint     - ruff"
	@echo "make demo     - the main job (not built yet: see README)"

install: $(VENV)/.installed $(STUBS_STAMP)

# Dependencies are installed first (grpcio-tools is needed to generate the stubs),
# then the project itself, editable, so the generated `nasforge` package is importable.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --editable '.[test]' --config-settings editable_mode=compat
	touch $@

proto: $(STUBS_STAMP)

$(STUBS_STAMP): $(PROTOS) $(VENV)/.installed
	rm -rf nasforge
	$(BIN)/python -m grpc_tools.protoc -I proto \
		--python_out=. --pyi_out=. --grpc_python_out=. $(PROTOS)
	find nasforge -type d -exec touch {}/__init__.py \;
	touch $@

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

demo:
	@echo "make demo does not exist yet: the NN-Caption campaign arrives with search_core (issue 6)." >&2
	@exit 2

clean:
	rm -rf $(VENV) nasforge .pytest_cache .ruff_cache *.egg-info
