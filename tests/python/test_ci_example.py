"""The CI example examples/ci/shrink-and-gate.sh: it passes a model that meets its gate and fails the
job with exit code 6, keeping the model and the report, when the gate is violated."""

from __future__ import annotations

import json
import os
import subprocess

from conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "examples" / "ci" / "shrink-and-gate.sh"


def run_example(onnxquant_bin, model, out_dir, precision, **gates):
    environment = dict(os.environ, ONNXQUANT=str(onnxquant_bin), EVAL_SAMPLES="2", **gates)
    return subprocess.run(["bash", str(SCRIPT), str(model), str(out_dir), precision], capture_output=True,
                          text=True, timeout=600, check=False, env=environment)


def test_ci_example_passes_int8(onnxquant_bin, generated_models, tmp_path):
    result = run_example(onnxquant_bin, generated_models["phi3-tiny"], tmp_path / "out", "int8",
                         MIN_COSINE="0.95", MAX_KL="0.05")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "phi3_tiny.int8.onnx").is_file()
    report = json.loads((tmp_path / "out" / "phi3_tiny.int8.json").read_text())
    assert report["evaluation"]["outputs"], "the report has no evaluation figures"
    assert report["evaluation"]["passed"] is True


def test_ci_example_fails_job_on_gate(onnxquant_bin, generated_models, tmp_path):
    # INT4 changes every logit, so no output reaches a cosine of exactly 1.
    result = run_example(onnxquant_bin, generated_models["phi3-tiny"], tmp_path / "out", "int4", MIN_COSINE="1")
    assert result.returncode == 6, result.stderr
    assert "accuracy gate failed" in result.stderr
    assert (tmp_path / "out" / "phi3_tiny.int4.onnx").is_file()
    report = json.loads((tmp_path / "out" / "phi3_tiny.int4.json").read_text())
    assert report["evaluation"]["passed"] is False
    assert report["evaluation"]["violations"], "a failed gate lists no violation"


def test_ci_example_reports_usage_error(onnxquant_bin, tmp_path):
    result = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert "usage:" in result.stderr
