"""onnxquant's output formats in OpenVINO, compared with ONNX Runtime on the same files.

Each model is quantized with onnxquant, read with openvino.Core().read_model and compiled for the
CPU device, and run on the inputs that the ONNX Runtime tests use. OpenVINO's outputs are compared
with ONNX Runtime's outputs on the same quantized file (graph optimizations disabled, so ONNX
Runtime computes the graph as written) and with ONNX Runtime's outputs on the float original.

OpenVINO compiles with float32 inference precision and without dynamic quantization of
activations (OPENVINO_F32). Its CPU defaults depend on the processor: on CPUs with native bfloat16
(AVX-512 BF16 or AMX) it computes in bfloat16, and it quantizes the activations of MatMuls with
compressed weights to int8 in groups of 32. Either one adds error of its own, which the tests
measure in a second compilation with the defaults and bound loosely.

Files that OpenVINO rejects are asserted as rejections, with the expected message, so that a test
fails when OpenVINO starts to accept them. docs/runtimes.md lists the results.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import pytest

import ortcheck
import realmodels
import test_end_to_end
import test_float_conversion
import test_formats

# INT4 uses min/max scales: the scale search changes the scales' values but not the operators
# that OpenVINO must read, and it costs about 7 s of CPU time per INT4 file of minilm.
FORMATS = {
    "int8": ["-p", "int8"],
    "int8-per-channel": ["-p", "int8", "--per-channel"],
    "int8-dynamic": ["-p", "int8", "--format", "dynamic"],
    "int8-matmulnbits": ["-p", "int8", "--format", "matmulnbits"],
    "int4": ["-p", "int4", "--scale-search", "none"],
    "int4-qdq": ["-p", "int4", "--format", "qdq", "--scale-search", "none"],
    "fp16": ["-p", "fp16"],
    "bf16": ["-p", "bf16"],
}
# Formats that quantize MatMul weights only.
MATMUL_FORMATS = {"int8-dynamic", "int8-matmulnbits", "int4", "int4-qdq"}

REAL_MODEL_IDS = ["magika", "rapidocr-det", "rapidocr-rec", "rapidocr-cls", "silero-vad", "tiny-llama-fp16",
                  "bert-toy"]
GENERATED_MODEL_IDS = ["phi3-tiny", "minilm"]

# Model and format pairs that write no quantized weight, so there is nothing new to run.
NOTHING_QUANTIZED = {
    *((model_id, format_id) for model_id in ("rapidocr-det", "rapidocr-cls", "silero-vad")
      for format_id in MATMUL_FORMATS),
    # The model's weights and activations are float16: DynamicQuantizeLinear takes float32 only,
    # and -p fp16 and -p bf16 convert float32 tensors only.
    *(("tiny-llama-fp16", format_id) for format_id in ("int8-dynamic", "fp16", "bf16")),
    # onnxquant exits with code 3 (asserted in test_float_conversion.py).
    *((model_id, "bf16") for model_id in test_float_conversion.BF16_UNSUPPORTED),
}

# OpenVINO on the CPU device computing the graph as written: float32 wherever the graph computes in
# float32, and no quantization of activations that the graph does not contain.
OPENVINO_F32 = {"INFERENCE_PRECISION_HINT": "f32", "DYNAMIC_QUANTIZATION_GROUP_SIZE": "0"}

# Models that OpenVINO rejects whatever the format, the float original included, with the text
# expected in the error. Silero VAD's Conv nodes inside If branches read a tensor whose rank the
# model does not declare, and OpenVINO's ONNX frontend needs the rank to convert Conv.
REJECTED_MODELS = {"silero-vad": "The input data tensor's rank has to be known"}
# OpenVINO's DequantizeLinear-21 conversion requires the blocked axis to be a multiple of
# block_size, although the ONNX operator allows a shorter last block.
PARTIAL_BLOCK_REJECTION = "cannot be divided by block_size"


@dataclass(frozen=True)
class Tolerance:
    min_cosine: float
    # Bound of max abs error / largest magnitude of the reference output; None for no bound.
    max_relative_error: float | None = None


@dataclass(frozen=True)
class Agreement:
    """The worst values over all outputs of a candidate against a reference."""

    cosine: float
    max_abs_error: float
    # max abs error / largest magnitude of the reference output.
    relative_max_error: float


# OpenVINO (OPENVINO_F32) against ONNX Runtime on the same file.
# Weight-only formats and float32 models: both runtimes compute in float32 from the same
# dequantized weights and differ by summation order only. Measured: cosine at least 0.9999999,
# max abs error at most 3.3e-5 of the largest magnitude of the output.
FLOAT32_TOLERANCE = Tolerance(0.99999, 1e-4)
# Files that ONNX Runtime computes in float16 (-p fp16, and float16 models): OpenVINO computes in
# float32, so the difference is float16 rounding error, bounded as onnxquant's FP16 output is
# against the float original.
FLOAT16_TOLERANCE = Tolerance(test_float_conversion.MIN_COSINE["fp16"])
# Dynamic INT8: OpenVINO 2026.4.1's DynamicQuantizeLinear scale differs from the ONNX definition
# in the last bit, so codes that sit near a rounding boundary move by one step (see
# test_dynamic_quantize_linear_codes). On minilm this moves the output to cosine 0.9937 to 1.0
# over input seeds 0 to 7 (0.9989 for seed 0, which the test uses).
DYNAMIC_TOLERANCE = Tolerance(0.99)
# OpenVINO with its CPU defaults (bfloat16 on processors with AVX-512 BF16 or AMX, 8 significant
# bits, and int8 activations for compressed weights): measured at least 0.990.
DEFAULT_CONFIG_MIN_COSINE = 0.98


def same_file_tolerance(format_id: str, reference: dict[str, np.ndarray]) -> Tolerance:
    if format_id == "int8-dynamic":
        return DYNAMIC_TOLERANCE
    if format_id == "fp16" or any(value.dtype == np.float16 for value in reference.values()):
        return FLOAT16_TOLERANCE
    return FLOAT32_TOLERANCE


def measure(reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray]) -> Agreement:
    metrics = ortcheck.compare(reference, candidate)
    for output in metrics.values():
        assert output.problem is None, f"output '{output.name}': {output.problem}"
        assert output.nonfinite_mismatch == 0, f"output '{output.name}': non-finite values differ"
    relative = [output.max_abs_error / max(float(np.max(np.abs(reference[name]), initial=0.0)), 1e-30)
                for name, output in metrics.items()]
    return Agreement(cosine=min(output.cosine_similarity for output in metrics.values()),
                     max_abs_error=max(output.max_abs_error for output in metrics.values()),
                     relative_max_error=max(relative))


def assert_within(agreement: Agreement, tolerance: Tolerance) -> None:
    assert agreement.cosine >= tolerance.min_cosine
    if tolerance.max_relative_error is not None:
        assert agreement.relative_max_error <= tolerance.max_relative_error


def describe(agreement: Agreement) -> str:
    return (f"cosine {agreement.cosine:.7f}, max abs {agreement.max_abs_error:.1e} "
            f"({agreement.relative_max_error:.2g} of the peak)")


def float_model_min_cosine(model_id: str, format_id: str) -> float:
    """Return the tolerance that the ONNX Runtime tests set for this model and format against the
    float original: OpenVINO's outputs must meet it too."""
    if format_id in test_float_conversion.MIN_COSINE:
        return test_float_conversion.MIN_COSINE[format_id]
    if format_id in test_end_to_end.OPTION_SETS:
        return test_end_to_end.tolerance_for(model_id, format_id).min_cosine
    return test_formats.MODEL_MIN_COSINE.get((model_id, format_id), test_formats.DEFAULT_MIN_COSINE[format_id])


