"""Cross-check two ONNX models with ONNX Runtime on the same generated inputs.

The end-to-end tests run an original model and a quantized candidate through ONNX Runtime
(CPU execution provider) and compare their outputs with error metrics and thresholds.

Library use::

    result = check_agreement("model.onnx", "model.int8.onnx", min_cosine=0.99, max_abs_error=None)
    print(result.format())
    assert result.ok, result.violations

Command line::

    python ortcheck.py ORIGINAL CANDIDATE --min-cosine 0.99 [--max-abs-error X] [--seed N]
        [--dim name=N] [--int-range name=lo:hi] [--value name=V]

The command prints a table of metrics and exits with status 1 when a threshold is violated.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping, Sequence, Union

from google.protobuf.message import DecodeError
import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

# Defaults for input dimensions that the model leaves symbolic or unknown.
DEFAULT_BATCH_SIZE = 1
DEFAULT_DIM_SIZE = 8

# Integer inputs without an override are drawn uniformly from [lo, hi).
DEFAULT_INT_RANGE = (0, 10)

# Float inputs without an override are drawn from a normal distribution N(0, FLOAT_INPUT_STD^2).
FLOAT_INPUT_STD = 1.0

OPTIMIZATION_LEVELS = {
    "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    # ORT_ENABLE_ALL is the level that a new SessionOptions object has (checked with onnxruntime 1.23.2).
    "default": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}

# Outputs whose last dimension is at least this large and that look like class scores get a
# top-1 (argmax over the last axis) agreement fraction.
TOP1_MIN_CLASSES = 16
SCORE_NAME_HINTS = ("logit", "prob", "score", "softmax", "label", "pred", "class")

# Errors that ONNX Runtime raises when it cannot load or run a model.
ORT_ERRORS = (
    ort_state.EPFail,
    ort_state.Fail,
    ort_state.InvalidArgument,
    ort_state.InvalidGraph,
    ort_state.InvalidProtobuf,
    ort_state.NoSuchFile,
    ort_state.NotImplemented,
    ort_state.RuntimeException,
)

# An override is an exact array, a (lo, hi) range, or one value that fills the whole input.
Override = Union[np.ndarray, tuple, int, float, bool]

_FLOAT_TYPES = {
    onnx.TensorProto.FLOAT16: np.float16,
    onnx.TensorProto.FLOAT: np.float32,
    onnx.TensorProto.DOUBLE: np.float64,
}
_INT_TYPES = {
    onnx.TensorProto.INT8: np.int8,
    onnx.TensorProto.INT16: np.int16,
    onnx.TensorProto.INT32: np.int32,
    onnx.TensorProto.INT64: np.int64,
    onnx.TensorProto.UINT8: np.uint8,
    onnx.TensorProto.UINT16: np.uint16,
    onnx.TensorProto.UINT32: np.uint32,
    onnx.TensorProto.UINT64: np.uint64,
}


# ---------------------------------------------------------------------------------------------
# Input generation
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InputSpec:
    """Element type and shape of one graph input, as the model declares them."""

    name: str
    elem_type: int
    # One (static size or None, dim_param or "") pair per axis, or None when the rank is unknown.
    dims: tuple | None

    @property
    def type_name(self) -> str:
        return onnx.TensorProto.DataType.Name(self.elem_type)


def read_input_specs(model_path: Union[str, Path]) -> list[InputSpec]:
    """Read the graph inputs that a caller must feed, skipping initializers listed as inputs.

    Models with IR version < 4 list every initializer as a graph input too. Those inputs have a
    default value, so they are not fed. External data is not loaded.
    """
    model = onnx.load(str(model_path), load_external_data=False)
    initializer_names = {tensor.name for tensor in model.graph.initializer}

    specs = []
    for value_info in model.graph.input:
        if value_info.name in initializer_names:
            continue

        if not value_info.type.HasField("tensor_type"):
            kind = value_info.type.WhichOneof("value")
            raise ValueError(f"input '{value_info.name}' is a {kind}, but only tensor inputs are supported")

        tensor_type = value_info.type.tensor_type
        if not tensor_type.HasField("shape"):
            specs.append(InputSpec(value_info.name, tensor_type.elem_type, None))
            continue

        dims = []
        for dim in tensor_type.shape.dim:
            # Some exporters write -1 for a dynamic axis, so negative sizes count as unknown.
            static = dim.dim_value if dim.HasField("dim_value") and dim.dim_value >= 0 else None
            dims.append((static, dim.dim_param if dim.HasField("dim_param") else ""))
        specs.append(InputSpec(value_info.name, tensor_type.elem_type, tuple(dims)))
    return specs


def _resolve_shape(spec: InputSpec, dims: Mapping[str, int], used_keys: set) -> tuple:
    if spec.dims is None:
        raise ValueError(
            f"input '{spec.name}' has no shape in the model, so its rank is unknown. "
            "Pass an exact array for it in overrides"
        )

    shape = []
    for axis, (static, dim_param) in enumerate(spec.dims):
        axis_key = f"{spec.name}:{axis}"
        if static is not None:
            if axis_key in dims and dims[axis_key] != static:
                raise ValueError(
                    f"dims['{axis_key}'] = {dims[axis_key]} conflicts with the static size {static}"
                )
            used_keys.add(axis_key)
            shape.append(static)
        elif axis_key in dims:
            used_keys.add(axis_key)
            shape.append(int(dims[axis_key]))
        elif dim_param and dim_param in dims:
            used_keys.add(dim_param)
            shape.append(int(dims[dim_param]))
        elif axis == 0 or "batch" in dim_param.lower():
            shape.append(DEFAULT_BATCH_SIZE)
        else:
            shape.append(DEFAULT_DIM_SIZE)
    return tuple(shape)


def _numpy_dtype(spec: InputSpec):
    if spec.elem_type in _FLOAT_TYPES:
        return _FLOAT_TYPES[spec.elem_type]
    if spec.elem_type in _INT_TYPES:
        return _INT_TYPES[spec.elem_type]
    if spec.elem_type == onnx.TensorProto.BOOL:
        return np.bool_
    if spec.elem_type == onnx.TensorProto.STRING:
        return np.object_
    raise ValueError(
        f"input '{spec.name}' has element type {spec.type_name}, which ortcheck cannot generate. "
        "Pass an exact array for it in overrides"
    )


def _generate_value(spec: InputSpec, shape: tuple, dtype, override, rng) -> np.ndarray:
    if isinstance(override, np.ndarray):
        return override.astype(dtype, copy=False)

    if isinstance(override, (bool, int, float, np.generic)):
        return np.full(shape, override, dtype=dtype)

    if isinstance(override, tuple):
        if len(override) != 2:
            raise ValueError(f"range override for '{spec.name}' must be (lo, hi), got {override!r}")
        lo, hi = override
        if not lo < hi:
            raise ValueError(f"range override for '{spec.name}' is empty: lo={lo} is not below hi={hi}")
        if dtype in _INT_TYPES.values():
            return rng.integers(lo, hi, size=shape, dtype=dtype)
        if dtype in _FLOAT_TYPES.values():
            return rng.uniform(lo, hi, size=shape).astype(dtype)
        raise ValueError(f"a (lo, hi) range is invalid for '{spec.name}' of type {spec.type_name}")

    if override is not None:
        raise TypeError(
            f"override for '{spec.name}' must be an array, a (lo, hi) tuple or a scalar, "
            f"got {type(override).__name__}"
        )

    if dtype in _FLOAT_TYPES.values():
        return (rng.standard_normal(size=shape) * FLOAT_INPUT_STD).astype(dtype)
    if dtype in _INT_TYPES.values():
        lo, hi = DEFAULT_INT_RANGE
        return rng.integers(lo, hi, size=shape, dtype=dtype)
    if dtype is np.bool_:
        return rng.random(size=shape) < 0.5
    raise ValueError(f"input '{spec.name}' of type {spec.type_name} needs an exact array in overrides")


def make_inputs(
    model_path: Union[str, Path],
    seed: int,
    overrides: Mapping[str, Override] | None = None,
    dims: Mapping[str, int] | None = None,
) -> dict[str, np.ndarray]:
    """Generate one random input array for every graph input of a model.

    Types and shapes come from the model's graph inputs, read without external data.
    Initializers that an old (IR < 4) model also lists as graph inputs are not generated.

    Shapes: a static size is kept. A symbolic or unknown size is taken from ``dims``, which maps
    either a dim_param name (``"sequence_length"``) or ``"input_name:axis"`` (``"x:2"``) to a size.
    Otherwise axis 0 and any dim_param containing "batch" get DEFAULT_BATCH_SIZE (1), and every
    other axis gets DEFAULT_DIM_SIZE (8).

    Values without an override:
      - float16/float/double: normal distribution, mean 0, standard deviation FLOAT_INPUT_STD (1.0)
      - signed and unsigned integers: uniform integers in DEFAULT_INT_RANGE, [0, 10)
      - bool: True or False with probability 0.5 each

    ``overrides`` maps an input name to one of:
      - a numpy array: used as it is, cast to the input's element type (shape is not checked)
      - a tuple (lo, hi): uniform values in [lo, hi), integers for integer inputs; pass
        (0, vocab_size) for token ids
      - a scalar (int, float, bool): the whole input is filled with it, for example
        ``{"sr": 16000}`` for a scalar sample-rate input

    Each input uses its own generator seeded from (seed, crc32 of its name), so overriding one
    input leaves the values of the others unchanged. Raises ValueError for override or dims keys
    that match no input, and for inputs whose type or rank cannot be generated.
    """
    overrides = dict(overrides or {})
    dims = dict(dims or {})
    specs = read_input_specs(model_path)

    input_names = [spec.name for spec in specs]
    unknown_overrides = sorted(set(overrides) - set(input_names))
    if unknown_overrides:
        raise ValueError(
            f"overrides name unknown inputs {unknown_overrides}, but the graph inputs are {input_names}"
        )

    used_dim_keys: set = set()
    inputs = {}
    for spec in specs:
        dtype = _numpy_dtype(spec)
        override = overrides.get(spec.name)
        if isinstance(override, np.ndarray):
            # An exact array keeps its own shape. Its dims keys still count as used.
            if spec.dims is not None:
                _resolve_shape(spec, dims, used_dim_keys)
            shape = override.shape
        else:
            shape = _resolve_shape(spec, dims, used_dim_keys)
        rng = np.random.default_rng([seed, zlib.crc32(spec.name.encode("utf-8"))])
        inputs[spec.name] = _generate_value(spec, shape, dtype, override, rng)

    unused_dims = sorted(set(dims) - used_dim_keys)
    if unused_dims:
        raise ValueError(
            f"dims keys {unused_dims} match no symbolic dimension of a generated input "
            f"(inputs: {input_names})"
        )
    return inputs


# ---------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------


def create_session(
    model_path: Union[str, Path], optimization: str, threads: int = 1
) -> ort.InferenceSession:
    """Create a CPU InferenceSession with deterministic settings at an optimization level.

    ``optimization`` is "disabled" (ORT_DISABLE_ALL) or "default" (ORT_ENABLE_ALL).
    Operators run sequentially with ``threads`` intra-op threads and deterministic compute.
    """
    if optimization not in OPTIMIZATION_LEVELS:
        raise ValueError(f"optimization must be one of {sorted(OPTIMIZATION_LEVELS)}, got {optimization!r}")
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")

    options = ort.SessionOptions()
    options.graph_optimization_level = OPTIMIZATION_LEVELS[optimization]
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.use_deterministic_compute = True
    # Severity 3 keeps errors and drops the warnings that ORT prints for many exported models.
    options.log_severity_level = 3
    return ort.InferenceSession(str(model_path), sess_options=options, providers=["CPUExecutionProvider"])


def run_session(session: ort.InferenceSession, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run a session on all of its outputs and return them by output name."""
    output_names = [output.name for output in session.get_outputs()]
    values = session.run(output_names, dict(inputs))
    return dict(zip(output_names, values))


