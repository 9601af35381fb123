"""Benchmark onnxquant against the anchor tools on one generated decoder model.

In one run, on the same model, this measures the wall time, CPU time and peak RSS of:
- a plain copy of the .onnx and .data files into the output folder, with fsync: the I/O floor;
- `onnxquant quantize` for each precision (INT8, INT4 with its default scale search, FP16);
- the anchors: ONNX Runtime's quantize_dynamic (INT8), its MatMulNBitsQuantizer (INT4) and
  onnxconverter-common's float16 conversion (FP16).

Every output is run once in ONNX Runtime and its logits are compared with the original model's, so
a fast but broken output does not count. The table and the targets are printed and written as
Markdown and JSON. Run it through scripts/bench.sh, which builds onnxquant and creates the bench
environment:

    scripts/bench.sh --shape phi3-mini --layers 2
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

# NOTE: this process imports neither numpy nor onnx. On Linux a child's ru_maxrss can include the
# peak RSS of the parent that spawned it, so the parent stays small to keep the figures the tools' own.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import Measurement, run_measured  # noqa: E402
from report import render_markdown, render_text  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = REPO_ROOT / "bench"

ONNXQUANT_OPTIONS = {"int8": ["-p", "int8"], "int4": ["-p", "int4"], "fp16": ["-p", "fp16"]}
ANCHORS = {
    "int8": ("ORT quantize_dynamic", "ort-quantize-dynamic"),
    "int4": ("ORT MatMulNBitsQuantizer", "ort-matmul-nbits"),
    "fp16": ("onnxconverter-common", "onnxconverter-float16"),
}
COPY_REPEATS = 3
# An output counts only when its logits are finite and at least this close (cosine) to the original's.
# The bound catches broken outputs, because a wrong layout or scale gives a cosine near 0. The
# quantization error itself is reported in the cosine and top-1 columns, next to the anchor's.
MIN_COSINE = 0.5
# The dimensions of the full-size Phi-3-mini model, which the RSS target is about.
PHI3_MINI_FULL_SIZE = {"layers": 32, "hidden": 3072, "intermediate": 8192, "vocabulary": 32064}
# Free disk space needed once the model is written, in model sizes: the copy, or the largest output
# with quantize_dynamic's temporary copy of the model.
DISK_SPACE_FACTOR = 1.5
CHECK_TIMEOUT_SECONDS = 1800


@dataclasses.dataclass
class Row:
    """One tool run on one precision, with the ONNX Runtime check of its output."""

    tool: str
    precision: str
    status: str
    seconds: float
    cpu_seconds: float
    peak_rss_mib: float
    output_mib: float = 0.0
    cosine: float | None = None
    top1_agreement: float | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclasses.dataclass
class Settings:
    python: str
    binary: Path
    work: Path
    repeat: int
    timeout_seconds: float
    memory_limit_mib: float


def _files_of(model: Path) -> list[Path]:
    data = model.with_name(model.name + ".data")
    return [model, data] if data.exists() else [model]


def _size_mib(model: Path) -> float:
    return sum(path.stat().st_size for path in _files_of(model)) / 2**20


def _remove_model(model: Path) -> None:
    for path in (model, model.with_name(model.name + ".data")):
        path.unlink(missing_ok=True)


def _warm_page_cache(model: Path) -> None:
    """Read the input once, so that every tool starts with it in the page cache."""
    for path in _files_of(model):
        with open(path, "rb") as source:
            while source.read(1 << 24):
                pass


def _run_repeated(command: list[str], settings: Settings, log: Path, model: Path, output: Path | None,
                  repeats: int) -> Measurement:
    """Run COMMAND REPEATS times and return the median times and the largest peak RSS."""
    runs = []
    for _ in range(repeats):
        if output is not None:
            _remove_model(output)
        _warm_page_cache(model)
        run = run_measured(command, log, settings.timeout_seconds, settings.memory_limit_mib)
        if not run.ok:
            return run
        runs.append(run)
    return Measurement("ok", statistics.median(run.seconds for run in runs),
                       statistics.median(run.cpu_seconds for run in runs), max(run.peak_rss_mib for run in runs))


def measure_copy(model: Path, settings: Settings) -> Measurement:
    """Time cp of the .onnx and .data files into the output folder followed by sync (fsync) of the
    copies, because onnxquant also fsyncs its output before renaming it into place."""
    destination = settings.work / "out"
    copies = [str(destination / path.name) for path in _files_of(model)]
    command = ["sh", "-c", 'cp "$@" "$0" && cd "$0" && sync ' + " ".join(Path(copy).name for copy in copies),
               str(destination), *map(str, _files_of(model))]
    run = _run_repeated(command, settings, settings.work / "copy.log", model, None, COPY_REPEATS)
    for copy in copies:
        Path(copy).unlink(missing_ok=True)
    return run


def check_output(output: Path, reference: Path, settings: Settings) -> dict[str, object]:
    """Run OUTPUT in ONNX Runtime in a child process and compare its logits with REFERENCE."""
    command = [settings.python, str(BENCH_DIR / "check_output.py"), "compare", str(output), str(reference)]
    log = settings.work / "check.log"
    run = run_measured(command, log, CHECK_TIMEOUT_SECONDS, settings.memory_limit_mib)
    if not run.ok:
        return {"error": f"ONNX Runtime check {run.status}", "message": run.message}
    return json.loads(log.read_text().strip().splitlines()[-1])


def run_tool(tool: str, precision: str, command: list[str], model: Path, output: Path, reference: Path,
             settings: Settings) -> Row:
    """Measure one tool, check its output, delete the output, and return the row."""
    print(f"running {tool} {precision} ...", file=sys.stderr, flush=True)
    log = settings.work / f"{output.stem}.log"
    run = _run_repeated(command, settings, log, model, output, settings.repeat)
    row = Row(tool, precision, run.status, run.seconds, run.cpu_seconds, run.peak_rss_mib, message=run.message)
    if run.ok:
        row.output_mib = _size_mib(output)
        check = check_output(output, reference, settings)
        row.cosine, row.top1_agreement = check.get("cosine"), check.get("top1_agreement")
        if "error" in check:
            row.status, row.message = f"output rejected: {check['error']}", str(check["message"])
        elif not check["finite"] or check["cosine"] < MIN_COSINE:
            row.status = f"output rejected: logits cosine below {MIN_COSINE} or not finite"
        elif check["note"]:
            row.message = f"ONNX Runtime {check['note']}"
    _remove_model(output)
    return row


def run_all(model: Path, reference: Path, precisions: list[str], with_anchors: bool,
            settings: Settings) -> list[Row]:
    rows = []
    out = settings.work / "out"
    for precision in precisions:
        output = out / f"onnxquant-{precision}.onnx"
        command = [str(settings.binary), "-q", "quantize", str(model), *ONNXQUANT_OPTIONS[precision], "-o",
                   str(output), "--no-table"]
        rows.append(run_tool("onnxquant", precision, command, model, output, reference, settings))
        if with_anchors:
            tool, name = ANCHORS[precision]
            output = out / f"{name}.onnx"
            command = [settings.python, str(BENCH_DIR / "anchor_tools.py"), name, str(model), str(output)]
            rows.append(run_tool(tool, precision, command, model, output, reference, settings))
    return rows


def evaluate_targets(rows: list[Row], copy_seconds: float, shape: dict[str, object]) -> list[dict[str, object]]:
    """Return each target with its measured value and PASS or MISS. A broken output is a MISS."""
    ours = {row.precision: row for row in rows if row.tool == "onnxquant"}
    anchors = {row.precision: row for row in rows if row.tool != "onnxquant"}
    targets = []

    for precision in ("int8", "fp16"):
        if precision in ours:
            row = ours[precision]
            ratio = row.seconds / copy_seconds
            targets.append({"target": f"{precision.upper()} within 2x of the copy time",
                            "value": f"{ratio:.2f}x" if row.ok else row.status,
                            "result": "PASS" if row.ok and ratio <= 2.0 else "MISS"})
    if "int4" in ours and "int4" in anchors:
        row, anchor = ours["int4"], anchors["int4"]
        if anchor.ok:
            speedup = anchor.seconds / row.seconds
            value, result = f"{speedup:.2f}x as fast", "PASS" if row.ok and speedup >= 2.0 else "MISS"
        else:
            value, result = f"MatMulNBitsQuantizer {anchor.status}", "PASS" if row.ok else "MISS"
        targets.append({"target": "INT4 (default scale search) at least 2x faster than MatMulNBitsQuantizer",
                        "value": value, "result": result})
    if shape["name"] == "phi3-mini" and ours:
        peak = max(row.peak_rss_mib for row in ours.values())
        scaled = [f"{value} {name}" if name == "layers" else f"{name} {value}"
                  for name, value in (("layers", shape["layers"]), ("hidden", shape["hidden"]),
                                      ("intermediate", shape["intermediate"]), ("vocabulary", shape["vocab"]))
                  if value != PHI3_MINI_FULL_SIZE[name]]
        scope = f"scaled to {', '.join(scaled)}" if scaled else "full size"
        passed = peak < 2048 and all(row.ok for row in ours.values())
        targets.append({"target": f"peak RSS under 2 GiB on the Phi-3-mini float32 model ({scope})",
                        "value": f"{peak:.0f} MiB", "result": "PASS" if passed else "MISS"})
    return targets


def machine_description(work: Path) -> dict[str, object]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory_kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal:"))
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(memory_kib / 2**20, 1),
            "disk_gib": round(shutil.disk_usage(work).total / 2**30), "kernel": platform.release(),
            "load_average_at_start": [round(value, 1) for value in os.getloadavg()]}


def onnxquant_version(binary: Path) -> dict[str, object]:
    def git(*arguments: str) -> str:
        return subprocess.run(["git", "-C", str(REPO_ROOT), *arguments], capture_output=True, text=True).stdout.strip()

    product = ["--", "src", "include", "CMakeLists.txt", "cmake"]
    changed = git("status", "--porcelain", "--untracked-files=no", *product)
    version = subprocess.run([str(binary), "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    # The last commit that changed the product sources identifies the onnxquant that was measured,
    # because commits to bench/ or docs/ do not change the binary.
    return {"version": version, "commit": git("rev-parse", "HEAD"),
            "product_commit": git("log", "-1", "--format=%H", *product), "product_sources_changed": bool(changed)}


def anchor_versions() -> dict[str, str]:
    versions = {}
    for package in ("onnxruntime", "onnxconverter-common", "onnx", "numpy"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=["phi3-mini", "phi4"], default="phi3-mini",
                        help="full-size model whose dimensions the generated model follows")
    parser.add_argument("--layers", type=int, help="decoder layers (default: the full model's)")
    parser.add_argument("--hidden", type=int, help="hidden size (default: the full model's)")
    parser.add_argument("--intermediate", type=int, help="MLP intermediate size (default: the full model's)")
    parser.add_argument("--vocab", type=int, help="vocabulary size (default: the full model's)")
    parser.add_argument("--precisions", default="int8,int4,fp16", help="comma-separated list of int8, int4, fp16")
    parser.add_argument("--no-anchors", action="store_true", help="measure onnxquant and the copy only")
    parser.add_argument("--repeat", type=int, default=1, help="runs per tool; the median time is reported")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds allowed per tool run")
    parser.add_argument("--memory-limit-gib", type=float,
                        help="resident memory allowed per tool run (default: 90%% of MemAvailable at start)")
    parser.add_argument("--binary", type=Path, default=REPO_ROOT / "build" / "onnxquant", help="onnxquant to measure")
    parser.add_argument("--work-dir", type=Path, default=REPO_ROOT / "build" / "bench-work",
                        help="folder for the generated model, the outputs and the tools' logs; the model "
                             "and the outputs are deleted at the end")
    parser.add_argument("--results-dir", type=Path, default=REPO_ROOT / "build" / "bench",
                        help="folder for the Markdown and JSON results")
    parser.add_argument("--keep-model", action="store_true", help="keep the generated model in the work folder")
    arguments = parser.parse_args()
    unknown = set(arguments.precisions.split(",")) - set(ONNXQUANT_OPTIONS)
    if unknown:
        parser.error(f"unknown precision {', '.join(sorted(unknown))}; use int8, int4 or fp16")
    return arguments


def _memory_available_mib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError("MemAvailable not found in /proc/meminfo")


def _shape_options(arguments: argparse.Namespace) -> list[str]:
    options = ["--shape", arguments.shape]
    for name in ("layers", "hidden", "intermediate", "vocab"):
        if getattr(arguments, name) is not None:
            options += [f"--{name}", str(getattr(arguments, name))]
    return options


def _describe_shape(name: str, generator_log: Path) -> dict[str, object]:
    """Return the dimensions and size of the generated model from the generator's JSON line."""
    written = json.loads(generator_log.read_text().strip().splitlines()[-1])
    shape = written["shape"]
    return {"name": name, "layers": shape["num_hidden_layers"], "hidden": shape["hidden_size"],
            "intermediate": shape["intermediate_size"], "vocab": shape["vocab_size"], "dtype": shape["dtype"],
            "size_mib": written["size_mib"]}


