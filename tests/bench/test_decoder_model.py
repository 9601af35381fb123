"""Tests for the benchmark model generator bench/decoder_model.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

REPO_ROOT = Path(__file__).resolve().parents[2]
GENERATOR = REPO_ROOT / "bench" / "decoder_model.py"
sys.path.insert(0, str(REPO_ROOT / "bench"))

import decoder_model  # noqa: E402

SMALL = {"phi3-mini": ["--layers", "2", "--hidden", "192", "--intermediate", "512", "--vocab", "1000"],
         "phi4": ["--layers", "2", "--hidden", "512", "--intermediate", "640", "--vocab", "1000"]}


def generate(path: Path, shape: str, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(GENERATOR), str(path), "--shape", shape, *options],
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module", params=sorted(SMALL))
def small_model(request, tmp_path_factory) -> tuple[str, Path]:
    path = tmp_path_factory.mktemp(request.param) / "model.onnx"
    result = generate(path, request.param, *SMALL[request.param])
    assert result.returncode == 0, result.stderr
    return request.param, path


def weights(path: Path) -> dict[str, np.ndarray]:
    return {tensor.name: numpy_helper.to_array(tensor, base_dir=str(path.parent))
            for tensor in onnx.load(path, load_external_data=False).graph.initializer
            if tensor.data_location == onnx.TensorProto.EXTERNAL}


def largest_rows(weight: np.ndarray) -> np.ndarray:
    """Return the indices of the OUTLIER_CHANNELS rows with the largest root mean square."""
    return np.argsort(np.sqrt(np.mean(weight**2, axis=1)))[-decoder_model.OUTLIER_CHANNELS:]


def test_model_runs_in_onnx_runtime(small_model):
    shape_name, path = small_model
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {"input_ids": np.array([[3, 1, 4, 1, 5, 9, 2, 6]], dtype=np.int64)})

    expected_type = np.float32 if shape_name == "phi3-mini" else np.float16
    assert logits.shape == (1, 8, 1000)
    assert logits.dtype == expected_type
    assert np.isfinite(logits).all()
    assert logits.std() > 0.01


def test_weights_are_external_and_aligned(small_model):
    shape_name, path = small_model
    model = onnx.load(path, load_external_data=False)
    shape = decoder_model.scaled_shape(shape_name, 2, int(SMALL[shape_name][3]), int(SMALL[shape_name][5]), 1000)
    external = {tensor.name: tensor for tensor in model.graph.initializer
                if tensor.data_location == onnx.TensorProto.EXTERNAL}

    assert {name: tuple(external[name].dims) for name in external} == dict(shape.weight_shapes())
    for tensor in external.values():
        entries = {entry.key: entry.value for entry in tensor.external_data}
        assert entries["location"] == "model.onnx.data"
        assert int(entries["offset"]) % decoder_model.DATA_ALIGNMENT == 0
    assert path.stat().st_size < 256 * 1024, "only small constants such as the causal mask stay inline"
    assert Path(str(path) + ".data").stat().st_size >= shape.parameter_bytes()


def test_weights_have_heavy_tails_and_outliers(small_model):
    shape_name, path = small_model
    tensors = weights(path)
    gate_up = tensors["model.layers.1.mlp.gate_up_proj.weight"].astype(np.float64)
    qkv = tensors["model.layers.0.self_attn.qkv_proj.weight"].astype(np.float64)

    outliers = largest_rows(gate_up)
    regular = np.delete(gate_up, outliers, axis=0).ravel()
    excess_kurtosis = np.mean((regular - regular.mean()) ** 4) / regular.var() ** 2 - 3.0
    assert excess_kurtosis > 1.5, "Student-t weights should have heavier tails than a normal (kurtosis 0)"
    assert regular.std() == pytest.approx(decoder_model.WEIGHT_STD, rel=0.3)
    outlier_rms = np.sqrt(np.mean(gate_up[outliers] ** 2))
    assert outlier_rms > 3.0 * regular.std()
    assert set(largest_rows(qkv)) == set(outliers), "weights that read the hidden state share outlier channels"


def test_same_seed_writes_same_bytes(tmp_path):
    for name, seed in (("first", "7"), ("second", "7"), ("other", "8")):
        assert generate(tmp_path / f"{name}.onnx", "phi3-mini", *SMALL["phi3-mini"], "--seed", seed).returncode == 0
    data = {name: (tmp_path / f"{name}.onnx.data").read_bytes() for name in ("first", "second", "other")}
    assert data["first"] == data["second"]
    assert data["first"] != data["other"]


def test_invalid_hidden_size_exits_with_2(tmp_path):
    result = generate(tmp_path / "model.onnx", "phi4", "--hidden", "100")

    assert result.returncode == 2
    assert "not a multiple of the head size 128" in result.stderr
    assert not (tmp_path / "model.onnx").exists()


def test_peak_memory_stays_below_model_size(tmp_path):
    # 94 MiB of embeddings and lm_head plus 4 layers of 27 MiB: about 200 MiB of float32 weights.
    options = ["--layers", "4", "--hidden", "768", "--intermediate", "2048", "--vocab", "16000"]
    process = subprocess.Popen([sys.executable, str(GENERATOR), str(tmp_path / "model.onnx"), "--shape",
                                "phi3-mini", *options], stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    model_mib = (tmp_path / "model.onnx.data").stat().st_size / 2**20
    peak_mib = usage.ru_maxrss / 1024

    assert process.returncode == 0
    assert model_mib > 190
    assert peak_mib < model_mib * 0.75, f"peak RSS {peak_mib:.0f} MiB for a {model_mib:.0f} MiB model"