def run(
    model_path: Union[str, Path],
    inputs: Mapping[str, np.ndarray],
    optimization: str = "disabled",
    threads: int = 1,
) -> dict[str, np.ndarray]:
    """Run a model once on the CPU execution provider and return its outputs by name."""
    return run_session(create_session(model_path, optimization, threads), inputs)


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------


@dataclass
class OutputMetrics:
    """Differences between the reference and candidate values of one output.

    Error metrics use the positions where both values are finite, in float64. Positions where
    only one side is finite, or where both are non-finite but differ, are counted in
    ``nonfinite_mismatch``. ``problem`` describes a missing output or a shape or dtype
    difference, and the numeric fields are NaN when it is set.
    """

    name: str
    dtype: str
    shape: tuple
    max_abs_error: float = math.nan
    mean_abs_error: float = math.nan
    relative_l2_error: float = math.nan
    cosine_similarity: float = math.nan
    nonfinite_mismatch: int = 0
    # Fraction of equal elements; set for integer and bool outputs only.
    exact_match: float | None = None
    # Fraction of positions whose argmax over the last axis agrees; set for class-score outputs.
    top1_agreement: float | None = None
    problem: str | None = None

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def cosine_similarity(reference: np.ndarray, candidate: np.ndarray) -> float:
    """Compute the cosine similarity of two arrays flattened to float64 vectors.

    Two all-zero vectors (and two empty ones) give 1.0. One all-zero vector gives 0.0.
    A one-element output always gives 1.0 or -1.0, so check such outputs with max_abs_error.
    """
    reference = np.asarray(reference, dtype=np.float64).ravel()
    candidate = np.asarray(candidate, dtype=np.float64).ravel()
    if np.array_equal(reference, candidate):
        # Exact 1.0, which the division below can miss by rounding.
        return 1.0
    reference_norm = float(np.linalg.norm(reference))
    candidate_norm = float(np.linalg.norm(candidate))
    if reference_norm == 0.0 and candidate_norm == 0.0:
        return 1.0
    if reference_norm == 0.0 or candidate_norm == 0.0:
        return 0.0
    cosine = float(np.dot(reference, candidate)) / (reference_norm * candidate_norm)
    return min(1.0, max(-1.0, cosine))