@pytest.fixture(scope="module")
def openvino_core():
    try:
        import openvino
    except ImportError as error:
        pytest.fail(f"openvino is not installed ({error}): run scripts/setup-python.sh")
    return openvino.Core()


@pytest.fixture(scope="module")
def float_outputs() -> dict:
    """ONNX Runtime's outputs on each float original, by model id, filled on first use."""
    return {}


def resolve_model(model_id: str, generated_models: dict) -> tuple[Path, dict, dict]:
    """Return the float model's path, its input overrides and its symbolic dimension sizes."""
    if model_id in GENERATED_MODEL_IDS:
        if model_id not in generated_models:
            pytest.skip(f"{model_id} needs its wheel from tests/python/requirements-models.txt")
        return generated_models[model_id], test_formats.GENERATED_OVERRIDES[model_id], test_formats.GENERATED_DIMS
    model = realmodels.get(model_id)
    if model.skip_reason():
        pytest.skip(model.skip_reason())
    return model.path(), model.overrides(0), dict(model.dims)


def has_partial_block(path: Path) -> bool:
    """Return whether a blocked DequantizeLinear's axis is not a multiple of its block_size."""
    model = onnx.load(str(path), load_external_data=False)
    graphs = [model.graph]
    shapes = {}
    nodes = []
    while graphs:
        graph = graphs.pop()
        shapes.update((tensor.name, list(tensor.dims)) for tensor in graph.initializer)
        for node in graph.node:
            nodes.append(node)
            for attribute in node.attribute:
                graphs.extend([attribute.g] if attribute.type == onnx.AttributeProto.GRAPH else attribute.graphs)
    for node in nodes:
        attributes = {attribute.name: attribute.i for attribute in node.attribute}
        block_size = attributes.get("block_size", 0)
        if node.op_type != "DequantizeLinear" or block_size == 0:
            continue
        dims = shapes[node.input[0]]
        if dims[attributes.get("axis", 1) % len(dims)] % block_size:
            return True
    return False


