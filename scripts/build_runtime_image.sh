#!/usr/bin/env bash
# Build the runtime image (checks and training) locally, with no registry:
#   1. a Debian bookworm base made by debootstrap and `docker import` (skipped when
#      BASE_IMAGE names another base, e.g. python:3.11-slim on a machine with a registry);
#   2. a wheelhouse downloaded on the host (CPU torch 2.13.0 + torchvision 0.28.0 by default,
#      torchvision's Python part only: see compose/runtime/torchvision_cpu.py; TORCH_FLAVOR=cuda
#      takes torch 2.14.1 + torchvision 0.29.1, the CUDA build, for GPU hosts);
#   3. docker build of compose/runtime/Dockerfile;
#   4. the torch and torchvision name index copied out of the image to var/torch_index.json.
# Usage: scripts/build_runtime_image.sh [IMAGE_TAG]   (env: TORCH_FLAVOR, BASE_IMAGE, PYTHON)
set -euo pipefail
cd "$(dirname "$0")/.."

flavor=${TORCH_FLAVOR:-cpu}
image=${1:-nasforge-runtime:${flavor}}
base=${BASE_IMAGE:-nasforge-base:bookworm}
python=${PYTHON:-.venv/bin/python}
context=build/runtime-context
t0=$(date +%s)

source scripts/lib/base_image.sh
ensure_base_image "$base"

rm -rf "$context"
mkdir -p "$context/wheelhouse"
case "$flavor" in
    cpu) requirements="torch==2.13.0 torchvision==0.28.0" ;;
    cuda) requirements="torch==2.14.1 torchvision==0.29.1" ;;
    *) echo "TORCH_FLAVOR must be cpu or cuda" >&2; exit 2 ;;
esac
printf '%s\n' $requirements >"$context/wheelhouse/requirements.txt"
"$python" -m pip download --quiet --only-binary=:all: -d "$context/wheelhouse" \
    -r "$context/wheelhouse/requirements.txt" 2>&1 | grep -v "^WARNING: Location" || true
cp -r compose/runtime/Dockerfile compose/runtime/torchvision_cpu.py netapi "$context/"
find "$context/netapi" -name '__pycache__' -prune -exec rm -rf {} +
echo "wheelhouse ready ($(( $(date +%s) - t0 ))s)"

docker build --quiet --build-arg BASE_IMAGE="$base" --build-arg TORCH_FLAVOR="$flavor" \
    -t "$image" "$context" >/dev/null
mkdir -p var
docker run --rm --network none --entrypoint cat "$image" /opt/nasforge/torch_index.json \
    >var/torch_index.json
echo "built $image ($(( $(date +%s) - t0 ))s); name index in var/torch_index.json"
