"""Runs `onnxquant check` on a model the tests produced."""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import _find_binary

EXIT_INVALID_MODEL = 3


def findings(path: Path) -> list[str]:
    """The findings of `onnxquant check`, one per line; empty when the model passes."""
    result = subprocess.run([str(_find_binary()), "-q", "check", str(path)], capture_output=True, text=True,
                            timeout=600, check=False)
    assert result.returncode in (0, EXIT_INVALID_MODEL), result.stderr
    assert (result.returncode == 0) == (result.stdout == ""), result.stdout + result.stderr
    return result.stdout.splitlines()


def assert_output_passes(original: Path, output: Path) -> None:
    """Asserts that `output` has no finding that `original` does not already have. Some real models
    are out of topological order, which quantization keeps as it is."""
    new = set(findings(output)) - set(findings(original))
    assert not new, "onnxquant check findings in the output only:\n" + "\n".join(sorted(new))
