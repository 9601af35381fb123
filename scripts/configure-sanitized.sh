#!/usr/bin/env bash
# Configures the sanitized build in build-sanitize/ and prints its path: clang 14, ASan, UBSan and
# the libFuzzer instrumentation, with the tests and the fuzz targets. scripts/test-sanitizers.sh and
# scripts/run-fuzz.sh share it, so CI compiles the sources once for both.
#
#   scripts/configure-sanitized.sh [PYTHON]     (the test environment's python, default .venv)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build-sanitize"
python="${1:-$root/.venv/bin/python}"

"$root/scripts/install-fuzz-deps.sh" >&2
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DONNXQUANT_SANITIZE=ON \
  -DONNXQUANT_FUZZ=ON -DONNXQUANT_PYTHON="$python" > /dev/null
echo "$build"
