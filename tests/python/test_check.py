"""`onnxquant check`: each finding on models built to have it, all findings collected, exit codes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

EXIT_INVALID_MODEL = 3
SAME_AS_X = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 8])]


def run_check(binary: Path, model: onnx.ModelProto, folder: Path) -> subprocess.CompletedProcess:
    path = folder / "model.onnx"
    path.write_bytes(model.SerializeToString())
    return subprocess.run([str(binary), "check", str(path)], capture_output=True, text=True, timeout=120,
                          check=False)


def make_model(nodes, initializers, outputs=None, opsets=(("", 17),), value_info=()) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])],
                              outputs or [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])],
                              initializers, value_info=list(value_info))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets], ir_version=8)


def dequantize_model(scales: np.ndarray, axis: int | None, codes_shape=(8, 4)) -> onnx.ModelProto:
    codes = numpy_helper.from_array(np.ones(codes_shape, dtype=np.int8), "w_q")
    scale = numpy_helper.from_array(scales.astype(np.float32), "w_scale")
    zero_point = numpy_helper.from_array(np.zeros(scales.shape, dtype=np.int8), "w_zp")
    attributes = {} if axis is None else {"axis": axis}
    nodes = [helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zp"], ["w"], name="dq", **attributes),
             helper.make_node("MatMul", ["x", "w"], ["y"], name="matmul")]
    return make_model(nodes, [codes, scale, zero_point])


def nbits_model(b_shape, scales: np.ndarray, zero_points: np.ndarray | None = None) -> onnx.ModelProto:
    # K = 8 is padded to one block of 16, so B is [N, 1, 8] for N = 4.
    inputs = [numpy_helper.from_array(np.zeros(b_shape, dtype=np.uint8), "w_q4"),
              numpy_helper.from_array(scales.astype(np.float32), "w_scales")]
    if zero_points is not None:
        inputs.append(numpy_helper.from_array(zero_points, "w_zp"))
    node = helper.make_node("MatMulNBits", ["x"] + [t.name for t in inputs], ["y"], name="nbits",
                            domain="com.microsoft", K=8, N=4, bits=4, block_size=16)
    return make_model([node], inputs, opsets=(("", 17), ("com.microsoft", 1)))


CASES = {
    "dq-clean": (dequantize_model(np.full(4, 0.1), axis=1), []),
    "dq-no-axis": (dequantize_model(np.full(4, 0.1), axis=None), ["has 4 scales but no explicit axis"]),
    "dq-axis-mismatch": (dequantize_model(np.full(4, 0.1), axis=0), ["axis 0 has dimension 8 but there are 4 scales"]),
    "dq-zero-scale": (dequantize_model(np.array([0.1, 0.0, 0.1, 0.1]), axis=1),
                      ["1 of 4 scales are not finite and positive, for example 0"]),
    "dq-nan-scale": (dequantize_model(np.array([np.nan, 0.1, np.inf, -1.0]), axis=1),
                     ["3 of 4 scales are not finite and positive"]),
    "nbits-clean": (nbits_model((4, 1, 8), np.full(4, -0.5)), []),
    "nbits-b-shape": (nbits_model((4, 2, 8), np.full(4, 0.5)), ["B has shape [4, 2, 8] but K, N, bits and block_size "
                                                                 "need [4, 1, 8]"]),
    "nbits-zero-scale": (nbits_model((4, 1, 8), np.array([0.5, 0.0, 0.5, 0.5])),
                         ["1 of 4 scales are not finite and nonzero"]),
    "nbits-scale-count": (nbits_model((4, 1, 8), np.full(8, 0.5)), ["has 8 scales but N x ceil(K / block_size) is 4"]),
    "nbits-zero-points": (nbits_model((4, 1, 8), np.full(4, 0.5), np.zeros((4, 2), dtype=np.uint8)),
                          ["has 8 zero point entries but K, N, bits and block_size need 4"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_check_finding(onnxquant_bin, tmp_path, case):
    model, expected = CASES[case]
    result = run_check(onnxquant_bin, model, tmp_path)
    assert result.returncode == (EXIT_INVALID_MODEL if expected else 0), result.stdout + result.stderr
    for text in expected:
        assert text in result.stdout
    assert len(result.stdout.splitlines()) == len(expected), result.stdout


def test_check_domain_not_imported(onnxquant_bin, tmp_path):
    model = nbits_model((4, 1, 8), np.full(4, 0.5))
    del model.opset_import[1]
    result = run_check(onnxquant_bin, model, tmp_path)
    assert result.returncode == EXIT_INVALID_MODEL
    assert "uses domain 'com.microsoft', which the model's opset imports do not include" in result.stdout


def test_check_out_of_order(onnxquant_bin, tmp_path):
    nodes = [helper.make_node("Identity", ["t"], ["y"], name="late"), helper.make_node("Relu", ["x"], ["t"], name="early")]
    result = run_check(onnxquant_bin, make_model(nodes, [], outputs=SAME_AS_X), tmp_path)
    assert result.returncode == EXIT_INVALID_MODEL
    assert "not in topological order: node 'late' ('Identity') reads the output of node 'early'" in result.stdout


def test_check_shadowed_name(onnxquant_bin, tmp_path):
    branch = helper.make_graph([helper.make_node("Relu", ["x"], ["t"])], "branch", [],
                               [helper.make_tensor_value_info("t", TensorProto.FLOAT, [2, 8])])
    nodes = [helper.make_node("Relu", ["x"], ["t"]),
             helper.make_node("If", ["c"], ["y"], name="if", then_branch=branch, else_branch=branch)]
    model = make_model(nodes, [numpy_helper.from_array(np.array(True), "c")], outputs=SAME_AS_X)
    result = run_check(onnxquant_bin, model, tmp_path)
    assert result.returncode == EXIT_INVALID_MODEL
    assert "defines 't' again, which an enclosing graph already defines" in result.stdout


def test_check_value_info_contradiction(onnxquant_bin, tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["t"]), helper.make_node("Identity", ["t"], ["y"])]
    wrong = helper.make_tensor_value_info("t", TensorProto.FLOAT, [3, 3, 3])
    result = run_check(onnxquant_bin, make_model(nodes, [], outputs=SAME_AS_X, value_info=[wrong]), tmp_path)
    assert result.returncode == EXIT_INVALID_MODEL
    assert "shape inference disagrees" in result.stdout


def test_check_lists_every_finding(onnxquant_bin, tmp_path):
    model = dequantize_model(np.array([0.1, 0.0, 0.1]), axis=None)
    model.graph.node.append(helper.make_node("Relu", ["late"], ["unused"], name="early"))
    model.graph.node.append(helper.make_node("Relu", ["x"], ["late"], name="late"))
    result = run_check(onnxquant_bin, model, tmp_path)
    assert result.returncode == EXIT_INVALID_MODEL
    assert "no explicit axis" in result.stdout
    assert "scales are not finite and positive" in result.stdout
    assert "not in topological order" in result.stdout
    assert "3 finding(s)" in result.stderr or len(result.stdout.splitlines()) >= 3


def test_check_invalid_model_one_error(onnxquant_bin, tmp_path):
    model = dequantize_model(np.full(4, 0.1), axis=1)
    model.graph.initializer[0].dims[0] = -8
    result = run_check(onnxquant_bin, model, tmp_path)
    assert result.returncode == EXIT_INVALID_MODEL
    assert result.stderr.count("[error]") == 1
    assert "negative dimension" in result.stderr


def test_check_quantized_model_passes(onnxquant_bin, generated_models, tmp_path):
    for precision in ("int8", "int4"):
        output = tmp_path / f"phi3_{precision}.onnx"
        result = subprocess.run([str(onnxquant_bin), "-q", "quantize", str(generated_models["phi3-tiny"]), "-p",
                                 precision, "-o", str(output), "--no-table"], capture_output=True, text=True,
                                timeout=300, check=False)
        assert result.returncode == 0, result.stderr
        checked = subprocess.run([str(onnxquant_bin), "check", str(output)], capture_output=True, text=True,
                                 timeout=300, check=False)
        assert checked.returncode == 0, checked.stdout + checked.stderr
