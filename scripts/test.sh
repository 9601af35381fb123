#!/usr/bin/env bash
# Installs everything, builds, and runs every test: unit tests, the ONNX Runtime end-to-end tests
# and the ONNX Runtime GenAI tests.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/install-deps.sh"
"$root/scripts/setup-python.sh"
"$root/scripts/setup-genai.sh"
"$root/scripts/build.sh"
ctest --test-dir "$root/build" --output-on-failure --parallel "$(nproc)"
