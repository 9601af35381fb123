"""Write a Phi-3-mini-shaped or Phi-4-shaped decoder as ONNX with external data, for benchmarks.

The graph is a decoder-only language model that ONNX Runtime runs. It has a token embedding
(Gather), then per layer an RMS norm, grouped-query causal self-attention with a fused qkv_proj and
an o_proj, another RMS norm and a gated SiLU MLP with a fused gate_up_proj. A final norm and lm_head
follow. Attention has no rotary position embedding and no KV cache, because the benchmarks only need
the weights and a graph that runs. MatMul weights are initializers stored as [in, out], the MatMul B
layout.

Weights are random but shaped like trained ones: Student-t values (heavy tails), a log-normal scale
per output channel, and a few input channels (rows of B) with a much larger magnitude. The outlier
rows of every weight that reads the hidden state are the same hidden channels, as in trained LLMs.

The model is written tensor by tensor: each weight is drawn in chunks of rows and appended to the
.data file, so memory stays near one chunk whatever the model size.

Usage: python decoder_model.py OUT.onnx --shape phi3-mini --layers 2 [--hidden N] [--seed N]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import BinaryIO

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8

# Student-t degrees of freedom: 5 gives heavy tails (excess kurtosis 6) with a finite variance.
STUDENT_T_DF = 5.0
WEIGHT_STD = 0.02
# Spread (sigma of the log) of the per-output-channel scale.
OUTPUT_CHANNEL_LOG_STD = 0.3
OUTLIER_CHANNELS = 4
OUTLIER_SCALE = 5.0
# Elements drawn per chunk: 4M float32 values keep the working set near 64 MiB with temporaries.
CHUNK_ELEMENTS = 1 << 22
# Offsets in the .data file are aligned to the page size, so that readers can map tensors.
DATA_ALIGNMENT = 4096
MAX_POSITIONS = 128
RMS_NORM_EPS = 1e-5


@dataclasses.dataclass(frozen=True)
class DecoderShape:
    """Model dimensions, named after the Hugging Face config fields."""

    hidden_size: int
    num_hidden_layers: int
    intermediate_size: int
    vocab_size: int
    head_dim: int
    # Query heads per key/value head in grouped-query attention. 1 is plain multi-head attention.
    query_group_size: int
    dtype: str

    @property
    def num_attention_heads(self) -> int:
        return self.hidden_size // self.head_dim

    @property
    def num_key_value_heads(self) -> int:
        return self.num_attention_heads // self.query_group_size

    @property
    def qkv_size(self) -> int:
        return (self.num_attention_heads + 2 * self.num_key_value_heads) * self.head_dim

    def validate(self) -> None:
        """Raise ValueError when the dimensions cannot form the attention heads."""
        for name in ("hidden_size", "num_hidden_layers", "intermediate_size", "vocab_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.hidden_size % self.head_dim != 0:
            raise ValueError(f"hidden size {self.hidden_size} is not a multiple of the head size {self.head_dim}")
        if self.num_attention_heads % self.query_group_size != 0:
            raise ValueError(f"{self.num_attention_heads} attention heads do not form groups of "
                             f"{self.query_group_size} query heads per key/value head")

    def weight_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        """List every parameter with its shape, in the order they are written."""
        hidden, intermediate = self.hidden_size, self.intermediate_size
        shapes: list[tuple[str, tuple[int, ...]]] = [("model.embed_tokens.weight", (self.vocab_size, hidden))]
        for layer in range(self.num_hidden_layers):
            prefix = f"model.layers.{layer}"
            shapes += [
                (f"{prefix}.input_layernorm.weight", (hidden,)),
                (f"{prefix}.self_attn.qkv_proj.weight", (hidden, self.qkv_size)),
                (f"{prefix}.self_attn.o_proj.weight", (hidden, hidden)),
                (f"{prefix}.post_attention_layernorm.weight", (hidden,)),
                (f"{prefix}.mlp.gate_up_proj.weight", (hidden, 2 * intermediate)),
                (f"{prefix}.mlp.down_proj.weight", (intermediate, hidden)),
            ]
        shapes += [("model.norm.weight", (hidden,)), ("lm_head.weight", (hidden, self.vocab_size))]
        return shapes

    def parameter_bytes(self) -> int:
        element_size = np.dtype(self.dtype).itemsize
        return sum(int(np.prod(shape)) * element_size for _, shape in self.weight_shapes())


# Full-size dimensions of Phi-3-mini (float32, as in a float32 ONNX export) and Phi-4 (float16).
SHAPES = {
    "phi3-mini": DecoderShape(hidden_size=3072, num_hidden_layers=32, intermediate_size=8192, vocab_size=32064,
                              head_dim=96, query_group_size=1, dtype="float32"),
    "phi4": DecoderShape(hidden_size=5120, num_hidden_layers=40, intermediate_size=17920, vocab_size=100352,
                         head_dim=128, query_group_size=4, dtype="float16"),
}


def scaled_shape(name: str, layers: int | None = None, hidden: int | None = None,
                 intermediate: int | None = None, vocab: int | None = None) -> DecoderShape:
    """Return the named shape with the given dimensions replaced. The head size stays."""
    shape = SHAPES[name]
    changes = {"num_hidden_layers": layers, "hidden_size": hidden, "intermediate_size": intermediate,
               "vocab_size": vocab}
    shape = dataclasses.replace(shape, **{key: value for key, value in changes.items() if value is not None})
    shape.validate()
    return shape


# ---------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------


class WeightWriter:
    """Append tensors to the external data file and return the initializers that point to them."""

    def __init__(self, data_file: BinaryIO, location: str, shape: DecoderShape, seed: int) -> None:
        self._file = data_file
        self._location = location
        self._dtype = np.dtype(shape.dtype)
        self._rng = np.random.default_rng(seed)
        self._hidden_outliers = self._rng.choice(shape.hidden_size, OUTLIER_CHANNELS, replace=False)
        self._hidden_size = shape.hidden_size

    def norm_weight(self, name: str, size: int) -> TensorProto:
        values = 1.0 + 0.1 * self._rng.standard_normal(size, dtype=np.float32)
        return self._append(name, (size,), [values])

    def embedding(self, name: str, rows: int, columns: int) -> TensorProto:
        return self._append(name, (rows, columns), self._student_t_rows(rows, columns, np.ones(columns, np.float32)))

    def matmul_weight(self, name: str, rows: int, columns: int) -> TensorProto:
        """Append an [in, out] weight with per-column scales and a few large input rows."""
        column_scale = np.exp(self._rng.normal(0.0, OUTPUT_CHANNEL_LOG_STD, columns)).astype(np.float32)
        if rows == self._hidden_size:
            outliers = self._hidden_outliers
        else:
            outliers = self._rng.choice(rows, min(OUTLIER_CHANNELS, rows), replace=False)
        row_scale = np.ones(rows, np.float32)
        row_scale[outliers] = OUTLIER_SCALE
        chunks = self._student_t_rows(rows, columns, column_scale, row_scale)
        return self._append(name, (rows, columns), chunks)

    def _student_t_rows(self, rows: int, columns: int, column_scale: np.ndarray,
                        row_scale: np.ndarray | None = None):
        """Yield the [rows, columns] values in chunks of whole rows, Student-t scaled to WEIGHT_STD."""
        # A Student-t variable is a normal one divided by sqrt(chi-square / df), and chi-square with
        # df degrees of freedom is 2 * Gamma(df / 2). Drawing both in float32 is faster than
        # Generator.standard_t, which draws in float64.
        unit_std = WEIGHT_STD / np.sqrt(STUDENT_T_DF / (STUDENT_T_DF - 2.0))
        rows_per_chunk = max(1, CHUNK_ELEMENTS // columns)
        for start in range(0, rows, rows_per_chunk):
            count = min(rows_per_chunk, rows - start)
            values = self._rng.standard_normal((count, columns), dtype=np.float32)
            gamma = self._rng.standard_gamma(STUDENT_T_DF / 2.0, (count, columns), dtype=np.float32)
            gamma *= np.float32(2.0 / STUDENT_T_DF)
            values /= np.sqrt(gamma, out=gamma)
            values *= column_scale * np.float32(unit_std)
            if row_scale is not None:
                values *= row_scale[start:start + count, None]
            yield values

    def _append(self, name: str, dims: tuple[int, ...], chunks) -> TensorProto:
        offset = self._file.seek(0, 2)
        padding = -offset % DATA_ALIGNMENT
        if padding:
            self._file.write(b"\0" * padding)
            offset += padding
        for chunk in chunks:
            self._file.write(np.ascontiguousarray(chunk, dtype=self._dtype).tobytes())
        length = self._file.tell() - offset

        tensor = TensorProto(name=name, data_type=helper.np_dtype_to_tensor_dtype(self._dtype), dims=dims)
        tensor.data_location = TensorProto.EXTERNAL
        for key, value in (("location", self._location), ("offset", str(offset)), ("length", str(length))):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, value
        return tensor


def write_weights(shape: DecoderShape, data_path: Path, seed: int) -> list[TensorProto]:
    """Write every parameter to DATA_PATH and return the initializers that reference it."""
    initializers = []
    with open(data_path, "wb") as data_file:
        writer = WeightWriter(data_file, data_path.name, shape, seed)
        for name, dims in shape.weight_shapes():
            if name.endswith("norm.weight"):
                initializers.append(writer.norm_weight(name, dims[0]))
            elif name == "model.embed_tokens.weight":
                initializers.append(writer.embedding(name, *dims))
            else:
                initializers.append(writer.matmul_weight(name, *dims))
    return initializers


# ---------------------------------------------------------------------------
# Graph
# ---------------------------------------------------------------------------


class GraphBuilder:
    """Collect nodes and small constant initializers of one element type."""

    def __init__(self, dtype: str) -> None:
        self.dtype = np.dtype(dtype)
        self.nodes: list[onnx.NodeProto] = []
        self.constants: dict[str, TensorProto] = {}

    def constant(self, name: str, array: np.ndarray) -> str:
        if name not in self.constants:
            self.constants[name] = numpy_helper.from_array(array, name)
        return name

    def int64s(self, name: str, values: list[int]) -> str:
        return self.constant(name, np.array(values, dtype=np.int64))

    def scalar(self, name: str, value: float) -> str:
        return self.constant(name, np.array(value, dtype=self.dtype))

    def op(self, op_type: str, inputs: list[str], name: str, outputs: int = 1, **attributes):
        """Add a node, and return its output name, or the list of names when OUTPUTS > 1."""
        names = [f"{name}_output_{index}" for index in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, names, name=name, **attributes))
        return names[0] if outputs == 1 else names


def _add_rms_norm(g: GraphBuilder, x: str, weight: str, scope: str) -> str:
    """Add weight * x / sqrt(mean(x^2) + eps), computed in float32 as Hugging Face's Phi3RMSNorm does."""
    if g.dtype != np.float32:
        x = g.op("Cast", [x], f"{scope}/Cast_to_float", to=TensorProto.FLOAT)
    squared = g.op("Pow", [x, g.constant(f"{scope}/const_two", np.array(2.0, np.float32))], f"{scope}/Pow")
    mean = g.op("ReduceMean", [squared], f"{scope}/ReduceMean", axes=[-1], keepdims=1)
    epsilon = g.constant(f"{scope}/epsilon", np.array(RMS_NORM_EPS, np.float32))
    rms = g.op("Sqrt", [g.op("Add", [mean, epsilon], f"{scope}/Add")], f"{scope}/Sqrt")
    normalized = g.op("Div", [x, rms], f"{scope}/Div")
    if g.dtype != np.float32:
        element_type = helper.np_dtype_to_tensor_dtype(g.dtype)
        normalized = g.op("Cast", [normalized], f"{scope}/Cast_to_input_type", to=element_type)
    return g.op("Mul", [normalized, weight], f"{scope}/Mul")


