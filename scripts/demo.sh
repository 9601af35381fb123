#!/usr/bin/env bash
# Installs, builds, and quantizes a real model to INT8 with an accuracy report: the PP-OCRv4 text
# recognition model (trained weights, Paddle2ONNX export with Constant-node weights) that the PyPI
# wheel rapidocr-onnxruntime ships.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/install-deps.sh"
"$root/scripts/setup-python.sh"
"$root/scripts/build.sh"

model="$("$root/.venv/bin/python" - <<'PY'
import importlib.util, pathlib
spec = importlib.util.find_spec("rapidocr_onnxruntime")
print(pathlib.Path(spec.submodule_search_locations[0]) / "models" / "ch_PP-OCRv4_rec_infer.onnx")
PY
)"
out="$root/build/demo"
mkdir -p "$out"
"$root/build/onnxquant" quantize "$model" -p int8 -o "$out/ppocr_rec_int8.onnx" --report "$out/ppocr_rec_int8.json"
echo
echo "Quantized model: $out/ppocr_rec_int8.onnx"
echo "JSON report:     $out/ppocr_rec_int8.json"
