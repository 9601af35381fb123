"""What onnxquant creates on disk: never through a symbolic link, only in the output folder, and
never pointing at the input's external data files."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

TIMEOUT_SECONDS = 120


def run(binary: Path, *arguments) -> subprocess.CompletedProcess:
    return subprocess.run([str(binary), *map(str, arguments)], capture_output=True, text=True,
                          timeout=TIMEOUT_SECONDS, check=False)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def matmul_model() -> onnx.ModelProto:
    weight = numpy_helper.from_array(np.random.default_rng(9).standard_normal((64, 32)).astype(np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="matmul")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 32])], [weight])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


@pytest.fixture
def model_file(tmp_path) -> Path:
    path = tmp_path / "in" / "model.onnx"
    path.parent.mkdir()
    onnx.save(matmul_model(), path)
    return path


@pytest.fixture
def victim(tmp_path) -> Path:
    """A file outside the output folder that a symbolic link in the output folder points to."""
    path = tmp_path / "victim.txt"
    path.write_text("must stay as it is\n")
    return path


def test_output_symlink_replaced_not_followed(onnxquant_bin, model_file, tmp_path, victim):
    out_folder = tmp_path / "out"
    out_folder.mkdir()
    output = out_folder / "model.int8.onnx"
    output.symlink_to(victim)
    result = run(onnxquant_bin, "quantize", model_file, "-p", "int8", "-o", output, "--min-elements", "0")
    assert result.returncode == 0, result.stderr
    assert not output.is_symlink()
    onnx.checker.check_model(onnx.load(str(output)))
    assert victim.read_text() == "must stay as it is\n"


def test_data_symlink_replaced_not_followed(onnxquant_bin, model_file, tmp_path, victim):
    out_folder = tmp_path / "out"
    out_folder.mkdir()
    output = out_folder / "model.int8.onnx"
    data = out_folder / "model.int8.onnx.data"
    data.symlink_to(victim)
    result = run(onnxquant_bin, "quantize", model_file, "-p", "int8", "-o", output, "--min-elements", "0",
                 "--external-data", "always")
    assert result.returncode == 0, result.stderr
    assert not data.is_symlink()
    assert data.stat().st_size > 0
    assert victim.read_text() == "must stay as it is\n"


def test_output_symlink_to_input_rejected(onnxquant_bin, model_file, tmp_path):
    before = digest(model_file)
    output = tmp_path / "alias.onnx"
    output.symlink_to(model_file)
    result = run(onnxquant_bin, "quantize", model_file, "-p", "int8", "-o", output)
    assert result.returncode == 2
    assert "is the input model" in result.stderr
    assert output.is_symlink()
    assert digest(model_file) == before


def test_files_created_only_in_output_folder(onnxquant_bin, model_file, tmp_path):
    out_folder = tmp_path / "out"
    out_folder.mkdir()
    outside = [p for p in tmp_path.rglob("*") if out_folder not in (p, p.parent)]
    before = {p: p.stat().st_mtime_ns for p in outside}
    result = run(onnxquant_bin, "quantize", model_file, "-p", "int8", "-o", out_folder / "q.onnx",
                 "--external-data", "always", "--min-elements", "0")
    assert result.returncode == 0, result.stderr
    assert sorted(tmp_path.rglob("*")) == sorted([*outside, out_folder, *out_folder.iterdir()])
    assert {p: p.stat().st_mtime_ns for p in outside} == before
    assert sorted(p.name for p in out_folder.iterdir()) == ["q.onnx", "q.onnx.data"]


def external_attribute_model(folder: Path) -> Path:
    """A MatMul weight and a ConstantOfShape value attribute, both in the input's weights.bin."""
    model = matmul_model()
    weight_bytes = model.graph.initializer[0].raw_data
    fill = np.array([0.5], dtype=np.float32).tobytes()
    (folder / "weights.bin").write_bytes(weight_bytes + fill)

    def make_external(tensor: TensorProto, offset: int, length: int) -> None:
        tensor.ClearField("raw_data")
        tensor.ClearField("float_data")
        tensor.data_location = TensorProto.EXTERNAL
        for key, value in (("location", "weights.bin"), ("offset", str(offset)), ("length", str(length))):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, value

    make_external(model.graph.initializer[0], 0, len(weight_bytes))
    value = helper.make_tensor("value", TensorProto.FLOAT, [1], [0.5])
    make_external(value, len(weight_bytes), len(fill))
    shape = numpy_helper.from_array(np.array([2, 32], dtype=np.int64), "shape")
    model.graph.initializer.append(shape)
    model.graph.node[0].output[0] = "product"
    model.graph.node.extend([helper.make_node("ConstantOfShape", ["shape"], ["bias"], value=value),
                             helper.make_node("Add", ["product", "bias"], ["y"])])
    path = folder / "model.onnx"
    path.write_bytes(model.SerializeToString())
    return path


