#!/usr/bin/env bash
# Make sure gVisor (Debian package runsc) is installed and registered as the Docker runtime
# `runsc` in /etc/docker/daemon.json (merged into what is there; idempotent). A running
# dockerd is told with SIGHUP, which reloads `runtimes` without touching its containers: it is
# never restarted here. A dockerd not yet running reads the file when scripts/ensure_docker.sh
# starts it. Where runsc cannot be installed or cannot run a sandbox on this kernel, nothing
# is registered and candidate containers fall back to runc (NASFORGE_*_RUNTIME=auto says so in
# its log). Prints what it did.
set -euo pipefail

DAEMON_JSON=${NASFORGE_DAEMON_JSON:-/etc/docker/daemon.json}

if ! command -v runsc >/dev/null 2>&1; then
    echo "installing runsc (gVisor, Debian)"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq runsc >/dev/null; }; then
        echo "WARNING: runsc could not be installed: candidate containers will run under runc" >&2
        exit 0
    fi
fi
RUNSC=$(command -v runsc)

# Can runsc start a sandbox here at all (platform, kernel)? A sandbox of the host's root,
# no network, running /bin/true: no image needed, so it works before any image is built.
state=$(mktemp -d)
if ! smoke=$(timeout 60 "$RUNSC" --network=none --root="$state" do /bin/true 2>&1); then
    rm -rf "$state"
    echo "WARNING: runsc is installed but cannot start a sandbox on this machine;" \
        "candidate containers will run under runc:" >&2
    echo "$smoke" | tail -5 >&2
    exit 0
fi
rm -rf "$state"

# Merge {"runtimes": {"runsc": ...}} into daemon.json; exit 0 when it changed, 1 when not.
mkdir -p "$(dirname "$DAEMON_JSON")"
changed=0
python3 - "$DAEMON_JSON" "$RUNSC" <<'EOF' || changed=$?
import json, os, sys

path, runsc = sys.argv[1], sys.argv[2]
try:
    with open(path) as f:
        config = json.load(f) if os.path.getsize(path) else {}
except FileNotFoundError:
    config = {}
# --network=none: the Debian build's netstack set-up fails on this engine otherwise; every
# candidate container runs without a network anyway. Not --oci-seccomp: this build then
# refuses every clone of a thread (libgomp and Python threads fail with EPERM), and the
# engine's profile would only filter calls into gVisor's own kernel; gVisor's filter on the
# host is the boundary.
wanted = {"path": runsc, "runtimeArgs": ["--network=none"]}
if config.get("runtimes", {}).get("runsc") == wanted:
    sys.exit(1)
config.setdefault("runtimes", {})["runsc"] = wanted
tmp = path + ".nasforge-tmp"
with open(tmp, "w") as f:
    json.dump(config, f, indent=2)
    f.write("\n")
os.replace(tmp, path)
EOF
case $changed in
    0) echo "registered runtime runsc ($RUNSC) in $DAEMON_JSON" ;;
    1) echo "runtime runsc already registered in $DAEMON_JSON" ;;
    *) echo "could not update $DAEMON_JSON" >&2; exit 1 ;;
esac

# Running engine: reload its configuration (SIGHUP; never a restart) when the file changed
# or the engine does not list runsc yet.
if docker info >/dev/null 2>&1; then
    if [ "$changed" = 1 ] && docker info --format '{{range $name, $_ := .Runtimes}}{{$name}} {{end}}' | grep -qw runsc; then
        echo "docker engine lists runtime runsc"
        exit 0
    fi
    pid=$(cat /var/run/docker.pid 2>/dev/null || pidof dockerd || true)
    if [ -z "$pid" ]; then
        echo "WARNING: docker engine answers but no dockerd pid found: reload it yourself" \
            "(kill -HUP <dockerd pid>) to use runsc" >&2
        exit 0
    fi
    echo "reloading dockerd ($pid) with SIGHUP"
    kill -HUP "$pid"
    for _ in $(seq 20); do
        if docker info --format '{{range $name, $_ := .Runtimes}}{{$name}} {{end}}' | grep -qw runsc; then
            echo "docker engine lists runtime runsc"
            exit 0
        fi
        sleep 0.5
    done
    echo "WARNING: dockerd did not list runsc after SIGHUP; see its log" >&2
fi
