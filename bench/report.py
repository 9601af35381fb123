"""Render the results of run_bench.py as a terminal table and as Markdown.

Run as a script, it prints the Markdown of each result file, or with --scaling the scaling table of
docs/performance.md:

    python bench/report.py [--scaling] build/bench/*.json
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

# A Python exception line: a dotted name, a colon and the message.
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*: ")
COLUMNS = ["tool", "precision", "time s", "x copy", "CPU s", "peak RSS MiB", "output MiB", "logits cos", "top-1",
           "status"]


def _number(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def short_message(message: str) -> str:
    """Return the end of a child's output from its last exception line ("ValueError: ..."), without
    the source lines and carets of a Python traceback before it."""
    parts = [part for part in message.split(" | ") if part.strip("^~ ")]
    exception_lines = [index for index, part in enumerate(parts) if EXCEPTION_LINE.match(part)]
    return " | ".join(parts[exception_lines[-1]:] if exception_lines else parts)


def _cells(row: dict[str, object], copy_seconds: float) -> list[str]:
    status = row["status"] if not row["message"] else f"{row['status']}: {short_message(row['message'])}"
    return [row["tool"], row["precision"], _number(row["seconds"], 2), _number(row["seconds"] / copy_seconds, 2),
            _number(row["cpu_seconds"], 2), _number(row["peak_rss_mib"], 0), _number(row["output_mib"] or None, 0), _number(row["cosine"], 4),
            _number(row["top1_agreement"], 2), status]


def comparisons(results: dict[str, object]) -> list[str]:
    """Return one line per precision: onnxquant's speed-up and peak RSS relative to the anchor."""
    rows = results["rows"]
    lines = []
    for ours in (row for row in rows if row["tool"] == "onnxquant"):
        anchor = next((row for row in rows if row["tool"] != "onnxquant" and row["precision"] == ours["precision"]),
                      None)
        if anchor is None:
            continue
        if ours["status"] == "ok" and anchor["status"] == "ok":
            lines.append(f"{ours['precision']}: onnxquant is {anchor['seconds'] / ours['seconds']:.2f}x as fast as "
                         f"{anchor['tool']} ({anchor['cpu_seconds'] / ours['cpu_seconds']:.2f}x in CPU time) "
                         f"and uses {ours['peak_rss_mib'] / anchor['peak_rss_mib']:.2f}x its peak RSS")
        else:
            lines.append(f"{ours['precision']}: no ratio, onnxquant {ours['status']}, {anchor['tool']} "
                         f"{anchor['status']}")
    return lines


def _header_lines(results: dict[str, object]) -> list[str]:
    shape, copy, machine = results["model"], results["copy"], results["machine"]
    onnxquant = results["onnxquant"]
    changed = " with uncommitted changes to the product sources" if onnxquant["product_sources_changed"] else ""
    versions = ", ".join(f"{name} {version}" for name, version in results["anchor_versions"].items())
    return [
        f"model: {shape['name']} shape, {shape['layers']} layers, hidden {shape['hidden']}, intermediate "
        f"{shape['intermediate']}, vocabulary {shape['vocab']}, {shape['dtype']}: {shape['size_mib']:.1f} MiB "
        f"(.onnx + .data), generated in {results['generator']['seconds']:.1f} s with a peak RSS of "
        f"{results['generator']['peak_rss_mib']} MiB",
        f"onnxquant: {onnxquant['version']}, product sources of commit "
        f"{onnxquant.get('product_commit', onnxquant['commit'])[:12]}{changed}; anchors: {versions}",
        f"machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB RAM, load average "
        f"{machine['load_average_at_start'][0]} at start and {machine['load_average_at_end'][0]} at end",
        f"copy (I/O floor): {copy['seconds']:.2f} s ({copy['cpu_seconds']:.2f} s CPU), {copy['method']}",
        f"outputs count when ONNX Runtime runs them and their logits are finite with a cosine of at least "
        f"{results['min_cosine']} to the original's",
    ]


