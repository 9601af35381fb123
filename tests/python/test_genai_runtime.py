"""onnxquant's INT4 GenAI folders in ONNX Runtime GenAI, against the model builder's own INT4.

A tiny Phi-3 model (genai_runner.make_hf) is exported by the GenAI model builder in fp32 and in
int4. onnxquant quantizes the fp32 folder, and GenAI generates tokens from every folder. The
GenAI environment is .venv-genai (scripts/setup-genai.sh): onnxruntime-genai needs a newer ONNX
Runtime than the pinned one of .venv, so it lives apart.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import REPO_ROOT

GENAI_PYTHON = Path(os.environ.get("ONNXQUANT_GENAI_PYTHON", REPO_ROOT / ".venv-genai" / "bin" / "python"))
RUNNER = Path(__file__).resolve().parent / "genai_runner.py"

# Thresholds measured on the tiny model (docs/genai.md): onnxquant reaches a mean logits cosine of
# 0.981 and a top-1 agreement of 0.72, the builder's INT4 0.979 and 0.82.
MIN_COSINE_MEAN = 0.97
MIN_TOP1_AGREEMENT = 0.6
# onnxquant's logits may be at most this much less similar to fp32 than the builder's are.
COSINE_MARGIN_TO_BUILDER = 0.005


def run_runner(*arguments: str | Path, timeout: int = 900) -> str:
    completed = subprocess.run([str(GENAI_PYTHON), str(RUNNER), *map(str, arguments)], capture_output=True, text=True,
                               timeout=timeout, check=False)
    assert completed.returncode == 0, f"genai_runner {arguments[0]} failed:\n{completed.stderr[-4000:]}"
    return completed.stdout


def require_genai_python() -> None:
    """Skips the test when the GenAI environment is absent, but fails under CI, which installs it."""
    if GENAI_PYTHON.exists():
        return
    message = f"the GenAI environment {GENAI_PYTHON} is absent; run scripts/setup-genai.sh"
    if os.environ.get("CI"):
        pytest.fail(message + " (CI installs it through scripts/test.sh)")
    pytest.skip(message)


@pytest.fixture(scope="module")
def genai_folders(tmp_path_factory, run_onnxquant) -> dict[str, Path]:
    require_genai_python()
    work = tmp_path_factory.mktemp("genai")
    run_runner("make-hf", work / "hf")
    run_runner("export", work / "hf", work / "fp32", "-p", "fp32")
    run_runner("export", work / "hf", work / "builder-int4", "-p", "int4")
    result = run_onnxquant("quantize", work / "fp32", "-p", "int4", "-o", work / "onnxquant-int4",
                           "--report", work / "report.json", "--no-table")
    assert result.returncode == 0, result.stderr
    return {"work": work, "fp32": work / "fp32", "builder": work / "builder-int4", "ours": work / "onnxquant-int4"}


@pytest.fixture(scope="module")
def comparison(genai_folders) -> dict:
    output = run_runner("compare", genai_folders["fp32"], genai_folders["ours"], genai_folders["builder"])
    return json.loads(output)


def test_output_folder_has_every_file(genai_folders):
    fp32_files = sorted(path.name for path in genai_folders["fp32"].iterdir())
    ours_files = sorted(path.name for path in genai_folders["ours"].iterdir())
    assert ours_files == fp32_files
    config = (genai_folders["ours"] / "genai_config.json").read_bytes()
    assert config == (genai_folders["fp32"] / "genai_config.json").read_bytes()


def test_report_covers_decoder(genai_folders):
    report = json.loads((genai_folders["work"] / "report.json").read_text())
    assert [model["file"] for model in report["models"]] == ["model.onnx"]
    assert report["models"][0]["config_keys"] == ["/model/decoder/filename"]
    tensors = report["models"][0]["report"]["tensors"]
    # Two layers of qkv, o, gate, up and down projections, and the lm_head.
    assert len(tensors) == 11
    assert all(tensor["dtype_after"] == "int4" for tensor in tensors)


def test_genai_generates_tokens(comparison):
    ours = comparison["candidates"][0]
    for tokens in ours["tokens"]:
        assert len(tokens) == 48
        assert all(0 <= token < 1024 for token in tokens)


def test_logits_close_to_fp32(comparison):
    ours = comparison["candidates"][0]
    assert ours["cosine_mean"] >= MIN_COSINE_MEAN, ours
    assert ours["top1_agreement"] >= MIN_TOP1_AGREEMENT, ours


def test_first_greedy_tokens_agree(comparison):
    ours = comparison["candidates"][0]
    first_tokens = [tokens[0] for tokens in ours["tokens"]]
    reference_first = [tokens[0] for tokens in comparison["reference_tokens"]]
    agreeing = sum(a == b for a, b in zip(first_tokens, reference_first))
    assert agreeing >= len(first_tokens) - 1, (first_tokens, reference_first)


def test_accuracy_near_builder_int4(comparison):
    ours, builder = comparison["candidates"]
    assert ours["cosine_mean"] >= builder["cosine_mean"] - COSINE_MARGIN_TO_BUILDER, (ours, builder)


def test_size_near_builder_int4(comparison):
    ours, builder = comparison["candidates"]
    assert ours["bytes"] < comparison["reference_bytes"] / 3
    assert ours["bytes"] <= builder["bytes"] * 1.05, (ours["bytes"], builder["bytes"])


def test_shared_tiny_llama_folder(run_onnxquant, tmp_path):
    """The GenAI test model tiny-random LlamaForCausalLM (float16, external data), when the shared
    models folder has it."""
    from realmodels import shared_models_dir

    folder = shared_models_dir() / "genai-tiny-llama-fp16"
    if not (folder / "genai_config.json").exists():
        pytest.skip(f"{folder} is absent")
    require_genai_python()
    output = tmp_path / "tiny-llama-int4"
    result = run_onnxquant("quantize", folder, "-p", "int4", "-o", output, "--no-table")
    assert result.returncode == 0, result.stderr

    comparison = json.loads(run_runner("compare", folder, output))
    ours = comparison["candidates"][0]
    assert all(len(tokens) == 48 for tokens in ours["tokens"])
    assert ours["cosine_mean"] >= MIN_COSINE_MEAN, ours
    assert ours["top1_agreement"] >= MIN_TOP1_AGREEMENT, ours
