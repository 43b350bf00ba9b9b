#!/usr/bin/env bash
# Build nasforge-postgres (compose/images/postgres: Debian's PostgreSQL with the official
# image's settings) for compose's `scale` profile where no registry serves postgres:16.
# BASE_IMAGE: the local debootstrap base by default (made when missing), debian:bookworm-slim
# where a registry is reachable. The build fetches the package from Debian's archive.
#
# Usage: scripts/build_postgres_image.sh   (env: TAG, default dev; BASE_IMAGE)
set -euo pipefail
cd "$(dirname "$0")/.."

tag=${TAG:-dev}
base=${BASE_IMAGE:-nasforge-base:bookworm}
source scripts/lib/base_image.sh
ensure_base_image "$base"
docker build --quiet --build-arg BASE_IMAGE="$base" -t "nasforge-postgres:$tag" \
    compose/images/postgres >/dev/null
echo "build_postgres_image: built nasforge-postgres:$tag"
