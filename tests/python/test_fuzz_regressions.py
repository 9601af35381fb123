"""Inputs that the fuzz targets (tests/fuzz) found to crash onnxquant, rebuilt as small models."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper


def run(binary: Path, *arguments) -> subprocess.CompletedProcess:
    return subprocess.run([str(binary), *map(str, arguments)], capture_output=True, timeout=120, check=False)


def test_inspect_json_non_utf8_op_type(onnxquant_bin, tmp_path):
    # nlohmann::json refused to dump the invalid UTF-8, which ended as an internal error (exit 1).
    weight = numpy_helper.from_array(np.ones((4, 2, 3, 3), dtype=np.float32), "w")
    node = helper.make_node("ConvTrXXspose", ["x", "w"], ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 5, 5])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    # The Python API accepts only valid UTF-8, so two bytes of the op type are replaced in place.
    data = model.SerializeToString().replace(b"ConvTrXXspose", b"ConvTr\xa4\x91spose")
    path = tmp_path / "model.onnx"
    path.write_bytes(data)
    result = run(onnxquant_bin, "inspect", path, "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert "ConvTr\ufffd\ufffdspose" in info["op_types"]


def test_per_channel_conv_rank_mismatch(onnxquant_bin, tmp_path):
    # A Conv input of rank 3 with a weight of rank 4 at opset 11: the shape inference that the
    # opset conversion runs crashed inside libonnx 1.12 (SEGV in convPoolShapeInference).
    weight = numpy_helper.from_array(np.ones((4, 3, 3, 3), dtype=np.float32), "w")
    graph = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)], ir_version=8)
    path = tmp_path / "model.onnx"
    path.write_bytes(model.SerializeToString())
    result = run(onnxquant_bin, "quantize", path, "-p", "int8", "--per-channel", "--asymmetric", "--min-elements",
                 "0", "-o", tmp_path / "out.onnx")
    assert result.returncode == 0, result.stderr
    assert b"all weights are quantized per-tensor" in result.stderr
    checked = run(onnxquant_bin, "check", path)
    assert checked.returncode == 3, checked.stderr
    assert b"shape inference was not run" in checked.stdout
