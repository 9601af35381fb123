"""Tests for the benchmark harness: bench/measure.py and bench/run_bench.py without the anchors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "bench"))

from measure import run_measured  # noqa: E402


def onnxquant_binary() -> Path:
    binary = Path(os.environ.get("ONNXQUANT_BIN", REPO_ROOT / "build" / "onnxquant"))
    if not binary.exists():
        pytest.fail("onnxquant binary not found: build it (scripts/build.sh) or set ONNXQUANT_BIN")
    return binary


def test_measure_reports_exit_code_and_output(tmp_path):
    run = run_measured(["sh", "-c", "echo broken >&2; exit 3"], tmp_path / "log", 60, 1024)

    assert run.status == "failed with exit code 3"
    assert run.message == "broken"


def test_measure_kills_on_timeout(tmp_path):
    run = run_measured(["sleep", "30"], tmp_path / "log", 0.5, 1024)

    assert run.status.startswith("timed out after")
    assert run.seconds < 10


def test_measure_kills_over_memory_limit(tmp_path):
    allocate = "import time; block = bytearray(400 * 2**20); time.sleep(30)"
    run = run_measured([sys.executable, "-c", allocate], tmp_path / "log", 60, 200)

    assert run.status == "over the memory limit of 200 MiB"
    assert run.seconds < 20


def test_measure_reports_peak_rss_and_cpu_time(tmp_path):
    work = "block = bytearray(300 * 2**20)\nfor index in range(0, len(block), 4096): block[index] = 1\n" \
           "total = sum(range(3 * 10**7))"
    run = run_measured([sys.executable, "-c", work], tmp_path / "log", 120, 4096)

    assert run.ok, run.message
    assert 300 < run.peak_rss_mib < 600
    assert run.cpu_seconds > 0.1


def test_run_bench_without_anchors(tmp_path):
    command = [sys.executable, str(REPO_ROOT / "bench" / "run_bench.py"), "--shape", "phi3-mini", "--layers", "1",
               "--hidden", "192", "--intermediate", "512", "--vocab", "1000", "--no-anchors",
               "--binary", str(onnxquant_binary()), "--work-dir", str(tmp_path / "work"),
               "--results-dir", str(tmp_path / "results")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr

    results = json.loads((tmp_path / "results" / "phi3-mini-1layers-hidden192.json").read_text())
    rows = {row["precision"]: row for row in results["rows"]}
    assert sorted(rows) == ["fp16", "int4", "int8"]
    for row in rows.values():
        assert row["tool"] == "onnxquant"
        assert row["status"] == "ok", row
        assert row["cosine"] > 0.9
        assert row["peak_rss_mib"] > 0
    assert rows["fp16"]["output_mib"] < 0.6 * results["model"]["size_mib"]
    targets = [target["target"] for target in results["targets"]]
    assert "INT8 within 2x of the copy time" in targets
    assert any(target.startswith("peak RSS under 2 GiB") for target in targets)
    assert "| onnxquant | int4 |" in (tmp_path / "results" / "phi3-mini-1layers-hidden192.md").read_text()
    assert "targets:" in result.stdout
    assert not (tmp_path / "work" / "model.onnx.data").exists(), "the generated model is deleted at the end"


def _rss_target(shape_overrides: dict[str, int]) -> dict[str, object]:
    import run_bench

    shape = {"name": "phi3-mini", "layers": 32, "hidden": 3072, "intermediate": 8192, "vocab": 32064}
    row = run_bench.Row("onnxquant", "int8", "ok", 1.0, 1.0, 700.0, 100.0, 0.9, 0.5, "")
    return run_bench.evaluate_targets([row], 1.0, shape | shape_overrides)[-1]


def test_rss_target_full_size_needs_every_dimension():
    assert _rss_target({})["target"].endswith("(full size)")
    assert _rss_target({})["result"] == "PASS"
    assert _rss_target({"intermediate": 2048})["target"].endswith("(scaled to intermediate 2048)")
    assert _rss_target({"layers": 2, "vocab": 1000})["target"].endswith("(scaled to 2 layers, vocabulary 1000)")
