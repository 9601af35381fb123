"""--override, --mixed sensitive and --config, checked on the Phi-3-shaped model in ONNX Runtime."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest

import ortcheck

PHI3_OVERRIDES = {"input_ids": (0, 512)}
PHI3_DIMS = {"batch": 2, "sequence": 9}


def quantize(run_onnxquant, model: Path, folder: Path, *arguments: str) -> tuple[Path, dict]:
    output = folder / "out.onnx"
    report_path = folder / "report.json"
    result = run_onnxquant("quantize", model, *arguments, "-o", output, "--report", report_path, "--no-table")
    assert result.returncode == 0, result.stderr
    return output, json.loads(report_path.read_text())


def by_name(report: dict) -> dict[str, dict]:
    return {entry["name"]: entry for entry in report["tensors"]}


def test_override_last_match_wins(run_onnxquant, generated_models, tmp_path):
    model = generated_models["phi3-tiny"]
    output, report = quantize(run_onnxquant, model, tmp_path, "-p", "int4", "--override", "*mlp*=int8",
                              "--override", "*down_proj*=fp16", "--override", "lm_head.weight=skip")
    tensors = by_name(report)
    assert tensors["model.layers.0.mlp.gate_up_proj.weight"]["dtype_after"] == "int8"
    assert tensors["model.layers.0.mlp.gate_up_proj.weight"]["precision_source"] == "--override *mlp*=int8"
    assert tensors["model.layers.0.mlp.down_proj.weight"]["dtype_after"] == "float16"
    assert tensors["model.layers.0.self_attn.qkv_proj.weight"]["dtype_after"] == "int4"
    assert tensors["model.layers.0.self_attn.qkv_proj.weight"]["precision_source"] == ""
    skipped = {entry["name"]: entry for entry in report["skipped"]}
    assert "--override lm_head.weight=skip" in skipped["lm_head.weight"]["reason"]

    ops = {node.op_type for node in onnx.load(str(output)).graph.node}
    assert {"MatMulNBits", "DequantizeLinear", "Cast", "MatMul"} <= ops
    result = ortcheck.check_agreement(model, output, 0.97, None, overrides=PHI3_OVERRIDES, dims=PHI3_DIMS)
    assert result.ok, "\n".join(result.violations)


def test_override_matches_node_names(run_onnxquant, generated_models, tmp_path):
    _, report = quantize(run_onnxquant, generated_models["phi3-tiny"], tmp_path, "-p", "int8", "--override",
                         "/model/layers.1/*=int4")
    tensors = by_name(report)
    assert tensors["model.layers.1.self_attn.o_proj.weight"]["dtype_after"] == "int4"
    assert tensors["model.layers.0.self_attn.o_proj.weight"]["dtype_after"] == "int8"


def test_mixed_policy_moves_sensitive_weights(run_onnxquant, generated_models, tmp_path):
    model = generated_models["phi3-tiny"]
    output, report = quantize(run_onnxquant, model, tmp_path, "-p", "int4", "--mixed", "sensitive")
    tensors = by_name(report)
    assert tensors["lm_head.weight"]["dtype_after"] == "int8"
    assert tensors["lm_head.weight"]["precision_source"] == "mixed policy: output projection"
    moved = [entry for entry in report["tensors"] if "lowest" in entry["precision_source"]]
    assert len(moved) >= 1
    int4_sqnr = [entry["sqnr_db"] for entry in report["tensors"] if entry["dtype_after"] == "int4"]
    # The moved weights are those whose INT4 SQNR was lowest, so every remaining INT4 weight is at
    # least as good as what the moved ones measured.
    for entry in moved:
        measured = float(entry["precision_source"].split("SQNR ")[1].split(" dB")[0])
        assert min(int4_sqnr) >= measured - 0.05
    result = ortcheck.check_agreement(model, output, 0.95, None, overrides=PHI3_OVERRIDES, dims=PHI3_DIMS)
    assert result.ok, "\n".join(result.violations)


def test_config_file_recipe(run_onnxquant, generated_models, tmp_path):
    recipe = tmp_path / "recipe.toml"
    recipe.write_text('[quantize]\nprecision = "int4"\nblock-size = 64\noverride = ["lm_head*=int8"]\n')
    _, report = quantize(run_onnxquant, generated_models["phi3-tiny"], tmp_path, "--config", recipe)
    assert report["options"]["block_size"] == 64
    assert by_name(report)["lm_head.weight"]["dtype_after"] == "int8"
    assert by_name(report)["model.layers.0.self_attn.qkv_proj.weight"]["block_size"] == 64


@pytest.mark.parametrize("arguments", [["-p", "int4", "--override", "x=int3"], ["-p", "fp16", "--override", "x=int8"],
                                       ["-p", "int8", "--mixed", "sensitive"], ["-p", "int4", "--override", "noequals"]],
                         ids=["bad-precision", "float-run", "mixed-int8", "no-equals"])
def test_invalid_mixed_options(run_onnxquant, generated_models, tmp_path, arguments):
    result = run_onnxquant("quantize", generated_models["phi3-tiny"], *arguments, "-o", tmp_path / "out.onnx")
    assert result.returncode == 2
    assert result.stderr.count("[error]") == 1
    assert not (tmp_path / "out.onnx").exists()
