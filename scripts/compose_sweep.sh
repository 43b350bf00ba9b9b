#!/usr/bin/env bash
# Remove what the compose deployment's sandbox_runner and trainer_svc left on the engine:
# containers and volumes whose managed-by label starts with nasforge-compose- (a service
# killed mid-job cannot clean up after itself). Run by `make down` after the services stop.
set -euo pipefail
label=org.nasforge.managed-by
containers=$(docker ps -a --filter "label=$label" --format "{{.ID}} {{.Label \"$label\"}}" \
    | awk '$2 ~ /^nasforge-compose-/ {print $1}')
volumes=$(docker volume ls --filter "label=$label" --format "{{.Name}} {{.Label \"$label\"}}" \
    | awk '$2 ~ /^nasforge-compose-/ {print $1}')
[ -z "$containers" ] || docker rm -f $containers >/dev/null
[ -z "$volumes" ] || docker volume rm -f $volumes >/dev/null
echo "swept $(echo -n "$containers" | grep -c . || true) containers and $(echo -n "$volumes" | grep -c . || true) volumes"
