"""The progress bar of `onnxquant quantize`: drawn on a terminal, absent otherwise.

The terminal is a pseudo-terminal from the pty module, 100 columns wide, which is standard error
(and standard output) of the command line.
"""

from __future__ import annotations

import errno
import fcntl
import os
import pty
import re
import struct
import subprocess
import termios
from pathlib import Path

import pytest

import realmodels

TIMEOUT_SECONDS = 180
TERMINAL_COLUMNS = 100
ERASE_LINE = b"\r\x1b[K"
# The final state of the bar, for example "[====] 41/41 tensors, 10.7/10.7 MB, 4.0 MB/s, 0:03 elapsed, 0:00 left".
FINAL_BAR = re.compile(rb"\[=+\] (\d+)/(\d+) tensors, [\d.]+/[\d.]+ MB, [\d.]+ MB/s, \d+:\d\d elapsed, 0:00 left")
TENSOR_LOG_LINE = re.compile(rb"\[(\d+)/(\d+)\] ")


@pytest.fixture(scope="module")
def model_path() -> Path:
    model = realmodels.get("rapidocr-rec")
    if model.skip_reason():
        pytest.skip(model.skip_reason())
    return model.path()


def run_in_terminal(arguments: list[str]) -> tuple[int, bytes]:
    """Run a command with a pseudo-terminal as its standard streams and return its exit code and output."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, TERMINAL_COLUMNS, 0, 0))
    process = subprocess.Popen(arguments, stdin=terminal, stdout=terminal, stderr=terminal, close_fds=True)
    os.close(terminal)
    output = bytearray()
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError as error:  # EIO: the command closed the terminal
            if error.errno != errno.EIO:
                raise
            break
        if not chunk:
            break
        output += chunk
    os.close(controller)
    return process.wait(timeout=TIMEOUT_SECONDS), bytes(output)


def quantize_arguments(binary: Path, model: Path, folder: Path, *extra: str) -> list[str]:
    return [str(binary), "quantize", str(model), "-p", "int8", "--scale-search", "mse", "--no-table",
            "-o", str(folder / "out.onnx"), *extra]


def test_bar_on_terminal(onnxquant_bin, model_path, tmp_path):
    code, output = run_in_terminal(quantize_arguments(onnxquant_bin, model_path, tmp_path))
    assert code == 0, output.decode(errors="replace")

    assert ERASE_LINE in output
    final = FINAL_BAR.search(output)
    assert final is not None, output.decode(errors="replace")
    done, total = int(final.group(1)), int(final.group(2))
    logged_totals = {int(match.group(2)) for match in TENSOR_LOG_LINE.finditer(output)}
    assert logged_totals == {total}
    assert done == total
    # The bar stays one column short of the terminal's width, so that it never wraps.
    for line in output.replace(ERASE_LINE, b"\n").split(b"\n"):
        if b" tensors, " in line:
            assert len(line.rstrip(b"\r")) < TERMINAL_COLUMNS, line


def test_no_progress_option_on_terminal(onnxquant_bin, model_path, tmp_path):
    code, output = run_in_terminal(quantize_arguments(onnxquant_bin, model_path, tmp_path, "--no-progress"))
    assert code == 0, output.decode(errors="replace")
    assert ERASE_LINE not in output
    assert b" tensors, " not in output
    assert TENSOR_LOG_LINE.search(output) is not None


def test_quiet_on_terminal_shows_no_bar(onnxquant_bin, model_path, tmp_path):
    code, output = run_in_terminal(quantize_arguments(onnxquant_bin, model_path, tmp_path, "-q"))
    assert code == 0, output.decode(errors="replace")
    assert ERASE_LINE not in output
    assert b" tensors, " not in output


def test_no_control_characters_without_terminal(onnxquant_bin, model_path, tmp_path):
    result = subprocess.run(quantize_arguments(onnxquant_bin, model_path, tmp_path), capture_output=True,
                            timeout=TIMEOUT_SECONDS, check=False)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert b"\r" not in result.stderr
    assert b"\x1b" not in result.stderr
    assert TENSOR_LOG_LINE.search(result.stderr) is not None