def main() -> int:
    arguments = _parse_args()
    if not arguments.binary.is_file():
        print(f"error: onnxquant binary not found at {arguments.binary}; run scripts/build.sh", file=sys.stderr)
        return 2
    limit_gib = arguments.memory_limit_gib or 0.9 * _memory_available_mib() / 1024.0
    work = arguments.work_dir.resolve()
    (work / "out").mkdir(parents=True, exist_ok=True)
    settings = Settings(sys.executable, arguments.binary.resolve(), work, arguments.repeat, arguments.timeout,
                        limit_gib * 1024.0)
    machine = machine_description(work)
    model = work / "model.onnx"
    try:
        return _benchmark(arguments, settings, model, machine)
    finally:
        if not arguments.keep_model:
            _remove_model(model)
        (work / "reference-logits.npy").unlink(missing_ok=True)


def _benchmark(arguments: argparse.Namespace, settings: Settings, model: Path, machine: dict[str, object]) -> int:
    generator = [settings.python, str(BENCH_DIR / "decoder_model.py"), str(model), *_shape_options(arguments)]
    print("generating the model ...", file=sys.stderr, flush=True)
    generated = run_measured(generator, settings.work / "generate.log", settings.timeout_seconds,
                             settings.memory_limit_mib)
    if not generated.ok:
        print(f"error: the model generator {generated.status}: {generated.message}", file=sys.stderr)
        return 1
    shape = _describe_shape(arguments.shape, settings.work / "generate.log")
    free_mib = shutil.disk_usage(settings.work).free / 2**20
    if free_mib < DISK_SPACE_FACTOR * shape["size_mib"]:
        print(f"error: {free_mib:.0f} MiB free in {settings.work}, need {DISK_SPACE_FACTOR} times the model "
              f"({shape['size_mib']:.0f} MiB)", file=sys.stderr)
        return 4

    reference = settings.work / "reference-logits.npy"
    check = run_measured([settings.python, str(BENCH_DIR / "check_output.py"), "reference", str(model),
                          str(reference)], settings.work / "reference.log", CHECK_TIMEOUT_SECONDS,
                         settings.memory_limit_mib)
    if not check.ok:
        print(f"error: ONNX Runtime could not run the generated model: {check.status}: {check.message}",
              file=sys.stderr)
        return 1

    copy = measure_copy(model, settings)
    if not copy.ok:
        print(f"error: the copy {copy.status}: {copy.message}", file=sys.stderr)
        return 4
    rows = run_all(model, reference, arguments.precisions.split(","), not arguments.no_anchors, settings)
    results = {
        "command": " ".join(["scripts/bench.sh", *sys.argv[1:]]),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "machine": machine | {"load_average_at_end": [round(value, 1) for value in os.getloadavg()]},
        "onnxquant": onnxquant_version(settings.binary),
        "anchor_versions": anchor_versions(),
        "model": shape,
        "generator": {"seconds": round(generated.seconds, 2), "peak_rss_mib": round(generated.peak_rss_mib)},
        "copy": {"seconds": round(copy.seconds, 3), "cpu_seconds": round(copy.cpu_seconds, 3),
                 "peak_rss_mib": round(copy.peak_rss_mib),
                 "method": f"cp of .onnx and .data, then sync of the copies; warm page cache; median of "
                           f"{COPY_REPEATS}"},
        "min_cosine": MIN_COSINE,
        "rows": [dataclasses.asdict(row) for row in rows],
        # The rounded copy time, so that the targets' ratios match the table's "x copy" column.
        "targets": evaluate_targets(rows, round(copy.seconds, 3), shape),
    }
    print(render_text(results))
    _write_results(results, arguments.results_dir)
    return 0


def _write_results(results: dict[str, object], folder: Path) -> None:
    shape = results["model"]
    name = f"{shape['name']}-{shape['layers']}layers-hidden{shape['hidden']}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    (folder / f"{name}.md").write_text(render_markdown(results))
    print(f"wrote {folder / name}.md and .json")


if __name__ == "__main__":
    sys.exit(main())
