#!/usr/bin/env bash
# Builds the libFuzzer targets with clang, ASan and UBSan in build-sanitize/ (the build of
# scripts/test-sanitizers.sh), writes the seed corpus and runs each target for a bounded time.
#
#   scripts/run-fuzz.sh [SECONDS_PER_TARGET]     (default 60)
#
# Inputs that crash a target are written to build-sanitize/crashes/TARGET/. The corpus grows in
# build-sanitize/corpus/, so a second run continues where the first stopped.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${1:-60}"
python="${ONNXQUANT_PYTHON:-$root/.venv/bin/python}"

build="$("$root/scripts/configure-sanitized.sh" "$python")"
cmake --build "$build" --parallel 2 --target fuzz_load_inspect fuzz_quantize fuzz_input_file
"$python" "$root/tests/fuzz/make_corpus.py" "$build/corpus"

status=0
for target in load_inspect quantize input_file; do
  mkdir -p "$build/crashes/$target"
  echo "fuzz_$target: $seconds s"
  # -rss_limit_mb bounds a single input's memory use; models declaring huge shapes must be
  # rejected before allocating.
  if ! "$build/tests/fuzz/fuzz_$target" "$build/corpus/$target" -max_total_time="$seconds" -rss_limit_mb=2048 \
      -max_len=65536 -artifact_prefix="$build/crashes/$target/" -print_final_stats=1 2> "$build/fuzz_$target.log"; then
    status=1
  fi
  grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|ERROR|SUMMARY" "$build/fuzz_$target.log" || true
done
exit "$status"
