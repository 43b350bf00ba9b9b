#!/usr/bin/env bash
# Make sure a Docker engine is installed and running (Debian docker.io; dockerd started in
# the background when none answers), with gVisor registered as runtime `runsc`
# (scripts/ensure_gvisor.sh: a running engine is reloaded with SIGHUP, never restarted).
# Idempotent; prints what it did.
set -euo pipefail

if ! command -v dockerd >/dev/null 2>&1; then
    echo "installing docker.io (Debian)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi
bash "$(dirname "$0")/ensure_gvisor.sh"
if docker info >/dev/null 2>&1; then
    echo "docker engine already running"
    exit 0
fi
echo "starting dockerd"
mkdir -p /var/log
# In a session of its own: a job runner that ends the caller's process group (a CI step,
# a tool's shell) must not take the engine down with it.
setsid nohup dockerd >>/var/log/nasforge-dockerd.log 2>&1 </dev/null &
for _ in $(seq 60); do
    if docker info >/dev/null 2>&1; then
        echo "docker engine running: $(docker version --format '{{.Server.Version}}')"
        exit 0
    fi
    sleep 1
done
echo "dockerd did not start; see /var/log/nasforge-dockerd.log" >&2
tail -20 /var/log/nasforge-dockerd.log >&2 || true
exit 1