def _looks_like_class_scores(name: str, reference: np.ndarray) -> bool:
    if reference.ndim < 2 or reference.shape[-1] < TOP1_MIN_CLASSES or reference.size == 0:
        return False
    if any(hint in name.lower() for hint in SCORE_NAME_HINTS):
        return True

    # Probabilities: non-negative rows that sum to 1.
    values = reference.astype(np.float64)
    if not np.all(np.isfinite(values)) or values.min() < 0.0:
        return False
    return bool(np.allclose(values.sum(axis=-1), 1.0, atol=1e-3))


def compare_output(name: str, reference: np.ndarray, candidate: np.ndarray | None) -> OutputMetrics:
    """Compute the metrics of one output. ``candidate`` is None when the candidate lacks it."""
    reference = np.asarray(reference)
    metrics = OutputMetrics(name=name, dtype=str(reference.dtype), shape=tuple(reference.shape))
    if candidate is None:
        metrics.problem = "missing in candidate outputs"
        return metrics

    candidate = np.asarray(candidate)
    if candidate.shape != reference.shape:
        metrics.problem = f"shape {candidate.shape} differs from reference shape {reference.shape}"
        return metrics
    if candidate.dtype != reference.dtype:
        metrics.problem = f"dtype {candidate.dtype} differs from reference dtype {reference.dtype}"
        return metrics
    if reference.dtype == np.object_:
        metrics.exact_match = float(np.mean(reference == candidate)) if reference.size else 1.0
        metrics.problem = None if metrics.exact_match == 1.0 else "string values differ"
        return metrics

    reference64 = reference.astype(np.float64).ravel()
    candidate64 = candidate.astype(np.float64).ravel()
    both_finite = np.isfinite(reference64) & np.isfinite(candidate64)
    same_nonfinite = ~both_finite & (
        (reference64 == candidate64) | (np.isnan(reference64) & np.isnan(candidate64))
    )
    metrics.nonfinite_mismatch = int(np.count_nonzero(~both_finite & ~same_nonfinite))

    reference_finite = reference64[both_finite]
    candidate_finite = candidate64[both_finite]
    if reference_finite.size:
        abs_error = np.abs(candidate_finite - reference_finite)
        metrics.max_abs_error = float(abs_error.max())
        metrics.mean_abs_error = float(abs_error.mean())
        error_norm = float(np.linalg.norm(candidate_finite - reference_finite))
        reference_norm = float(np.linalg.norm(reference_finite))
        if reference_norm > 0.0:
            metrics.relative_l2_error = error_norm / reference_norm
        else:
            metrics.relative_l2_error = 0.0 if error_norm == 0.0 else math.inf
    else:
        metrics.max_abs_error = 0.0
        metrics.mean_abs_error = 0.0
        metrics.relative_l2_error = 0.0
    metrics.cosine_similarity = cosine_similarity(reference_finite, candidate_finite)

    if reference.dtype.kind in "biu":
        metrics.exact_match = float(np.mean(reference == candidate)) if reference.size else 1.0
    elif _looks_like_class_scores(name, reference):
        agree = np.argmax(reference, axis=-1) == np.argmax(candidate, axis=-1)
        metrics.top1_agreement = float(np.mean(agree))
    return metrics