def expected_rejection(model_id: str, path: Path) -> str | None:
    """Return the text expected in OpenVINO's error for this file, or None when it must run."""
    if model_id in REJECTED_MODELS:
        return REJECTED_MODELS[model_id]
    if has_partial_block(path):
        return PARTIAL_BLOCK_REJECTION
    return None


def run_openvino(core, path: Path, inputs: dict, config: dict) -> dict[str, np.ndarray]:
    """Compile a model for the CPU device and return its outputs by every name each output has."""
    compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
    results = compiled(inputs)
    return {name: results[port] for port in compiled.outputs for name in port.get_names()}


def assert_rejected(core, path: Path, expected: str) -> str:
    """Assert that OpenVINO fails to read or compile the file with the expected text. Return the
    lines of the error that name the failed operators and the expected text."""
    with pytest.raises(RuntimeError) as rejection:
        run_openvino(core, path, {}, OPENVINO_F32)
    message = str(rejection.value)
    assert expected in message, message
    lines = [line.strip() for line in message.splitlines()]
    return " / ".join(line for line in lines if line.startswith("--") or expected in line)


def reference_outputs(float_outputs: dict, model_id: str, path: Path, inputs: dict) -> dict:
    if model_id not in float_outputs:
        float_outputs[model_id] = ortcheck.run(path, inputs)
    return float_outputs[model_id]


def quantize(run_onnxquant, original: Path, format_id: str, folder: Path) -> tuple[Path, dict]:
    output = folder / f"{original.stem}-{format_id}.onnx"
    report_path = folder / f"{original.stem}-{format_id}.json"
    result = run_onnxquant("quantize", original, *FORMATS[format_id], "-o", output, "--report", report_path,
                           "--no-table")
    assert result.returncode == 0, result.stderr
    return output, json.loads(report_path.read_text())


def format_cases() -> list:
    return [pytest.param(model_id, format_id, id=f"{model_id}-{format_id}")
            for model_id in REAL_MODEL_IDS + GENERATED_MODEL_IDS for format_id in FORMATS
            if (model_id, format_id) not in NOTHING_QUANTIZED]


