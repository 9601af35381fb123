"""Throughput of the reference evaluator as a ratio to ONNX Runtime's CPU provider, in one run.

For each model, `onnxquant run --repeat N` times the evaluator on the same inputs that ONNX Runtime
1.23.2 (CPUExecutionProvider, the same thread count) then runs N times, at its default graph
optimization level and with optimizations disabled. Rounds alternate between the two engines so
that a change in machine load hits both. The ratio is ONNX Runtime's time over the evaluator's:
1.0 means equal throughput. Medians and best times are printed; the ratio uses medians.

The models: the Phi-3-shaped decoder of tests/generators/phi3_tiny.py (default size, a 64-token
prompt) and PP-OCRv4 text detection (a CNN, from the rapidocr-onnxruntime wheel, input
[1, 3, 320, 320]). Run it from the repository root after scripts/build.sh and
scripts/setup-python.sh:

    .venv/bin/python bench/evaluator_bench.py [--threads 2] [--repeat 30] [--rounds 3]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests" / "python"))
sys.path.insert(0, str(REPO_ROOT / "tests" / "generators"))

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx import numpy_helper  # noqa: E402

import phi3_tiny  # noqa: E402
import realmodels  # noqa: E402

PHI3_PROMPT_LENGTH = 64
OCR_DET_SIZE = (320, 320)
TIMING_LINE = re.compile(r"run time: median ([0-9.]+) ms, best ([0-9.]+) ms")


def evaluator_times(binary: Path, model: Path, inputs: dict[str, np.ndarray], threads: int, repeat: int,
                    folder: Path) -> tuple[float, float]:
    """Return the evaluator's median and best run time in ms."""
    files = []
    for index, (name, value) in enumerate(inputs.items()):
        path = folder / f"input_{index}.pb"
        path.write_bytes(numpy_helper.from_array(value, name).SerializeToString())
        files.append(str(path))
    result = subprocess.run([str(binary), "-q", "run", str(model), *files, "--threads", str(threads), "--repeat",
                             str(repeat)], capture_output=True, text=True, check=False)
    match = TIMING_LINE.search(result.stdout)
    if result.returncode != 0 or match is None:
        raise RuntimeError(f"onnxquant run failed ({result.returncode}): {result.stderr}")
    return float(match.group(1)), float(match.group(2))


def ort_times(model: Path, inputs: dict[str, np.ndarray], threads: int, repeat: int, optimize: bool) -> tuple[float, float]:
    """Return ONNX Runtime's median and best run time in ms, after one untimed run."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize
                                        else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    session.run(None, inputs)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        session.run(None, inputs)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times), min(times)


def benchmark(name: str, binary: Path, model: Path, inputs: dict[str, np.ndarray], arguments, folder: Path) -> None:
    evaluator, ort_default, ort_disabled = [], [], []
    for _ in range(arguments.rounds):
        evaluator.append(evaluator_times(binary, model, inputs, arguments.threads, arguments.repeat, folder))
        ort_default.append(ort_times(model, inputs, arguments.threads, arguments.repeat, optimize=True))
        ort_disabled.append(ort_times(model, inputs, arguments.threads, arguments.repeat, optimize=False))

    def summary(rounds):
        return statistics.median(r[0] for r in rounds), min(r[1] for r in rounds)

    median, best = summary(evaluator)
    default_median, default_best = summary(ort_default)
    disabled_median, disabled_best = summary(ort_disabled)
    print(f"{name}:")
    print(f"  evaluator                    median {median:9.3f} ms  best {best:9.3f} ms")
    print(f"  ONNX Runtime, optimized      median {default_median:9.3f} ms  best {default_best:9.3f} ms  "
          f"ratio {default_median / median:.2f}")
    print(f"  ONNX Runtime, not optimized  median {disabled_median:9.3f} ms  best {disabled_best:9.3f} ms  "
          f"ratio {disabled_median / median:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", type=Path, default=REPO_ROOT / "build" / "onnxquant", help="onnxquant binary")
    parser.add_argument("--threads", type=int, default=2, help="threads of both engines")
    parser.add_argument("--repeat", type=int, default=30, help="timed runs per engine and round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per model")
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        phi3 = folder / "phi3_tiny.onnx"
        onnx.save(phi3_tiny.build_model(), phi3)
        rng = np.random.default_rng(0)
        phi3_inputs = {"input_ids": rng.integers(0, phi3_tiny.Phi3TinyConfig().vocab_size,
                                                 size=(1, PHI3_PROMPT_LENGTH), dtype=np.int64)}
        benchmark(f"Phi-3-shaped decoder, {PHI3_PROMPT_LENGTH}-token prompt", arguments.binary, phi3, phi3_inputs,
                  arguments, folder)

        detector = realmodels.get("rapidocr-det")
        if detector.skip_reason():
            print(f"PP-OCRv4 detection skipped: {detector.skip_reason()}")
            return 0
        image = realmodels.synthetic_text_image(np.random.default_rng(0), *OCR_DET_SIZE, line_height=20,
                                                fill_width=0.85)
        benchmark(f"PP-OCRv4 text detection, input [1, 3, {OCR_DET_SIZE[0]}, {OCR_DET_SIZE[1]}]", arguments.binary,
                  detector.path(), {"x": realmodels.normalize_ocr_image(image)}, arguments, folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
