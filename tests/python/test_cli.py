"""The onnxquant command line: inspect output, bad input, exit codes and what is left on disk.

Exit codes: 0 success, 2 usage error, 3 invalid or unsupported model, 4 I/O failure.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import realmodels

EXIT_USAGE = 2
EXIT_INVALID_MODEL = 3
EXIT_IO = 4


def small_matmul_model(k: int = 64, n: int = 32) -> onnx.ModelProto:
    rng = np.random.default_rng(3)
    weight = numpy_helper.from_array(rng.standard_normal((k, n)).astype(np.float32), "weight")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "weight"], ["y"], name="matmul")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", n])], [weight])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


@pytest.fixture
def model_file(tmp_path) -> Path:
    path = tmp_path / "in" / "model.onnx"
    path.parent.mkdir()
    onnx.save(small_matmul_model(), path)
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(folder: Path) -> list[str]:
    """Temporary files onnxquant would leave behind after a failure."""
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


def test_inspect_lists_weights_and_opsets(run_onnxquant, model_file):
    result = run_onnxquant("inspect", model_file)
    assert result.returncode == 0, result.stderr
    assert "IR version   8" in result.stdout
    assert "ai.onnx 17" in result.stdout
    assert "weight" in result.stdout
    assert "[64, 32]" in result.stdout
    assert "MatMul" in result.stdout


def test_inspect_json_totals(run_onnxquant, model_file):
    result = run_onnxquant("inspect", model_file, "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["totals"]["weights"] == 1
    assert info["totals"]["weight_bytes"] == 64 * 32 * 4
    assert info["op_types"] == {"MatMul": 1}


def test_inspect_shows_external_data_location(run_onnxquant):
    model = realmodels.get("tiny-llama-fp16")
    if model.skip_reason():
        pytest.skip(model.skip_reason())
    info = json.loads(run_onnxquant("inspect", model.path(), "--json").stdout)
    assert info["totals"]["external_bytes"] > 0
    assert any("external model.onnx.data" in weight["storage"] for weight in info["weights"])


def test_quantize_prints_report_table(run_onnxquant, model_file, tmp_path):
    result = run_onnxquant("quantize", model_file, "-p", "int4", "-o", tmp_path / "out.onnx")
    assert result.returncode == 0, result.stderr
    assert "weight" in result.stdout
    assert "block 32" in result.stdout
    assert "compression" in result.stdout


def test_missing_input_is_io_error(run_onnxquant, tmp_path):
    output = tmp_path / "out.onnx"
    result = run_onnxquant("quantize", tmp_path / "absent.onnx", "-p", "int8", "-o", output)
    assert result.returncode == EXIT_IO
    assert "not found" in result.stderr
    assert not output.exists()


@pytest.mark.parametrize("content", [b"", np.random.default_rng(7).bytes(4096)], ids=["empty", "random"])
def test_non_model_is_invalid_model(run_onnxquant, tmp_path, content):
    source = tmp_path / "bad.onnx"
    source.write_bytes(content)
    output = tmp_path / "out.onnx"
    result = run_onnxquant("quantize", source, "-p", "int8", "-o", output)
    assert result.returncode == EXIT_INVALID_MODEL
    assert "not a valid ONNX model" in result.stderr
    assert result.stderr.count("[error]") == 1
    assert not output.exists()
    assert leftovers(tmp_path) == []


def test_truncated_model_is_invalid_model(run_onnxquant, model_file, tmp_path):
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(model_file.read_bytes()[: model_file.stat().st_size // 2])
    output = tmp_path / "out.onnx"
    result = run_onnxquant("quantize", truncated, "-p", "int8", "-o", output)
    assert result.returncode == EXIT_INVALID_MODEL
    assert not output.exists()


def test_unknown_precision_is_usage_error(run_onnxquant, model_file, tmp_path):
    output = tmp_path / "out.onnx"
    result = run_onnxquant("quantize", model_file, "-p", "int3", "-o", output)
    assert result.returncode == EXIT_USAGE
    assert "int3" in result.stderr
    assert not output.exists()


@pytest.mark.parametrize("block_size", ["8", "24", "0"])
def test_invalid_block_size_is_usage_error(run_onnxquant, model_file, tmp_path, block_size):
    output = tmp_path / "out.onnx"
    result = run_onnxquant("quantize", model_file, "-p", "int4", "--block-size", block_size, "-o", output)
    assert result.returncode == EXIT_USAGE
    assert "--block-size" in result.stderr
    assert not output.exists()


def test_output_equal_to_input_is_rejected(run_onnxquant, model_file):
    before = digest(model_file)
    alias = model_file.parent / "." / model_file.name
    result = run_onnxquant("quantize", model_file, "-p", "int8", "-o", alias)
    assert result.returncode == EXIT_USAGE
    assert "is the input model" in result.stderr
    assert digest(model_file) == before
    assert leftovers(model_file.parent) == []


def test_missing_output_folder_is_io_error(run_onnxquant, model_file, tmp_path):
    result = run_onnxquant("quantize", model_file, "-p", "int8", "-o", tmp_path / "no" / "such" / "out.onnx")
    assert result.returncode == EXIT_IO
    assert "does not exist" in result.stderr


def external_model(folder: Path, location: str) -> Path:
    model = small_matmul_model()
    weight = model.graph.initializer[0]
    data = weight.raw_data
    weight.ClearField("raw_data")
    weight.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", str(len(data)))):
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    path = folder / "model.onnx"
    path.write_bytes(model.SerializeToString())
    return path


@pytest.mark.parametrize("location", ["../outside.bin", "/etc/passwd", "sub/../../outside.bin"])
def test_external_data_outside_folder_is_rejected(run_onnxquant, tmp_path, location):
    folder = tmp_path / "model"
    folder.mkdir()
    (tmp_path / "outside.bin").write_bytes(b"\0" * 64 * 32 * 4)
    path = external_model(folder, location)
    output = tmp_path / "out.onnx"
    result = run_onnxquant("quantize", path, "-p", "int8", "-o", output)
    assert result.returncode == EXIT_INVALID_MODEL
    assert "external data location" in result.stderr
    assert not output.exists()


def test_external_data_symlink_is_rejected(run_onnxquant, tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    target = tmp_path / "outside.bin"
    target.write_bytes(b"\0" * 64 * 32 * 4)
    (folder / "weights.bin").symlink_to(target)
    path = external_model(folder, "weights.bin")
    result = run_onnxquant("quantize", path, "-p", "int8", "-o", tmp_path / "out.onnx")
    assert result.returncode == EXIT_INVALID_MODEL
    assert "symbolic link" in result.stderr


def test_external_data_past_end_is_rejected(run_onnxquant, tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"\0" * 100)
    path = external_model(folder, "weights.bin")
    result = run_onnxquant("quantize", path, "-p", "int8", "-o", tmp_path / "out.onnx")
    assert result.returncode == EXIT_INVALID_MODEL
    assert "passes the end" in result.stderr


def test_output_over_input_external_data_is_rejected(run_onnxquant, tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    data = numpy_helper.to_array(small_matmul_model().graph.initializer[0]).tobytes()
    (folder / "out.onnx.data").write_bytes(data)
    path = external_model(folder, "out.onnx.data")
    before = digest(folder / "out.onnx.data")
    result = run_onnxquant("quantize", path, "-p", "int8", "-o", folder / "out.onnx")
    assert result.returncode == EXIT_USAGE
    assert "external data" in result.stderr
    assert digest(folder / "out.onnx.data") == before
    assert not (folder / "out.onnx").exists()


def test_external_data_round_trip_runs(run_onnxquant, tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    data = numpy_helper.to_array(small_matmul_model().graph.initializer[0]).tobytes()
    (folder / "weights.bin").write_bytes(data)
    path = external_model(folder, "weights.bin")
    output = tmp_path / "out" / "quantized.onnx"
    output.parent.mkdir()
    result = run_onnxquant("quantize", path, "-p", "int8", "--external-data", "always", "--min-elements", "0",
                           "-o", output)
    assert result.returncode == 0, result.stderr
    stored = onnx.load(str(output), load_external_data=False)
    assert {e.value for t in stored.graph.initializer for e in t.external_data if e.key == "location"} == {
        "quantized.onnx.data"}
    import onnxruntime as ort

    session = ort.InferenceSession(str(output), providers=["CPUExecutionProvider"])
    x = np.ones((2, 64), dtype=np.float32)
    expected = x @ np.frombuffer(data, dtype=np.float32).reshape(64, 32)
    np.testing.assert_allclose(session.run(None, {"x": x})[0], expected, rtol=0.05, atol=0.5)


def test_input_files_are_not_modified(run_onnxquant, model_file, tmp_path):
    before = digest(model_file)
    mtime = model_file.stat().st_mtime_ns
    result = run_onnxquant("quantize", model_file, "-p", "int4", "-o", tmp_path / "out.onnx")
    assert result.returncode == 0, result.stderr
    assert digest(model_file) == before
    assert model_file.stat().st_mtime_ns == mtime


def test_report_json_schema(run_onnxquant, model_file, tmp_path):
    report_path = tmp_path / "report.json"
    result = run_onnxquant("quantize", model_file, "-p", "int8", "--per-channel", "-o", tmp_path / "out.onnx",
                           "--report", report_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(report_path.read_text())
    assert report["schema"] == "onnxquant.report"
    assert report["schema_version"] == 1
    tensor = report["tensors"][0]
    for key in ("name", "nodes", "op_types", "shape", "dtype_before", "dtype_after", "bytes_before", "bytes_after",
                "scheme", "axis", "scale_min", "scale_max", "mse", "max_abs_error", "sqnr_db", "cosine_similarity"):
        assert key in tensor
    assert tensor["scheme"] == "per-channel"
    assert tensor["axis"] == 1
    assert tensor["dtype_after"] == "int8"
    summary = report["summary"]
    assert summary["quantized_tensors"] == 1
    assert summary["compression_ratio"] > 1.0
    assert summary["wall_time_seconds"] >= 0.0


def test_library_example_quantizes(generated_models, tmp_path):
    import os
    import subprocess

    example = os.environ.get("ONNXQUANT_EXAMPLE")
    if not example:
        pytest.skip("ONNXQUANT_EXAMPLE is not set; CTest sets it to the built example program")
    output = tmp_path / "phi3_int4.onnx"
    result = subprocess.run([example, str(generated_models["phi3-tiny"]), str(output)], capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert "tensors quantized" in result.stdout
    assert output.exists()


@pytest.mark.parametrize("target", ["input", "output", "input-data"])
def test_report_path_over_model_is_rejected(run_onnxquant, tmp_path, target):
    folder = tmp_path / "model"
    folder.mkdir()
    data = numpy_helper.to_array(small_matmul_model().graph.initializer[0]).tobytes()
    (folder / "weights.bin").write_bytes(data)
    model = external_model(folder, "weights.bin")
    output = tmp_path / "out.onnx"
    report = {"input": model, "output": output, "input-data": folder / "weights.bin"}[target]
    before = {path: digest(path) for path in (model, folder / "weights.bin")}
    result = run_onnxquant("quantize", model, "-p", "int8", "-o", output, "--report", report)
    assert result.returncode == EXIT_USAGE
    assert result.stderr.count("[error]") == 1
    assert not output.exists()
    assert {path: digest(path) for path in before} == before


def test_report_in_missing_folder_leaves_no_output(run_onnxquant, model_file, tmp_path):
    output = tmp_path / "out.onnx"
    result = run_onnxquant("quantize", model_file, "-p", "int8", "-o", output, "--report", tmp_path / "no" / "r.json")
    assert result.returncode == EXIT_IO
    assert "report" in result.stderr
    assert not output.exists()


@pytest.mark.parametrize("arguments", [["-p", "int3"], ["--bogus"], ["-p", "int8", "--block-size", "abc"], []],
                         ids=["precision", "unknown-option", "not-a-number", "missing-output"])
def test_argument_errors_are_one_line(run_onnxquant, model_file, tmp_path, arguments):
    output = [] if not arguments else ["-o", tmp_path / "out.onnx"]
    result = run_onnxquant("quantize", model_file, *arguments, *output)
    assert result.returncode == EXIT_USAGE
    assert result.stderr.startswith("[error] ")
    assert result.stderr.count("\n") == 1


def test_exclude_takes_one_name(run_onnxquant, model_file, tmp_path):
    result = run_onnxquant("quantize", "--exclude", "weight", model_file, "-p", "int8", "-o", tmp_path / "out.onnx")
    assert result.returncode == 0, result.stderr
    assert "excluded by --exclude" in result.stdout


def test_unmatched_exclude_warns(run_onnxquant, model_file, tmp_path):
    result = run_onnxquant("quantize", model_file, "-p", "int8", "-o", tmp_path / "out.onnx", "--exclude", "typo")
    assert result.returncode == 0, result.stderr
    assert "'typo' matches no node or weight name" in result.stderr


def test_int4_options_rejected_for_int8(run_onnxquant, model_file, tmp_path):
    result = run_onnxquant("quantize", model_file, "-p", "int8", "--block-size", "64", "-o", tmp_path / "out.onnx")
    assert result.returncode == EXIT_USAGE
    assert not (tmp_path / "out.onnx").exists()


def test_verbose_after_subcommand_and_uppercase_precision(run_onnxquant, model_file, tmp_path):
    result = run_onnxquant("quantize", model_file, "-p", "INT8", "-o", tmp_path / "out.onnx", "-v")
    assert result.returncode == 0, result.stderr
    assert "[debug]" in result.stderr


def test_nothing_quantized_warns(run_onnxquant, model_file, tmp_path):
    result = run_onnxquant("quantize", model_file, "-p", "int8", "--min-elements", "100000", "-o",
                           tmp_path / "out.onnx")
    assert result.returncode == 0, result.stderr
    assert "no weight was quantized" in result.stderr


def test_version_names_libraries(run_onnxquant):
    result = run_onnxquant("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("onnxquant ")
    assert "onnx 1." in result.stdout
    assert "protobuf " in result.stdout