@pytest.mark.parametrize("model_id, format_id", format_cases())
def test_format_in_openvino(openvino_core, run_onnxquant, generated_models, float_outputs, tmp_path, model_id,
                            format_id):
    original, overrides, dims = resolve_model(model_id, generated_models)
    output, report = quantize(run_onnxquant, original, format_id, tmp_path)
    assert report["summary"]["quantized_tensors"] > 0

    rejection = expected_rejection(model_id, output)
    if rejection:
        failed = assert_rejected(openvino_core, output, rejection)
        print(f"\n{model_id} {format_id}: rejected by OpenVINO: {failed}")
        return

    inputs = ortcheck.make_inputs(original, 0, overrides, dims)
    same_file = ortcheck.run(output, inputs)
    float_reference = reference_outputs(float_outputs, model_id, original, inputs)
    openvino_outputs = run_openvino(openvino_core, output, inputs, OPENVINO_F32)
    default_outputs = run_openvino(openvino_core, output, inputs, {})

    agreement = measure(same_file, openvino_outputs)
    float_agreement = measure(float_reference, openvino_outputs)
    ort_float_agreement = measure(float_reference, same_file)
    default_agreement = measure(same_file, default_outputs)
    print(f"\n{model_id} {format_id}: OpenVINO vs ONNX Runtime on the file: {describe(agreement)}; "
          f"cosine against the float model: OpenVINO {float_agreement.cosine:.6f}, ONNX Runtime "
          f"{ort_float_agreement.cosine:.6f}; OpenVINO defaults vs ONNX Runtime: cosine {default_agreement.cosine:.5f}")

    assert_within(agreement, same_file_tolerance(format_id, same_file))
    assert float_agreement.cosine >= float_model_min_cosine(model_id, format_id)
    assert default_agreement.cosine >= DEFAULT_CONFIG_MIN_COSINE


@pytest.mark.parametrize("model_id", REAL_MODEL_IDS + GENERATED_MODEL_IDS)
def test_float_original_in_openvino(openvino_core, generated_models, float_outputs, model_id):
    """The float originals: OpenVINO's agreement with ONNX Runtime before onnxquant changes
    anything, and the models that OpenVINO rejects for reasons of their own."""
    original, overrides, dims = resolve_model(model_id, generated_models)
    if model_id in REJECTED_MODELS:
        failed = assert_rejected(openvino_core, original, REJECTED_MODELS[model_id])
        print(f"\n{model_id} float original: rejected by OpenVINO: {failed}")
        return

    inputs = ortcheck.make_inputs(original, 0, overrides, dims)
    reference = reference_outputs(float_outputs, model_id, original, inputs)
    agreement = measure(reference, run_openvino(openvino_core, original, inputs, OPENVINO_F32))
    print(f"\n{model_id} float original: OpenVINO vs ONNX Runtime: {describe(agreement)}")
    assert_within(agreement, same_file_tolerance("float", reference))


@pytest.mark.parametrize("model_id", GENERATED_MODEL_IDS)
def test_gather_block_quantized_in_openvino(openvino_core, run_onnxquant, generated_models, tmp_path, model_id):
    """INT4 embedding tables as com.microsoft GatherBlockQuantized (--quantize-embeddings)."""
    original, overrides, dims = resolve_model(model_id, generated_models)
    output = tmp_path / "embeddings.onnx"
    result = run_onnxquant("quantize", original, "-p", "int4", "--quantize-embeddings", "--scale-search", "none",
                           "-o", output, "--no-table")
    assert result.returncode == 0, result.stderr
    assert any(node.op_type == "GatherBlockQuantized" for node in onnx.load(str(output)).graph.node)

    inputs = ortcheck.make_inputs(original, 0, overrides, dims)
    same_file = ortcheck.run(output, inputs)
    agreement = measure(same_file, run_openvino(openvino_core, output, inputs, OPENVINO_F32))
    print(f"\n{model_id} int4 --quantize-embeddings: OpenVINO vs ONNX Runtime: {describe(agreement)}")
    assert_within(agreement, same_file_tolerance("int4", same_file))