def render_text(results: dict[str, object]) -> str:
    copy_seconds = results["copy"]["seconds"]
    table = [COLUMNS] + [_cells(row, copy_seconds) for row in results["rows"]]
    widths = [max(len(line[index]) for line in table) for index in range(len(COLUMNS) - 1)]
    lines = _header_lines(results) + [""]
    for line in table:
        cells = [cell.ljust(width) if index < 2 else cell.rjust(width)
                 for index, (cell, width) in enumerate(zip(line, widths))]
        lines.append("  ".join(cells + [line[-1]]))
    lines += [""] + comparisons(results) + ["", "targets:"]
    lines += [f"  {target['result']:<4}  {target['target']}: {target['value']}" for target in results["targets"]]
    return "\n".join(lines)


def render_markdown(results: dict[str, object]) -> str:
    copy_seconds = results["copy"]["seconds"]
    lines = [f"- {line}" for line in _header_lines(results)] + [f"- command: `{results['command']}`", ""]
    lines.append("| " + " | ".join(COLUMNS) + " |")
    lines.append("|" + "|".join("---" if index < 2 or index == len(COLUMNS) - 1 else "---:"
                                for index in range(len(COLUMNS))) + "|")
    for row in results["rows"]:
        cells = [cell.replace("|", "\\|") for cell in _cells(row, copy_seconds)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [""] + [f"- {line}" for line in comparisons(results)] + ["", "| target | measured | result |",
                                                                      "|---|---|---|"]
    lines += [f"| {target['target']} | {target['value']} | {target['result']} |" for target in results["targets"]]
    return "\n".join(lines) + "\n"


# The status of a row whose output loaded and ran but whose logits failed the accuracy check.
REJECTED_BY_CHECK = "output rejected: logits cosine"


def render_scaling(results_list: list[dict[str, object]]) -> str:
    """Return one Markdown row per model size: the copy time, then onnxquant's wall time, CPU time and
    peak RSS per precision. A run whose output ONNX Runtime ran but the accuracy check rejected keeps
    its figures, marked with an asterisk and explained under the table."""
    precisions = ["int8", "int4", "fp16"]
    header = ["model", "size MiB", "copy s"] + [f"{precision} {unit}" for precision in precisions
                                                for unit in ("s (CPU s)", "RSS MiB")]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    notes = []
    for results in sorted(results_list, key=lambda item: item["model"]["size_mib"]):
        shape = results["model"]
        ours = {row["precision"]: row for row in results["rows"] if row["tool"] == "onnxquant"}
        cells = [f"{shape['name']}, {shape['layers']} layers, hidden {shape['hidden']}", f"{shape['size_mib']:.0f}",
                 f"{results['copy']['seconds']:.2f}"]
        for precision in precisions:
            row = ours.get(precision)
            ran = row is not None and (row["status"] == "ok" or row["status"].startswith(REJECTED_BY_CHECK))
            if not ran:
                cells += [row["status"] if row else "-", "-"]
                continue
            mark = "" if row["status"] == "ok" else "*"
            cells += [f"{row['seconds']:.2f} ({row['cpu_seconds']:.2f}){mark}", f"{row['peak_rss_mib']:.0f}"]
            if mark:
                notes.append(f"\\* {shape['name']}, {shape['layers']} layers, {precision}: {row['status']} "
                             f"(cosine {row['cosine']:.4f})")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines + ([""] + notes if notes else []))


def main(arguments: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scaling", action="store_true", help="print one scaling table of all the files")
    parser.add_argument("results", nargs="+", type=Path, help="result files (.json) of run_bench.py")
    options = parser.parse_args(arguments)
    results_list = [json.loads(path.read_text()) for path in options.results]
    if options.scaling:
        print(render_scaling(results_list))
    else:
        print("\n".join(render_markdown(results) for results in results_list))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