def compare(
    reference_outputs: Mapping[str, np.ndarray], candidate_outputs: Mapping[str, np.ndarray]
) -> dict[str, OutputMetrics]:
    """Compare every reference output with the candidate output of the same name.

    Candidate outputs that the reference does not have are ignored.
    """
    return {
        name: compare_output(name, reference, candidate_outputs.get(name))
        for name, reference in reference_outputs.items()
    }


def _worst_of(first: OutputMetrics, second: OutputMetrics) -> OutputMetrics:
    """Merge metrics of two samples, keeping the worse value of each field."""

    def larger(a, b):
        if a is None or b is None:
            return a if b is None else b
        return a if (math.isnan(a) or a >= b) else b

    def smaller(a, b):
        if a is None or b is None:
            return a if b is None else b
        return a if (math.isnan(a) or a <= b) else b

    return replace(
        first,
        max_abs_error=larger(first.max_abs_error, second.max_abs_error),
        mean_abs_error=larger(first.mean_abs_error, second.mean_abs_error),
        relative_l2_error=larger(first.relative_l2_error, second.relative_l2_error),
        cosine_similarity=smaller(first.cosine_similarity, second.cosine_similarity),
        nonfinite_mismatch=first.nonfinite_mismatch + second.nonfinite_mismatch,
        exact_match=smaller(first.exact_match, second.exact_match),
        top1_agreement=smaller(first.top1_agreement, second.top1_agreement),
        problem=first.problem or second.problem,
    )


