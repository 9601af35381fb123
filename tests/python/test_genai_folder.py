"""`onnxquant quantize DIR` and `onnxquant inspect DIR` on ONNX Runtime GenAI model folders made
here: genai_config.json, phi3_tiny decoders and a tokenizer file. test_genai_runtime.py runs the
output in ONNX Runtime GenAI itself."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
import pytest

import ortcheck
import phi3_tiny
from onnxquant_check import assert_output_passes

EXIT_USAGE = 2
EXIT_INVALID_MODEL = 3
EXIT_IO = 4
MIN_LOGITS_COSINE = 0.97
SEQUENCE = {"batch": 1, "sequence": 16}

GENAI_CONFIG = {
    "model": {
        "bos_token_id": 1,
        "context_length": 128,
        "decoder": {
            "session_options": {"log_id": "onnxruntime-genai", "provider_options": []},
            "filename": "model.onnx",
            "head_size": 32,
            "hidden_size": 128,
            "inputs": {"input_ids": "input_ids"},
            "outputs": {"logits": "logits"},
            "num_attention_heads": 4,
            "num_hidden_layers": 2,
            "num_key_value_heads": 4,
        },
        "eos_token_id": 2,
        "pad_token_id": 0,
        "type": "phi3",
        "vocab_size": 512,
    },
    "search": {"max_length": 128},
}


def save_decoder(path: Path, external: bool, seed: int = 0) -> None:
    model = phi3_tiny.build_model(phi3_tiny.Phi3TinyConfig(seed=seed))
    if external:
        onnx.save(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                  location=path.name + ".data", size_threshold=1024)
    else:
        onnx.save(model, path)


def write_config(folder: Path, config: dict) -> None:
    # Indented like the GenAI model builder writes it, so byte equality of the copy means something.
    (folder / "genai_config.json").write_text(json.dumps(config, indent=4))


def make_folder(root: Path, external: bool = True, config: dict | None = None) -> Path:
    folder = root / "genai-in"
    folder.mkdir()
    save_decoder(folder / "model.onnx", external)
    write_config(folder, config or GENAI_CONFIG)
    (folder / "tokenizer.json").write_text('{"model": {"type": "WordLevel"}}\n')
    (folder / "tokenizer_config.json").write_text('{"bos_token": "<s>"}\n')
    (folder / "chat").mkdir()
    (folder / "chat" / "template.jinja").write_text("{{ messages }}\n")
    return folder


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under the folder with the SHA-256 of its bytes."""
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def leftovers(parent: Path, name: str) -> list[str]:
    return [path.name for path in parent.iterdir() if path.name.startswith(f".{name}.tmp-")]


def assert_logits_close(original: Path, quantized: Path) -> None:
    inputs = ortcheck.make_inputs(original, seed=0, overrides={"input_ids": (0, 512)}, dims=SEQUENCE)
    reference = ortcheck.run(original, inputs)
    candidate = ortcheck.run(quantized, inputs)
    metrics = ortcheck.compare(reference, candidate)
    assert metrics["logits"].cosine_similarity >= MIN_LOGITS_COSINE, metrics["logits"]


@pytest.fixture
def genai_folder(tmp_path) -> Path:
    return make_folder(tmp_path)


def test_folder_quantized_completely(run_onnxquant, genai_folder, tmp_path):
    before = snapshot(genai_folder)
    output = tmp_path / "genai-out"
    report_path = tmp_path / "report.json"
    result = run_onnxquant("quantize", genai_folder, "-p", "int4", "-o", output, "--report", report_path)
    assert result.returncode == 0, result.stderr

    assert snapshot(genai_folder) == before
    files = sorted(str(path.relative_to(output)) for path in output.rglob("*") if path.is_file())
    assert files == ["chat/template.jinja", "genai_config.json", "model.onnx", "model.onnx.data",
                     "tokenizer.json", "tokenizer_config.json"]
    for name in ["genai_config.json", "tokenizer.json", "tokenizer_config.json", "chat/template.jinja"]:
        assert (output / name).read_bytes() == (genai_folder / name).read_bytes(), name
    assert (output / "model.onnx.data").stat().st_size < (genai_folder / "model.onnx.data").stat().st_size / 3
    assert_logits_close(genai_folder / "model.onnx", output / "model.onnx")
    assert_output_passes(genai_folder / "model.onnx", output / "model.onnx")
    assert leftovers(tmp_path, "genai-out") == []
    assert "== model.onnx (/model/decoder/filename)" in result.stdout


