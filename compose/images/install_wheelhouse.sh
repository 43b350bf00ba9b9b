#!/bin/sh
# Run in each service image's build stage, in two steps so that a change of nasforge's own
# code rebuilds only the second layer:
#   install_wheelhouse.sh deps      a virtual environment at /opt/venv with every wheel of
#                                   /wheelhouse (the dependencies, resolved on the host)
#   install_wheelhouse.sh project   nasforge's wheel from /project, then pip itself removed
# No index is reachable from a build: everything comes from those folders.
set -eu
case "$1" in
deps)
    python3 -m venv /opt/venv
    /opt/venv/bin/pip install --quiet --no-index --no-cache-dir --no-deps /wheelhouse/*.whl
    ;;
project)
    /opt/venv/bin/pip install --quiet --no-index --no-cache-dir --no-deps /project/*.whl
    /opt/venv/bin/pip check
    /opt/venv/bin/pip uninstall -y -q pip setuptools
    ;;
*)
    echo "usage: install_wheelhouse.sh deps|project" >&2
    exit 2
    ;;
esac