def _add_causal_mask(g: GraphBuilder, input_ids: str) -> str:
    """Slice an additive [positions, positions] causal mask to [sequence, sequence]."""
    future = np.triu(np.ones((MAX_POSITIONS, MAX_POSITIONS), dtype=bool), k=1)
    table = np.where(future, np.finfo(g.dtype).min, 0.0).astype(g.dtype)
    shape = g.op("Shape", [input_ids], "/model/Shape")
    length = g.op("Slice", [shape, g.int64s("const_one", [1]), g.int64s("const_two_index", [2])],
                  "/model/Slice_sequence_length")
    ends = g.op("Concat", [length, length], "/model/Concat_mask_ends", axis=0)
    return g.op("Slice", [g.constant("causal_mask_table", table), g.int64s("const_zeros", [0, 0]), ends,
                          g.int64s("const_axes", [0, 1])], "/model/Slice_causal_mask")


def _add_attention(g: GraphBuilder, x: str, layer: int, shape: DecoderShape, mask: str) -> str:
    """Add grouped-query attention: queries as [batch, kv_heads, group, sequence, head_dim], so
    that MatMul broadcasts each key/value head over its group of query heads."""
    scope = f"/model/layers.{layer}/self_attn"
    prefix = f"model.layers.{layer}.self_attn"
    heads, kv_heads, head_dim = shape.num_attention_heads, shape.num_key_value_heads, shape.head_dim

    qkv = g.op("MatMul", [x, f"{prefix}.qkv_proj.weight"], f"{scope}/qkv_proj/MatMul")
    sizes = g.int64s("const_qkv_sizes", [heads * head_dim, kv_heads * head_dim, kv_heads * head_dim])
    q, k, v = g.op("Split", [qkv, sizes], f"{scope}/Split", outputs=3, axis=-1)
    grouped = g.int64s("const_query_shape", [0, 0, kv_heads, shape.query_group_size, head_dim])
    single = g.int64s("const_key_value_shape", [0, 0, kv_heads, 1, head_dim])
    q = g.op("Reshape", [q, grouped], f"{scope}/Reshape_query")
    k = g.op("Reshape", [k, single], f"{scope}/Reshape_key")
    v = g.op("Reshape", [v, single], f"{scope}/Reshape_value")
    q = g.op("Transpose", [q], f"{scope}/Transpose_query", perm=[0, 2, 3, 1, 4])
    k = g.op("Transpose", [k], f"{scope}/Transpose_key", perm=[0, 2, 3, 4, 1])
    v = g.op("Transpose", [v], f"{scope}/Transpose_value", perm=[0, 2, 3, 1, 4])

    scores = g.op("MatMul", [q, k], f"{scope}/MatMul_scores")
    scores = g.op("Mul", [scores, g.scalar("const_score_scale", head_dim ** -0.5)], f"{scope}/Mul_scale")
    scores = g.op("Add", [scores, mask], f"{scope}/Add_causal_mask")
    probabilities = g.op("Softmax", [scores], f"{scope}/Softmax", axis=-1)
    context = g.op("MatMul", [probabilities, v], f"{scope}/MatMul_context")
    context = g.op("Transpose", [context], f"{scope}/Transpose_context", perm=[0, 3, 1, 2, 4])
    merged = g.int64s("const_hidden_shape", [0, 0, heads * head_dim])
    context = g.op("Reshape", [context, merged], f"{scope}/Reshape_context")
    return g.op("MatMul", [context, f"{prefix}.o_proj.weight"], f"{scope}/o_proj/MatMul")