def locations(model: onnx.ModelProto) -> set[str]:
    found = set()
    tensors = list(model.graph.initializer)
    for node in model.graph.node:
        tensors.extend(attribute.t for attribute in node.attribute if attribute.HasField("t"))
    for tensor in tensors:
        found.update(entry.value for entry in tensor.external_data if entry.key == "location")
    return found


@pytest.mark.parametrize("mode", ["always", "never"])
def test_input_locations_not_reused(onnxquant_bin, tmp_path, mode):
    folder = tmp_path / "in"
    folder.mkdir()
    path = external_attribute_model(folder)
    out_folder = tmp_path / "out"
    out_folder.mkdir()
    output = out_folder / "q.onnx"
    result = run(onnxquant_bin, "quantize", path, "-p", "int8", "-o", output, "--external-data", mode,
                 "--min-elements", "0")
    assert result.returncode == 0, result.stderr
    stored = onnx.load(str(output), load_external_data=False)
    assert locations(stored) == ({"q.onnx.data"} if mode == "always" else set())

    import onnxruntime as ort

    session = ort.InferenceSession(str(output), providers=["CPUExecutionProvider"])
    x = np.ones((2, 64), dtype=np.float32)
    weight = numpy_helper.to_array(matmul_model().graph.initializer[0])
    np.testing.assert_allclose(session.run(None, {"x": x})[0], x @ weight + 0.5, rtol=0.05, atol=0.5)


def test_inspect_reads_attribute_location(onnxquant_bin, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    path = external_attribute_model(folder)
    os.remove(folder / "weights.bin")
    result = run(onnxquant_bin, "inspect", path)
    assert result.returncode == 4
    assert "not found" in result.stderr


def test_external_weight_kept_through_opset_conversion(onnxquant_bin, tmp_path):
    # libonnx 1.12's version converter drops external data references; per-channel INT8 converts
    # this opset 11 model to 13 with its weight still in weights.bin.
    folder = tmp_path / "in"
    folder.mkdir()
    model = matmul_model()
    model.opset_import[0].version = 11
    model.ir_version = 7
    onnx.save(model, folder / "model.onnx", save_as_external_data=True, location="weights.bin",
              size_threshold=0)
    before = digest(folder / "weights.bin")
    output = tmp_path / "out" / "q.onnx"
    output.parent.mkdir()
    result = run(onnxquant_bin, "quantize", folder / "model.onnx", "-p", "int8", "--per-channel", "-o", output,
                 "--min-elements", "0")
    assert result.returncode == 0, result.stderr
    assert "converted ai.onnx opset 11 to 13" in result.stderr
    stored = onnx.load(str(output), load_external_data=False)
    assert stored.opset_import[0].version == 13
    assert locations(stored) == {"q.onnx.data"}
    assert digest(folder / "weights.bin") == before

    import onnxruntime as ort

    session = ort.InferenceSession(str(output), providers=["CPUExecutionProvider"])
    x = np.ones((2, 64), dtype=np.float32)
    weight = numpy_helper.to_array(matmul_model().graph.initializer[0])
    np.testing.assert_allclose(session.run(None, {"x": x})[0], x @ weight, rtol=0.05, atol=0.5)
