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

# The project is installed editable (for the `nasforge` script and the dependencies), and
# a .pth file puts the repository root on sys.path, so packages created after the install
# (the generated `nasforge` stubs) import too.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --editable '.[test]'
	echo "$(CURDIR)" > "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/nasforge-repo.pth"
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
