#!/usr/bin/env bash
# Installs onnxquant from BUILD into a scratch prefix, builds examples/ against it with
# find_package(onnxquant), and runs the example on a model that libonnx-testdata ships.
#   tests/package_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
source_dir="$1"
build_dir="$2"
work="$build_dir/package-test"
rm -rf "$work"
cmake --install "$build_dir" --prefix "$work/prefix" > /dev/null
cmake -S "$source_dir/examples" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build "$work/build" > /dev/null
model=/usr/share/libonnx-testdata/data/pytorch-converted/test_Linear/model.onnx
output=$("$work/build/quantize_file" "$model" "$work/out.onnx")
echo "$output"
grep -q "tensors quantized" <<< "$output"
test -s "$work/out.onnx"