def _add_mlp(g: GraphBuilder, x: str, layer: int, shape: DecoderShape) -> str:
    scope = f"/model/layers.{layer}/mlp"
    prefix = f"model.layers.{layer}.mlp"
    gate_up = g.op("MatMul", [x, f"{prefix}.gate_up_proj.weight"], f"{scope}/gate_up_proj/MatMul")
    sizes = g.int64s("const_gate_up_sizes", [shape.intermediate_size, shape.intermediate_size])
    gate, up = g.op("Split", [gate_up, sizes], f"{scope}/Split", outputs=2, axis=-1)
    silu = g.op("Mul", [gate, g.op("Sigmoid", [gate], f"{scope}/Sigmoid")], f"{scope}/Mul_silu")
    gated = g.op("Mul", [up, silu], f"{scope}/Mul")
    return g.op("MatMul", [gated, f"{prefix}.down_proj.weight"], f"{scope}/down_proj/MatMul")


def build_graph(shape: DecoderShape, weights: list[TensorProto]) -> onnx.ModelProto:
    """Build the decoder that reads the WEIGHTS initializers."""
    g = GraphBuilder(shape.dtype)
    x = g.op("Gather", ["model.embed_tokens.weight", "input_ids"], "/model/embed_tokens/Gather")
    mask = _add_causal_mask(g, "input_ids")
    for layer in range(shape.num_hidden_layers):
        prefix, scope = f"model.layers.{layer}", f"/model/layers.{layer}"
        normed = _add_rms_norm(g, x, f"{prefix}.input_layernorm.weight", f"{scope}/input_layernorm")
        x = g.op("Add", [x, _add_attention(g, normed, layer, shape, mask)], f"{scope}/Add_attention")
        normed = _add_rms_norm(g, x, f"{prefix}.post_attention_layernorm.weight",
                               f"{scope}/post_attention_layernorm")
        x = g.op("Add", [x, _add_mlp(g, normed, layer, shape)], f"{scope}/Add_mlp")
    x = _add_rms_norm(g, x, "model.norm.weight", "/model/norm")
    logits = g.op("MatMul", [x, "lm_head.weight"], "/lm_head/MatMul")
    g.nodes.append(helper.make_node("Identity", [logits], ["logits"], name="/Identity"))

    element_type = helper.np_dtype_to_tensor_dtype(g.dtype)
    graph = helper.make_graph(
        g.nodes, "decoder",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"])],
        [helper.make_tensor_value_info("logits", element_type, ["batch", "sequence", shape.vocab_size])],
        weights + list(g.constants.values()))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="onnxquant-bench-decoder")
    model.ir_version = IR_VERSION
    model.doc_string = f"Decoder with random weights for benchmarks: {shape}"
    return model


