"""Time and peak memory of `onnxquant quantize` on a generated Phi-3-shaped model.

Writes a Phi-3-shaped float32 model with external data (scaled down by default), then prints, per
precision, onnxquant's wall time and peak resident memory next to the time of a plain copy of the
same files, the I/O floor. Run it from the repository root after scripts/build.sh, with the test
environment's Python:

    .venv/bin/python bench/quantize_bench.py [--hidden 1024 --layers 8 --intermediate 2816]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests" / "generators"))

import phi3_tiny  # noqa: E402

PRECISIONS = {
    "int8": ["-p", "int8"],
    "int8 per-channel": ["-p", "int8", "--per-channel"],
    "int4 block 32": ["-p", "int4"],
}


def run_measured(command: list[str]) -> tuple[float, float]:
    """Run a command and return its wall time in seconds and its peak RSS in MiB."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {process.stderr.read().decode()}")
    return elapsed, usage.ru_maxrss / 1024.0


def generate_model(config: phi3_tiny.Phi3TinyConfig, path: Path) -> None:
    """Write the model from a child process. On Linux a child inherits its parent's peak RSS at
    fork, so the parent must stay small for the peak RSS figures of onnxquant to be its own."""
    script = (
        "import sys, onnx, phi3_tiny\n"
        f"config = phi3_tiny.Phi3TinyConfig(**{vars(config)!r})\n"
        f"onnx.save(phi3_tiny.build_model(config), {str(path)!r}, save_as_external_data=True,\n"
        "          location='model.onnx.data', size_threshold=1024)\n"
    )
    environment = dict(os.environ, PYTHONPATH=str(REPO_ROOT / "tests" / "generators"))
    subprocess.run([sys.executable, "-c", script], check=True, env=environment)


def copy_time(model: Path, destination: Path) -> float:
    start = time.perf_counter()
    for source in (model, Path(str(model) + ".data")):
        shutil.copyfile(source, destination / source.name)
        with open(destination / source.name, "rb+") as copied:
            os.fsync(copied.fileno())
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--intermediate", type=int, default=2816)
    parser.add_argument("--vocab", type=int, default=32064)
    parser.add_argument("--binary", type=Path, default=REPO_ROOT / "build" / "onnxquant")
    arguments = parser.parse_args()

    config = phi3_tiny.Phi3TinyConfig(vocab_size=arguments.vocab, hidden_size=arguments.hidden,
                                      num_attention_heads=max(1, arguments.hidden // 64),
                                      num_hidden_layers=arguments.layers, intermediate_size=arguments.intermediate)
    with tempfile.TemporaryDirectory(prefix="onnxquant-bench-") as folder:
        work = Path(folder)
        model_path = work / "model.onnx"
        generate_model(config, model_path)
        size = model_path.stat().st_size + Path(str(model_path) + ".data").stat().st_size
        copy_folder = work / "copy"
        copy_folder.mkdir()
        floor = copy_time(model_path, copy_folder)

        print(f"model: hidden {config.hidden_size}, layers {config.num_hidden_layers}, intermediate "
              f"{config.intermediate_size}, vocabulary {config.vocab_size}: {size / 2**20:.1f} MiB float32")
        print(f"copy (I/O floor): {floor:.2f} s")
        print(f"{'precision':<18} {'time s':>8} {'x copy':>8} {'peak RSS MiB':>13} {'RSS / model':>12}")
        for name, options in PRECISIONS.items():
            output = work / "out.onnx"
            elapsed, rss = run_measured([str(arguments.binary), "-q", "quantize", str(model_path), *options, "-o",
                                         str(output), "--no-table"])
            print(f"{name:<18} {elapsed:>8.2f} {elapsed / floor:>8.2f} {rss:>13.0f} {rss * 2**20 / size:>12.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
