"""Faults while writing: a full disk, a read-only output folder, and a process killed mid-write.

After each fault the input must be unchanged and the output path must not hold a partial model.
The disk-full and read-only tests mount a small tmpfs of their own, which needs root (or
CAP_SYS_ADMIN); they skip with the reason when mounting is not permitted.
"""

from __future__ import annotations

import fcntl
import hashlib
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

EXIT_IO = 4
TIMEOUT_SECONDS = 300


def run(binary: Path, *arguments) -> subprocess.CompletedProcess:
    return subprocess.run([str(binary), *map(str, arguments)], capture_output=True, text=True,
                          timeout=TIMEOUT_SECONDS, check=False)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_model(path: Path, rows: int, columns: int = 1024) -> Path:
    """A MatMul model with a float32 weight of rows x columns."""
    weight = numpy_helper.from_array(
        np.random.default_rng(11).standard_normal((rows, columns)).astype(np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="matmul")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, rows])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, columns])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())
    return path


def temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 1 MiB tmpfs mounted at tmp_path/small, unmounted afterwards."""
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {result.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", str(mount_point)], check=False)


@pytest.mark.parametrize("external", ["never", "always"])
def test_disk_full_leaves_nothing(onnxquant_bin, tmp_path, small_tmpfs, external):
    # A 2048 x 1024 weight is 8 MiB in float32 and 2 MiB in int8, twice the file system.
    model = write_model(tmp_path / "in" / "model.onnx", 2048)
    before = digest(model)
    output = small_tmpfs / "out.onnx"
    result = run(onnxquant_bin, "quantize", model, "-p", "int8", "-o", output, "--external-data", external)
    assert result.returncode == EXIT_IO, result.stderr
    assert "No space left on device" in result.stderr
    assert result.stderr.count("[error]") == 1
    assert list(small_tmpfs.iterdir()) == []
    assert digest(model) == before


def test_read_only_folder_leaves_nothing(onnxquant_bin, tmp_path, small_tmpfs):
    # Root ignores permission bits, so the folder is made read-only by remounting the file system.
    remount = subprocess.run(["mount", "-o", "remount,ro", str(small_tmpfs)], capture_output=True, text=True,
                             check=False)
    if remount.returncode != 0:
        pytest.skip(f"remounting read-only is not permitted here: {remount.stderr.strip()}")
    model = write_model(tmp_path / "in" / "model.onnx", 64)
    output = small_tmpfs / "out.onnx"
    result = run(onnxquant_bin, "quantize", model, "-p", "int8", "-o", output)
    assert result.returncode == EXIT_IO, result.stderr
    assert "Read-only file system" in result.stderr
    assert list(small_tmpfs.iterdir()) == []


def test_stale_temporary_removed(onnxquant_bin, tmp_path):
    model = write_model(tmp_path / "in" / "model.onnx", 64)
    out_folder = tmp_path / "out"
    out_folder.mkdir()
    (out_folder / ".out.onnx.tmp-Ab12Cd").write_bytes(b"partial")
    (out_folder / ".out.onnx.data.tmp-Ab12Cd").write_bytes(b"partial")
    (out_folder / ".other.onnx.tmp-Ab12Cd").write_bytes(b"another output")
    (out_folder / ".out.onnx.tmp-long-suffix").write_bytes(b"not a name onnxquant makes")
    result = run(onnxquant_bin, "quantize", model, "-p", "int8", "-o", out_folder / "out.onnx",
                 "--external-data", "always")
    assert result.returncode == 0, result.stderr
    assert temporaries(out_folder) == [".other.onnx.tmp-Ab12Cd", ".out.onnx.tmp-long-suffix"]
    assert "left by an interrupted run" in result.stderr


def test_locked_temporary_kept(onnxquant_bin, tmp_path):
    model = write_model(tmp_path / "in" / "model.onnx", 64)
    out_folder = tmp_path / "out"
    out_folder.mkdir()
    in_use = out_folder / ".out.onnx.tmp-Xy34Zw"
    in_use.write_bytes(b"another run is writing this")
    with open(in_use, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        result = run(onnxquant_bin, "quantize", model, "-p", "int8", "-o", out_folder / "out.onnx")
    assert result.returncode == 0, result.stderr
    assert temporaries(out_folder) == [in_use.name]


def kill_while_writing(binary: Path, model: Path, output: Path) -> bool:
    """Starts a quantize run and kills it with SIGKILL once its temporary file exists. Returns
    False when the run finished before a temporary file was seen."""
    process = subprocess.Popen([str(binary), "-q", "quantize", str(model), "-p", "int8", "-o", str(output),
                                "--external-data", "always", "--no-table"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while process.poll() is None and time.monotonic() < deadline:
        if temporaries(output.parent):
            process.send_signal(signal.SIGKILL)
            process.wait()
            return True
        time.sleep(0.0005)
    process.kill()
    process.wait()
    return False


def test_killed_run_leaves_no_partial_model(onnxquant_bin, tmp_path):
    # 16384 x 1024 float32 is 64 MiB; its int8 data file takes long enough to write that the
    # poll finds the temporary file while the run is still going.
    model = write_model(tmp_path / "in" / "model.onnx", 16384)
    before = digest(model)
    out_folder = tmp_path / "out"
    out_folder.mkdir()
    output = out_folder / "out.onnx"
    caught = any(kill_while_writing(onnxquant_bin, model, output) for _ in range(5))
    assert caught, "the run always finished before its temporary file was seen"

    assert not output.exists()
    assert digest(model) == before
    left = temporaries(out_folder)
    assert left, "a killed run leaves its temporary file"
    assert all(name.startswith((".out.onnx.tmp-", ".out.onnx.data.tmp-")) for name in left)

    result = run(onnxquant_bin, "quantize", model, "-p", "int8", "-o", output, "--external-data", "always",
                 "--no-table")
    assert result.returncode == 0, result.stderr
    assert temporaries(out_folder) == []
    onnx.checker.check_model(str(output))


def test_unwritable_report_leaves_no_model(onnxquant_bin, tmp_path, small_tmpfs):
    remount = subprocess.run(["mount", "-o", "remount,ro", str(small_tmpfs)], capture_output=True, text=True,
                             check=False)
    if remount.returncode != 0:
        pytest.skip(f"remounting read-only is not permitted here: {remount.stderr.strip()}")
    model = write_model(tmp_path / "in" / "model.onnx", 64)
    output = tmp_path / "out.onnx"
    result = run(onnxquant_bin, "quantize", model, "-p", "int8", "-o", output, "--report", small_tmpfs / "r.json")
    assert result.returncode == EXIT_IO, result.stderr
    assert "cannot write the report" in result.stderr
    assert result.stderr.count("[error]") == 1
    assert not output.exists()
    assert temporaries(tmp_path) == []
