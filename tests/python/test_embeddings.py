"""--quantize-embeddings: Gather tables in INT8 (DequantizeLinear) and INT4 (GatherBlockQuantized),
and a tied lm_head sharing the INT4 data, checked in ONNX Runtime."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import ortcheck

PHI3_OVERRIDES = {"input_ids": (0, 512)}
PHI3_DIMS = {"batch": 2, "sequence": 9}


def quantize(run_onnxquant, model: Path, folder: Path, *arguments: str) -> tuple[Path, dict]:
    output = folder / "out.onnx"
    report_path = folder / "report.json"
    result = run_onnxquant("quantize", model, *arguments, "--quantize-embeddings", "-o", output, "--report",
                           report_path, "--no-table")
    assert result.returncode == 0, result.stderr
    return output, json.loads(report_path.read_text())


@pytest.fixture
def tied_phi3(generated_models, tmp_path) -> Path:
    """The Phi-3-shaped model with lm_head set to the transposed embedding table."""
    model = onnx.load(str(generated_models["phi3-tiny"]))
    initializers = {tensor.name: tensor for tensor in model.graph.initializer}
    table = numpy_helper.to_array(initializers["model.embed_tokens.weight"])
    initializers["lm_head.weight"].CopyFrom(numpy_helper.from_array(np.ascontiguousarray(table.T), "lm_head.weight"))
    path = tmp_path / "tied.onnx"
    onnx.save(model, path)
    return path


@pytest.mark.parametrize("asymmetric", [False, True], ids=["symmetric", "asymmetric"])
def test_tied_int4_shares_data(run_onnxquant, tied_phi3, tmp_path, asymmetric):
    extra = ["--asymmetric"] if asymmetric else []
    output, report = quantize(run_onnxquant, tied_phi3, tmp_path, "-p", "int4", *extra)
    model = onnx.load(str(output))
    gather = next(node for node in model.graph.node if node.op_type == "GatherBlockQuantized")
    lm_head = next(node for node in model.graph.node if node.name == "/lm_head/MatMul")
    assert lm_head.op_type == "MatMulNBits"
    assert lm_head.input[1] == gather.input[0]
    assert lm_head.input[2] == gather.input[2]
    assert "lm_head.weight" not in {tensor.name for tensor in model.graph.initializer}
    assert any("hold the same data" in note for note in report["notes"])
    result = ortcheck.check_agreement(tied_phi3, output, 0.93, None, overrides=PHI3_OVERRIDES, dims=PHI3_DIMS)
    assert result.ok, "\n".join(result.violations)


def test_untied_tables_not_shared(run_onnxquant, generated_models, tmp_path):
    output, report = quantize(run_onnxquant, generated_models["phi3-tiny"], tmp_path, "-p", "int4")
    model = onnx.load(str(output))
    gather = next(node for node in model.graph.node if node.op_type == "GatherBlockQuantized")
    lm_head = next(node for node in model.graph.node if node.name == "/lm_head/MatMul")
    assert lm_head.input[1] != gather.input[0]
    assert not any("hold the same data" in note for note in report["notes"])


def test_int8_embedding_per_row(run_onnxquant, generated_models, tmp_path):
    original = generated_models["phi3-tiny"]
    output, report = quantize(run_onnxquant, original, tmp_path, "-p", "int8", "--per-channel")
    entry = next(entry for entry in report["tensors"] if entry["name"] == "model.embed_tokens.weight")
    assert entry["axis"] == 0
    assert entry["op_types"] == ["Gather"]
    result = ortcheck.check_agreement(original, output, 0.999, None, overrides=PHI3_OVERRIDES, dims=PHI3_DIMS)
    assert result.ok, "\n".join(result.violations)


def test_gather_block_quantized_matches_decoding(run_onnxquant, tmp_path):
    """ONNX Runtime's GatherBlockQuantized rows equal an independent numpy decoding of the data."""
    rng = np.random.default_rng(9)
    table = rng.standard_normal((16, 64)).astype(np.float32)
    graph = helper.make_graph([helper.make_node("Gather", ["table", "ids"], ["rows"])], "g",
                              [helper.make_tensor_value_info("ids", TensorProto.INT64, [3])],
                              [helper.make_tensor_value_info("rows", TensorProto.FLOAT, [3, 64])],
                              [numpy_helper.from_array(table, "table")])
    original = tmp_path / "gather.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), original)
    output, report = quantize(run_onnxquant, original, tmp_path, "-p", "int4", "--min-elements", "0")
    model = onnx.load(str(output))
    initializers = {tensor.name: numpy_helper.to_array(tensor) for tensor in model.graph.initializer}
    node = model.graph.node[0]
    packed, scales = initializers[node.input[0]], initializers[node.input[2]]
    codes = np.empty((16, 64), dtype=np.int32)
    codes[:, 0::2] = packed & 0x0F
    codes[:, 1::2] = packed >> 4
    decoded = (codes - 8).astype(np.float32) * np.repeat(scales, 32, axis=1)

    ids = np.array([0, 7, 15])
    rows = ort.InferenceSession(str(output), providers=["CPUExecutionProvider"]).run(None, {"ids": ids})[0]
    np.testing.assert_allclose(rows, decoded[ids], rtol=1e-6, atol=1e-7)
    assert float(np.abs(decoded - table).max()) == pytest.approx(report["tensors"][0]["max_abs_error"], rel=1e-5)


def test_restore_folds_gather_block_quantized(run_onnxquant, generated_models, tmp_path):
    quantized, _ = quantize(run_onnxquant, generated_models["phi3-tiny"], tmp_path, "-p", "int4")
    restored = tmp_path / "restored.onnx"
    result = run_onnxquant("quantize", quantized, "-p", "fp32", "-o", restored)
    assert result.returncode == 0, result.stderr
    model = onnx.load(str(restored))
    assert not {"GatherBlockQuantized", "MatMulNBits"} & {node.op_type for node in model.graph.node}
    assert "model.embed_tokens.weight" in {tensor.name for tensor in model.graph.initializer}
    agreement = ortcheck.check_agreement(quantized, restored, 0.99999, 1e-3, overrides=PHI3_OVERRIDES, dims=PHI3_DIMS)
    assert agreement.ok, "\n".join(agreement.violations)


def test_check_validates_gather_block_quantized(run_onnxquant, tied_phi3, tmp_path):
    output, _ = quantize(run_onnxquant, tied_phi3, tmp_path, "-p", "int4")
    clean = run_onnxquant("check", output)
    assert clean.returncode == 0, clean.stdout + clean.stderr

    model = onnx.load(str(output))
    gather = next(node for node in model.graph.node if node.op_type == "GatherBlockQuantized")
    scales = next(tensor for tensor in model.graph.initializer if tensor.name == gather.input[2])
    broken = numpy_helper.to_array(scales)[:, :2].copy()
    broken[0, 0] = np.nan
    scales.CopyFrom(numpy_helper.from_array(broken, scales.name))
    broken_path = tmp_path / "broken.onnx"
    onnx.save(model, broken_path)
    result = run_onnxquant("check", broken_path)
    assert result.returncode == 3
    assert "scales have shape" in result.stdout + result.stderr
    assert "finite and nonzero" in result.stdout + result.stderr
