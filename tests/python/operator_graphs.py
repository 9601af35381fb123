"""Small graphs of single operators that the ONNX backend node tests of onnx 1.12 do not cover.

CONTRIB_CASES cover ONNX Runtime's contrib operators (com.microsoft), ONNX_CASES the ai.onnx
operators that are newer than onnx 1.12's tests. The evaluator tests compare them with ONNX Runtime.
Each case returns a model and its inputs; weights are initializers and values come from numpy's
default_rng with a fixed seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

IR_VERSION = 8
MICROSOFT = "com.microsoft"


@dataclass(frozen=True)
class OperatorCase:
    case_id: str
    build: Callable[[np.random.Generator], tuple[onnx.ModelProto, dict[str, np.ndarray]]]


def _model(nodes, inputs: dict[str, np.ndarray], outputs: list[str], initializers: dict[str, np.ndarray],
           opset: int = 17) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes,
        "operator_case",
        [helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(value.dtype), value.shape)
         for name, value in inputs.items()],
        [helper.make_empty_tensor_value_info(name) for name in outputs],
        [numpy_helper.from_array(value, name) for name, value in initializers.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid(MICROSOFT, 1)],
                              ir_version=IR_VERSION)
    return model


def onnx_operator(op_type: str, inputs: dict[str, np.ndarray], opset: int, outputs: int = 1,
                  initializers: dict[str, np.ndarray] | None = None, **attributes) -> Callable:
    """One ai.onnx node reading `inputs` and then `initializers`, at `opset`."""

    def build(rng):
        del rng  # the inputs are given
        names = [*inputs, *(initializers or {})]
        output_names = [f"y{i}" for i in range(outputs)]
        node = helper.make_node(op_type, names, output_names, **attributes)
        return _model([node], inputs, output_names, initializers or {}, opset=opset), inputs

    return build


def _random(shape, dtype=np.float32, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _integers(shape, low: int, high: int, dtype, seed: int = 5) -> np.ndarray:
    return np.random.default_rng(seed).integers(low, high, size=shape).astype(dtype)


def _rotary_caches(positions: int, half: int) -> tuple[np.ndarray, np.ndarray]:
    inverse_frequency = 1.0 / (10000.0 ** (np.arange(half) / half))
    angles = np.outer(np.arange(positions), inverse_frequency)
    return np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)


def group_query_attention(packed: bool, rotary: bool, interleaved: bool, past: int, window: int = -1,
                          dtype=np.float32) -> Callable:
    """GroupQueryAttention with 4 query heads, 2 key/value heads and head size 16."""

    def build(rng):
        batch, length, heads, kv_heads, head = 1, 3, 4, 2, 16
        total = past + length
        inputs = {}
        names = []
        if packed:
            inputs["qkv"] = rng.standard_normal((batch, length, (heads + 2 * kv_heads) * head)).astype(dtype)
            names = ["qkv", "", ""]
        else:
            inputs["query"] = rng.standard_normal((batch, length, heads * head)).astype(dtype)
            inputs["key"] = rng.standard_normal((batch, length, kv_heads * head)).astype(dtype)
            inputs["value"] = rng.standard_normal((batch, length, kv_heads * head)).astype(dtype)
            names = ["query", "key", "value"]
        inputs["past_key"] = rng.standard_normal((batch, kv_heads, past, head)).astype(dtype)
        inputs["past_value"] = rng.standard_normal((batch, kv_heads, past, head)).astype(dtype)
        inputs["seqlens_k"] = np.full((batch,), total - 1, dtype=np.int32)
        inputs["total_sequence_length"] = np.array(total, dtype=np.int32)
        names += ["past_key", "past_value", "seqlens_k", "total_sequence_length"]
        initializers = {}
        if rotary:
            cos, sin = _rotary_caches(64, head // 2)
            initializers = {"cos_cache": cos.astype(dtype), "sin_cache": sin.astype(dtype)}
            names += ["cos_cache", "sin_cache"]
        node = helper.make_node("GroupQueryAttention", names, ["output", "present_key", "present_value"],
                                domain=MICROSOFT, num_heads=heads, kv_num_heads=kv_heads, do_rotary=int(rotary),
                                rotary_interleaved=int(interleaved), local_window_size=window)
        return _model([node], inputs, ["output", "present_key", "present_value"], initializers), inputs

    return build


def rotary_embedding(rank: int, interleaved: bool, rotary_dim: int = 0) -> Callable:
    """RotaryEmbedding of [B, S, N * H] or [B, N, S, H] input with 2 heads of size 16."""

    def build(rng):
        batch, length, heads, head = 2, 5, 2, 16
        shape = (batch, length, heads * head) if rank == 3 else (batch, heads, length, head)
        half = (rotary_dim or head) // 2
        cos, sin = _rotary_caches(32, half)
        inputs = {"input": rng.standard_normal(shape).astype(np.float32),
                  "position_ids": rng.integers(0, 32, size=(batch, length)).astype(np.int64)}
        attributes = {"interleaved": int(interleaved)}
        if rotary_dim:
            attributes.update(rotary_embedding_dim=rotary_dim, num_heads=heads)
        node = helper.make_node("RotaryEmbedding", ["input", "position_ids", "cos_cache", "sin_cache"], ["output"],
                                domain=MICROSOFT, **attributes)
        return _model([node], inputs, ["output"], {"cos_cache": cos, "sin_cache": sin}), inputs

    return build


def skip_simplified_layer_norm(dtype, with_bias: bool) -> Callable:
    def build(rng):
        hidden = 64
        inputs = {"input": rng.standard_normal((2, 3, hidden)).astype(dtype),
                  "skip": rng.standard_normal((2, 3, hidden)).astype(dtype)}
        initializers = {"gamma": (1 + 0.1 * rng.standard_normal(hidden)).astype(dtype)}
        names = ["input", "skip", "gamma"]
        if with_bias:
            initializers["bias"] = (0.1 * rng.standard_normal(hidden)).astype(dtype)
            names.append("bias")
        node = helper.make_node("SkipSimplifiedLayerNormalization", names, ["output", "", "", "sum"],
                                domain=MICROSOFT, epsilon=1e-6)
        return _model([node], inputs, ["output", "sum"], initializers), inputs

    return build


def simplified_layer_norm(dtype) -> Callable:
    def build(rng):
        hidden = 48
        inputs = {"x": rng.standard_normal((3, 4, hidden)).astype(dtype)}
        node = helper.make_node("SimplifiedLayerNormalization", ["x", "scale"], ["y"], axis=-1, epsilon=1e-5)
        scale = (1 + 0.1 * rng.standard_normal(hidden)).astype(dtype)
        return _model([node], inputs, ["y"], {"scale": scale}), inputs

    return build


def matmul_nbits(bits: int, zero_points: str, block_size: int = 32, dtype=np.float32) -> Callable:
    """MatMulNBits with K = 80 (not a multiple of the block) and N = 24; zero_points is "none",
    "packed" (uint8) or "float"."""

    def build(rng):
        k, n = 80, 24
        blocks = (k + block_size - 1) // block_size
        codes = rng.integers(0, 1 << bits, size=(n, blocks * block_size)).astype(np.uint8)
        per_byte = 8 // bits
        packed = np.zeros((n, blocks * block_size // per_byte), dtype=np.uint8)
        for i in range(per_byte):
            packed |= (codes[:, i::per_byte] << (i * bits)).astype(np.uint8)
        initializers = {"B": packed.reshape(n, blocks, block_size * bits // 8),
                        "scales": (0.01 + 0.02 * rng.random((n, blocks))).astype(dtype)}
        names = ["A", "B", "scales"]
        if zero_points == "packed":
            zero_codes = rng.integers(0, 1 << bits, size=(n, blocks)).astype(np.uint8)
            width = (blocks * bits + 7) // 8
            packed_zero = np.zeros((n, width), dtype=np.uint8)
            for block in range(blocks):
                bit = block * bits
                packed_zero[:, bit // 8] |= (zero_codes[:, block] << (bit % 8)).astype(np.uint8)
            initializers["zero_points"] = packed_zero
            names.append("zero_points")
        elif zero_points == "float":
            initializers["zero_points"] = rng.uniform(0, 1 << bits, size=(n, blocks)).astype(dtype)
            names.append("zero_points")
        inputs = {"A": rng.standard_normal((2, 3, k)).astype(dtype)}
        node = helper.make_node("MatMulNBits", names, ["Y"], domain=MICROSOFT, K=k, N=n, bits=bits,
                                block_size=block_size)
        return _model([node], inputs, ["Y"], initializers), inputs

    return build


def gather_block_quantized(with_zero_points: bool) -> Callable:
    """GatherBlockQuantized of a uint8 table [V, H / 2] of 4-bit codes, quantized along H."""

    def build(rng):
        vocab, hidden, block_size = 20, 64, 16
        codes = rng.integers(0, 16, size=(vocab, hidden)).astype(np.uint8)
        packed = (codes[:, 0::2] | (codes[:, 1::2] << 4)).astype(np.uint8)
        blocks = hidden // block_size
        initializers = {"data": packed, "scales": (0.01 + 0.02 * rng.random((vocab, blocks))).astype(np.float32)}
        names = ["data", "indices", "scales"]
        if with_zero_points:
            zero = rng.integers(0, 16, size=(vocab, blocks)).astype(np.uint8)
            initializers["zero_points"] = (zero[:, 0::2] | (zero[:, 1::2] << 4)).astype(np.uint8)
            names.append("zero_points")
        inputs = {"indices": rng.integers(0, vocab, size=(2, 5)).astype(np.int64)}
        node = helper.make_node("GatherBlockQuantized", names, ["output"], domain=MICROSOFT, bits=4,
                                block_size=block_size, gather_axis=0, quantize_axis=1)
        return _model([node], inputs, ["output"], initializers), inputs

    return build


def multi_head_attention(mask: bool, past: bool) -> Callable:
    def build(rng):
        batch, length, heads, head, past_length = 2, 4, 2, 8, 3
        hidden = heads * head
        inputs = {name: rng.standard_normal((batch, length, hidden)).astype(np.float32)
                  for name in ("query", "key", "value")}
        names = ["query", "key", "value", "", "", ""]
        total = length + (past_length if past else 0)
        if mask:
            padding = np.ones((batch, total), dtype=np.int32)
            padding[1, -1] = 0
            inputs["key_padding_mask"] = padding
            names[4] = "key_padding_mask"
        if past:
            inputs["past_key"] = rng.standard_normal((batch, heads, past_length, head)).astype(np.float32)
            inputs["past_value"] = rng.standard_normal((batch, heads, past_length, head)).astype(np.float32)
            names += ["past_key", "past_value"]
        node = helper.make_node("MultiHeadAttention", names, ["output", "present_key", "present_value"],
                                domain=MICROSOFT, num_heads=heads)
        return _model([node], inputs, ["output", "present_key", "present_value"], {}), inputs

    return build


def activation(op_type: str, with_bias: bool) -> Callable:
    def build(rng):
        inputs = {"x": rng.standard_normal((3, 32)).astype(np.float32) * 3}
        initializers = {"bias": rng.standard_normal(32).astype(np.float32)} if with_bias else {}
        names = ["x", "bias"] if with_bias else ["x"]
        node = helper.make_node(op_type, names, ["y"], domain=MICROSOFT)
        return _model([node], inputs, ["y"], initializers), inputs

    return build


CONTRIB_CASES = (
    OperatorCase("gqa-prompt", group_query_attention(packed=False, rotary=False, interleaved=False, past=0)),
    OperatorCase("gqa-decode-past", group_query_attention(packed=False, rotary=False, interleaved=False, past=5)),
    OperatorCase("gqa-rotary", group_query_attention(packed=False, rotary=True, interleaved=False, past=4)),
    OperatorCase("gqa-rotary-interleaved-packed", group_query_attention(packed=True, rotary=True, interleaved=True, past=2)),
    OperatorCase("gqa-local-window", group_query_attention(packed=False, rotary=False, interleaved=False, past=6, window=3)),
    OperatorCase("gqa-float16", group_query_attention(packed=False, rotary=True, interleaved=False, past=3, dtype=np.float16)),
    OperatorCase("rotary-3d", rotary_embedding(rank=3, interleaved=False)),
    OperatorCase("rotary-4d-interleaved", rotary_embedding(rank=4, interleaved=True)),
    OperatorCase("rotary-partial", rotary_embedding(rank=3, interleaved=False, rotary_dim=8)),
    OperatorCase("skip-rms-norm", skip_simplified_layer_norm(np.float32, with_bias=False)),
    OperatorCase("skip-rms-norm-bias-float16", skip_simplified_layer_norm(np.float16, with_bias=True)),
    OperatorCase("rms-norm", simplified_layer_norm(np.float32)),
    OperatorCase("rms-norm-float16", simplified_layer_norm(np.float16)),
    OperatorCase("matmul-nbits-4", matmul_nbits(4, "none")),
    OperatorCase("matmul-nbits-4-zero-points", matmul_nbits(4, "packed")),
    OperatorCase("matmul-nbits-4-float-zero-points", matmul_nbits(4, "float", block_size=16)),
    OperatorCase("matmul-nbits-8-zero-points", matmul_nbits(8, "packed", block_size=64)),
    OperatorCase("matmul-nbits-4-float16", matmul_nbits(4, "packed", dtype=np.float16)),
    OperatorCase("gather-block-quantized", gather_block_quantized(with_zero_points=False)),
    OperatorCase("gather-block-quantized-zero-points", gather_block_quantized(with_zero_points=True)),
    OperatorCase("mha-key-padding-mask", multi_head_attention(mask=True, past=False)),
    OperatorCase("mha-past", multi_head_attention(mask=True, past=True)),
    OperatorCase("fast-gelu-bias", activation("FastGelu", with_bias=True)),
    OperatorCase("gelu", activation("Gelu", with_bias=False)),
    OperatorCase("bias-gelu", activation("BiasGelu", with_bias=True)),
    OperatorCase("quick-gelu", activation("QuickGelu", with_bias=False)),
)

ONNX_CASES = (
    OperatorCase("bitwise-and", onnx_operator("BitwiseAnd", {"a": _integers((3, 4), -100, 100, np.int32),
                                                            "b": _integers((4,), -100, 100, np.int32, 6)}, 18)),
    OperatorCase("bitwise-or", onnx_operator("BitwiseOr", {"a": _integers((3, 4), 0, 255, np.uint8),
                                                          "b": _integers((3, 4), 0, 255, np.uint8, 6)}, 18)),
    OperatorCase("bitwise-xor", onnx_operator("BitwiseXor", {"a": _integers((2, 5), -1000, 1000, np.int64),
                                                            "b": _integers((2, 5), -1000, 1000, np.int64, 6)}, 18)),
    OperatorCase("bitwise-not", onnx_operator("BitwiseNot", {"x": _integers((6,), 0, 65535, np.uint16)}, 18)),
    OperatorCase("gelu", onnx_operator("Gelu", {"x": _random((4, 8)) * 3}, 20)),
    OperatorCase("gelu-tanh", onnx_operator("Gelu", {"x": _random((4, 8)) * 3}, 20, approximate="tanh")),
    OperatorCase("mish", onnx_operator("Mish", {"x": _random((4, 8)) * 4}, 18)),
    OperatorCase("global-lp-pool", onnx_operator("GlobalLpPool", {"x": _random((2, 3, 5, 4))}, 18, p=3)),
    OperatorCase("lp-pool", onnx_operator("LpPool", {"x": _random((1, 2, 6, 7))}, 18, kernel_shape=[3, 2],
                                          strides=[2, 1], pads=[1, 0, 1, 1], p=2)),
    OperatorCase("lp-normalization", onnx_operator("LpNormalization", {"x": _random((3, 5))}, 17, axis=0, p=1)),
    OperatorCase("group-normalization", onnx_operator("GroupNormalization", {"x": _random((2, 6, 3, 4))}, 21,
                                                      initializers={"scale": _random((6,), seed=8),
                                                                    "bias": _random((6,), seed=9)},
                                                      num_groups=3, epsilon=1e-5)),
)
