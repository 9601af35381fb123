"""Run one anchor tool on a model, as a child process of run_bench.py.

    python anchor_tools.py TOOL INPUT.onnx OUTPUT.onnx

TOOL is one of ANCHORS. Each writes OUTPUT.onnx with its tensors in OUTPUT.onnx.data. The settings
match onnxquant's defaults where the tools allow it; the docstring of each function names them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# The protobuf limit of one serialized ModelProto; larger models must skip in-memory shape inference.
PROTOBUF_LIMIT = 2**31


def ort_quantize_dynamic(source: Path, destination: Path) -> None:
    """INT8 weights with MatMulInteger, per tensor and symmetric (QInt8). Only MatMul is quantized,
    because the default list also quantizes Gather, and onnxquant leaves embeddings float by default."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(source, destination, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"],
                     use_external_data_format=True)


def ort_matmul_nbits(source: Path, destination: Path) -> None:
    """INT4 MatMulNBits with the default algorithm, block size 32 and symmetric blocks (onnxquant's
    INT4 default; the quantizer's own default is asymmetric)."""
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    quantizer = MatMulNBitsQuantizer(onnx.load(source), block_size=32, is_symmetric=True)
    quantizer.process()
    quantizer.model.save_model_to_file(str(destination), use_external_data_format=True)


def onnxconverter_float16(source: Path, destination: Path) -> None:
    """FP16 storage and computation with float32 graph inputs and outputs (keep_io_types), as
    onnxquant -p fp16 writes by default."""
    import onnx
    from onnxconverter_common import float16

    model = onnx.load(source)
    too_large = model.ByteSize() >= PROTOBUF_LIMIT
    model = float16.convert_float_to_float16(model, keep_io_types=True, disable_shape_infer=too_large)
    onnx.save(model, destination, save_as_external_data=True, all_tensors_to_one_file=True,
              location=destination.name + ".data")


ANCHORS = {
    "ort-quantize-dynamic": ort_quantize_dynamic,
    "ort-matmul-nbits": ort_matmul_nbits,
    "onnxconverter-float16": onnxconverter_float16,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tool", choices=sorted(ANCHORS))
    parser.add_argument("source", type=Path)
    parser.add_argument("destination", type=Path)
    arguments = parser.parse_args()
    ANCHORS[arguments.tool](arguments.source, arguments.destination)
    return 0


if __name__ == "__main__":
    sys.exit(main())