def test_folder_report_lists_models(run_onnxquant, genai_folder, tmp_path):
    report_path = tmp_path / "report.json"
    output = tmp_path / "genai-out"
    result = run_onnxquant("quantize", genai_folder, "-p", "int4", "-o", output, "--report", report_path, "--no-table")
    assert result.returncode == 0, result.stderr
    report = json.loads(report_path.read_text())
    assert report["schema"] == "onnxquant.folder-report"
    assert report["copied_files"] == ["chat/template.jinja", "tokenizer.json", "tokenizer_config.json"]
    assert report["config_changes"] == []
    assert report["folder_bytes_after"] < report["folder_bytes_before"]
    (model,) = report["models"]
    assert model["file"] == "model.onnx"
    assert model["config_keys"] == ["/model/decoder/filename"]
    assert model["report"]["schema"] == "onnxquant.report"
    assert model["report"]["output"] == str(output / "model.onnx")
    # qkv_proj, o_proj, gate_up_proj and down_proj of two layers, and lm_head.
    assert len(model["report"]["tensors"]) == 9


def test_inline_model_stays_inline(run_onnxquant, tmp_path):
    folder = make_folder(tmp_path, external=False)
    output = tmp_path / "genai-out"
    result = run_onnxquant("quantize", folder, "-p", "int8", "-o", output, "--no-table")
    assert result.returncode == 0, result.stderr
    assert not (output / "model.onnx.data").exists()
    assert_logits_close(folder / "model.onnx", output / "model.onnx")


def test_external_data_always_option(run_onnxquant, tmp_path):
    folder = make_folder(tmp_path, external=False)
    output = tmp_path / "genai-out"
    result = run_onnxquant("quantize", folder, "-p", "int4", "-o", output, "--external-data", "always", "--no-table")
    assert result.returncode == 0, result.stderr
    assert (output / "model.onnx.data").exists()


def test_empty_output_folder_accepted(run_onnxquant, genai_folder, tmp_path):
    output = tmp_path / "genai-out"
    output.mkdir()
    result = run_onnxquant("quantize", genai_folder, "-p", "int4", "-o", output, "--no-table")
    assert result.returncode == 0, result.stderr
    assert (output / "model.onnx").exists()


def test_every_listed_model_quantized(run_onnxquant, tmp_path):
    config = copy.deepcopy(GENAI_CONFIG)
    config["model"]["vision"] = {"filename": "vision/vision.onnx"}
    config["model"]["embedding"] = {"filename": "model.onnx"}
    folder = make_folder(tmp_path, config=config)
    (folder / "vision").mkdir()
    save_decoder(folder / "vision" / "vision.onnx", external=False, seed=1)
    output = tmp_path / "genai-out"
    report_path = tmp_path / "report.json"
    result = run_onnxquant("quantize", folder, "-p", "int4", "-o", output, "--report", report_path, "--no-table")
    assert result.returncode == 0, result.stderr

    report = json.loads(report_path.read_text())
    assert [(model["file"], model["config_keys"]) for model in report["models"]] == [
        ("model.onnx", ["/model/decoder/filename", "/model/embedding/filename"]),
        ("vision/vision.onnx", ["/model/vision/filename"]),
    ]
    assert "vision/vision.onnx" not in report["copied_files"]
    assert_logits_close(folder / "vision" / "vision.onnx", output / "vision" / "vision.onnx")
    vision = onnx.load(str(output / "vision" / "vision.onnx"))
    assert any(node.op_type == "MatMulNBits" for node in vision.graph.node)


