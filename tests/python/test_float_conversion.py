"""-p fp16 and -p bf16 on real, generated and small purpose-built models, judged by ONNX Runtime.

Each small model shows one problem that float converters get wrong. Every output is loaded in
ONNX Runtime at both optimization levels and compared with the float32 original.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import ortcheck
import realmodels

# Lowest cosine similarity accepted for every output, per precision. Measured minimums on the
# models below: 0.999853 (FP16, PP-OCRv4 recognizer) and 0.999987 (BF16, PP-OCRv4 detector).
MIN_COSINE = {"fp16": 0.9995, "bf16": 0.9995}
# Models at ai.onnx opset 11 and 12 that libonnx 1.12's version converter cannot raise to opset 13,
# which bfloat16 Casts need.
BF16_UNSUPPORTED = {"rapidocr-rec", "rapidocr-cls"}

REAL_MODEL_IDS = ["magika", "rapidocr-det", "rapidocr-rec", "rapidocr-cls", "silero-vad", "tiny-llama-fp16",
                  "bert-toy"]


def convert(run_onnxquant, model: Path, precision: str, folder: Path, *extra: str) -> tuple[Path, dict]:
    output = folder / f"{model.stem}-{precision}.onnx"
    report_path = folder / f"{model.stem}-{precision}.json"
    result = run_onnxquant("quantize", model, "-p", precision, "-o", output, "--report", report_path, "--no-table",
                           *extra)
    assert result.returncode == 0, result.stderr
    return output, json.loads(report_path.read_text())


def session(path: Path, level: str) -> ort.InferenceSession:
    options = ort.SessionOptions()
    if level == "disabled":
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def save(model: onnx.ModelProto, folder: Path, name: str) -> Path:
    onnx.checker.check_model(model)
    path = folder / name
    onnx.save(model, path)
    return path


def assert_agrees(original: Path, converted: Path, feeds: dict, rtol: float = 2e-3, atol: float = 2e-3) -> None:
    expected = session(original, "disabled").run(None, feeds)
    for level in ("disabled", "default"):
        actual = session(converted, level).run(None, feeds)
        for reference, candidate in zip(expected, actual):
            assert candidate.dtype == reference.dtype
            np.testing.assert_allclose(candidate, reference, rtol=rtol, atol=atol)


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
@pytest.mark.parametrize("model_id", REAL_MODEL_IDS)
def test_real_model_agrees_in_ort(run_onnxquant, tmp_path, model_id, precision):
    model = realmodels.get(model_id)
    if model.skip_reason():
        pytest.skip(model.skip_reason())
    if precision == "bf16" and model_id in BF16_UNSUPPORTED:
        result = run_onnxquant("quantize", model.path(), "-p", "bf16", "-o", tmp_path / "out.onnx")
        assert result.returncode == 3
        assert "opset 13" in result.stderr
        assert not (tmp_path / "out.onnx").exists()
        return
    output, report = convert(run_onnxquant, model.path(), precision, tmp_path)
    result = ortcheck.check_agreement(model.path(), output, MIN_COSINE[precision], None,
                                      overrides=model.overrides(0), dims=model.dims)
    print(f"\n{model_id} {precision}: tensors {report['summary']['quantized_tensors']}, compression "
          f"{report['summary']['compression_ratio']}, min cosine {result.min_cosine_similarity():.6f}, "
          f"max abs error {result.max_abs_error_observed():.4g}")
    assert result.ok, "\n".join(result.violations)


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
@pytest.mark.parametrize("model_id", ["phi3-tiny", "minilm"])
def test_generated_model_agrees_in_ort(run_onnxquant, generated_models, tmp_path, model_id, precision):
    if model_id not in generated_models:
        pytest.skip(f"{model_id} needs its wheel from tests/python/requirements-models.txt")
    original = generated_models[model_id]
    output, report = convert(run_onnxquant, original, precision, tmp_path)
    overrides = {"input_ids": (0, 512)} if model_id == "phi3-tiny" else {"input_ids": (1000, 20000), "attention_mask": 1}
    result = ortcheck.check_agreement(original, output, MIN_COSINE[precision], None, overrides=overrides,
                                      dims={"batch": 2, "sequence": 9})
    print(f"\n{model_id} {precision}: compression {report['summary']['compression_ratio']}, min cosine "
          f"{result.min_cosine_similarity():.6f}, max abs error {result.max_abs_error_observed():.4g}")
    assert result.ok, "\n".join(result.violations)
    assert report["summary"]["compression_ratio"] > 1.9


def test_fp16_io_converts_boundary(run_onnxquant, generated_models, tmp_path):
    original = generated_models["phi3-tiny"]
    output, _ = convert(run_onnxquant, original, "fp16", tmp_path, "--fp16-io")
    converted = onnx.load(str(output))
    assert converted.graph.output[0].type.tensor_type.elem_type == TensorProto.FLOAT16
    assert converted.graph.input[0].type.tensor_type.elem_type == TensorProto.INT64
    ids = np.random.default_rng(0).integers(0, 512, (2, 7)).astype(np.int64)
    expected = session(original, "disabled").run(None, {"input_ids": ids})[0]
    for level in ("disabled", "default"):
        actual = session(output, level).run(None, {"input_ids": ids})[0]
        assert actual.dtype == np.float16
        cosine = float(np.dot(expected.ravel(), actual.astype(np.float32).ravel()) /
                       (np.linalg.norm(expected) * np.linalg.norm(actual.astype(np.float32))))
        assert cosine > 0.9995


def test_default_keeps_float32_interface(run_onnxquant, generated_models, tmp_path):
    output, _ = convert(run_onnxquant, generated_models["phi3-tiny"], "fp16", tmp_path)
    converted = onnx.load(str(output))
    assert converted.graph.output[0].type.tensor_type.elem_type == TensorProto.FLOAT
    assert any(node.op_type == "Cast" for node in converted.graph.node)


def model_from(nodes, inputs, outputs, initializers=(), opset=17) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def float_input(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def test_resize_scales_stay_float32(run_onnxquant, tmp_path):
    scales = numpy_helper.from_array(np.array([1, 1, 2, 2], dtype=np.float32), "scales")
    weight = numpy_helper.from_array(np.random.default_rng(1).standard_normal((1, 1, 4, 4)).astype(np.float32), "w")
    model = model_from(
        [helper.make_node("Add", ["x", "w"], ["a"]), helper.make_node("Resize", ["a", "", "scales"], ["y"])],
        [float_input("x", [1, 1, 4, 4])], [float_input("y", [1, 1, 8, 8])], [scales, weight])
    original = save(model, tmp_path, "resize.onnx")
    output, report = convert(run_onnxquant, original, "fp16", tmp_path, "--min-elements", "0")
    stored = {t.name: t.data_type for t in onnx.load(str(output)).graph.initializer}
    assert stored["scales"] == TensorProto.FLOAT
    assert stored["w"] == TensorProto.FLOAT16
    assert any(entry["name"] == "scales" for entry in report["skipped"])
    assert_agrees(original, output, {"x": np.ones((1, 1, 4, 4), np.float32)})


def test_upsample_scales_stay_float32(run_onnxquant, tmp_path):
    scales = numpy_helper.from_array(np.array([1, 1, 2, 2], dtype=np.float32), "scales")
    model = model_from([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Upsample", ["r", "scales"], ["y"])],
                       [float_input("x", [1, 1, 2, 2])], [float_input("y", [1, 1, 4, 4])], [scales], opset=9)
    original = save(model, tmp_path, "upsample.onnx")
    output, _ = convert(run_onnxquant, original, "fp16", tmp_path, "--min-elements", "0")
    assert {t.name: t.data_type for t in onnx.load(str(output)).graph.initializer}["scales"] == TensorProto.FLOAT
    assert_agrees(original, output, {"x": np.arange(4, dtype=np.float32).reshape(1, 1, 2, 2)})


def test_existing_cast_kept_consistent(run_onnxquant, tmp_path):
    model = model_from(
        [helper.make_node("Cast", ["ids"], ["f"], to=TensorProto.FLOAT), helper.make_node("Add", ["f", "x"], ["y"])],
        [helper.make_tensor_value_info("ids", TensorProto.INT64, [3]), float_input("x", [3])],
        [float_input("y", [3])])
    original = save(model, tmp_path, "cast.onnx")
    output, _ = convert(run_onnxquant, original, "fp16", tmp_path)
    converted = onnx.load(str(output))
    cast = next(node for node in converted.graph.node if node.input[0] == "ids")
    assert cast.attribute[0].i == TensorProto.FLOAT16
    assert_agrees(original, output, {"ids": np.array([1, 2, 3]), "x": np.array([0.5, 0.25, 2.0], np.float32)})


def test_weight_shared_by_kept_and_converted_nodes(run_onnxquant, tmp_path):
    weight = numpy_helper.from_array(np.random.default_rng(2).standard_normal((8, 8)).astype(np.float32), "w")
    model = model_from(
        [helper.make_node("MatMul", ["x", "w"], ["a"], name="converted"),
         helper.make_node("MatMul", ["x", "w"], ["b"], name="kept"), helper.make_node("Add", ["a", "b"], ["y"])],
        [float_input("x", [2, 8])], [float_input("y", [2, 8])], [weight])
    original = save(model, tmp_path, "shared.onnx")
    output, _ = convert(run_onnxquant, original, "fp16", tmp_path, "--keep-fp32-node", "kept", "--min-elements", "0")
    converted = onnx.load(str(output))
    assert {t.name: t.data_type for t in converted.graph.initializer}["w"] == TensorProto.FLOAT16
    kept = next(node for node in converted.graph.node if node.name == "kept")
    assert kept.input[1] != "w"
    assert_agrees(original, output, {"x": np.random.default_rng(3).standard_normal((2, 8)).astype(np.float32)},
                  rtol=1e-2, atol=1e-2)


def test_outer_weight_captured_in_if_branch(run_onnxquant, tmp_path):
    weight = numpy_helper.from_array(np.random.default_rng(4).standard_normal((4, 4)).astype(np.float32), "w")
    then_graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["t"])], "then", [],
                                   [float_input("t", [2, 4])])
    else_graph = helper.make_graph([helper.make_node("Identity", ["x"], ["e"])], "else", [], [float_input("e", [2, 4])])
    model = model_from(
        [helper.make_node("If", ["c"], ["y"], then_branch=then_graph, else_branch=else_graph)],
        [helper.make_tensor_value_info("c", TensorProto.BOOL, []), float_input("x", [2, 4])],
        [float_input("y", [2, 4])], [weight])
    original = save(model, tmp_path, "if.onnx")
    output, _ = convert(run_onnxquant, original, "fp16", tmp_path, "--min-elements", "0")
    x = np.random.default_rng(5).standard_normal((2, 4)).astype(np.float32)
    for condition in (True, False):
        assert_agrees(original, output, {"c": np.array(condition), "x": x}, rtol=1e-2, atol=1e-2)


def test_saturation_nan_and_subnormals(run_onnxquant, tmp_path):
    values = np.array([1e5, -7e4, np.nan, np.inf, -np.inf, 1e-7, 65519.0, 0.1], dtype=np.float32)
    weight = numpy_helper.from_array(values, "w")
    model = model_from([helper.make_node("Mul", ["x", "w"], ["y"])], [float_input("x", [8])], [float_input("y", [8])],
                       [weight])
    original = save(model, tmp_path, "saturate.onnx")
    output, report = convert(run_onnxquant, original, "fp16", tmp_path, "--min-elements", "0")
    stored = numpy_helper.to_array(onnx.load(str(output)).graph.initializer[0])
    assert stored.dtype == np.float16
    assert stored[0] == np.float16(65504)
    assert stored[1] == np.float16(-65504)
    assert np.isnan(stored[2])
    assert stored[3] == np.inf
    assert stored[4] == -np.inf
    assert stored.view(np.uint16)[5] == 2  # 1e-7 is the float16 subnormal 2 * 2^-24
    assert stored[6] == np.float16(65504)  # 65519 rounds to 65504, beyond the range but not infinite
    entry = report["tensors"][0]
    assert entry["saturated_values"] == 3
    notes = [note for note in report["notes"] if note.startswith("'w': 3 finite values beyond the float16 range")]
    assert len(notes) == 1


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_conversion_bit_exact(run_onnxquant, generated_models, tmp_path, precision):
    original_path = generated_models["phi3-tiny"]
    output, _ = convert(run_onnxquant, original_path, precision, tmp_path)
    original = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(original_path)).graph.initializer
                if t.data_type == TensorProto.FLOAT}
    checked = 0
    for tensor in onnx.load(str(output)).graph.initializer:
        if tensor.name not in original or tensor.data_type == TensorProto.FLOAT:
            continue
        bits = np.frombuffer(tensor.raw_data, dtype=np.uint16)
        np.testing.assert_array_equal(bits, reference_bits(original[tensor.name].ravel(), precision))
        checked += 1
    assert checked >= 9


def reference_bits(values: np.ndarray, precision: str) -> np.ndarray:
    """Round to nearest even with numpy: float16 via astype, bfloat16 by integer rounding.

    Finite values beyond the target range are first clipped to its largest finite value, which
    is what onnxquant stores for them (saturation).
    """
    if precision == "fp16":
        clipped = np.where(np.isfinite(values), np.clip(values, -65504, 65504), values)
        return clipped.astype(np.float16).view(np.uint16)
    bfloat16_max = np.uint32(0x7F7F0000).view(np.float32)
    values = np.where(np.isfinite(values), np.clip(values, -bfloat16_max, bfloat16_max), values).astype(np.float32)
    bits = values.view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype(np.uint16)


def test_external_data_converted_next_to_output(run_onnxquant, tmp_path):
    model = realmodels.get("silero-vad")
    if model.skip_reason():
        pytest.skip(model.skip_reason())
    folder = tmp_path / "out"
    folder.mkdir()
    output, _ = convert(run_onnxquant, model.path(), "fp16", folder, "--external-data", "always")
    stored = onnx.load(str(output), load_external_data=False)
    locations = {e.value for t in stored.graph.initializer for e in t.external_data if e.key == "location"}
    assert locations <= {output.name + ".data"}


RESTORE_SOURCES = {
    "int8": ["-p", "int8"],
    "int8-per-channel-asymmetric": ["-p", "int8", "--per-channel", "--asymmetric"],
    "int4": ["-p", "int4"],
    "int4-asymmetric-block16": ["-p", "int4", "--asymmetric", "--block-size", "16"],
    "fp16": ["-p", "fp16"],
    "bf16": ["-p", "bf16"],
}


def count_ops(model: onnx.ModelProto) -> dict[str, int]:
    counts: dict[str, int] = {}
    for node in model.graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


@pytest.mark.parametrize("source", list(RESTORE_SOURCES))
@pytest.mark.parametrize("model_id", ["magika", "rapidocr-rec", "bert-toy", "phi3-tiny"])
def test_restored_model_matches_quantized(run_onnxquant, generated_models, tmp_path, model_id, source):
    if model_id == "phi3-tiny":
        original, overrides, dims = generated_models[model_id], {"input_ids": (0, 512)}, {"batch": 2, "sequence": 9}
    else:
        model = realmodels.get(model_id)
        if model.skip_reason():
            pytest.skip(model.skip_reason())
        original, overrides, dims = model.path(), model.overrides(0), model.dims
    if source == "bf16" and model_id in BF16_UNSUPPORTED:
        pytest.skip(f"{model_id} cannot be converted to bfloat16 (opset below 13)")
    quantized = tmp_path / "quantized.onnx"
    result = run_onnxquant("quantize", original, *RESTORE_SOURCES[source], "-o", quantized)
    assert result.returncode == 0, result.stderr
    restored, report = convert(run_onnxquant, quantized, "fp32", tmp_path)

    model = onnx.load(str(restored))
    ops = count_ops(model)
    assert ops.get("DequantizeLinear", 0) == 0
    assert ops.get("MatMulNBits", 0) == 0
    assert all(t.data_type not in (TensorProto.FLOAT16, TensorProto.BFLOAT16, TensorProto.INT8, TensorProto.UINT8)
               or t.name not in {entry["name"] for entry in report["tensors"]} for t in model.graph.initializer)
    assert report["summary"]["compression_ratio"] < 1.0
    # Restoring uses the same dequantization as the runtime, so only float rounding separates them.
    # A float16 source computed in float16 and now computes in float32, which moves outputs more.
    max_abs_error = None if source in ("fp16", "bf16") else 1e-3
    agreement = ortcheck.check_agreement(quantized, restored, 0.9999, max_abs_error, overrides=overrides, dims=dims)
    assert agreement.ok, "\n".join(agreement.violations)


def test_fp16_model_restored_to_float32(run_onnxquant, tmp_path):
    model = realmodels.get("tiny-llama-fp16")
    if model.skip_reason():
        pytest.skip(model.skip_reason())
    restored, report = convert(run_onnxquant, model.path(), "fp32", tmp_path)
    converted = onnx.load(str(restored))
    assert all(value.type.tensor_type.elem_type != TensorProto.FLOAT16 for value in converted.graph.input)
    assert all(t.data_type != TensorProto.FLOAT16 for t in converted.graph.initializer)
    assert report["summary"]["quantized_tensors"] > 0

    feeds = model.make_inputs(0)
    expected = session(model.path(), "disabled").run(None, feeds)
    float_feeds = {name: value.astype(np.float32) if value.dtype == np.float16 else value
                   for name, value in feeds.items()}
    for level in ("disabled", "default"):
        actual = session(restored, level).run(None, float_feeds)
        for reference, candidate in zip(expected, actual):
            assert candidate.dtype == np.float32
            reference = reference.astype(np.float64).ravel()
            candidate = candidate.astype(np.float64).ravel()
            if reference.size == 0:
                continue
            cosine = reference @ candidate / (np.linalg.norm(reference) * np.linalg.norm(candidate))
            assert cosine > 0.999


def test_int4_dequantize_linear_folded(run_onnxquant, tmp_path):
    rng = np.random.default_rng(6)
    codes = rng.integers(-8, 8, (64, 16))
    scales = (rng.random((2, 16)) * 0.1 + 0.01).astype(np.float32)
    nibbles = (codes.ravel() & 0x0F).astype(np.uint8)
    data = helper.make_tensor("w_q", TensorProto.INT4, [64, 16], (nibbles[0::2] | (nibbles[1::2] << 4)).tobytes(),
                              raw=True)
    scale = numpy_helper.from_array(scales, "w_scale")
    dequantize = helper.make_node("DequantizeLinear", ["w_q", "w_scale"], ["w"], axis=0, block_size=32)
    graph = helper.make_graph([dequantize, helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                              [float_input("x", [2, 64])], [float_input("y", [2, 16])], [data, scale])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)], ir_version=10)
    original = save(model, tmp_path, "int4_qdq.onnx")
    restored, report = convert(run_onnxquant, original, "fp32", tmp_path)
    assert report["tensors"][0]["dtype_before"] == "int4"
    weight = numpy_helper.to_array(onnx.load(str(restored)).graph.initializer[0])
    expected = codes.astype(np.float32) * np.repeat(scales, 32, axis=0)
    np.testing.assert_allclose(weight, expected, rtol=1e-6)
    assert_agrees(original, restored, {"x": rng.standard_normal((2, 64)).astype(np.float32)}, rtol=1e-5, atol=1e-5)


def all_nodes(graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    nodes = []
    for node in graph.node:
        nodes.append(node)
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                nodes.extend(all_nodes(attribute.g))
    return nodes


@pytest.mark.parametrize("model_id", ["magika", "silero-vad"])
def test_fp16_round_trip_adds_no_casts(run_onnxquant, tmp_path, model_id):
    model = realmodels.get(model_id)
    if model.skip_reason():
        pytest.skip(model.skip_reason())
    half, _ = convert(run_onnxquant, model.path(), "fp16", tmp_path)
    restored, _ = convert(run_onnxquant, half, "fp32", tmp_path)
    original_casts = sum(node.op_type == "Cast" for node in all_nodes(onnx.load(str(model.path())).graph))
    restored_casts = sum(node.op_type == "Cast" for node in all_nodes(onnx.load(str(restored)).graph))
    assert restored_casts <= original_casts
    result = ortcheck.check_agreement(model.path(), restored, 0.9995, None, overrides=model.overrides(0),
                                      dims=model.dims)
    assert result.ok, "\n".join(result.violations)
