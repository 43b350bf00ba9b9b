# Sourced by the image build scripts. ensure_base_image IMAGE: when IMAGE is the local
# Debian base (nasforge-base:bookworm) and missing, make it with debootstrap and
# `docker import` (about 45 s); any other IMAGE (python:3.11-slim where a registry is
# reachable) is left to `docker build` to pull.
NASFORGE_LOCAL_BASE=nasforge-base:bookworm

ensure_base_image() {
    local base=$1 rootfs t0
    if [ "$base" != "$NASFORGE_LOCAL_BASE" ] || docker image inspect "$base" >/dev/null 2>&1; then
        return 0
    fi
    t0=$(date +%s)
    command -v debootstrap >/dev/null || {
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
    }
    rootfs=$(mktemp -d /tmp/nasforge-rootfs.XXXXXX)
    echo "debootstrap bookworm into $rootfs"
    debootstrap --variant=minbase --include=python3,python3-venv bookworm "$rootfs" \
        >/tmp/nasforge-debootstrap.log 2>&1 || {
        tail -20 /tmp/nasforge-debootstrap.log >&2
        return 1
    }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | docker import - "$base" >/dev/null
    rm -rf "$rootfs"
    echo "base image $base imported ($(( $(date +%s) - t0 ))s)"
}
