"""--threads: the output model and the report do not depend on the thread count."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

EXIT_USAGE = 2

# Each run covers the kernels of one precision or format. The weights are large enough to split
# into many tasks, and their shapes are not multiples of the block size or the vector width.
RUNS = {
    "int4-matmulnbits": ["-p", "int4"],
    "int4-qdq-asymmetric": ["-p", "int4", "--format", "qdq", "--asymmetric"],
    "int8-per-channel-mse": ["-p", "int8", "--per-channel", "--scale-search", "mse"],
    "int8-per-tensor-asymmetric-mse": ["-p", "int8", "--asymmetric", "--scale-search", "mse"],
    "int8-matmulnbits": ["-p", "int8", "--format", "matmulnbits", "--asymmetric"],
    "int8-dynamic": ["-p", "int8", "--format", "dynamic", "--per-channel"],
    "fp16": ["-p", "fp16"],
    "bf16": ["-p", "bf16"],
}


def threads_model() -> onnx.ModelProto:
    """MatMul weights of [520, 600] and [300, 257] with heavy-tailed values, and a Conv weight."""
    rng = np.random.default_rng(11)
    first = (rng.standard_t(3, (520, 600)) * 0.02).astype(np.float32)
    second = (rng.standard_normal((300, 257)) * 0.05).astype(np.float32)
    second[7, 3] = 70000.0  # beyond float16: saturates under -p fp16
    conv = (rng.standard_normal((64, 16, 3, 3)) * 0.1).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["image", "conv_weight"], ["features"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("MatMul", ["x", "first"], ["hidden"], name="first_matmul"),
        helper.make_node("Slice", ["hidden", "starts", "ends", "axes"], ["cut"], name="cut"),
        helper.make_node("MatMul", ["cut", "second"], ["y"], name="second_matmul"),
    ]
    initializers = [
        numpy_helper.from_array(first, "first"),
        numpy_helper.from_array(second, "second"),
        numpy_helper.from_array(conv, "conv_weight"),
        numpy_helper.from_array(np.array([0], dtype=np.int64), "starts"),
        numpy_helper.from_array(np.array([300], dtype=np.int64), "ends"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axes"),
    ]
    graph = helper.make_graph(
        nodes, "threads",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 520]),
         helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 16, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 257]),
         helper.make_tensor_value_info("features", TensorProto.FLOAT, [1, 64, 8, 8])],
        initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("threads") / "model.onnx"
    onnx.save(threads_model(), path)
    return path


def quantize(run_onnxquant, model: Path, folder: Path, arguments: list[str], threads: str) -> tuple[bytes, dict]:
    """Returns the output model's bytes and the report without its wall time and file paths."""
    folder.mkdir()
    output = folder / "model.out.onnx"
    report = folder / "report.json"
    result = run_onnxquant("quantize", model, *arguments, "--threads", threads, "-o", output, "--report", report,
                           "--no-table")
    assert result.returncode == 0, result.stderr
    report_json = json.loads(report.read_text().replace(str(folder), "FOLDER"))
    del report_json["summary"]["wall_time_seconds"]
    return output.read_bytes(), report_json


@pytest.mark.parametrize("name", sorted(RUNS))
def test_thread_counts_give_same_output(run_onnxquant, model_path, tmp_path, name):
    model_one, report_one = quantize(run_onnxquant, model_path, tmp_path / "one", RUNS[name], "1")
    for threads in ["2", "3", "8"]:
        model_many, report_many = quantize(run_onnxquant, model_path, tmp_path / threads, RUNS[name], threads)
        assert model_many == model_one, f"--threads {threads}"
        assert report_many == report_one, f"--threads {threads}"
    assert report_one["tensors"], "the run quantized no tensor"


@pytest.mark.parametrize("threads", ["-1", "1025", "two"])
def test_invalid_thread_count_is_usage_error(run_onnxquant, model_path, tmp_path, threads):
    output = tmp_path / "out.onnx"
    result = run_onnxquant("quantize", model_path, "-p", "int8", "--threads", threads, "-o", output)
    assert result.returncode == EXIT_USAGE
    assert "--threads" in result.stderr
    assert not output.exists()


def test_default_thread_count_matches_one(run_onnxquant, model_path, tmp_path):
    model_one, report_one = quantize(run_onnxquant, model_path, tmp_path / "one", RUNS["int4-matmulnbits"], "1")
    model_default, report_default = quantize(run_onnxquant, model_path, tmp_path / "default",
                                             RUNS["int4-matmulnbits"], "0")
    assert model_default == model_one
    assert report_default == report_one
