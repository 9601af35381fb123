#!/usr/bin/env bash
# Builds onnxquant, creates the benchmark environment .venv-bench (bench/requirements.txt), and runs
# bench/run_bench.py with the given options, for example:
#   scripts/bench.sh --shape phi3-mini --layers 2
# See `scripts/bench.sh --help` and docs/performance.md.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv-bench"

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$root/bench/requirements.txt"
mkdir -p "$root/build"
"$root/scripts/build.sh" > "$root/build/bench-build.log" 2>&1 || { cat "$root/build/bench-build.log"; exit 1; }
exec "$venv/bin/python" "$root/bench/run_bench.py" "$@"