def write_model(path: Path, shape: DecoderShape, seed: int = 0) -> Path:
    """Write PATH and PATH.data, and return the path of the data file."""
    data_path = path.with_name(path.name + ".data")
    model = build_graph(shape, write_weights(shape, data_path, seed))
    onnx.save(model, path)
    onnx.checker.check_model(str(path))
    return data_path


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output", type=Path, help="path of the .onnx file; the weights go to OUTPUT.data")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="phi3-mini", help="full-size model to follow")
    parser.add_argument("--layers", type=int, help="decoder layers (default: the full model's)")
    parser.add_argument("--hidden", type=int, help="hidden size, a multiple of the head size (96 for phi3-mini, "
                                                   "128 for phi4)")
    parser.add_argument("--intermediate", type=int, help="MLP intermediate size")
    parser.add_argument("--vocab", type=int, help="vocabulary size")
    parser.add_argument("--seed", type=int, default=0, help="seed of the numpy random generator")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = _parse_args(sys.argv[1:] if argv is None else argv)
    try:
        shape = scaled_shape(arguments.shape, arguments.layers, arguments.hidden, arguments.intermediate,
                             arguments.vocab)
    except ValueError as error:
        print(f"error: invalid model shape: {error}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    data_path = write_model(arguments.output, shape, arguments.seed)
    size = arguments.output.stat().st_size + data_path.stat().st_size
    # One JSON line, which run_bench.py reads back.
    print(json.dumps({"model": str(arguments.output), "size_mib": round(size / 2**20, 1),
                      "seconds": round(time.perf_counter() - start, 2), "shape": dataclasses.asdict(shape)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
