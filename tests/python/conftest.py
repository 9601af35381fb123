"""Shared fixtures of the end-to-end tests: the onnxquant binary and the generated models."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parents[1]
sys.path.insert(0, str(TESTS_DIR))
sys.path.insert(0, str(REPO_ROOT / "tests" / "generators"))


def _find_binary() -> Path | None:
    configured = os.environ.get("ONNXQUANT_BIN")
    if configured:
        return Path(configured)
    built = REPO_ROOT / "build" / "onnxquant"
    if built.exists():
        return built
    found = shutil.which("onnxquant")
    return Path(found) if found else None


@pytest.fixture(scope="session")
def onnxquant_bin() -> Path:
    binary = _find_binary()
    if binary is None or not binary.exists():
        pytest.fail("onnxquant binary not found: build it (scripts/build.sh) or set ONNXQUANT_BIN")
    return binary


@pytest.fixture(scope="session")
def run_onnxquant(onnxquant_bin):
    """Runs the binary with the given arguments and returns the completed process."""

    def run(*arguments: str | Path) -> subprocess.CompletedProcess:
        return subprocess.run([str(onnxquant_bin), *map(str, arguments)], capture_output=True, text=True,
                              timeout=600, check=False)

    return run


@pytest.fixture(scope="session")
def generated_models(tmp_path_factory) -> dict[str, Path]:
    """The Phi-3-shaped decoder and, when its wheel is installed, the trained MiniLM encoder."""
    import onnx

    import minilm
    import phi3_tiny

    folder = tmp_path_factory.mktemp("generated")
    models = {}
    models["phi3-tiny"] = folder / "phi3_tiny.onnx"
    onnx.save(phi3_tiny.build_model(), models["phi3-tiny"])
    try:
        minilm.find_model_dir()
    except FileNotFoundError:
        return models
    models["minilm"] = folder / "minilm.onnx"
    onnx.save(minilm.build_model(), models["minilm"])
    return models
