"""Build a tiny Phi-3-shaped decoder-only language model as a float32 ONNX graph.

The graph follows Hugging Face Phi3ForCausalLM without a KV cache: token embedding,
decoder layers (RMS norm, attention with a fused qkv_proj, rotary position embedding,
causal mask, gated SiLU MLP with a fused gate_up_proj) and an lm_head. It uses only
ai.onnx ops at opset 17 with IR version 8, the newest versions that onnx 1.12 supports.

Weights are random (numpy default_rng with a fixed seed). Initializers carry Hugging
Face parameter names, but every MatMul weight is stored as [in, out] (the MatMul B
layout), which is the transpose of the PyTorch Linear weight.

With --external-data the weights go to OUT.onnx.data one tensor at a time as they are
drawn, so the size of the model is limited by the disk, not by memory: the generator holds
one weight at a time (plus numpy's float64 draw of it). With --dtype float16 every float
tensor, the computation and the logits are float16.

Usage: python phi3_tiny.py OUT.onnx [--layers N] [--hidden N] [--seed N] ...
       [--dtype float16] [--external-data]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8
# With --external-data, tensors of at least this many bytes go to the data file, the threshold
# onnx.save uses by default.
EXTERNAL_THRESHOLD_BYTES = 1024
# Offsets in the data file are multiples of this, as onnxquant writes them.
EXTERNAL_ALIGNMENT = 64


@dataclasses.dataclass(frozen=True)
class Phi3TinyConfig:
    """Model hyperparameters, named after the Hugging Face Phi3Config fields."""

    vocab_size: int = 512
    hidden_size: int = 128
    num_attention_heads: int = 4
    num_hidden_layers: int = 2
    # 344 is not a multiple of 32, so down_proj has K = 344 and INT4 blocks of 32
    # do not divide it evenly.
    intermediate_size: int = 344
    # Longer inputs fail in ONNX Runtime, because the sliced rotary and mask tables are
    # then shorter than the sequence and the rotary Mul cannot broadcast them.
    max_position_embeddings: int = 128
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    init_std: float = 0.02
    # Each MatMul weight gets this many output columns scaled by outlier_scale.
    outlier_columns: int = 4
    outlier_scale: float = 8.0
    seed: int = 0
    # Draw the weights in float32 instead of float64: about three times faster and half the
    # memory, for multi-gigabyte models. The values differ from the float64 draws of the same seed.
    float32_draws: bool = False

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def validate(self) -> None:
        """Raise ValueError if the dimensions cannot form a valid model."""
        positive = {
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "num_attention_heads": self.num_attention_heads,
            "num_hidden_layers": self.num_hidden_layers,
            "intermediate_size": self.intermediate_size,
            "max_position_embeddings": self.max_position_embeddings,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"hidden_size {self.hidden_size} is not divisible by "
                f"num_attention_heads {self.num_attention_heads}"
            )
        if self.head_dim % 2 != 0:
            raise ValueError(
                f"head_dim {self.head_dim} must be even because rotary embedding "
                "rotates pairs of dimensions"
            )


# ---------------------------------------------------------------------------
# Weights and constant tables
# ---------------------------------------------------------------------------


def _normal(rng: np.random.Generator, shape: tuple[int, int], config: Phi3TinyConfig) -> np.ndarray:
    """Draw init_std * N(0, 1) values of SHAPE, in float32 when config.float32_draws is set."""
    if config.float32_draws:
        values = rng.standard_normal(shape, dtype=np.float32)
        values *= np.float32(config.init_std)
        return values
    return rng.normal(0.0, config.init_std, size=shape)


def _random_matmul_weight(
    rng: np.random.Generator, fan_in: int, fan_out: int, config: Phi3TinyConfig
) -> np.ndarray:
    """Draw an [in, out] weight with a few large output columns, like trained LLMs."""
    weight = _normal(rng, (fan_in, fan_out), config)
    count = min(config.outlier_columns, fan_out)
    columns = rng.choice(fan_out, size=count, replace=False)
    weight[:, columns] *= config.outlier_scale
    return weight.astype(np.float32)


def _random_norm_weight(rng: np.random.Generator, size: int) -> np.ndarray:
    # Values near 1 instead of exactly 1, so that a skipped norm weight changes logits.
    return (1.0 + 0.1 * rng.normal(size=size)).astype(np.float32)


def iter_weights(config: Phi3TinyConfig) -> Iterator[tuple[str, np.ndarray]]:
    """Yield each float32 parameter with its Hugging Face name, drawing one at a time."""
    config.validate()
    rng = np.random.default_rng(config.seed)
    hidden = config.hidden_size
    intermediate = config.intermediate_size

    embedding = _normal(rng, (config.vocab_size, hidden), config)
    yield "model.embed_tokens.weight", embedding.astype(np.float32)
    del embedding
    for layer in range(config.num_hidden_layers):
        prefix = f"model.layers.{layer}"
        yield f"{prefix}.input_layernorm.weight", _random_norm_weight(rng, hidden)
        yield f"{prefix}.self_attn.qkv_proj.weight", _random_matmul_weight(
            rng, hidden, 3 * hidden, config
        )
        yield f"{prefix}.self_attn.o_proj.weight", _random_matmul_weight(
            rng, hidden, hidden, config
        )
        yield f"{prefix}.post_attention_layernorm.weight", _random_norm_weight(rng, hidden)
        yield f"{prefix}.mlp.gate_up_proj.weight", _random_matmul_weight(
            rng, hidden, 2 * intermediate, config
        )
        yield f"{prefix}.mlp.down_proj.weight", _random_matmul_weight(
            rng, intermediate, hidden, config
        )
    yield "model.norm.weight", _random_norm_weight(rng, hidden)
    yield "lm_head.weight", _random_matmul_weight(rng, hidden, config.vocab_size, config)


def make_weights(config: Phi3TinyConfig) -> dict[str, np.ndarray]:
    """Create all float32 parameters, keyed by Hugging Face parameter name."""
    return dict(iter_weights(config))


def rotary_tables(config: Phi3TinyConfig) -> tuple[np.ndarray, np.ndarray]:
    """Return float32 cos and sin tables [max_position_embeddings, head_dim].

    The layout matches the rotate-half convention: the angles for the first half of
    the head dimensions are repeated for the second half.
    """
    half = config.head_dim // 2
    inv_freq = 1.0 / config.rope_theta ** (np.arange(half, dtype=np.float64) / half)
    positions = np.arange(config.max_position_embeddings, dtype=np.float64)
    angles = np.outer(positions, inv_freq)
    angles = np.concatenate([angles, angles], axis=-1)
    return np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)


def causal_mask_table(config: Phi3TinyConfig, dtype: type = np.float32) -> np.ndarray:
    """Return the additive causal mask [max_pos, max_pos], 0 on and below the diagonal.

    Masked entries hold the minimum of DTYPE instead of -inf, as Hugging Face masks do,
    so adding a finite score to them stays finite.
    """
    size = config.max_position_embeddings
    future = np.triu(np.ones((size, size), dtype=bool), k=1)
    return np.where(future, np.finfo(dtype).min, 0.0).astype(dtype)


# ---------------------------------------------------------------------------
# Graph construction
# ---------------------------------------------------------------------------


class ExternalDataWriter:
    """Append tensor data to one external data file and return the external TensorProto."""

    def __init__(self, data_file, location: str) -> None:
        self._file = data_file
        self._location = location
        self._offset = 0

    def tensor(self, name: str, array: np.ndarray) -> onnx.TensorProto:
        padding = -self._offset % EXTERNAL_ALIGNMENT
        self._file.write(b"\0" * padding)
        self._offset += padding
        data = np.ascontiguousarray(array)
        self._file.write(memoryview(data).cast("B"))
        tensor = onnx.TensorProto()
        tensor.name = name
        tensor.data_type = helper.np_dtype_to_tensor_dtype(data.dtype)
        tensor.dims.extend(data.shape)
        tensor.data_location = TensorProto.EXTERNAL
        for key, value in (("location", self._location), ("offset", str(self._offset)),
                           ("length", str(data.nbytes))):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, value
        self._offset += data.nbytes
        return tensor


class GraphBuilder:
    """Collect nodes and initializers, naming outputs the way torch.onnx exports do.

    Float initializers are stored as FLOAT_TYPE. With a WRITER, initializers of at least
    EXTERNAL_THRESHOLD_BYTES go to its external data file as they are added.
    """

    def __init__(self, float_type: type = np.float32, writer: ExternalDataWriter | None = None) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._initializer_names: set[str] = set()
        self.float_type = float_type
        self._writer = writer

    def initializer(self, name: str, array: np.ndarray, keep_type: bool = False) -> str:
        """Add an initializer unless its name exists already, and return the name.

        KEEP_TYPE stores a float array in its own type instead of FLOAT_TYPE.
        """
        if name not in self._initializer_names:
            if np.issubdtype(array.dtype, np.floating) and not keep_type:
                array = array.astype(self.float_type, copy=False)
            if self._writer is not None and array.nbytes >= EXTERNAL_THRESHOLD_BYTES:
                self.initializers.append(self._writer.tensor(name, array))
            else:
                self.initializers.append(numpy_helper.from_array(array, name))
            self._initializer_names.add(name)
        return name

    def int64s(self, name: str, values: list[int]) -> str:
        return self.initializer(name, np.array(values, dtype=np.int64))

    def scalar(self, name: str, value: float) -> str:
        return self.initializer(name, np.array(value, dtype=np.float32))

    def op(self, op_type: str, inputs: list[str], name: str, **attrs) -> str:
        """Add a node with one output, NAME_output_0, and return the output name."""
        return self.op_multi(op_type, inputs, name, 1, **attrs)[0]

    def op_multi(
        self, op_type: str, inputs: list[str], name: str, num_outputs: int, **attrs
    ) -> list[str]:
        outputs = [f"{name}_output_{i}" for i in range(num_outputs)]
        node = helper.make_node(op_type, inputs, outputs, name=name, **attrs)
        self.nodes.append(node)
        return outputs


def _add_rms_norm(g: GraphBuilder, x: str, weight: str, scope: str, eps: float) -> str:
    """Add weight * x / sqrt(mean(x^2) + eps) over the last axis."""
    # The exponent stays float32: ONNX Runtime 1.23.2 fails to initialize a session whose
    # layer-norm fusion meets a float16 exponent.
    two = g.initializer("const_two", np.array(2.0, dtype=np.float32), keep_type=True)
    squared = g.op("Pow", [x, two], f"{scope}/Pow")
    mean = g.op("ReduceMean", [squared], f"{scope}/ReduceMean", axes=[-1], keepdims=1)
    shifted = g.op("Add", [mean, g.scalar("rms_norm_epsilon", eps)], f"{scope}/Add")
    rms = g.op("Sqrt", [shifted], f"{scope}/Sqrt")
    normalized = g.op("Div", [x, rms], f"{scope}/Div")
    return g.op("Mul", [normalized, weight], f"{scope}/Mul")


def _add_position_tensors(
    g: GraphBuilder, input_ids: str, config: Phi3TinyConfig
) -> tuple[str, str, str]:
    """Slice the cos, sin and causal mask tables to the current sequence length."""
    cos_table, sin_table = rotary_tables(config)
    zero = g.int64s("const_zero_1d", [0])
    shape = g.op("Shape", [input_ids], "/model/Shape")
    seq_len = g.op(
        "Slice",
        [shape, g.int64s("const_one_1d", [1]), g.int64s("const_two_1d", [2])],
        "/model/Slice_sequence_length",
    )

    cos_input = g.initializer("rotary_cos_table", cos_table)
    sin_input = g.initializer("rotary_sin_table", sin_table)
    cos = g.op("Slice", [cos_input, zero, seq_len, zero], "/model/rotary_emb/Slice_cos")
    sin = g.op("Slice", [sin_input, zero, seq_len, zero], "/model/rotary_emb/Slice_sin")

    mask_table = g.initializer("causal_mask_table", causal_mask_table(config, g.float_type))
    mask_ends = g.op("Concat", [seq_len, seq_len], "/model/Concat_mask_ends", axis=0)
    mask_starts = g.int64s("const_zeros_2", [0, 0])
    mask_axes = g.int64s("const_axes_0_1", [0, 1])
    mask = g.op(
        "Slice",
        [mask_table, mask_starts, mask_ends, mask_axes],
        "/model/Slice_causal_mask",
    )
    return cos, sin, mask


def _split_heads(g: GraphBuilder, x: str, config: Phi3TinyConfig, scope: str) -> str:
    """Reshape [batch, seq, hidden] to [batch, heads, seq, head_dim]."""
    heads_shape = [0, 0, config.num_attention_heads, config.head_dim]
    shape = g.int64s("const_heads_shape", heads_shape)
    reshaped = g.op("Reshape", [x, shape], f"{scope}/Reshape")
    return g.op("Transpose", [reshaped], f"{scope}/Transpose", perm=[0, 2, 1, 3])


def _add_rotary(
    g: GraphBuilder, x: str, cos: str, sin: str, config: Phi3TinyConfig, scope: str
) -> str:
    """Add x * cos + rotate_half(x) * sin, where rotate_half([a, b]) = [-b, a]."""
    half = config.head_dim // 2
    halves = g.int64s("const_rotary_halves", [half, half])
    first, second = g.op_multi("Split", [x, halves], f"{scope}/Split", 2, axis=-1)
    negated = g.op("Neg", [second], f"{scope}/Neg")
    rotated = g.op("Concat", [negated, first], f"{scope}/Concat", axis=-1)
    x_cos = g.op("Mul", [x, cos], f"{scope}/Mul_cos")
    rotated_sin = g.op("Mul", [rotated, sin], f"{scope}/Mul_sin")
    return g.op("Add", [x_cos, rotated_sin], f"{scope}/Add")


def _add_attention(
    g: GraphBuilder,
    x: str,
    layer: int,
    config: Phi3TinyConfig,
    position: tuple[str, str, str],
) -> str:
    """Add causal multi-head self-attention and return the o_proj output."""
    scope = f"/model/layers.{layer}/self_attn"
    prefix = f"model.layers.{layer}.self_attn"
    cos, sin, mask = position
    hidden = config.hidden_size

    qkv = g.op("MatMul", [x, f"{prefix}.qkv_proj.weight"], f"{scope}/qkv_proj/MatMul")
    qkv_sizes = g.int64s("const_qkv_split", [hidden, hidden, hidden])
    q, k, v = g.op_multi("Split", [qkv, qkv_sizes], f"{scope}/Split", 3, axis=-1)
    q = _split_heads(g, q, config, f"{scope}/query")
    k = _split_heads(g, k, config, f"{scope}/key")
    v = _split_heads(g, v, config, f"{scope}/value")
    q = _add_rotary(g, q, cos, sin, config, f"{scope}/rotary_query")
    k = _add_rotary(g, k, cos, sin, config, f"{scope}/rotary_key")

    k_t = g.op("Transpose", [k], f"{scope}/Transpose_key", perm=[0, 1, 3, 2])
    scores = g.op("MatMul", [q, k_t], f"{scope}/MatMul_scores")
    scale = g.scalar("const_sqrt_head_dim", float(np.sqrt(config.head_dim)))
    scores = g.op("Div", [scores, scale], f"{scope}/Div_scale")
    scores = g.op("Add", [scores, mask], f"{scope}/Add_causal_mask")
    probs = g.op("Softmax", [scores], f"{scope}/Softmax", axis=-1)
    context = g.op("MatMul", [probs, v], f"{scope}/MatMul_context")

    context = g.op(
        "Transpose", [context], f"{scope}/Transpose_context", perm=[0, 2, 1, 3]
    )
    merged_shape = g.int64s("const_hidden_shape", [0, 0, hidden])
    context = g.op("Reshape", [context, merged_shape], f"{scope}/Reshape_context")
    o_proj = f"{prefix}.o_proj.weight"
    return g.op("MatMul", [context, o_proj], f"{scope}/o_proj/MatMul")


def _add_mlp(g: GraphBuilder, x: str, layer: int, config: Phi3TinyConfig) -> str:
    """Add down_proj(silu(gate) * up), where gate and up come from one gate_up_proj."""
    scope = f"/model/layers.{layer}/mlp"
    prefix = f"model.layers.{layer}.mlp"
    intermediate = config.intermediate_size

    gate_up_weight = f"{prefix}.gate_up_proj.weight"
    gate_up = g.op("MatMul", [x, gate_up_weight], f"{scope}/gate_up_proj/MatMul")
    sizes = g.int64s("const_gate_up_split", [intermediate, intermediate])
    gate, up = g.op_multi("Split", [gate_up, sizes], f"{scope}/Split", 2, axis=-1)
    sigmoid = g.op("Sigmoid", [gate], f"{scope}/activation_fn/Sigmoid")
    silu = g.op("Mul", [gate, sigmoid], f"{scope}/activation_fn/Mul")
    gated = g.op("Mul", [up, silu], f"{scope}/Mul")
    down_weight = f"{prefix}.down_proj.weight"
    return g.op("MatMul", [gated, down_weight], f"{scope}/down_proj/MatMul")


def _add_decoder_layer(
    g: GraphBuilder,
    x: str,
    layer: int,
    config: Phi3TinyConfig,
    position: tuple[str, str, str],
) -> str:
    scope = f"/model/layers.{layer}"
    prefix = f"model.layers.{layer}"
    eps = config.rms_norm_eps

    normed = _add_rms_norm(
        g, x, f"{prefix}.input_layernorm.weight", f"{scope}/input_layernorm", eps
    )
    attention = _add_attention(g, normed, layer, config, position)
    x = g.op("Add", [x, attention], f"{scope}/Add_attention_residual")

    normed = _add_rms_norm(
        g,
        x,
        f"{prefix}.post_attention_layernorm.weight",
        f"{scope}/post_attention_layernorm",
        eps,
    )
    mlp = _add_mlp(g, normed, layer, config)
    return g.op("Add", [x, mlp], f"{scope}/Add_mlp_residual")


def build_model(
    config: Phi3TinyConfig | None = None,
    weights: dict[str, np.ndarray] | None = None,
    float_type: type = np.float32,
    writer: ExternalDataWriter | None = None,
) -> onnx.ModelProto:
    """Build the ONNX model from WEIGHTS, which default to iter_weights(config).

    FLOAT_TYPE (np.float32 or np.float16) is the type of every float tensor and of the
    computation. With a WRITER, the weights go to its external data file as they are drawn.
    """
    config = config or Phi3TinyConfig()
    config.validate()
    named_weights = iter_weights(config) if weights is None else weights.items()

    g = GraphBuilder(float_type, writer)
    for name, array in named_weights:
        g.initializer(name, np.asarray(array, dtype=np.float32))
        del array

    embed_tokens = "model.embed_tokens.weight"
    x = g.op("Gather", [embed_tokens, "input_ids"], "/model/embed_tokens/Gather")
    position = _add_position_tensors(g, "input_ids", config)
    for layer in range(config.num_hidden_layers):
        x = _add_decoder_layer(g, x, layer, config, position)
    x = _add_rms_norm(g, x, "model.norm.weight", "/model/norm", config.rms_norm_eps)
    logits = g.op("MatMul", [x, "lm_head.weight"], "/lm_head/MatMul")
    g.nodes.append(helper.make_node("Identity", [logits], ["logits"], name="/Identity"))

    inputs = [
        helper.make_tensor_value_info(
            "input_ids", TensorProto.INT64, ["batch", "sequence"]
        )
    ]
    logits_type = helper.np_dtype_to_tensor_dtype(np.dtype(float_type))
    outputs = [
        helper.make_tensor_value_info(
            "logits", logits_type, ["batch", "sequence", config.vocab_size]
        )
    ]
    graph = helper.make_graph(g.nodes, "phi3_tiny", inputs, outputs, g.initializers)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="onnxquant-tests-phi3-tiny",
    )
    model.ir_version = IR_VERSION
    model.doc_string = f"Phi-3-shaped decoder with random weights: {config}"
    return model


def write_external_model(
    path: Path, config: Phi3TinyConfig, float_type: type = np.float32
) -> onnx.ModelProto:
    """Write the model to PATH with its weights in PATH.data, drawn and written one at a time."""
    path = Path(path)
    data_path = path.with_name(path.name + ".data")
    with open(data_path, "wb") as data_file:
        model = build_model(config, float_type=float_type,
                            writer=ExternalDataWriter(data_file, data_path.name))
    path.write_bytes(model.SerializeToString())
    return model


def weights_from_model(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    """Return every initializer of MODEL as a numpy array, keyed by name."""
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


# ---------------------------------------------------------------------------
# Numpy reference forward pass (float64), written without the ONNX helpers above
# ---------------------------------------------------------------------------


def _reference_rms_norm(x: np.ndarray, weight: np.ndarray, eps: float) -> np.ndarray:
    variance = np.mean(x * x, axis=-1, keepdims=True)
    return weight * x / np.sqrt(variance + eps)


def _reference_rope(x: np.ndarray, theta: float) -> np.ndarray:
    """Rotate x [batch, heads, seq, head_dim] by position, rotate-half convention."""
    seq, dim = x.shape[-2], x.shape[-1]
    half = dim // 2
    frequencies = theta ** (-2.0 * np.arange(half) / dim)
    angle = np.arange(seq)[:, None] * frequencies[None, :]
    cos, sin = np.cos(angle), np.sin(angle)
    x1, x2 = x[..., :half], x[..., half:]
    return np.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)


def _reference_attention(
    x: np.ndarray, w: dict[str, np.ndarray], prefix: str, config: Phi3TinyConfig
) -> np.ndarray:
    batch, seq, hidden = x.shape
    heads, dim = config.num_attention_heads, config.head_dim
    qkv = x @ w[f"{prefix}.qkv_proj.weight"]
    q, k, v = (
        qkv[..., i * hidden : (i + 1) * hidden]
        .reshape(batch, seq, heads, dim)
        .transpose(0, 2, 1, 3)
        for i in range(3)
    )
    q = _reference_rope(q, config.rope_theta)
    k = _reference_rope(k, config.rope_theta)

    scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(dim)
    future = np.triu(np.ones((seq, seq), dtype=bool), k=1)
    scores = np.where(future, -np.inf, scores)
    scores = scores - scores.max(axis=-1, keepdims=True)
    probs = np.exp(scores)
    probs = probs / probs.sum(axis=-1, keepdims=True)

    context = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, seq, hidden)
    return context @ w[f"{prefix}.o_proj.weight"]


def _reference_mlp(
    x: np.ndarray, w: dict[str, np.ndarray], prefix: str, config: Phi3TinyConfig
) -> np.ndarray:
    gate_up = x @ w[f"{prefix}.gate_up_proj.weight"]
    gate = gate_up[..., : config.intermediate_size]
    up = gate_up[..., config.intermediate_size :]
    silu = gate / (1.0 + np.exp(-gate))
    return (up * silu) @ w[f"{prefix}.down_proj.weight"]


def reference_logits(
    config: Phi3TinyConfig, weights: dict[str, np.ndarray], input_ids: np.ndarray
) -> np.ndarray:
    """Compute logits [batch, seq, vocab] in float64 from Hugging Face named weights."""
    w = {name: np.asarray(value, dtype=np.float64) for name, value in weights.items()}
    eps = config.rms_norm_eps
    x = w["model.embed_tokens.weight"][input_ids]
    for layer in range(config.num_hidden_layers):
        prefix = f"model.layers.{layer}"
        normed = _reference_rms_norm(x, w[f"{prefix}.input_layernorm.weight"], eps)
        x = x + _reference_attention(normed, w, f"{prefix}.self_attn", config)
        normed = _reference_rms_norm(
            x, w[f"{prefix}.post_attention_layernorm.weight"], eps
        )
        x = x + _reference_mlp(normed, w, f"{prefix}.mlp", config)
    x = _reference_rms_norm(x, w["model.norm.weight"], eps)
    return x @ w["lm_head.weight"]


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def _parse_args(argv: list[str]) -> argparse.Namespace:
    defaults = Phi3TinyConfig()
    parser = argparse.ArgumentParser(
        description="Write a Phi-3-shaped ONNX language model with random weights."
    )
    parser.add_argument("output", help="path of the .onnx file to write")
    parser.add_argument("--vocab", type=int, default=defaults.vocab_size,
                        help="vocabulary size")
    parser.add_argument("--hidden", type=int, default=defaults.hidden_size,
                        help="hidden size")
    parser.add_argument("--heads", type=int, default=defaults.num_attention_heads,
                        help="number of attention heads")
    parser.add_argument("--layers", type=int, default=defaults.num_hidden_layers,
                        help="number of decoder layers")
    parser.add_argument("--intermediate", type=int, default=defaults.intermediate_size,
                        help="MLP intermediate size (K of down_proj)")
    parser.add_argument("--max-positions", type=int,
                        default=defaults.max_position_embeddings,
                        help="maximum sequence length the rotary and mask tables cover")
    parser.add_argument("--seed", type=int, default=defaults.seed,
                        help="seed of the numpy random generator for the weights")
    parser.add_argument("--dtype", choices=["float32", "float16"], default="float32",
                        help="type of the weights and of the computation")
    parser.add_argument("--external-data", action="store_true",
                        help="write the weights to OUT.onnx.data one tensor at a time")
    parser.add_argument("--float32-draws", action="store_true",
                        help="draw the weights in float32, about 3x faster; other values than the default")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    config = Phi3TinyConfig(
        vocab_size=args.vocab,
        hidden_size=args.hidden,
        num_attention_heads=args.heads,
        num_hidden_layers=args.layers,
        intermediate_size=args.intermediate,
        max_position_embeddings=args.max_positions,
        seed=args.seed,
        float32_draws=args.float32_draws,
    )
    float_type = np.float16 if args.dtype == "float16" else np.float32
    try:
        config.validate()
        if args.external_data:
            model = write_external_model(Path(args.output), config, float_type)
            # The checker finds the data file next to the model when given the path.
            onnx.checker.check_model(args.output)
        else:
            model = build_model(config, float_type=float_type)
            onnx.checker.check_model(model, full_check=True)
            onnx.save(model, args.output)
    except ValueError as error:
        print(f"error: invalid configuration: {error}", file=sys.stderr)
        return 2
    print(f"wrote {args.output}: {len(model.graph.node)} nodes, config {config}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