def test_pipeline_models_found(run_onnxquant, tmp_path):
    config = copy.deepcopy(GENAI_CONFIG)
    decoder = config["model"]["decoder"]
    del decoder["filename"]
    decoder["pipeline"] = [{"prefill": {"filename": "model.onnx", "inputs": ["input_ids"], "outputs": ["logits"]}}]
    folder = make_folder(tmp_path, config=config)
    output = tmp_path / "genai-out"
    report_path = tmp_path / "report.json"
    result = run_onnxquant("quantize", folder, "-p", "int4", "-o", output, "--report", report_path, "--no-table")
    assert result.returncode == 0, result.stderr
    report = json.loads(report_path.read_text())
    assert report["models"][0]["config_keys"] == ["/model/decoder/pipeline/0/prefill/filename"]


def test_shared_initializers_point_at_output(run_onnxquant, tmp_path):
    config = copy.deepcopy(GENAI_CONFIG)
    shared = {"name": "lm_head.weight", "data_file": "model.onnx.data", "offset": "0", "length": "4",
              "data_type": 1, "shape": [1]}
    config["model"]["decoder"]["shared_initializers"] = [shared]
    folder = make_folder(tmp_path, config=config)
    output = tmp_path / "genai-out"
    report_path = tmp_path / "report.json"
    result = run_onnxquant("quantize", folder, "-p", "int4", "-o", output, "--report", report_path, "--no-table")
    assert result.returncode == 0, result.stderr

    report = json.loads(report_path.read_text())
    assert report["config_changes"] == ["/model/decoder/shared_initializers/0"]
    assert report["notes"] == ["model.onnx: 1 shared initializer(s) stay float, because GenAI shares them between "
                               "sessions by their place in the data file"]
    skipped = {entry["name"]: entry["reason"] for entry in report["models"][0]["report"]["skipped"]}
    assert skipped["lm_head.weight"] == "excluded by --exclude"

    entry = json.loads((output / "genai_config.json").read_text())["model"]["decoder"]["shared_initializers"][0]
    model = onnx.load(str(output / "model.onnx"), load_external_data=False)
    (tensor,) = [tensor for tensor in model.graph.initializer if tensor.name == "lm_head.weight"]
    location = {item.key: item.value for item in tensor.external_data}
    assert entry == {"name": "lm_head.weight", "data_file": "model.onnx.data", "offset": location["offset"],
                     "length": location["length"], "data_type": onnx.TensorProto.FLOAT, "shape": list(tensor.dims)}
    data = (output / "model.onnx.data").read_bytes()
    offset, length = int(entry["offset"]), int(entry["length"])
    stored = np.frombuffer(data[offset:offset + length], dtype=np.float32).reshape(tensor.dims)
    original = onnx.numpy_helper.to_array(next(t for t in onnx.load(str(folder / "model.onnx")).graph.initializer
                                              if t.name == "lm_head.weight"))
    np.testing.assert_array_equal(stored, original)