# ---------------------------------------------------------------------------------------------
# Agreement check
# ---------------------------------------------------------------------------------------------


@dataclass
class AgreementResult:
    """Per-output metrics of a candidate against an original model, and the violated thresholds.

    ``metrics`` maps optimization level -> output name -> metrics, where each metric is the worst
    value over all samples. Times are mean seconds per ``session.run`` call, without session
    creation.
    """

    original_path: str
    candidate_path: str
    min_cosine: float
    max_abs_error: float | None
    metrics: dict[str, dict[str, OutputMetrics]] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    reference_seconds: float = math.nan
    candidate_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.violations

    def min_cosine_similarity(self) -> float:
        """Return the lowest cosine similarity over all outputs and levels (NaN if none)."""
        values = [m.cosine_similarity for level in self.metrics.values() for m in level.values()]
        return min(values, default=math.nan, key=lambda v: -math.inf if math.isnan(v) else v)

    def max_abs_error_observed(self) -> float:
        """Return the largest max_abs_error over all outputs and levels (NaN if none)."""
        values = [m.max_abs_error for level in self.metrics.values() for m in level.values()]
        return max(values, default=math.nan, key=lambda v: math.inf if math.isnan(v) else v)

    def format(self) -> str:
        """Format the metrics as a compact table followed by the violations."""
        bound = "none" if self.max_abs_error is None else f"{self.max_abs_error:g}"
        lines = [
            f"original:  {self.original_path}",
            f"candidate: {self.candidate_path}",
            f"thresholds: min_cosine {self.min_cosine:g}, max_abs_error {bound}",
        ]

        rows = [("level", "output", "cosine", "max_abs", "mean_abs", "rel_l2", "top1", "exact", "run_ms")]
        for level, outputs in self.metrics.items():
            run_ms = _format_number(self.candidate_seconds.get(level, math.nan) * 1000.0, "{:.1f}")
            for name, m in outputs.items():
                rows.append((
                    level,
                    name,
                    _format_number(m.cosine_similarity, "{:.6f}"),
                    _format_number(m.max_abs_error, "{:.3g}"),
                    _format_number(m.mean_abs_error, "{:.3g}"),
                    _format_number(m.relative_l2_error, "{:.3g}"),
                    _format_number(m.top1_agreement, "{:.3f}"),
                    _format_number(m.exact_match, "{:.3f}"),
                    run_ms,
                ))
        widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
        for row in rows:
            lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())

        reference_ms = _format_number(self.reference_seconds * 1000.0, "{:.1f}")
        lines.append(f"reference run at 'disabled': {reference_ms} ms")
        if self.violations:
            lines.append(f"{len(self.violations)} violation(s):")
            lines.extend(f"  {violation}" for violation in self.violations)
        else:
            lines.append("no violations")
        return "\n".join(lines)


def _format_number(value: float | None, pattern: str) -> str:
    if value is None:
        return "-"
    return pattern.format(value)


