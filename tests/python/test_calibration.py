"""--calibration-data: static INT8 activations and activation-aware INT4, judged by ONNX Runtime.

Calibration samples and held-out inputs come from different seeds, so no figure is measured on
the data the ranges or importances were taken from.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import realmodels

CALIBRATION_SEEDS = range(8)
HELD_OUT_SEEDS = range(100, 104)
PHI3_VOCAB = 512
MINILM_VOCAB = 30522


def write_samples(folder: Path, samples: list[dict[str, np.ndarray]], input_names: list[str]) -> Path:
    """Writes the samples in the layout of compare --inputs DIR: test_data_set_K/input_I.npy."""
    for index, sample in enumerate(samples):
        sample_dir = folder / f"test_data_set_{index}"
        sample_dir.mkdir(parents=True)
        for position, name in enumerate(input_names):
            np.save(sample_dir / f"input_{position}.npy", sample[name])
    return folder


def run_ort(model: Path, feeds: dict[str, np.ndarray], optimize: bool = True) -> list[np.ndarray]:
    options = ort.SessionOptions()
    if not optimize:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def quantize(run_onnxquant, model: Path, output: Path, *arguments) -> dict:
    report_path = output.with_suffix(".json")
    result = run_onnxquant("quantize", model, "-o", output, "--report", report_path, "--no-table", *arguments)
    assert result.returncode == 0, result.stderr
    return json.loads(report_path.read_text())


def relative_l2(reference: np.ndarray, candidate: np.ndarray) -> float:
    reference = reference.astype(np.float64)
    return float(np.linalg.norm(candidate - reference) / np.linalg.norm(reference))


def mean_relative_l2(reference_model: Path, candidate_model: Path, inputs: list[dict], output: int = 0,
                     optimize: bool = True) -> float:
    errors = [relative_l2(run_ort(reference_model, feeds, optimize)[output],
                          run_ort(candidate_model, feeds, optimize)[output])
              for feeds in inputs]
    return float(np.mean(errors))


def token_ids(seed: int, vocab: int, batch: int = 2, sequence: int = 16) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, vocab, size=(batch, sequence), dtype=np.int64)


def phi3_inputs(seeds) -> list[dict]:
    return [{"input_ids": token_ids(seed, PHI3_VOCAB)} for seed in seeds]


def minilm_inputs(seeds) -> list[dict]:
    samples = []
    for seed in seeds:
        ids = token_ids(seed, MINILM_VOCAB)
        samples.append({"input_ids": ids, "attention_mask": np.ones_like(ids)})
    return samples


def op_types(model: Path) -> list[str]:
    return [node.op_type for node in onnx.load(str(model)).graph.node]


# ---------------------------------------------------------------------------------------------
# Static INT8
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["minmax", "percentile", "mse"])
def test_int8_calibrated_phi3(run_onnxquant, generated_models, tmp_path, method):
    model = generated_models["phi3-tiny"]
    data = write_samples(tmp_path / "calibration", phi3_inputs(CALIBRATION_SEEDS), ["input_ids"])
    weight_only = tmp_path / "weight_only.onnx"
    quantize(run_onnxquant, model, weight_only, "-p", "int8")
    calibrated = tmp_path / "calibrated.onnx"
    report = quantize(run_onnxquant, model, calibrated, "-p", "int8", "--calibration-data", data,
                      "--calibration-method", method)

    assert report["calibration"]["samples"] == len(CALIBRATION_SEEDS)
    quantized = [entry for entry in report["calibration"]["activations"] if entry["scale"] > 0]
    # Each layer's qkv_proj, o_proj, gate_up_proj and down_proj inputs, and the lm_head input.
    assert len(quantized) == 4 * 2 + 1
    assert op_types(calibrated).count("QuantizeLinear") == len(quantized)

    held_out = phi3_inputs(HELD_OUT_SEEDS)
    weight_only_error = mean_relative_l2(model, weight_only, held_out)
    calibrated_error = mean_relative_l2(model, calibrated, held_out)
    print(f"phi3-tiny int8 {method}: weight-only {weight_only_error:.4f}, calibrated {calibrated_error:.4f}")
    # Per-tensor int8 weights already move the logits by about 11 % of their norm (the model's
    # outlier columns stretch each weight's scale). A uint8 activation has 255 steps over a range
    # set by data, so it adds a smaller rounding error than that: at most half as much again.
    assert calibrated_error < 1.5 * weight_only_error


def test_int8_calibrated_cnn(run_onnxquant, tmp_path):
    real = realmodels.get("rapidocr-det")
    if real.skip_reason():
        pytest.skip(real.skip_reason())
    model = real.path()
    names = [value.name for value in onnx.load(str(model)).graph.input]
    data = write_samples(tmp_path / "calibration", [real.make_inputs(seed) for seed in range(4)], names)
    weight_only = tmp_path / "weight_only.onnx"
    quantize(run_onnxquant, model, weight_only, "-p", "int8", "--per-channel")
    calibrated = tmp_path / "calibrated.onnx"
    report = quantize(run_onnxquant, model, calibrated, "-p", "int8", "--per-channel", "--calibration-data", data,
                      "--calibration-method", "percentile")
    assert sum(1 for entry in report["calibration"]["activations"] if entry["scale"] > 0) > 10
    initializers = {tensor.name: tensor for tensor in onnx.load(str(calibrated)).graph.initializer}
    assert any(tensor.data_type == TensorProto.INT32 for tensor in initializers.values())

    held_out = [real.make_inputs(seed) for seed in (10, 11)]
    # Without graph optimizations ONNX Runtime runs each QDQ pair as written: the graph's meaning.
    weight_only_error = mean_relative_l2(model, weight_only, held_out, optimize=False)
    calibrated_error = mean_relative_l2(model, calibrated, held_out, optimize=False)
    # With them, QDQ pairs fuse into integer QLinearConv kernels whose rounding depends on the CPU:
    # measured 0.071 on an AMD EPYC with AVX2 and 0.148 on an Intel Xeon with AVX512-VNNI.
    fused_error = mean_relative_l2(model, calibrated, held_out)
    print(f"rapidocr-det int8: weight-only {weight_only_error:.4f}, calibrated {calibrated_error:.4f}, "
          f"calibrated with fused kernels {fused_error:.4f}")
    # Per-channel int8 weights move the probability map by about 10 % of its norm. The uint8
    # activations of about 60 convolutions add less than half as much again.
    assert calibrated_error < 1.5 * weight_only_error
    assert fused_error < 2.5 * weight_only_error


# ---------------------------------------------------------------------------------------------
# A handmade Gemm model: shared bias, non-finite values
# ---------------------------------------------------------------------------------------------


def gemm_model(path: Path, bias_values: np.ndarray) -> Path:
    """y = Gemm(x, W1, b) + Gemm(10 * x, W2, b): one bias shared by two Gemms of different input scale."""
    rng = np.random.default_rng(3)
    initializers = [
        numpy_helper.from_array(rng.normal(0, 0.1, (64, 32)).astype(np.float32), "w1"),
        numpy_helper.from_array(rng.normal(0, 0.1, (64, 32)).astype(np.float32), "w2"),
        numpy_helper.from_array(bias_values.astype(np.float32), "bias"),
        numpy_helper.from_array(np.array(10.0, dtype=np.float32), "ten"),
    ]
    nodes = [
        helper.make_node("Mul", ["x", "ten"], ["x10"], name="scale"),
        helper.make_node("Gemm", ["x", "w1", "bias"], ["y1"], name="gemm1"),
        helper.make_node("Gemm", ["x10", "w2", "bias"], ["y2"], name="gemm2"),
        helper.make_node("Add", ["y1", "y2"], ["y"], name="add"),
    ]
    graph = helper.make_graph(nodes, "shared_bias", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 32])], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def gemm_samples(count: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [{"x": rng.normal(0, 1, (4, 64)).astype(np.float32)} for _ in range(count)]


def test_shared_bias_gets_one_int32_copy_per_scale(run_onnxquant, tmp_path):
    model = gemm_model(tmp_path / "gemm.onnx", np.linspace(-1, 1, 32))
    data = write_samples(tmp_path / "calibration", gemm_samples(4, 0), ["x"])
    output = tmp_path / "out.onnx"
    quantize(run_onnxquant, model, output, "-p", "int8", "--calibration-data", data)

    graph = onnx.load(str(output)).graph
    int32 = [tensor for tensor in graph.initializer if tensor.data_type == TensorProto.INT32]
    assert len(int32) == 2
    assert "bias" not in {tensor.name for tensor in graph.initializer}
    gemm_biases = {node.name: node.input[2] for node in graph.node if node.op_type == "Gemm"}
    assert gemm_biases["gemm1"] != gemm_biases["gemm2"]
    held_out = gemm_samples(2, 50)
    assert mean_relative_l2(model, output, held_out) < 0.02


def test_bias_beyond_int32_stays_float(run_onnxquant, tmp_path):
    model = gemm_model(tmp_path / "gemm.onnx", np.full(32, 1e9))
    data = write_samples(tmp_path / "calibration", gemm_samples(2, 0), ["x"])
    output = tmp_path / "out.onnx"
    report = quantize(run_onnxquant, model, output, "-p", "int8", "--calibration-data", data)
    assert any("bias 'bias' of node 'gemm1' stays float" in note for note in report["notes"])
    assert "bias" in {tensor.name for tensor in onnx.load(str(output)).graph.initializer}
    run_ort(output, gemm_samples(1, 50)[0])


def test_non_finite_calibration_values_are_counted(run_onnxquant, tmp_path):
    model = gemm_model(tmp_path / "gemm.onnx", np.zeros(32))
    samples = gemm_samples(2, 0)
    samples[0]["x"][0, :3] = np.nan
    samples[1]["x"][1, 5] = np.inf
    samples[1]["x"][2, 7] = -np.inf
    data = write_samples(tmp_path / "calibration", samples, ["x"])
    report = quantize(run_onnxquant, model, tmp_path / "out.onnx", "-p", "int8", "--calibration-data", data)
    counts = {entry["name"]: entry["non_finite_values"] for entry in report["calibration"]["activations"]}
    assert counts == {"x": 5, "x10": 5}
    observed = {entry["name"]: entry["observed_max"] for entry in report["calibration"]["activations"]}
    assert np.isfinite(observed["x"])
    assert any("had 5 NaN or infinite values" in note for note in report["notes"])


def test_all_nan_activation_fails(run_onnxquant, tmp_path):
    model = gemm_model(tmp_path / "gemm.onnx", np.zeros(32))
    samples = gemm_samples(1, 0)
    samples[0]["x"][:] = np.nan
    data = write_samples(tmp_path / "calibration", samples, ["x"])
    output = tmp_path / "out.onnx"
    result = run_onnxquant("quantize", model, "-o", output, "-p", "int8", "--calibration-data", data)
    assert result.returncode == 3
    assert "has no finite value in any sample" in result.stderr
    assert not output.exists()


def test_missing_calibration_folder_fails(run_onnxquant, tmp_path):
    model = gemm_model(tmp_path / "gemm.onnx", np.zeros(32))
    result = run_onnxquant("quantize", model, "-o", tmp_path / "out.onnx", "-p", "int8", "--calibration-data",
                           tmp_path / "missing")
    assert result.returncode == 4, result.stderr
    assert f"--calibration-data folder '{tmp_path / 'missing'}' not found" in result.stderr
    assert "--inputs" not in result.stderr


# ---------------------------------------------------------------------------------------------
# Activation-aware INT4
# ---------------------------------------------------------------------------------------------


def int4_errors(run_onnxquant, model: Path, folder: Path, calibration: list[dict], held_out: list[dict],
                names: list[str], output: int) -> tuple[float, float]:
    data = write_samples(folder / "calibration", calibration, names)
    data_free = folder / "data_free.onnx"
    quantize(run_onnxquant, model, data_free, "-p", "int4")
    aware = folder / "aware.onnx"
    quantize(run_onnxquant, model, aware, "-p", "int4", "--calibration-data", data)
    return (mean_relative_l2(model, data_free, held_out, output), mean_relative_l2(model, aware, held_out, output))


def test_int4_activation_aware_phi3(run_onnxquant, generated_models, tmp_path):
    data_free, aware = int4_errors(run_onnxquant, generated_models["phi3-tiny"], tmp_path,
                                   phi3_inputs(CALIBRATION_SEEDS), phi3_inputs(HELD_OUT_SEEDS), ["input_ids"], 0)
    print(f"phi3-tiny int4 logits relative L2: data-free {data_free:.4f}, activation-aware {aware:.4f}")
    assert aware < data_free


def test_int4_activation_aware_minilm(run_onnxquant, generated_models, tmp_path):
    if "minilm" not in generated_models:
        pytest.skip("the all-MiniLM-L6-v2 weights are not installed")
    data_free, aware = int4_errors(run_onnxquant, generated_models["minilm"], tmp_path,
                                   minilm_inputs(CALIBRATION_SEEDS), minilm_inputs(HELD_OUT_SEEDS),
                                   ["input_ids", "attention_mask"], 1)
    print(f"all-MiniLM-L6-v2 int4 sentence embedding relative L2: data-free {data_free:.4f}, "
          f"activation-aware {aware:.4f}")
    assert aware < data_free


@pytest.mark.parametrize("options, reason", [
    (["--scale-search", "none"], "--calibration-data has no effect with -p int4 --scale-search none"),
    (["--format", "qdq"], "--calibration-data has no effect with -p int4 --format qdq"),
    (["--calibration-method", "percentile"], "--calibration-method percentile has no effect with -p int4"),
])
def test_unused_int4_calibration_warns(run_onnxquant, tmp_path, options, reason):
    model = gemm_model(tmp_path / "gemm.onnx", np.zeros(32))
    data = write_samples(tmp_path / "calibration", gemm_samples(1, 0), ["x"])
    output = tmp_path / "out.onnx"
    result = run_onnxquant("quantize", model, "-o", output, "--report", tmp_path / "out.json", "--no-table",
                           "-p", "int4", "--min-elements", "0", "--calibration-data", data, *options)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "has no effect" in line]
    assert len(warnings) == 1, result.stderr
    assert reason in warnings[0]
    notes = json.loads((tmp_path / "out.json").read_text())["notes"]
    assert [note for note in notes if "has no effect" in note] == [warnings[0].split("] ", 1)[1]]


def test_used_int4_calibration_does_not_warn(run_onnxquant, tmp_path):
    model = gemm_model(tmp_path / "gemm.onnx", np.zeros(32))
    data = write_samples(tmp_path / "calibration", gemm_samples(1, 0), ["x"])
    result = run_onnxquant("quantize", model, "-o", tmp_path / "out.onnx", "--no-table", "-p", "int4",
                           "--min-elements", "0", "--calibration-data", data)
    assert result.returncode == 0, result.stderr
    assert "has no effect" not in result.stderr


def test_calibration_options_need_their_context(run_onnxquant, tmp_path):
    model = gemm_model(tmp_path / "gemm.onnx", np.zeros(32))
    output = tmp_path / "out.onnx"
    without_data = run_onnxquant("quantize", model, "-o", output, "-p", "int8", "--calibration-method", "mse")
    assert without_data.returncode == 2
    assert "without --calibration-data" in without_data.stderr
    data = write_samples(tmp_path / "calibration", gemm_samples(1, 0), ["x"])
    float_run = run_onnxquant("quantize", model, "-o", output, "-p", "fp16", "--calibration-data", data)
    assert float_run.returncode == 2
    dynamic = run_onnxquant("quantize", model, "-o", output, "-p", "int8", "--format", "dynamic",
                            "--calibration-data", data)
    assert dynamic.returncode == 2
    assert not output.exists()
