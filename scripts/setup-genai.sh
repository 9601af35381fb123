#!/usr/bin/env bash
# Creates .venv-genai with ONNX Runtime GenAI, its model builder, torch and transformers, pinned in
# tests/python/requirements-genai.txt. It is apart from .venv because onnxruntime-genai needs a newer
# ONNX Runtime than the pinned oracle of the other tests. test_genai_runtime.py runs in it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv-genai"

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$root/tests/python/requirements-genai.txt"