def _find_violations(
    candidate_label: str,
    level: str,
    metrics: OutputMetrics,
    min_cosine: float,
    max_abs_error: float | None,
) -> list[str]:
    where = f"{candidate_label}: output '{metrics.name}' at optimization '{level}'"
    if metrics.problem:
        return [f"{where}: {metrics.problem}"]

    violations = []
    if metrics.nonfinite_mismatch:
        violations.append(
            f"{where}: {metrics.nonfinite_mismatch} non-finite values differ from the reference"
        )
    # The negated comparisons also catch NaN metrics.
    if not metrics.cosine_similarity >= min_cosine:
        violations.append(
            f"{where}: cosine_similarity {metrics.cosine_similarity:.6f} is below min_cosine {min_cosine:g}"
        )
    if max_abs_error is not None and not metrics.max_abs_error <= max_abs_error:
        violations.append(
            f"{where}: max_abs_error {metrics.max_abs_error:.6g} exceeds the bound {max_abs_error:g}"
        )
    return violations


def _describe_input_difference(
    session: ort.InferenceSession, inputs: Mapping[str, np.ndarray]
) -> str | None:
    expected = [value.name for value in session.get_inputs()]
    missing = [name for name in expected if name not in inputs]
    extra = [name for name in inputs if name not in expected]
    if not missing and not extra:
        return None
    return f"graph inputs {expected} differ from the original's inputs {list(inputs)}"


def check_agreement(
    original_path: Union[str, Path],
    candidate_path: Union[str, Path],
    min_cosine: float,
    max_abs_error: float | None,
    seed: int = 0,
    overrides: Mapping[str, Override] | None = None,
    dims: Mapping[str, int] | None = None,
    optimizations: Sequence[str] = ("disabled", "default"),
    samples: int = 1,
    threads: int = 1,
) -> AgreementResult:
    """Check that a candidate model's outputs agree with the original model's outputs.

    Inputs come from ``make_inputs(original_path, seed + i, overrides, dims)`` for sample i in
    ``range(samples)``. The reference is the original model at optimization "disabled". The
    candidate runs at every level in ``optimizations``. Each metric keeps its worst value over
    the samples.

    Every output of the original must satisfy cosine_similarity >= min_cosine and, unless
    ``max_abs_error`` is None, max_abs_error <= max_abs_error. A missing output, a shape or dtype
    difference, non-finite values that differ from the reference and a candidate that ORT fails
    to load or run are violations too, and so are candidate graph inputs that differ from the
    original's. A missing model file raises FileNotFoundError, and ORT errors of the original
    model are raised.
    """
    if samples < 1:
        raise ValueError(f"samples must be at least 1, got {samples}")
    for path in (original_path, candidate_path):
        if not Path(path).is_file():
            raise FileNotFoundError(f"model file not found: {path}")
    for level in optimizations:
        if level not in OPTIMIZATION_LEVELS:
            raise ValueError(f"optimization must be one of {sorted(OPTIMIZATION_LEVELS)}, got {level!r}")

    result = AgreementResult(
        original_path=str(original_path),
        candidate_path=str(candidate_path),
        min_cosine=min_cosine,
        max_abs_error=max_abs_error,
    )
    candidate_label = f"candidate {candidate_path}"

    sample_inputs = [make_inputs(original_path, seed + index, overrides, dims) for index in range(samples)]

    reference_session = create_session(original_path, "disabled", threads)
    reference_outputs = []
    started = time.perf_counter()
    for inputs in sample_inputs:
        reference_outputs.append(run_session(reference_session, inputs))
    result.reference_seconds = (time.perf_counter() - started) / samples
    del reference_session

    for level in optimizations:
        try:
            session = create_session(candidate_path, level, threads)
            input_problem = _describe_input_difference(session, sample_inputs[0])
            if input_problem:
                result.violations.append(f"{candidate_label}: {input_problem} at optimization '{level}'")
                continue
            started = time.perf_counter()
            candidate_outputs = [run_session(session, inputs) for inputs in sample_inputs]
            result.candidate_seconds[level] = (time.perf_counter() - started) / samples
        except ORT_ERRORS as error:
            result.violations.append(
                f"{candidate_label}: ONNX Runtime failed at optimization '{level}': {error}"
            )
            continue

        level_metrics: dict[str, OutputMetrics] = {}
        for reference, candidate in zip(reference_outputs, candidate_outputs):
            for name, metrics in compare(reference, candidate).items():
                if name in level_metrics:
                    metrics = _worst_of(level_metrics[name], metrics)
                level_metrics[name] = metrics
        result.metrics[level] = level_metrics

        for metrics in level_metrics.values():
            violations = _find_violations(candidate_label, level, metrics, min_cosine, max_abs_error)
            result.violations.extend(violations)
    return result


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def _parse_number(text: str) -> Union[int, float]:
    try:
        return int(text)
    except ValueError:
        return float(text)