def test_inspect_folder_lists_models(run_onnxquant, genai_folder):
    result = run_onnxquant("inspect", genai_folder)
    assert result.returncode == 0, result.stderr
    assert "== model.onnx (/model/decoder/filename)" in result.stdout
    result = run_onnxquant("inspect", genai_folder, "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert [model["file"] for model in document["models"]] == ["model.onnx"]
    assert document["models"][0]["model"]["inputs"][0]["name"] == "input_ids"


@pytest.mark.parametrize("case", ["no-config", "malformed-json", "no-model-object", "missing-model",
                                  "unsafe-name", "filename-not-string", "no-filename", "broken-second-model",
                                  "symlinked-model"])
def test_bad_folder_rejected(run_onnxquant, tmp_path, case):
    folder = make_folder(tmp_path)
    config = copy.deepcopy(GENAI_CONFIG)
    expected_code, expected_text = EXIT_INVALID_MODEL, ""
    if case == "no-config":
        (folder / "genai_config.json").unlink()
        expected_text = "has no genai_config.json"
    elif case == "malformed-json":
        (folder / "genai_config.json").write_text('{"model": {"decoder": {"filename": "model.onnx",}}')
        expected_text = "is not valid JSON"
    elif case == "no-model-object":
        write_config(folder, {"search": {}})
        expected_text = 'has no "model" object'
    elif case == "missing-model":
        config["model"]["decoder"]["filename"] = "decoder.onnx"
        write_config(folder, config)
        expected_code, expected_text = EXIT_IO, "names the model 'decoder.onnx' at /model/decoder/filename"
    elif case == "unsafe-name":
        config["model"]["decoder"]["filename"] = "../model.onnx"
        write_config(folder, config)
        expected_text = "must be relative to the folder"
    elif case == "filename-not-string":
        config["model"]["decoder"]["filename"] = 7
        write_config(folder, config)
        expected_text = "/model/decoder/filename in genai_config.json must be a string"
    elif case == "no-filename":
        del config["model"]["decoder"]["filename"]
        write_config(folder, config)
        expected_text = "names no model"
    elif case == "broken-second-model":
        config["model"]["vision"] = {"filename": "vision.onnx"}
        write_config(folder, config)
        (folder / "vision.onnx").write_bytes(b"not a protobuf model")
        expected_text = "vision.onnx"
    elif case == "symlinked-model":
        (folder / "real.onnx").write_bytes((folder / "model.onnx").read_bytes())
        (folder / "model.onnx").unlink()
        (folder / "model.onnx").symlink_to(folder / "real.onnx")
        expected_text = "symbolic link"
    before = snapshot(folder)

    output = tmp_path / "genai-out"
    result = run_onnxquant("quantize", folder, "-p", "int4", "-o", output, "--report", tmp_path / "report.json")
    assert result.returncode == expected_code, result.stderr
    assert expected_text in result.stderr
    assert result.stderr.count("[error]") == 1, result.stderr
    assert not output.exists()
    assert not (tmp_path / "report.json").exists()
    assert leftovers(tmp_path, "genai-out") == []
    assert snapshot(folder) == before


@pytest.mark.parametrize("case", ["not-empty", "is-input", "inside-input", "is-file", "report-inside-input",
                                  "missing-parent"])
def test_bad_output_rejected(run_onnxquant, genai_folder, tmp_path, case):
    output = tmp_path / "genai-out"
    report = tmp_path / "report.json"
    expected_code = EXIT_USAGE
    if case == "not-empty":
        output.mkdir()
        (output / "keep.txt").write_text("keep\n")
    elif case == "is-input":
        output = genai_folder
    elif case == "inside-input":
        output = genai_folder / "int4"
    elif case == "is-file":
        output.write_text("a file\n")
    elif case == "report-inside-input":
        report = genai_folder / "report.json"
    elif case == "missing-parent":
        output = tmp_path / "missing" / "genai-out"
        expected_code = EXIT_IO
    before = snapshot(genai_folder)
    output_before = snapshot(output) if output.is_dir() else None

    result = run_onnxquant("quantize", genai_folder, "-p", "int4", "-o", output, "--report", report)
    assert result.returncode == expected_code, result.stderr
    assert result.stderr.count("[error]") == 1, result.stderr
    assert snapshot(genai_folder) == before
    if output_before is not None:
        assert snapshot(output) == output_before
    assert not report.exists()


def test_stale_staging_folder_removed(run_onnxquant, genai_folder, tmp_path):
    stale = tmp_path / ".genai-out.tmp-abcdef"
    stale.mkdir()
    (stale / "model.onnx").write_bytes(b"partial")
    result = run_onnxquant("quantize", genai_folder, "-p", "int4", "-o", tmp_path / "genai-out", "--no-table")
    assert result.returncode == 0, result.stderr
    assert not stale.exists()
    assert leftovers(tmp_path, "genai-out") == []


def test_folder_rejects_html_report_and_evaluation(run_onnxquant, genai_folder, tmp_path):
    folder = genai_folder
    for extra, text in (
        (["--report", str(tmp_path / "report.html")], "JSON only"),
        (["--eval-samples", "1"], "not a folder"),
    ):
        output = tmp_path / "out"
        result = run_onnxquant("quantize", folder, "-p", "int8", "-o", output, *extra)
        assert result.returncode == 2, result.stderr
        assert text in result.stderr
        assert not output.exists()
        assert not (tmp_path / "report.html").exists()
