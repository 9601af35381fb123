#!/usr/bin/env bash
# Builds onnxquant with clang, AddressSanitizer and UndefinedBehaviorSanitizer in build-sanitize/
# and runs the whole CTest suite against it: the unit tests, and the Python tests running the
# sanitized binary. ONNX Runtime, which the Python tests load as the oracle, is not instrumented.
# The same build contains the libFuzzer targets, which scripts/run-fuzz.sh runs.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
jobs="${JOBS:-2}"

# ONNXQUANT_PYTHON names an existing test environment; without it, setup-python.sh creates .venv.
python="${ONNXQUANT_PYTHON:-$root/.venv/bin/python}"

"$root/scripts/install-deps.sh"
if [ -z "${ONNXQUANT_PYTHON:-}" ]; then
  "$root/scripts/setup-python.sh"
fi
build="$("$root/scripts/configure-sanitized.sh" "$python")"
cmake --build "$build" --parallel "$jobs"
# Any report fails the run: UBSan stops at the first error, ASan checks leaks at exit.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# Some tests run in the plain build only. The Python tests listed below spend their time in other
# runtimes (ONNX Runtime GenAI, OpenVINO, Chromium) or on large generated models, and so do the
# benchmark and packaging tests. Under the sanitizers they would take most of the time while
# exercising little of onnxquant's own code.
skipped_python="test_genai_runtime.py test_genai_folder.py test_openvino.py test_html_report.py"
skipped_python="$skipped_python test_memory_bounds.py test_ci_example.py"
ignore=""
for file in $skipped_python; do
  ignore="$ignore --ignore=$root/tests/python/$file"
done
export PYTEST_ADDOPTS="${PYTEST_ADDOPTS:-}$ignore"
ctest --test-dir "$build" --output-on-failure --parallel "$jobs" -E "^(pytest_bench|package_install_and_example)$"