def _split_assignment(text: str, option: str) -> tuple[str, str]:
    name, separator, value = text.rpartition("=")
    if not separator or not name or not value:
        raise argparse.ArgumentTypeError(f"{option} expects NAME=VALUE, got {text!r}")
    return name, value


def _parse_dim(text: str) -> tuple[str, int]:
    name, value = _split_assignment(text, "--dim")
    try:
        size = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--dim size must be an integer, got {value!r}") from None
    if size < 0:
        raise argparse.ArgumentTypeError(f"--dim size must be non-negative, got {size}")
    return name, size


def _parse_range(text: str) -> tuple[str, tuple]:
    name, value = _split_assignment(text, "--int-range")
    lo_text, separator, hi_text = value.partition(":")
    try:
        if not separator:
            raise ValueError(value)
        return name, (_parse_number(lo_text), _parse_number(hi_text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--int-range expects NAME=LO:HI, got {text!r}") from None


def _parse_value(text: str) -> tuple[str, Union[int, float, bool]]:
    name, value = _split_assignment(text, "--value")
    if value.lower() in ("true", "false"):
        return name, value.lower() == "true"
    try:
        return name, _parse_number(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--value expects a number, true or false, got {value!r}") from None


def build_argument_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Compare a candidate ONNX model with the original on generated inputs using ONNX Runtime.",
        epilog="Exit status: 0 when all thresholds hold, 1 on a violation, 2 on invalid arguments or models.",
    )

    parser.add_argument(
        "original", type=Path, help="original ONNX model, run at optimization 'disabled' as the reference"
    )
    parser.add_argument("candidate", type=Path, help="candidate ONNX model, for example a quantized copy")

    parser.add_argument(
        "--min-cosine", type=float, required=True, help="minimum cosine similarity of every output"
    )
    parser.add_argument(
        "--max-abs-error", type=float, default=None,
        help="maximum absolute error of every output (default: no bound)",
    )

    parser.add_argument("--seed", type=int, default=0, help="seed of the first input sample (default: 0)")
    parser.add_argument(
        "--samples", type=int, default=1,
        help="number of input samples, with seeds SEED, SEED+1, ... (default: 1)",
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="intra-op threads of each ONNX Runtime session (default: 1)"
    )
    parser.add_argument(
        "--optimization",
        action="append",
        choices=sorted(OPTIMIZATION_LEVELS),
        help="graph optimization level of the candidate run, repeatable (default: disabled and default)",
    )

    parser.add_argument(
        "--dim",
        action="append",
        type=_parse_dim,
        default=[],
        metavar="NAME=N",
        help="size of a symbolic dimension, by dim_param name or INPUT:AXIS (repeatable)",
    )
    parser.add_argument(
        "--int-range",
        action="append",
        type=_parse_range,
        default=[],
        metavar="NAME=LO:HI",
        help="draw input NAME uniformly from [LO, HI), for example token ids 0:VOCAB_SIZE (repeatable)",
    )
    parser.add_argument(
        "--value",
        action="append",
        type=_parse_value,
        default=[],
        metavar="NAME=V",
        help="fill input NAME with the value V, a number, true or false (repeatable)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the process exit status."""
    parser = build_argument_parser()
    args = parser.parse_args(argv)

    overrides: dict[str, Override] = {}
    for name, value_range in args.int_range:
        overrides[name] = value_range
    for name, value in args.value:
        overrides[name] = value

    try:
        result = check_agreement(
            args.original,
            args.candidate,
            min_cosine=args.min_cosine,
            max_abs_error=args.max_abs_error,
            seed=args.seed,
            overrides=overrides,
            dims=dict(args.dim),
            optimizations=tuple(args.optimization or ("disabled", "default")),
            samples=args.samples,
            threads=args.threads,
        )
    except (ValueError, OSError, DecodeError, *ORT_ERRORS) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    print(result.format())
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