@pytest.mark.parametrize("model_id, source_format", [("tiny-llama-fp16", None), ("phi3-tiny", "int4")])
def test_restored_fp32_in_openvino(openvino_core, run_onnxquant, generated_models, tmp_path, model_id, source_format):
    """-p fp32 output: the float16 model in float32, and an INT4 MatMulNBits file restored to MatMul."""
    original, overrides, dims = resolve_model(model_id, generated_models)
    source = quantize(run_onnxquant, original, source_format, tmp_path)[0] if source_format else original
    output = tmp_path / "restored.onnx"
    result = run_onnxquant("quantize", source, "-p", "fp32", "-o", output, "--no-table")
    assert result.returncode == 0, result.stderr

    inputs = ortcheck.make_inputs(original, 0, overrides, dims)
    restored = onnx.load(str(output), load_external_data=False)
    assert not any(node.domain == "com.microsoft" and node.op_type == "MatMulNBits" for node in restored.graph.node)
    # The restored file's float16 inputs become float32.
    inputs = {name: value.astype(np.float32) if value.dtype == np.float16 else value for name, value in inputs.items()}
    same_file = ortcheck.run(output, inputs)
    agreement = measure(same_file, run_openvino(openvino_core, output, inputs, OPENVINO_F32))
    print(f"\n{model_id} -p fp32 from {source_format or 'the float16 original'}: OpenVINO vs ONNX Runtime: "
          f"{describe(agreement)}")
    assert_within(agreement, FLOAT32_TOLERANCE)


def dynamic_quantize_reference(x: np.ndarray) -> tuple[np.ndarray, np.float32, np.uint8]:
    """Compute DynamicQuantizeLinear as ONNX defines it, in float32: scale = (max(0, max x) -
    min(0, min x)) / 255, and the zero point and codes rounded half to even and saturated to [0, 255]."""
    high = np.float32(max(0.0, float(x.max())))
    low = np.float32(min(0.0, float(x.min())))
    scale = np.float32((high - low) / np.float32(255))
    zero_point = np.clip(np.rint(-low / scale), 0, 255)
    codes = np.clip(np.rint(x / scale) + zero_point, 0, 255)
    return codes.astype(np.uint8), scale, np.uint8(zero_point)


def test_dynamic_quantize_linear_codes(openvino_core, tmp_path):
    """One DynamicQuantizeLinear node: ONNX Runtime matches the ONNX definition exactly, and
    OpenVINO's scale and codes are within one step of it."""
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("DynamicQuantizeLinear", ["x"], ["y", "y_scale", "y_zero_point"])], "dynamic",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [4096])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.UINT8, [4096]),
         onnx.helper.make_tensor_value_info("y_scale", onnx.TensorProto.FLOAT, []),
         onnx.helper.make_tensor_value_info("y_zero_point", onnx.TensorProto.UINT8, [])])
    path = tmp_path / "dynamic.onnx"
    onnx.save(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 13)], ir_version=8), path)
    session = ortcheck.create_session(path, "disabled")
    compiled = openvino_core.compile_model(str(path), "CPU", OPENVINO_F32)

    rng = np.random.default_rng(0)
    differing_codes = differing_scales = 0
    for _ in range(50):
        # Values on a grid of 1/64 put many of them on rounding boundaries.
        x = (np.round((rng.standard_normal(4096) * rng.uniform(0.1, 10) + rng.uniform(-2, 2)) * 64) / 64)
        x = x.astype(np.float32)
        codes, scale, zero_point = dynamic_quantize_reference(x)
        ort_codes, ort_scale, ort_zero_point = session.run(None, {"x": x})
        results = compiled({"x": x})
        ov_codes, ov_scale, ov_zero_point = (results[port] for port in compiled.outputs)

        np.testing.assert_array_equal(ort_codes, codes)
        assert ort_scale == scale
        assert ort_zero_point == zero_point
        assert abs(float(ov_scale) - float(scale)) <= np.spacing(scale)
        assert abs(int(ov_zero_point) - int(zero_point)) <= 1
        assert np.max(np.abs(ov_codes.astype(np.int32) - codes.astype(np.int32))) <= 1
        differing_codes += int(np.count_nonzero(ov_codes != codes))
        differing_scales += int(ov_scale != scale)
    print(f"\nOpenVINO DynamicQuantizeLinear: {differing_scales} of 50 scales and {differing_codes} of "
          f"{50 * 4096} codes differ from the ONNX definition by one step")
