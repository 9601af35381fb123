"""Hostile model files: broken tensors, broken graphs and unsafe external data locations.

Each must end with exit code 3 (invalid model), exactly one [error] line, no output file, no
temporary file and the input unchanged. The tests that point a location at a FIFO also show that
onnxquant rejects it without opening the file: opening a FIFO for reading blocks until a writer
appears, so a read attempt would run into the timeout.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

EXIT_INVALID_MODEL = 3
TIMEOUT_SECONDS = 30
WEIGHT_BYTES = 64 * 32 * 4


def matmul_model(nodes=None, initializers=None) -> onnx.ModelProto:
    weight = numpy_helper.from_array(np.random.default_rng(5).standard_normal((64, 32)).astype(np.float32), "w")
    nodes = nodes if nodes is not None else [helper.make_node("MatMul", ["x", "w"], ["y"], name="matmul")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 32])],
                              [weight] if initializers is None else initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def weight_of(model: onnx.ModelProto) -> TensorProto:
    return model.graph.initializer[0]


def with_weight_edit(edit) -> onnx.ModelProto:
    model = matmul_model()
    edit(weight_of(model))
    return model


def short_float_data(weight: TensorProto) -> None:
    weight.ClearField("raw_data")
    weight.float_data.extend([1.0] * 10)


def int64_shape_model(extra_value: bool) -> onnx.ModelProto:
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [2, 32])
    if extra_value:
        shape.int64_data.append(7)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["t"]), helper.make_node("Reshape", ["t", "shape"], ["y"])]
    model = matmul_model(nodes)
    model.graph.initializer.append(shape)
    return model


def constant_node_model(raw_bytes: int) -> onnx.ModelProto:
    value = numpy_helper.from_array(np.ones((64, 32), dtype=np.float32), "w")
    value.raw_data = value.raw_data[:raw_bytes]
    nodes = [helper.make_node("Constant", [], ["w"], value=value), helper.make_node("MatMul", ["x", "w"], ["y"])]
    return matmul_model(nodes, initializers=[])


def deeply_nested_bytes(depth: int) -> bytes:
    """A model whose If nodes nest `depth` levels deep, written field by field because the Python
    protobuf library rejects that depth. Field numbers are from onnx.proto."""
    graph = b""
    for _ in range(depth):
        attribute = _field(1, b"else_branch") + _varint(20 << 3) + _varint(5) + _field(6, graph)  # name, type GRAPH, g
        node = _field(4, b"If") + _field(5, attribute)  # op_type, attribute
        graph = _field(1, node)  # GraphProto.node
    return _varint(1 << 3) + _varint(8) + _field(7, graph)  # ModelProto.ir_version, graph


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def undefined_input_model() -> onnx.ModelProto:
    return matmul_model([helper.make_node("MatMul", ["x", "absent"], ["y"], name="matmul")])


def cycle_model() -> onnx.ModelProto:
    nodes = [helper.make_node("Relu", ["t"], ["a"], name="relu"), helper.make_node("MatMul", ["a", "w"], ["t"]),
             helper.make_node("Identity", ["t"], ["y"])]
    return matmul_model(nodes)


def long_name_model() -> onnx.ModelProto:
    model = matmul_model()
    weight_of(model).name = "w" * 5000
    model.graph.node[0].input[1] = "w" * 5000
    weight_of(model).dims[0] = -1
    return model


def binary_name_model() -> onnx.ModelProto:
    model = matmul_model()
    model.graph.node[0].input[1] = "bad\x01name\x7f"
    return model


HOSTILE_MODELS = {
    "negative-dim": (lambda: with_weight_edit(lambda w: w.dims.__setitem__(0, -64)), "negative dimension"),
    "dims-overflow": (lambda: with_weight_edit(lambda w: w.dims.__setitem__(slice(None), [1 << 40, 1 << 40])),
                      "overflows"),
    "bytes-overflow": (lambda: with_weight_edit(lambda w: w.dims.__setitem__(slice(None), [1 << 62, 4])),
                       "overflows"),
    "raw-data-short": (lambda: with_weight_edit(lambda w: setattr(w, "raw_data", w.raw_data[:100])),
                       "stores 100 bytes of raw_data but its shape needs 8192 bytes"),
    "raw-data-huge-shape": (lambda: with_weight_edit(lambda w: w.dims.__setitem__(slice(None), [1 << 61, 1])),
                            "bytes of raw_data"),
    "float-data-short": (lambda: with_weight_edit(short_float_data), "stores 10 values in float_data"),
    "raw-and-float-data": (lambda: with_weight_edit(lambda w: w.float_data.extend([1.0])),
                           "both raw_data and float_data"),
    "int64-data-long": (lambda: int64_shape_model(True), "stores 3 values in int64_data but its shape needs 2"),
    "constant-raw-short": (lambda: constant_node_model(100), "stores 100 bytes of raw_data"),
    "duplicate-initializer": (lambda: matmul_model(initializers=[weight_of(matmul_model())] * 2),
                              "a repeated initializer"),
    "value-produced-twice": (lambda: matmul_model([helper.make_node("MatMul", ["x", "w"], ["y"])] * 2),
                             "is defined twice"),
    "undefined-input": (undefined_input_model, "reads 'absent', which no node"),
    "cycle": (cycle_model, "in a cycle"),
    "reads-own-output": (lambda: matmul_model([helper.make_node("MatMul", ["y", "w"], ["y"])]), "in a cycle"),
    "nested-65": (lambda: deeply_nested_bytes(65), "nested more than 64 levels"),
    "long-name": (long_name_model, "(5000 bytes)"),
    "binary-name": (binary_name_model, "'bad\\x01name\\x7f'"),
}


def run(binary: Path, *arguments) -> subprocess.CompletedProcess:
    return subprocess.run([str(binary), *map(str, arguments)], capture_output=True, text=True,
                          timeout=TIMEOUT_SECONDS, check=False, errors="replace")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_rejected(result: subprocess.CompletedProcess, folder: Path, output: Path, message: str) -> None:
    assert result.returncode == EXIT_INVALID_MODEL, result.stderr
    assert result.stderr.count("[error]") == 1, result.stderr
    assert message in result.stderr
    assert not output.exists()
    assert [p.name for p in folder.iterdir() if ".tmp-" in p.name] == []


@pytest.mark.parametrize("case", sorted(HOSTILE_MODELS))
@pytest.mark.parametrize("command", ["quantize-int8", "quantize-int4", "inspect"])
def test_hostile_model_rejected(onnxquant_bin, tmp_path, case, command):
    build, message = HOSTILE_MODELS[case]
    path = tmp_path / "model.onnx"
    model = build()
    path.write_bytes(model if isinstance(model, bytes) else model.SerializeToString())
    before = digest(path)
    output = tmp_path / "out.onnx"
    if command == "inspect":
        result = run(onnxquant_bin, "inspect", path)
    else:
        result = run(onnxquant_bin, "quantize", path, "-p", command.split("-")[1], "-o", output)
    assert_rejected(result, tmp_path, output, message)
    assert digest(path) == before
    assert len(result.stderr) < 1000, "error messages cut long names"


def test_nesting_at_limit_accepted(onnxquant_bin, tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(deeply_nested_bytes(64))
    result = run(onnxquant_bin, "inspect", path)
    assert result.returncode == 0, result.stderr


def test_nesting_past_parser_limit_rejected(onnxquant_bin, tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(deeply_nested_bytes(5000))
    output = tmp_path / "out.onnx"
    result = run(onnxquant_bin, "quantize", path, "-p", "int8", "-o", output)
    assert_rejected(result, tmp_path, output, "not a valid ONNX model")


def test_out_of_order_nodes_accepted(onnxquant_bin, tmp_path):
    nodes = [helper.make_node("Identity", ["t"], ["y"]), helper.make_node("MatMul", ["x", "w"], ["t"])]
    path = tmp_path / "model.onnx"
    path.write_bytes(matmul_model(nodes).SerializeToString())
    result = run(onnxquant_bin, "quantize", path, "-p", "int8", "-o", tmp_path / "out.onnx")
    assert result.returncode == 0, result.stderr


def external_model(folder: Path, location: str) -> Path:
    model = matmul_model()
    weight = weight_of(model)
    weight.ClearField("raw_data")
    weight.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", str(WEIGHT_BYTES))):
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    path = folder / "model.onnx"
    path.write_bytes(model.SerializeToString())
    return path


@pytest.fixture
def layout(tmp_path):
    """tmp_path/model/ contains the model and a folder sub/, and tmp_path/target is a FIFO outside it."""
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    os.mkfifo(tmp_path / "target")
    return folder


LOCATIONS = {
    "dot-dot-after-dot": ("./sub/../../target", "contains '..'"),
    "double-slashes": ("sub//..//..//target", "contains '..'"),
    "trailing-dot-dot": ("sub/..", "contains '..'"),
    "absolute": ("/dev/zero", "is absolute"),
    "backslashes": ("..\\target", "contains a backslash"),
    "backslash-inside": ("sub\\weights.bin", "contains a backslash"),
    "folder": ("sub", "is not a regular file"),
    "dot": (".", "resolves outside the model folder"),
    "empty": ("", "has no location"),
    "nul-byte": ("weights.bin\0/../../target", "contains a NUL byte"),
    "long-component": ("a" * 300, "longer than 255 bytes"),
    "long-path": ("a/" * 2100 + "w", "longer than the path limit"),
}


@pytest.mark.parametrize("case", sorted(LOCATIONS))
def test_unsafe_location_rejected(onnxquant_bin, tmp_path, layout, case):
    location, message = LOCATIONS[case]
    path = external_model(layout, location)
    output = tmp_path / "out.onnx"
    result = run(onnxquant_bin, "quantize", path, "-p", "int8", "-o", output)
    assert_rejected(result, layout, output, message)


def test_symlink_to_fifo_rejected_unopened(onnxquant_bin, tmp_path, layout):
    (layout / "weights.bin").symlink_to(tmp_path / "target")
    output = tmp_path / "out.onnx"
    result = run(onnxquant_bin, "quantize", external_model(layout, "weights.bin"), "-p", "int8", "-o", output)
    assert_rejected(result, layout, output, "symbolic link")


def test_symlinked_folder_rejected(onnxquant_bin, tmp_path, layout):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "weights.bin").write_bytes(b"\0" * WEIGHT_BYTES)
    (layout / "linked").symlink_to(tmp_path / "elsewhere")
    output = tmp_path / "out.onnx"
    result = run(onnxquant_bin, "quantize", external_model(layout, "linked/weights.bin"), "-p", "int8", "-o", output)
    assert_rejected(result, layout, output, "symbolic link")


def test_fifo_rejected_unopened(onnxquant_bin, tmp_path, layout):
    os.mkfifo(layout / "weights.bin")
    output = tmp_path / "out.onnx"
    result = run(onnxquant_bin, "quantize", external_model(layout, "weights.bin"), "-p", "int8", "-o", output)
    assert_rejected(result, layout, output, "is not a regular file")


def test_hard_link_rejected(onnxquant_bin, tmp_path, layout):
    (tmp_path / "outside.bin").write_bytes(b"\0" * WEIGHT_BYTES)
    os.link(tmp_path / "outside.bin", layout / "weights.bin")
    output = tmp_path / "out.onnx"
    result = run(onnxquant_bin, "quantize", external_model(layout, "weights.bin"), "-p", "int8", "-o", output)
    assert_rejected(result, layout, output, "hard links")


def test_device_rejected(onnxquant_bin, tmp_path, layout):
    try:
        os.mknod(layout / "weights.bin", stat.S_IFCHR | 0o600, os.makedev(1, 5))  # the /dev/zero device
    except PermissionError as error:
        pytest.skip(f"creating a device node is not permitted here: {error}")
    output = tmp_path / "out.onnx"
    result = run(onnxquant_bin, "quantize", external_model(layout, "weights.bin"), "-p", "int8", "-o", output)
    assert_rejected(result, layout, output, "is not a regular file")


def test_inspect_rejects_unsafe_location_unopened(onnxquant_bin, tmp_path, layout):
    result = run(onnxquant_bin, "inspect", external_model(layout, "sub/../../target"))
    assert result.returncode == EXIT_INVALID_MODEL
    assert "contains '..'" in result.stderr
