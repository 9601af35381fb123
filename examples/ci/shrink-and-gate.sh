#!/usr/bin/env bash
# Shrinks a model for release and fails the CI job when the quantized model's outputs drift too far
# from the original's.
#
# Usage: shrink-and-gate.sh MODEL.onnx OUTPUT_FOLDER [PRECISION]
#
# Environment (all optional):
#   ONNXQUANT      the onnxquant binary (default: onnxquant on PATH)
#   MIN_COSINE     lowest cosine similarity allowed for any output (default 0.99)
#   MAX_KL         largest KL divergence allowed for logits outputs (default: no KL gate)
#   EVAL_SAMPLES   generated input samples to evaluate on (default 4)
#
# Exit codes: 0 when the model was written and every gate passed. 6 when a gate failed: the model
# and the report are still written, so the job can keep them as artifacts. Any other code is
# onnxquant's own (2 usage, 3 invalid model, 4 I/O) and means quantization itself failed.
set -euo pipefail

if [ "$#" -lt 2 ] || [ "$#" -gt 3 ]; then
  echo "usage: $0 MODEL.onnx OUTPUT_FOLDER [PRECISION]" >&2
  exit 2
fi
model="$1"
out_dir="$2"
precision="${3:-int4}"
onnxquant="${ONNXQUANT:-onnxquant}"
name="$(basename "$model" .onnx)"

gates=(--min-cosine "${MIN_COSINE:-0.99}")
if [ -n "${MAX_KL:-}" ]; then
  gates+=(--max-kl "$MAX_KL")
fi

mkdir -p "$out_dir"
status=0
"$onnxquant" -q quantize "$model" -p "$precision" -o "$out_dir/$name.$precision.onnx" \
  --eval-samples "${EVAL_SAMPLES:-4}" "${gates[@]}" \
  --report "$out_dir/$name.$precision.json" || status=$?

case "$status" in
  0) echo "onnxquant: $name.$precision.onnx written; every accuracy gate passed" ;;
  6) echo "onnxquant: accuracy gate failed for $name at $precision; see $out_dir/$name.$precision.json" >&2 ;;
  *) echo "onnxquant: quantization of $model failed with exit code $status" >&2 ;;
esac
exit "$status"
