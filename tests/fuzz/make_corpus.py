"""Writes the seed corpus of the fuzz targets: small valid models that reach the quantization
passes (MatMul, Gemm, Conv, ConvTranspose, Constant nodes, If branches, float16, external data).

    make_corpus.py OUTPUT_FOLDER

Each model is written twice: as is for fuzz_load_inspect, and after one option byte for
fuzz_quantize (see options_from in fuzz_quantize.cpp). Small .npy and TensorProto files seed
fuzz_input_file.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper

RNG = np.random.default_rng(2)


def weight(name: str, shape, dtype=np.float32):
    return numpy_helper.from_array(RNG.standard_normal(shape).astype(dtype), name)


def model(nodes, inputs, outputs, initializers, opset=17, extra_opsets=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializers)
    opsets = [helper.make_opsetid("", opset), *extra_opsets]
    return helper.make_model(graph, opset_imports=opsets, ir_version=8)


def value(name, shape, dtype=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, dtype, shape)


def models():
    yield "matmul", model([helper.make_node("MatMul", ["x", "w"], ["y"])], [value("x", [1, 40])],
                          [value("y", [1, 24])], [weight("w", (40, 24))])
    yield "matmul_fp16", model([helper.make_node("MatMul", ["x", "w"], ["y"])], [value("x", [1, 32], 10)],
                               [value("y", [1, 16], 10)], [weight("w", (32, 16), np.float16)])
    yield "gemm_transb", model([helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)], [value("x", [2, 16])],
                               [value("y", [2, 8])], [weight("w", (8, 16))])
    yield "conv", model([helper.make_node("Conv", ["x", "w"], ["y"])], [value("x", [1, 3, 8, 8])],
                        [value("y", [1, 4, 6, 6])], [weight("w", (4, 3, 3, 3))], opset=11)
    yield "conv_transpose", model([helper.make_node("ConvTranspose", ["x", "w"], ["y"])], [value("x", [1, 4, 5, 5])],
                                  [value("y", [1, 2, 7, 7])], [weight("w", (4, 2, 3, 3))])
    constant = helper.make_node("Constant", [], ["w"], value=weight("w", (16, 8)))
    yield "constant", model([constant, helper.make_node("MatMul", ["x", "w"], ["y"])], [value("x", [1, 16])],
                            [value("y", [1, 8])], [])
    branch = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["b"])], "branch", [], [value("b", [1, 8])])
    yield "if_branches", model([helper.make_node("If", ["c"], ["y"], then_branch=branch, else_branch=branch)],
                               [value("x", [1, 16]), value("c", [], TensorProto.BOOL)], [value("y", [1, 8])],
                               [weight("w", (16, 8))])
    external = weight("w", (16, 8))
    external.ClearField("raw_data")
    external.data_location = TensorProto.EXTERNAL
    for key, text in (("location", "w.bin"), ("offset", "0"), ("length", "512")):
        entry = external.external_data.add()
        entry.key, entry.value = key, text
    yield "external", model([helper.make_node("MatMul", ["x", "w"], ["y"])], [value("x", [1, 16])],
                            [value("y", [1, 8])], [external])


def input_files():
    """Yield (name, bytes) of small valid input files: .npy of several types and TensorProto files."""
    for dtype in (np.float32, np.float16, np.int64, np.uint8, np.bool_):
        buffer = io.BytesIO()
        np.save(buffer, np.arange(6).reshape(2, 3).astype(dtype))
        yield f"array-{np.dtype(dtype).name}.npy", buffer.getvalue()
    yield "ids.pb", numpy_helper.from_array(np.arange(8, dtype=np.int64).reshape(1, 8), "input_ids").SerializeToString()
    typed = TensorProto()
    typed.data_type = TensorProto.FLOAT16
    typed.dims.extend([2])
    typed.int32_data.extend([0x3C00, 0xC000])
    yield "typed.pb", typed.SerializeToString()


def main() -> None:
    folder = Path(sys.argv[1])
    (folder / "load_inspect").mkdir(parents=True, exist_ok=True)
    (folder / "quantize").mkdir(parents=True, exist_ok=True)
    (folder / "input_file").mkdir(parents=True, exist_ok=True)
    for name, data in input_files():
        (folder / "input_file" / name).write_bytes(data)
    for name, built in models():
        data = built.SerializeToString()
        (folder / "load_inspect" / f"{name}.onnx").write_bytes(data)
        for selector in (0, 5, 2, 7):
            (folder / "quantize" / f"{name}-{selector}.bin").write_bytes(bytes([selector]) + data)


if __name__ == "__main__":
    main()
